"""`bevaka eval`: scores, noise, every error with explain's words, --compare, --only,
--format json and --from-decisions (tests/files/matching_eval)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.app import app
from config.schema import NeedsFile
from matching.engine import compile_needs, evaluate
from matching.evaluation import (
    EvalInputError,
    evaluate_items,
    items_from_decisions,
    read_items,
)
from matching.explain import explain_lines

FILES = Path(__file__).resolve().parent.parent / "files" / "matching_eval"
LABELLED = FILES / "labelled.jsonl"
NEEDS_FILE = FILES / "needs.yaml"
NEEDS = NeedsFile.model_validate(yaml.safe_load(NEEDS_FILE.read_text(encoding="utf-8")))

runner = CliRunner()


def _better_needs(tmp_path: Path) -> Path:
    """B: a term that fixes the teacher-training miss, and one that tags a maths course
    for the environment förvaltning (a new false positive)."""
    text = NEEDS_FILE.read_text(encoding="utf-8")
    text = text.replace("any: [skola, pupils]", "any: [skola, pupils, lärarfortbildning]")
    text = text.replace(
        "any: ['\"naturvård\"', biodiversity]", "any: ['\"naturvård\"', biodiversity, matematik]"
    )
    path = tmp_path / "better.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_scores_noise_and_errors():
    items = read_items(LABELLED, NEEDS)
    result = evaluate_items(items, NEEDS, label="small")
    assert result.items == 8
    micro = result.micro
    assert (micro.tp, micro.fp, micro.fn) == (3, 1, 1)
    assert (micro.precision, micro.recall, micro.f1) == (0.75, 0.75, 0.75)
    assert (result.per_key["skola"].tp, result.per_key["skola"].fn) == (0, 1)
    assert result.per_key["miljo"].precision == 0.5
    assert (result.empty_items, result.noisy_items) == (4, 1)
    assert result.noise == 0.25
    assert set(result.per_language) == {"sv", "en"}
    errors = {(e.item.ref, e.key, e.kind) for e in result.errors}
    assert errors == {("line 6", "skola", "fn"), ("line 7", "miljo", "fp")}


def test_each_error_is_explained_in_the_words_of_explain():
    items = read_items(LABELLED, NEEDS)
    result = evaluate_items(items, NEEDS)
    compiled = compile_needs(NEEDS)
    for error in result.errors:
        said = explain_lines(evaluate(compiled, error.item.call))
        assert error.explanation[0] in said  # the förvaltning's line, tagged or not
        assert all(line.strip() in "\n".join(said) for line in error.explanation)
    fn = next(e for e in result.errors if e.kind == "fn")
    assert fn.explanation[:2] == [
        "skola (department, Barn- och skolförvaltningen): not tagged, score 1 < threshold 3",
        "  - need 'Skola': matched (+1): 'skola' in description ('grundskolan')",
    ]


def test_only_departments_or_topics():
    items = read_items(LABELLED, NEEDS)
    departments = evaluate_items(items, NEEDS, scope="departments")
    assert set(departments.per_key) == {"kommunledning", "skola", "miljo", "kultur"}
    topics = evaluate_items(items, NEEDS, scope="topics")
    assert set(topics.per_key) == {"klimat"}
    assert (topics.micro.tp, topics.micro.fp, topics.micro.fn) == (0, 0, 0)
    assert topics.empty_items == 8  # no item is labelled with the topic


def test_bad_lines_are_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"title": "A", "url": "https://example.org/a", "expected": ["nope"]}),
        "{not json",
        json.dumps({"title": "B", "url": "https://example.org/b"}),
        json.dumps({"title": "D", "url": "https://example.org/d", "expected": [], "x": 1}),
        json.dumps({"title": "E", "url": "https://example.org/e", "expected": [], "note": 3}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(EvalInputError) as caught:
        read_items(path, NEEDS)
    problems = str(caught.value).splitlines()
    # (a line whose url is not http(s) is not an error: it is imported with the link
    # neutralised, as `bevaka calls import` does)
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:{n}" for n in range(1, 6)]
    assert "unknown key(s) in 'expected': 'nope'" in problems[0]
    assert "invalid JSON" in problems[1]
    assert "'expected' must be a list" in problems[2]
    assert "unknown key(s): x" in problems[3]
    assert "'note' must be a string" in problems[4]


def test_cli_table_needs_no_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never.sqlite3'}")
    result = runner.invoke(app, ["eval", str(LABELLED), "--needs", str(NEEDS_FILE)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "8 item(s), scored on all, needs " in out
    assert "micro                       0.75  0.75  0.75    3    1    1" in out
    assert "noise: 1 of 4 item(s) expected to get none got a tag (25.0 %)" in out
    assert "False positives (1):" in out and "False negatives (1):" in out
    assert (
        "line 7 [miljo] Summer course on biodiversity monitoring <https://example.org/summer>"
        in out
    )
    assert "      - need 'Natur': term 'biodiversity' in title (+3): Summer course" in out
    assert not (tmp_path / "never.sqlite3").exists()


def test_cli_json_and_compare(tmp_path):
    better = _better_needs(tmp_path)
    result = runner.invoke(
        app,
        ["eval", str(LABELLED), "--needs", str(NEEDS_FILE), "--compare", str(better),
         "--only", "departments", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    first, second = data["result"], data["compare"]
    assert first["micro"] == {
        "tp": 3,
        "fp": 1,
        "fn": 1,
        "precision": 0.75,
        "recall": 0.75,
        "f1": 0.75,
    }
    assert (second["micro"]["tp"], second["micro"]["fp"], second["micro"]["fn"]) == (4, 2, 0)
    assert first["scope"] == second["scope"] == "departments"
    assert "klimat" not in first["per_key"]
    assert [e["ref"] for e in second["false_positives"]] == ["line 6", "line 7"]
    fn = first["false_negatives"][0]
    assert fn["key"] == "skola" and fn["explanation"][0].startswith("skola (department")

    table = runner.invoke(
        app, ["eval", str(LABELLED), "--needs", str(NEEDS_FILE), "--compare", str(better)]
    )
    assert table.exit_code == 0, table.output
    out = table.output
    assert f"A: needs {NEEDS_FILE} (rules" in out and f"B: needs {better} (rules" in out
    assert "micro                       0.75  0.75  0.75    0.67  1.00  0.80  +0.05" in out
    assert "Changed (2): + B is right where A was wrong, - B is wrong" in out
    assert "+ line 6 [skola] Lärarfortbildning i matematik" in out
    assert "- line 6 [miljo] Lärarfortbildning i matematik" in out
    assert "      - need 'Natur': term 'matematik' in title (+3)" in out


def test_cli_refuses_a_bad_needs_file_and_a_bad_choice(tmp_path):
    bad = tmp_path / "needs.yaml"
    bad.write_text("departments:\n  - key: x\n    name: X\n    needs: []\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", str(LABELLED), "--needs", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: departments[0].needs:" in result.output
    neither = runner.invoke(app, ["eval", "--needs", str(NEEDS_FILE)])
    assert neither.exit_code == 1 and "give a labelled FILE or --from-decisions" in neither.output


def test_labels_from_decisions_are_the_latest_per_förvaltning():
    class Call:
        def __init__(self, id_, title):
            self.id, self.title, self.url, self.language = id_, title, "https://example.org", "sv"

    calls = [Call(1, "a"), Call(2, "b"), Call(3, "c")]
    decisions = [
        (1, "kommunledning", "considering", None),
        (1, "kommunledning", "declined", "not_relevant"),  # the latest counts
        (1, "skola", "applied", None),
        (2, "miljo", "pursuing", None),
        (2, "miljo", "declined", "no_capacity"),  # declined for another reason: no label
        (3, "elsewhere", "granted", None),  # not a known förvaltning
    ]
    items = items_from_decisions(calls, decisions, {"kommunledning", "skola", "miljo"})
    assert [(i.ref, set(i.expected), set(i.labelled or ())) for i in items] == [
        ("call 1", {"skola"}, {"kommunledning", "skola"})
    ]


@pytest.mark.slow
def test_cli_from_decisions(bevaka, tmp_path):
    calls = [
        {
            "title": "Town Twinning 2027",
            "url": "https://example.org/tt",
            "programme": "CERV",
            "language": "en",
            "description": "For municipalities and twinning committees.",
        },
        {
            "title": "Stöd till förskolans utemiljö",
            "url": "https://example.org/forskola",
            "language": "sv",
            "description": "Bidrag till utemiljöer.",
        },
        {"title": "Quantum sensing (RIA)", "url": "https://example.org/q", "language": "en"},
    ]
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in calls) + "\n", encoding="utf-8")
    bevaka("calls", "import", str(path), check=True)
    for args in (
        ("1", "-d", "kommunledning", "-s", "noted"),
        ("1", "-d", "barn-och-skola", "-s", "declined", "--reason", "not_relevant"),
        ("2", "-d", "barn-och-skola", "-s", "declined", "--reason", "not_relevant"),
        ("3", "-d", "teknisk-service", "-s", "considering"),
    ):
        bevaka("decide", *args, check=True)
    result = bevaka("eval", "--from-decisions", "--format", "json", check=True)
    data = json.loads(result.stdout)
    assert data["source"] == "decisions"
    res = data["result"]
    assert res["scope"] == "departments" and res["items"] == 3
    assert (res["micro"]["tp"], res["micro"]["fp"], res["micro"]["fn"]) == (1, 1, 1)
    assert [(e["ref"], e["key"]) for e in res["false_positives"]] == [("call 2", "barn-och-skola")]
    assert [(e["ref"], e["key"]) for e in res["false_negatives"]] == [("call 3", "teknisk-service")]
    assert res["noise"] == {"items_expected_none": 1, "tagged_anyway": 1, "rate": 1.0}
    refused = bevaka("eval", "--from-decisions", "--only", "topics")
    assert refused.returncode == 1 and "scores departments" in refused.stderr
    both = bevaka("eval", str(path), "--from-decisions")
    assert both.returncode == 1
