"""bevaka db upgrade / calls import / calls list / calls show, through the real CLI."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from storage.db import make_engine
from storage.importer import NEUTRALISED_URL
from storage.models import Call


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = [
    json.dumps(
        {
            "title": "Erasmus+ skolutbyten 2027",
            "url": "https://example.org/erasmus-skola",
            "identifier": "ERASMUS-EDU-2027-PI-ALL-INNO",
            "programme": "ERASMUS",
            "deadline": ["2027-03-15", "2027-09-15T17:00:00+02:00"],
            "opens_at": "2026-11-01",
            "budget": 400000,
            "language": "sv",
        }
    ),
    json.dumps(
        {
            "title": "Klimatanpassning i kommuner",
            "url": "https://example.org/klimat",
            "source": "lst",
        }
    ),
]


def test_db_upgrade_creates_schema_on_empty_sqlite(bevaka, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh' / 'empty.sqlite3'}"
    result = bevaka("db", "upgrade", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "at revision" in result.stdout
    listing = bevaka("calls", "list", env={"DATABASE_URL": url})
    assert listing.returncode == 0, listing.stderr


def test_commands_refuse_an_unmigrated_database(bevaka, tmp_path):
    url = f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}"
    result = bevaka("calls", "list", env={"DATABASE_URL": url})
    assert result.returncode == 2
    assert "bevaka db upgrade" in result.stderr


def test_import_twice_leaves_one_row_per_call(bevaka, db_url, tmp_path):
    path = _write(tmp_path / "calls.jsonl", GOOD)
    first = bevaka("calls", "import", str(path))
    assert first.returncode == 0, first.stderr
    assert "imported 2 new" in first.stdout
    second = bevaka("calls", "import", str(path))
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 changed, 2 unchanged" in second.stdout
    engine = make_engine(db_url)
    with Session(engine) as session:
        calls = session.exec(select(Call)).all()
    engine.dispose()
    assert len(calls) == 2
    erasmus = next(c for c in calls if c.identifier)
    assert erasmus.source == "manual"
    assert len(erasmus.deadlines) == 2
    assert erasmus.status == "open" or erasmus.status == "closed"


def test_bad_line_is_named_and_the_rest_imported(bevaka, tmp_path):
    lines = [
        GOOD[0],
        '{"title": "no url"}',
        "not json at all",
        GOOD[1],
        '{"title": "x", "url": "javascript:alert(1)"}',
    ]
    path = _write(tmp_path / "calls.jsonl", lines)
    result = bevaka("calls", "import", str(path))
    assert result.returncode == 1
    assert f"{path}:2: 'url' is required" in result.stderr
    assert f"{path}:3: invalid JSON" in result.stderr
    assert f"{path}:5: note: url 'javascript:alert(1)' is not an http(s) link" in result.stderr
    assert "imported 3 new" in result.stdout  # the javascript: line is kept, link neutralised


@pytest.mark.storage
def test_hostile_text_is_cleaned_and_one_bad_line_never_stops_the_file(bevaka, db_url, tmp_path):
    """NUL (which PostgreSQL refuses in text: the whole file used to fail with a traceback
    and 0 imported), BEL, U+202E, CR/LF and a 200 KB title are stripped and capped as the
    crawler does; a javascript: link is neutralised with a note and the call kept."""
    hostile = [
        {"title": "Nul\x00 i titeln", "url": "https://example.org/nul", "keywords": ["a\x00b"]},
        {"title": "Klocka\x07 och \u202egnilnäv", "url": "https://example.org/bidi"},
        {"title": "Rad ett\r\nBcc: x@evil.example", "url": "https://example.org/crlf"},
        {"title": "Å" * 200_000, "url": "https://example.org/lang", "description": "x\x00y"},
        {"title": "Skript", "url": "javascript:alert(document.cookie)"},
        {"title": "Data", "url": "data:text/html,<script>alert(1)</script>"},
        {"title": "\x00\x07", "url": "https://example.org/tom"},
    ]
    lines = [json.dumps(h, ensure_ascii=True) for h in hostile] + [GOOD[1]]
    path = _write(tmp_path / "hostile.jsonl", lines)
    result = bevaka("calls", "import", str(path))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1  # the title with nothing visible is refused, by line
    assert f"{path}:7: 'title' has no visible characters" in result.stderr
    assert f"{path}:5: note: url 'javascript:alert(document.cookie)'" in result.stderr
    assert f"{path}:6: note: url 'data:text/html," in result.stderr
    assert "imported 7 new" in result.stdout
    engine = make_engine(db_url)
    with Session(engine) as session:
        stored = session.exec(select(Call)).all()
    engine.dispose()
    calls = {c.url: c for c in stored}
    assert calls["https://example.org/nul"].title == "Nul i titeln"
    assert calls["https://example.org/nul"].keywords == ["ab"]
    assert calls["https://example.org/bidi"].title == "Klocka och gnilnäv"
    assert calls["https://example.org/crlf"].title == "Rad ett Bcc: x@evil.example"
    assert len(calls["https://example.org/lang"].title) == 500
    assert calls["https://example.org/lang"].description == "xy"
    neutralised = [c for c in stored if c.url == NEUTRALISED_URL]
    assert sorted(c.title for c in neutralised) == ["Data", "Skript"]
    for call in stored:
        assert not any(ord(ch) < 32 or 0x202A <= ord(ch) <= 0x202E for ch in call.title)


def test_list_and_show_json(bevaka, tmp_path):
    bevaka("calls", "import", str(_write(tmp_path / "c.jsonl", GOOD)), check=True)
    listing = json.loads(bevaka("calls", "list", "--format", "json", check=True).stdout)
    assert len(listing) == 2
    first = listing[0]
    for key in (
        "id",
        "source",
        "external_id",
        "title",
        "url",
        "status",
        "next_deadline",
        "deadlines",
        "tags",
    ):
        assert key in first
    erasmus = next(c for c in listing if c["identifier"])
    shown = json.loads(
        bevaka("calls", "show", str(erasmus["id"]), "--format", "json", check=True).stdout
    )
    assert shown["title"] == "Erasmus+ skolutbyten 2027"
    assert shown["deadlines"] == sorted(shown["deadlines"])
    assert shown["changes"] == []
    missing = bevaka("calls", "show", "9999")
    assert missing.returncode == 1 and "no call with id 9999" in missing.stderr


def test_reimport_with_changed_deadline_records_one_change(bevaka, tmp_path):
    bevaka("calls", "import", str(_write(tmp_path / "a.jsonl", GOOD[:1])), check=True)
    changed = json.loads(GOOD[0])
    changed["deadline"] = ["2027-03-22", "2027-09-15T17:00:00+02:00"]
    bevaka("calls", "import", str(_write(tmp_path / "b.jsonl", [json.dumps(changed)])), check=True)
    call_id = json.loads(bevaka("calls", "list", "--format", "json", check=True).stdout)[0]["id"]
    shown = json.loads(bevaka("calls", "show", str(call_id), "--format", "json", check=True).stdout)
    assert [c["field"] for c in shown["changes"]] == ["deadlines"]
