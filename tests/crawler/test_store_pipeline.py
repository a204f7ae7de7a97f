"""StorePipeline: what is stored is loaded once per crawl, so an unchanged call costs no
query; changed and new calls go through storage.repo.upsert_call as before, in batches of
one transaction (one bad row still costs only itself); the validated calls are kept on the
spider only when not storing (``bevaka sources check``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from scrapy.utils.test import get_crawler
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crawler.pipelines import StorePipeline
from storage.models import Call, CallChange, CrawlRun
from storage.records import CallData

pytestmark = pytest.mark.storage

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _data(i: int, deadline: datetime | None = None) -> CallData:
    return CallData(
        source="vinnova",
        external_id=f"r{i}",
        url=f"https://example.org/r{i}",
        title=f"Utlysning {i}",
        description="<p>Text</p>",
        deadlines=[deadline or datetime(2027, 9, 1, 21, 59, tzinfo=UTC)],
    )


def _spider() -> SimpleNamespace:
    return SimpleNamespace(source_key="vinnova", errors=0, first_error=None, fatal=False, pages=1)


def _pipeline(db_url: str, now: datetime, store: bool = True) -> StorePipeline:
    crawler = get_crawler(
        settings_dict={
            "BEVAKA_DATABASE_URL": db_url,
            "BEVAKA_NOW": now.isoformat(),
            "BEVAKA_STORE": store,
        }
    )
    return StorePipeline.from_crawler(crawler)


class _Statements:
    """Every SQL statement any engine runs while active."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _record(self, conn, cursor, statement, *args) -> None:
        self.seen.append(statement)

    def _commit(self, conn) -> None:
        self.seen.append("COMMIT")

    def __enter__(self) -> _Statements:
        event.listen(Engine, "before_cursor_execute", self._record)
        event.listen(Engine, "commit", self._commit)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(Engine, "before_cursor_execute", self._record)
        event.remove(Engine, "commit", self._commit)


def _crawl(db_url: str, items: list[CallData], now: datetime) -> tuple[StorePipeline, list[str]]:
    pipeline, spider = _pipeline(db_url, now), _spider()
    pipeline.open_spider(spider)
    with _Statements() as statements:
        for item in items:
            assert pipeline.process_item(item, spider) is item
        pipeline.flush()  # the calls still waiting in the batch
    assert spider.collected == []  # storing keeps nothing in memory
    pipeline.spider_closed(spider, "finished")
    return pipeline, statements.seen


def test_unchanged_recrawl_runs_no_query_per_call(db_url, session):
    first, _ = _crawl(db_url, [_data(i) for i in range(5)], NOW)
    assert first.summary["new"] == 5
    before = [(c.id, c.last_seen_at, c.updated_at) for c in session.exec(select(Call))]

    again, statements = _crawl(db_url, [_data(i) for i in range(5)], NOW + timedelta(hours=1))

    assert (again.summary["unchanged"], again.summary["outcome"]) == (5, "ok")
    assert statements == []
    session.expire_all()
    assert [(c.id, c.last_seen_at, c.updated_at) for c in session.exec(select(Call))] == before
    assert session.exec(select(CallChange)).all() == []
    assert len(session.exec(select(CrawlRun)).all()) == 2


def test_changed_call_is_upserted_once_and_its_repeat_is_unchanged(db_url, session):
    _crawl(db_url, [_data(i) for i in range(3)], NOW)
    moved = _data(1, deadline=datetime(2027, 10, 1, 21, 59, tzinfo=UTC))
    later = NOW + timedelta(hours=1)

    pipeline, statements = _crawl(db_url, [_data(0), moved, moved, _data(2)], later)

    counts = {k: pipeline.summary[k] for k in ("new", "changed", "unchanged")}
    assert counts == {"new": 0, "changed": 1, "unchanged": 3}
    assert statements  # the changed call was written
    (change,) = session.exec(select(CallChange)).all()
    assert change.field == "deadlines"
    call = session.exec(select(Call).where(Call.external_id == "r1")).one()
    assert (call.last_seen_at, call.updated_at) == (later, later)


def test_last_seen_is_still_refreshed_after_the_resolution(db_url, session):
    _crawl(db_url, [_data(0)], NOW)
    later = NOW + timedelta(hours=13)

    pipeline, statements = _crawl(db_url, [_data(0)], later)

    assert pipeline.summary["unchanged"] == 1
    assert statements
    call = session.exec(select(Call)).one()
    assert (call.last_seen_at, call.updated_at) == (later, NOW)


def test_not_storing_collects_the_calls(db_url, session):
    pipeline, spider = _pipeline(db_url, NOW, store=False), _spider()
    pipeline.open_spider(spider)
    items = [_data(i) for i in range(2)]
    for item in items:
        pipeline.process_item(item, spider)
    pipeline.spider_closed(spider, "finished")
    assert spider.collected == items
    assert session.exec(select(Call)).all() == []


def test_batches_are_one_transaction_each_and_keep_the_order(db_url, session, monkeypatch):
    monkeypatch.setattr("crawler.pipelines.BATCH_SIZE", 4)
    items = [_data(i) for i in range(10)]

    pipeline, statements = _crawl(db_url, items, NOW)

    assert pipeline.summary["new"] == 10
    assert statements.count("COMMIT") == 3  # 4 + 4 + the last 2
    calls = session.exec(select(Call).order_by(Call.id)).all()
    assert [c.external_id for c in calls] == [f"r{i}" for i in range(10)]
    assert pipeline.stored_ids == [c.id for c in calls]


def _refuse_external_id(engine: Engine, external_id: str) -> None:
    """Make the database itself refuse to insert one call (a trigger), on either backend."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_call() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.external_id = '{external_id}' THEN RAISE EXCEPTION 'bad row'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON call "
                "FOR EACH ROW EXECUTE FUNCTION refuse_call()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON call "
                f"WHEN NEW.external_id = '{external_id}' BEGIN SELECT RAISE(ABORT, 'bad row'); END"
            )


def test_new_calls_are_inserted_by_one_statement_per_batch(db_url, session, monkeypatch):
    monkeypatch.setattr("crawler.pipelines.BATCH_SIZE", 50)

    pipeline, statements = _crawl(db_url, [_data(i) for i in range(120)], NOW)

    assert pipeline.summary["new"] == 120
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO CALL ")]
    assert len(inserts) == 3  # 50 + 50 + 20, not one per call
    calls = session.exec(select(Call).order_by(Call.id)).all()
    assert [c.external_id for c in calls] == [f"r{i}" for i in range(120)]
    assert pipeline.stored_ids == [c.id for c in calls]
    first = calls[0]
    assert (first.status, first.first_seen_at, first.last_seen_at) == ("open", NOW, NOW)
    assert first.next_deadline == datetime(2027, 9, 1, 21, 59, tzinfo=UTC)
    assert first.content_hash == _data(0).content_hash()
    # the next crawl finds every one unchanged: the bulk insert stored what upsert_call would
    again, statements = _crawl(db_url, [_data(i) for i in range(120)], NOW + timedelta(hours=1))
    assert (again.summary["unchanged"], statements) == (120, [])


def test_a_call_inserted_meanwhile_by_another_crawl_is_updated_not_lost(db_url, engine, session):
    from storage.repo import upsert_call

    pipeline, spider = _pipeline(db_url, NOW), _spider()
    pipeline.open_spider(spider)  # loads what is stored: nothing yet
    with Session(engine) as theirs:  # another crawl of the source stores r1 first
        upsert_call(session=theirs, data=_data(1), now=NOW)
        theirs.commit()
    for i in range(3):
        pipeline.process_item(_data(i), spider)
    pipeline.spider_closed(spider, "finished")

    stored = [c.external_id for c in session.exec(select(Call).order_by(Call.id))]
    assert stored == ["r1", "r0", "r2"]
    counts = {k: pipeline.summary[k] for k in ("new", "unchanged", "errors")}
    assert counts == {"new": 2, "unchanged": 1, "errors": 0}
    assert pipeline.summary["outcome"] == "ok"


def test_a_bad_row_in_a_batch_costs_only_itself(db_url, engine, session):
    _refuse_external_id(engine, "r1")

    pipeline, _ = _crawl(db_url, [_data(i) for i in range(4)], NOW)

    stored = [c.external_id for c in session.exec(select(Call).order_by(Call.id))]
    assert stored == ["r0", "r2", "r3"]
    assert (pipeline.summary["new"], pipeline.summary["errors"]) == (3, 1)
    assert pipeline.summary["outcome"] == "failed"
    assert pipeline.summary["error"].startswith("cannot store 'r1': ")
    assert "bad row" in pipeline.summary["error"]
