"""`bevaka demo`: the whole pipeline offline, ending with digests in the outbox."""

from __future__ import annotations

import sqlite3
from email import message_from_bytes, policy

import pytest

from crawler.mirror import DEFAULT_RECORDINGS, load_recordings

pytestmark = pytest.mark.slow


def test_demo_runs_every_recorded_source_and_writes_digests(bevaka, tmp_path):
    demo_dir = tmp_path / "demo"
    result = bevaka("demo", "--dir", str(demo_dir), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Digests:" in result.stdout
    assert str(demo_dir / "outbox") in result.stdout.replace("\n", "")

    db = sqlite3.connect(demo_dir / "bevaka.sqlite3")
    runs = dict(db.execute("select source, outcome from crawl_run"))
    recorded = set(load_recordings(DEFAULT_RECORDINGS))
    assert recorded, "the demo ships recordings"
    assert set(runs) == recorded
    assert set(runs.values()) == {"ok"}
    calls_per_source = dict(db.execute("select source, count(*) from call group by source"))
    assert set(calls_per_source) == recorded
    tagged = db.execute("select count(distinct call_id) from tag").fetchone()[0]
    assert tagged > 0
    delivered = db.execute("select count(*) from delivery where status = 'written'").fetchone()[0]
    db.close()

    emls = sorted((demo_dir / "outbox").glob("*.eml"))
    assert len(emls) == delivered > 0
    assert len(sorted((demo_dir / "outbox").glob("*.html"))) == len(emls)
    message = message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"].startswith("Bevaka v. ")
    assert message.get_body(preferencelist=("plain",)) is not None
    assert message.get_body(preferencelist=("html",)) is not None


def test_demo_dir_keeps_what_the_demo_did_not_make(tmp_path):
    """The issue's case: a folder with notes.txt and bevaka-production.sqlite3 given as
    --dir. A second demo removes the first one's files (as listed in its manifest), and
    only those."""
    from scheduler.demo import (
        MANIFEST,
        DemoDirectoryError,
        clear_previous_demo,
        record_demo_files,
    )

    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / "notes.txt").write_text("do not lose", encoding="utf-8")
    (folder / "bevaka-production.sqlite3").write_bytes(b"SQLite format 3\x00 production")
    clear_previous_demo(folder)
    (folder / "bevaka.sqlite3").write_bytes(b"demo db")  # what a demo run makes
    (folder / "outbox").mkdir()
    (folder / "outbox" / "anna.eml").write_text("demo mail", encoding="utf-8")
    record_demo_files(folder)
    (folder / "outbox" / "mine.txt").write_text("put here by a person", encoding="utf-8")

    with pytest.raises(DemoDirectoryError, match="already holds outbox"):
        clear_previous_demo(folder)  # the next demo: the person's file in outbox/ stays
    assert sorted(p.name for p in folder.rglob("*")) == [
        "bevaka-production.sqlite3",
        "mine.txt",
        "notes.txt",
        "outbox",
    ]
    assert not (folder / MANIFEST).exists()
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "do not lose"
    (folder / "outbox" / "mine.txt").unlink()
    clear_previous_demo(folder)  # an empty outbox/ is the demo's to use again


def test_demo_refuses_a_database_it_did_not_make(bevaka, tmp_path):
    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / "bevaka.sqlite3").write_bytes(b"someone's real database")
    result = bevaka("demo", "--dir", str(folder), timeout=120)
    assert result.returncode == 2
    assert "already holds bevaka.sqlite3, not made by an earlier demo" in result.stderr
    assert (folder / "bevaka.sqlite3").read_bytes() == b"someone's real database"


def test_a_manifest_cannot_point_outside_the_demo_dir(tmp_path):
    from scheduler.demo import MANIFEST, clear_previous_demo

    outside = tmp_path / "precious.txt"
    outside.write_text("keep", encoding="utf-8")
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / MANIFEST).write_text('{"files": ["../precious.txt", "/etc/hostname"]}')
    clear_previous_demo(folder)
    assert outside.read_text(encoding="utf-8") == "keep"
