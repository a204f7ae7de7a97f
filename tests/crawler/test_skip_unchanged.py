"""A recrawl skips a call whose raw record is the same as at the last crawl (its
``source_hash``), without parsing it, unless the clock would change something; an
upgrade (calls stored without a fingerprint) writes the fingerprint and no history."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from crawl_support import TEST_SETTINGS, copy_recordings, mirrored_config
from sqlalchemy import update
from sqlmodel import select

from crawler.mirror import Mirror
from crawler.runner import crawl_sources
from storage.models import Call, CallChange, CrawlRun

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _snapshot(session) -> dict[str, tuple]:
    session.expire_all()
    return {
        c.external_id: (c.updated_at, c.last_seen_at, c.content_hash, c.source_hash)
        for c in session.exec(select(Call)).all()
    }


def test_unchanged_records_are_skipped_until_the_clock_or_the_record_changes(
    tmp_path, db_url, session
):
    recordings = copy_recordings(tmp_path / "rec", "eu_portal")
    with Mirror(recordings) as mirror:
        config = mirrored_config(mirror)
        sources = [
            s.model_copy(update={"options": {**s.options, "fetch_details": False}})
            if s.key == "eu_portal"
            else s
            for s in config.sources.sources
        ]
        config = dataclasses.replace(
            config, sources=config.sources.model_copy(update={"sources": sources})
        )

        def crawl(hours: float):
            (result,) = crawl_sources(
                config=config,
                keys=["eu_portal"],
                database_url=db_url,
                now=NOW + timedelta(hours=hours),
                settings_overrides=TEST_SETTINGS,
            )
            run = session.get(CrawlRun, result.run_id)
            session.refresh(run)
            return result, run.stats["skipped"]

        first, skipped = crawl(0)
        assert (first.new, skipped) == (9, 0)
        stored = _snapshot(session)
        assert all(v[3] for v in stored.values())  # every call has its fingerprint

        second, skipped = crawl(1)
        assert (second.seen, second.unchanged, skipped) == (9, 9, 9)
        assert _snapshot(session) == stored  # nothing written

        page = recordings / "eu_portal" / "search-page1.json"
        data = json.loads(page.read_text())
        changed_id = data["results"][0]["metadata"]["identifier"][0]
        data["results"][0]["metadata"]["deadlineDate"] = ["2027-05-06T17:00:00.000+0200"]
        page.write_text(json.dumps(data))
        third, skipped = crawl(2)
        assert (third.changed, third.unchanged, skipped) == (1, 8, 8)
        changes = session.exec(select(CallChange)).all()
        assert [(c.field, c.call_id) for c in changes] == [
            ("deadlines", session.exec(select(Call.id).where(Call.external_id == changed_id)).one())
        ]

        # 15 h after the first crawl last_seen_at is due: read, not skipped, not changed
        fourth, skipped = crawl(15)
        assert (fourth.unchanged, fourth.changed, skipped) == (9, 0, 0)
        later = _snapshot(session)
        assert {v[1] for v in later.values()} == {NOW + timedelta(hours=15)}

        # calls stored before fingerprints existed (an upgrade): read, fingerprint written
        session.exec(update(Call).values(source_hash=None))
        session.commit()
        fifth, skipped = crawl(16)
        assert (fifth.unchanged, fifth.changed, skipped) == (9, 0, 0)
        assert _snapshot(session) == later  # the same fingerprints, nothing else
        sixth, skipped = crawl(17)
        assert (sixth.unchanged, skipped) == (9, 9)
    assert len(session.exec(select(CallChange)).all()) == 1
