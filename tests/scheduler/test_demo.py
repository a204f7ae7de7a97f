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
