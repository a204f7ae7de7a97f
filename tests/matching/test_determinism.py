"""Tags, scores and reasons do not depend on Python's hash seed (a term fitted by several
words in one field reports the first of them in the text)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
from config.loader import load_config
from matching.engine import compile_needs, match_call

compiled = compile_needs(load_config().needs)
calls = [
    {"title": "Kulturarvet och kulturen i Lidköping", "summary": "Kultur, kulturskola och kulturhus",
     "description": "Stöd till kulturarv, kulturella evenemang och kulturföreningar. Kultur för unga.",
     "language": "sv"},
    {"title": "Climate adaptation and climate resilience for cities",
     "description": "Climate-neutral and climate resilient municipalities; adaptation to climate change.",
     "language": "en", "programme": "LIFE"},
    {"title": "Skolor och skolan: grundskolan, förskolan och skolutveckling",
     "description": "Elever, lärare och skolledare i grundskola och gymnasieskola.", "language": "sv"},
]
out = []
for call in calls:
    out.append([[t.key, round(t.score, 6), t.reasons] for t in match_call(compiled, call)])
print(json.dumps(out, sort_keys=True, ensure_ascii=False))
"""


def _run(seed: str) -> str:
    env = {
        **os.environ,
        "PYTHONHASHSEED": seed,
        "PYTHONPATH": str(ROOT),
        "BEVAKA_CONFIG": str(ROOT / "config"),
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_results_are_the_same_under_every_hash_seed():
    outputs = {_run(seed) for seed in ("0", "1", "4242", "987654")}
    assert len(outputs) == 1
    first = json.loads(outputs.pop())
    assert all(tags for tags in first), "every sample call gets a tag"
