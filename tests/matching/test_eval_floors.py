"""The shipped needs.yaml measured on the labelled set in data/eval/ (issue 15): floors
under micro-F1 and over the noise rate, per part, scored on the förvaltningar (the set
labels only those). Rules are tuned on dev.jsonl only; heldout.jsonl (batch 6, labelled by
other labellers and never read to write rules) was measured once, so its floors are what
the rules reached there. Both are below the goal of 0.85 and 5 % on the held-out part (see
docs/matching.md and data/eval/README.md): the floors keep a change from making it worse."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import load_config
from matching.evaluation import evaluate_items, read_items

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "eval"

# part → (micro-F1 at least, noise at most), at the rules of the last measurement
FLOORS = {
    "dev.jsonl": (0.86, 0.125),  # measured 0.866 and 12.1 % (789 items, tuned on)
    "heldout.jsonl": (0.65, 0.31),  # measured 0.656 and 30.3 % (173 items, once)
}


@pytest.mark.parametrize("part", sorted(FLOORS))
def test_the_shipped_needs_hold_the_floors(part):
    needs = load_config(ROOT / "config").needs
    items = read_items(DATA / part, needs)
    assert len(items) >= 100
    result = evaluate_items(items, needs, scope="departments")
    f1_floor, noise_ceiling = FLOORS[part]
    summary = f"{part}: micro-F1 {result.micro.f1:.3f}, noise {result.noise:.3f}"
    assert result.micro.f1 >= f1_floor, summary
    assert result.noise <= noise_ceiling, summary


def test_tags_are_the_full_judgement_s_tags_on_every_labelled_item():
    """One code path: match_call's tags (which judge only the förvaltningar that can be
    tagged) are the tags of the full judgement explain and eval show, on real items."""
    from matching.engine import compile_needs, evaluate, match_call

    needs = load_config(ROOT / "config").needs
    compiled = compile_needs(needs)
    items = read_items(DATA / "dev.jsonl", needs) + read_items(DATA / "heldout.jsonl", needs)
    tagged = 0
    for item in items:
        fast = [(t.key, t.score, t.reasons) for t in match_call(compiled, item.call)]
        full = [(t.key, t.score, t.reasons) for t in evaluate(compiled, item.call).tags]
        assert fast == full, item.ref
        tagged += bool(fast)
    assert tagged > len(items) / 2
