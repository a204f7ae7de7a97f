"""`bevaka match`, `bevaka explain` (real CLI in a subprocess) and bad rules in needs.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from cli.app import app
from storage.models import MatchState, Tag

runner = cli_runner = CliRunner()

CALLS = [
    {
        "title": "Fire safety training for rescue services",
        "url": "https://example.org/fire",
        "description": "Courses for firefighters and first responders in fire prevention.",
        "language": "en",
    },
    {
        "title": "Skogsmulle i naturen",
        "url": "https://example.org/mulle",
        "description": "Barn lär sig om skogen och djuren.",
        "language": "sv",
    },
    {
        "title": "Quantum sensing for industry (RIA)",
        "url": "https://example.org/quantum",
        "programme": "HORIZON",
        "description": "Cold-atom sensors for navigation.",
    },
]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _stored(engine) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    from sqlmodel import Session

    with Session(engine) as session:
        tags = {(t.call_id, t.key) for t in session.exec(select(Tag))}
        states = {(s.call_id, s.rules_hash) for s in session.exec(select(MatchState))}
    return tags, states


@pytest.fixture
def imported(bevaka, tmp_path):
    lines = tmp_path / "calls.jsonl"
    lines.write_text("\n".join(json.dumps(c) for c in CALLS) + "\n", encoding="utf-8")
    bevaka("calls", "import", str(lines), check=True)
    return bevaka


def test_match_then_dry_run_after_editing_needs(imported, config_dir, engine):
    bevaka = imported
    first = json.loads(bevaka("match", "--format", "json", check=True).stdout)
    assert first["checked"] == 3 and first["dry_run"] is False
    tagged = {c["call_id"]: c["added"] for c in first["changes"]}
    assert "raddningstjanst" in tagged[1] and "krisberedskap" in tagged[1]
    assert 3 not in tagged  # research: nothing
    before = _stored(engine)

    # The coordinator's edit: preschool outdoor education (Skogsmulle) becomes a need,
    # and räddningstjänsten raises its threshold so that call 1 falls below it.
    needs = config_dir / "needs.yaml"
    _replace(needs, "      - name: Förskola\n", "      - name: Förskola\n        weight: 1.0\n")
    _replace(needs, "any: [förskola, förskolan,", "any: [skogsmulle, förskola, förskolan,")
    _replace(
        needs,
        "    name: Räddningstjänsten Västra Skaraborg\n",
        "    name: Räddningstjänsten Västra Skaraborg\n    threshold: 1000\n",
    )
    preview = bevaka("match", "--dry-run", check=True)
    lines = [line for line in preview.stdout.splitlines() if line.startswith("#")]
    assert sorted(lines) == [
        "#1 -raddningstjanst  Fire safety training for rescue services",
        "#2 +barn-och-skola  Skogsmulle i naturen",
    ]
    assert "dry run (nothing stored)" in preview.stdout
    assert "1 tag(s) added, 1 removed" in preview.stdout
    assert _stored(engine) == before  # nothing stored: tags and match state as they were

    applied = json.loads(bevaka("match", "--format", "json", check=True).stdout)
    assert {c["call_id"]: (c["added"], c["removed"]) for c in applied["changes"]} == {
        1: ([], ["raddningstjanst"]),
        2: (["barn-och-skola"], []),
    }
    again = json.loads(bevaka("match", "--format", "json", check=True).stdout)
    assert (again["checked"], again["up_to_date"]) == (0, 3)


def test_explain_gives_need_term_field_snippet_and_misses(cli_env, tmp_path):
    # in-process (CliRunner with the same environment) to keep the suite fast
    def bevaka(*args: str):
        return cli_runner.invoke(app, list(args), env=cli_env)

    lines = tmp_path / "calls.jsonl"
    lines.write_text("\n".join(json.dumps(c) for c in CALLS) + "\n", encoding="utf-8")
    assert bevaka("calls", "import", str(lines)).exit_code == 0
    assert bevaka("match").exit_code == 0
    out = bevaka("explain", "1").stdout
    assert "Call 1: Fire safety training for rescue services" in out
    assert "raddningstjanst (department, Räddningstjänsten Västra Skaraborg): score" in out
    assert (
        "need 'Brandskydd': term 'fire safety' in title (+3): "
        "Fire safety training for rescue services"
    ) in out
    assert "Not tagged (closest needs):" in out
    assert "barn-och-skola (department, Barn- och skolförvaltningen): not tagged" in out

    miss = bevaka("explain", "3", "--tag", "teknisk-service").stdout
    assert (
        "teknisk-service (department, Teknisk service): not tagged, score 0 < threshold 3" in miss
    )
    assert "need 'Energy efficiency (public sector)': none of its 'any' terms found" in miss

    near = bevaka("explain", "1", "--tag", "krisberedskap").stdout
    assert "krisberedskap (topic, Krisberedskap): score" in near
    assert "need 'UCPM': programme filter: only UCPM (this call: none)" in near

    data = json.loads(bevaka("explain", "2", "--format", "json").stdout)
    assert data["current_tags"] == data["stored_tags"]
    assert data["language"] == "sv"

    unknown = bevaka("explain", "1", "--tag", "no-such-key")
    assert unknown.exit_code == 2 and "unknown förvaltning or topic 'no-such-key'" in unknown.output
    assert bevaka("explain", "99").exit_code == 1


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


@pytest.mark.parametrize(
    "old,new,needle,path,message",
    [
        (
            '        any: ["town twinning",',
            '        any: []\n        x_any: ["town twinning",',
            "x_any:",
            "departments[0].needs[0].x_any",
            "unknown key",
        ),
        (
            '        any: ["town twinning",',
            '        any: ["", "town twinning",',
            'any: ["", "town twinning"',
            "departments[0].needs[0].any",
            "terms must not be empty strings",
        ),
        (
            "        programmes: [CERV]",
            "        programmes: [CERVV]",
            "programmes: [CERVV]",
            "departments[0].needs[1].programmes",
            "unknown programme 'CERVV'",
        ),
        (
            '        any: ["town twinning",',
            '        any: ["vänort*skap", "town twinning",',
            "vänort*skap",
            "departments[0].needs[0].any",
            "'vänort*skap': '*' may only stand at the start or end",
        ),
        (
            "        weight: 1.5\n      - name: Vänorter inom CERV",
            "        weight: 1.5\n        all: [[]]\n      - name: Vänorter inom CERV",
            "all: [[]]",
            "departments[0].needs[0].all",
            "an all-of group must list at least one term",
        ),
    ],
    ids=["unknown-key", "empty-term", "unknown-programme", "bad-star", "empty-group"],
)
def test_bad_rules_are_config_errors_with_file_line_and_path(
    config_dir, old, new, needle, path, message
):
    needs = config_dir / "needs.yaml"
    _replace(needs, old, new)
    result = runner.invoke(app, ["--config", str(config_dir), "config", "check"])
    assert result.exit_code == 2, result.output
    assert f"needs.yaml:{_line_of(needs, needle)}: {path}: {message}" in result.output
    assert "Traceback" not in result.output


def test_a_need_without_terms_is_a_config_error(config_dir):
    needs = config_dir / "needs.yaml"
    text = needs.read_text(encoding="utf-8")
    start = text.index('        any: ["town twinning",')
    end = text.index("\n", start)
    needs.write_text(text[:start] + "        any: []" + text[end:], encoding="utf-8")
    result = runner.invoke(app, ["--config", str(config_dir), "config", "check"])
    assert result.exit_code == 2
    line = _line_of(needs, "- name: Vänorter och nätverk av städer")
    assert (
        f"needs.yaml:{line}: departments[0].needs[0]: the need has no terms: list at least "
        "one under 'any' or 'all'"
    ) in result.output
