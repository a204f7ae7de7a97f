from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from storage.models import Call, CallChange
from storage.records import CallData, derive_status, next_deadline
from storage.repo import refresh_statuses, upsert_call

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _data(**kw):
    base = dict(source="eu_portal", external_id="X-1", url="https://example.org/x", title="Call X")
    base.update(kw)
    return CallData(**base)


def test_status_is_derived_from_dates_not_the_hint():
    past = NOW - timedelta(days=1)
    assert derive_status(opens_at=None, deadlines=[past], now=NOW, hint="forthcoming") == "closed"
    assert (
        derive_status(
            opens_at=NOW + timedelta(days=3), deadlines=[NOW + timedelta(days=30)], now=NOW
        )
        == "forthcoming"
    )
    assert (
        derive_status(opens_at=None, deadlines=[past, NOW + timedelta(days=30)], now=NOW) == "open"
    )
    assert derive_status(opens_at=None, deadlines=[], now=NOW, hint=None) == "unknown"


def test_a_forthcoming_call_without_deadline_opens_on_its_opening_date():
    """ "Öppnar 12 augusti 2024" and no closing date: forthcoming until then, open after
    (also when the stored status is re-derived as time passes, with it as the hint)."""
    opens = NOW - timedelta(days=1)
    assert derive_status(opens_at=opens, deadlines=[], now=NOW, hint="forthcoming") == "open"
    assert (
        derive_status(
            opens_at=opens, deadlines=[], now=opens - timedelta(hours=1), hint="forthcoming"
        )
        == "forthcoming"
    )


def test_next_deadline_of_a_two_stage_call():
    first, second = NOW + timedelta(days=10), NOW + timedelta(days=100)
    assert next_deadline([first, second], NOW) == first
    assert next_deadline([first, second], NOW + timedelta(days=20)) == second
    assert next_deadline([first, second], NOW + timedelta(days=200)) == second


def test_upsert_new_unchanged_changed(session):
    d1 = NOW + timedelta(days=30)
    assert upsert_call(session=session, data=_data(deadlines=[d1]), now=NOW).outcome == "new"
    assert upsert_call(session=session, data=_data(deadlines=[d1]), now=NOW).outcome == "unchanged"
    result = upsert_call(
        session=session, data=_data(deadlines=[d1 + timedelta(days=7)], budget=1e6), now=NOW
    )
    assert result.outcome == "changed"
    assert sorted(c.field for c in result.changes) == ["budget", "deadlines"]
    session.commit()
    assert len(session.exec(select(Call)).all()) == 1
    assert len(session.exec(select(CallChange)).all()) == 2


def test_unchanged_recrawl_writes_no_call_row(session):
    upsert_call(session=session, data=_data(), now=NOW)
    session.commit()
    before = session.exec(select(Call)).one().model_dump()
    upsert_call(session=session, data=_data(), now=NOW + timedelta(hours=1))
    assert not session.dirty
    session.commit()
    assert session.exec(select(Call)).one().model_dump() == before


def test_refresh_closes_calls_whose_deadline_passed(session):
    upsert_call(session=session, data=_data(deadlines=[NOW + timedelta(days=1)]), now=NOW)
    session.commit()
    changes = refresh_statuses(session=session, now=NOW + timedelta(days=2))
    session.commit()
    call = session.exec(select(Call)).one()
    assert call.status == "closed"
    assert [(c.field, c.old_value, c.new_value) for c in changes] == [("status", "open", "closed")]


def test_times_come_back_aware_utc(session):
    upsert_call(
        session=session, data=_data(opens_at=datetime(2027, 1, 1, 9, 0, tzinfo=UTC)), now=NOW
    )
    session.commit()
    session.expunge_all()
    call = session.exec(select(Call)).one()
    assert call.opens_at == datetime(2027, 1, 1, 9, 0, tzinfo=UTC)
    assert call.opens_at.tzinfo is not None


def test_a_run_left_running_by_a_killed_crawl_is_closed_by_the_next(session):
    from storage.models import CrawlRun
    from storage.repo import start_crawl_run

    killed = start_crawl_run(session=session, source="esf", now=NOW)
    other_source = start_crawl_run(session=session, source="skr", now=NOW)
    session.commit()
    later = NOW + timedelta(hours=3)
    fresh = start_crawl_run(
        session=session, source="esf", now=later, stale_before=later - timedelta(minutes=30)
    )
    session.commit()
    runs = {r.id: r for r in session.exec(select(CrawlRun))}
    assert runs[killed.id].outcome == "failed"
    assert runs[killed.id].finished_at == later
    assert "interrupted" in runs[killed.id].error
    assert runs[other_source.id].outcome == "running"  # another source's run is not touched
    assert runs[fresh.id].outcome == "running"


def test_a_recent_running_run_is_not_closed(session):
    from storage.repo import start_crawl_run

    live = start_crawl_run(session=session, source="esf", now=NOW)
    start_crawl_run(
        session=session,
        source="esf",
        now=NOW + timedelta(minutes=1),
        stale_before=NOW - timedelta(minutes=30),
    )
    session.commit()
    session.refresh(live)
    assert live.outcome == "running"


def test_may_skip_only_when_the_clock_changes_nothing():
    from storage.repo import StoredCall, may_skip

    fresh = StoredCall(
        call_id=1,
        content_hash="c",
        status="open",
        last_seen_at=NOW - timedelta(hours=1),
        source_hash="s",
        opens_at=NOW - timedelta(days=10),
        next_deadline=NOW + timedelta(days=10),
    )
    assert may_skip(fresh, NOW)
    assert not may_skip(replace(fresh, source_hash=None), NOW)  # stored before fingerprints
    assert not may_skip(replace(fresh, last_seen_at=NOW - timedelta(hours=12)), NOW)
    passed = replace(fresh, next_deadline=NOW - timedelta(minutes=1))
    assert not may_skip(passed, NOW)  # open with a deadline gone: status or next one moves
    assert may_skip(replace(passed, status="closed"), NOW)  # closed for good
    opened = replace(fresh, status="forthcoming", opens_at=NOW - timedelta(minutes=1))
    assert not may_skip(opened, NOW)
    assert may_skip(replace(opened, opens_at=NOW + timedelta(days=1)), NOW)
