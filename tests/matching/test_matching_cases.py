"""The data-driven matcher cases in tests/files/matching_cases.yaml, one test each."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.loader import load_config
from config.schema import NeedsFile
from matching.engine import compile_needs, evaluate

CASES_FILE = Path(__file__).resolve().parent.parent / "files" / "matching_cases.yaml"
CASES = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
SHIPPED = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def shipped():
    return compile_needs(load_config(SHIPPED).needs)


def test_cases_are_well_formed():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for case in CASES:
        assert case.get("comment"), f"{case['id']}: every case says why it matters"
        assert case.get("present") or case.get("absent") or case.get("departments") == "none"
        assert set(case) <= {"id", "comment", "needs", "call", "present", "absent", "departments"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, shipped):
    compiled = (
        compile_needs(NeedsFile.model_validate(case["needs"])) if "needs" in case else shipped
    )
    evaluation = evaluate(compiled, case["call"])
    tags = {t.key: t for t in evaluation.tags}
    detail = {a.key: a.score for a in evaluation.audiences if a.score} | {
        "_comment": case["comment"]
    }
    for key in case.get("present", []):
        assert compiled.needs.audience(key) is not None, f"unknown key {key!r} in the case"
        assert key in tags, f"expected tag {key!r}: {detail}"
        reasons = tags[key].reasons
        assert reasons and all(
            {"need", "term", "field", "match", "snippet", "weight"} <= set(r) for r in reasons
        )
    for key in case.get("absent", []):
        assert compiled.needs.audience(key) is not None, f"unknown key {key!r} in the case"
        assert key not in tags, f"unexpected tag {key!r}: {detail}"
    if case.get("departments") == "none":
        departments = [t.key for t in tags.values() if t.kind == "department"]
        assert departments == [], f"research call got förvaltningar {departments}: {detail}"
