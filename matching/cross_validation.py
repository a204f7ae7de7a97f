"""``bevaka model cv``: k-fold cross-validation of the second opinion on labelled items.

Items are split by their order in the file (item i goes to fold i mod k: no randomness).
For each fold a model is trained on the other folds' items and every setting (the rules
alone, each mode and threshold) is measured on the fold's items with ``bevaka eval``'s
own scoring (:func:`matching.evaluation.evaluate_items`), over the same compiled rules.
The counts of the k folds are summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from config.schema import NeedsFile
from matching.engine import CompiledNeeds, compile_needs
from matching.evaluation import Counts, Item, evaluate_items
from matching.second_opinion import DEFAULT_L2, DEFAULT_MIN_COUNT, examples_from_items, train

#: (mode, veto_below, add_above) measured by default
SETTINGS: tuple[tuple[str, float, float], ...] = (
    ("off", 0.05, 0.7),
    ("veto", 0.02, 0.7),
    ("veto", 0.05, 0.7),
    ("veto", 0.1, 0.7),
    ("veto", 0.2, 0.7),
    ("add", 0.05, 0.9),
    ("add", 0.05, 0.8),
    ("add", 0.05, 0.7),
    ("add", 0.05, 0.5),
    ("both", 0.05, 0.7),
)


@dataclass
class Row:
    mode: str
    veto_below: float
    add_above: float
    micro: Counts = field(default_factory=Counts)
    empty_items: int = 0
    noisy_items: int = 0

    @property
    def noise(self) -> float:
        return self.noisy_items / self.empty_items if self.empty_items else 0.0

    @property
    def label(self) -> str:
        if self.mode == "off":
            return "rules alone (off)"
        if self.mode == "veto":
            return f"veto below {self.veto_below:g}"
        if self.mode == "add":
            return f"add at {self.add_above:g}"
        return f"both (veto {self.veto_below:g}, add {self.add_above:g})"

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "veto_below": self.veto_below,
            "add_above": self.add_above,
            "micro": self.micro.as_dict(),
            "noise": round(self.noise, 4),
            "items_expected_none": self.empty_items,
            "tagged_anyway": self.noisy_items,
        }


def folds_of(items: Sequence[Item], folds: int) -> list[list[Item]]:
    return [[item for i, item in enumerate(items) if i % folds == f] for f in range(folds)]


def cross_validate(
    items: Sequence[Item],
    needs: NeedsFile,
    *,
    folds: int = 5,
    scope: str = "departments",
    l2: float = DEFAULT_L2,
    min_count: int = DEFAULT_MIN_COUNT,
    settings: Sequence[tuple[str, float, float]] = SETTINGS,
    compiled: CompiledNeeds | None = None,
) -> list[Row]:
    if folds < 2 or folds > len(items):
        raise ValueError(f"--folds must be between 2 and the number of items ({len(items)})")
    # the rules alone, whatever needs.yaml's mode: each setting gets its own opinion
    off = needs.second_opinion.model_copy(update={"mode": "off"})
    needs = needs.model_copy(update={"second_opinion": off})
    compiled = compiled or compile_needs(needs)
    rows = [Row(mode, veto, add) for mode, veto, add in settings]
    parts = folds_of(items, folds)
    keys = needs.department_keys
    for number, test in enumerate(parts):
        training = [item for f, part in enumerate(parts) if f != number for item in part]
        model = train(
            examples_from_items(training),
            keys,
            trained_at=f"cv fold {number + 1} of {folds}",
            l2=l2,
            min_count=min_count,
        )
        for row in rows:
            block = needs.second_opinion.model_copy(
                update={"mode": row.mode, "veto_below": row.veto_below, "add_above": row.add_above}
            )
            variant = needs.model_copy(update={"second_opinion": block})
            variant._model = model if row.mode != "off" else None
            result = evaluate_items(
                test, variant, scope=scope, compiled=compiled.with_second_opinion(variant)
            )
            row.micro.tp += result.micro.tp
            row.micro.fp += result.micro.fp
            row.micro.fn += result.micro.fn
            row.empty_items += result.empty_items
            row.noisy_items += result.noisy_items
    return rows


def cv_lines(rows: Sequence[Row], items: int, folds: int) -> list[str]:
    lines = [
        f"{folds}-fold cross-validation on {items} item(s) (fold = item number mod {folds})",
        f"{'setting':<34} {'P':>5} {'R':>5} {'F1':>5} {'TP':>4} {'FP':>4} {'FN':>4}  noise",
    ]
    for row in rows:
        c = row.micro
        lines.append(
            f"{row.label:<34} {c.precision:5.3f} {c.recall:5.3f} {c.f1:5.3f} {c.tp:4d} "
            f"{c.fp:4d} {c.fn:4d}  {100 * row.noise:4.1f} % ({row.noisy_items}/{row.empty_items})"
        )
    return lines
