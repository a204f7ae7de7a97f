"""The web app and the scheduler's work on one database at the same time: the real app
served by uvicorn in a thread answers page after page while the scheduler's pipeline
(``scheduler.pipeline.run_once``: a crawl in child processes writing hundreds of calls, a
match, health alerts, a digest run with SMTP to a real aiosmtpd) writes to the
same SQLite file (WAL, busy timeout) — or the same PostgreSQL database when
BEVAKA_TEST_DATABASE_URL is set. Every page answers 200; "database is locked" never
reaches a user; the writers finish with everything stored."""

from __future__ import annotations

import dataclasses
import socket
import threading
from datetime import timedelta

import httpx
import pytest
import uvicorn
from faults import Body, FaultServer, SmtpFaultServer
from rel_support import rows
from sqlmodel import Session

from config.schema import SourceEntry, SourcesFile
from crawler.runner import crawl_sources
from crawler.settings import BENCH_SETTINGS
from notifications.example import EXAMPLE_NOW, example_config, seed_example
from scheduler.pipeline import run_once
from storage.db import make_engine
from storage.models import Call, Delivery, Subscriber

pytestmark = pytest.mark.slow

NOW = EXAMPLE_NOW
ITEMS = 200
SUBSCRIBERS = 20


def big_feed(key: str) -> str:
    items = "".join(
        f"<item><guid isPermaLink='false'>{key}-{n}</guid>"
        f"<title>Klimat och digitalisering {key} {n}</title>"
        f"<link>{{base}}/{key}/{n}</link>"
        f"<description>Utlysning {n}. Sista ansökningsdag 15 mars 2027.</description></item>"
        for n in range(ITEMS)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
        f"<link>{{base}}</link><description>d</description>{items}</channel></rss>"
    )


class _Web:
    """uvicorn serving the app on a socket that listens before the thread starts."""

    def __init__(self, app):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def test_pages_answer_while_crawl_match_and_digest_write(db_url, tmp_path):
    from web.app import create_app

    engine = make_engine(db_url)
    with Session(engine) as session:
        seed_example(session, NOW)
        for n in range(SUBSCRIBERS):
            session.add(
                Subscriber(
                    email=f"person{n}@lidkoping.se",
                    name=f"Person {n}",
                    role="coordinator",
                    created_at=NOW - timedelta(days=60),
                )
            )
        session.commit()
    call_ids = [c.id for c in rows(engine, Call)]
    errors: list[BaseException] = []
    results: dict[str, object] = {}

    with FaultServer() as feeds, SmtpFaultServer() as smtp:
        for key in ("flode_a", "flode_b"):
            feeds.route(f"/{key}.xml", Body(big_feed(key), "application/rss+xml"))
        config = example_config(
            tmp_path, host="127.0.0.1", port=smtp.port, security="none", concurrency=2
        )
        config = dataclasses.replace(
            config,
            settings=config.settings.model_copy(update={"database_url": db_url}),
            sources=SourcesFile(
                sources=[
                    SourceEntry(key=k, name=k, kind="feed", url=feeds.url(f"/{k}.xml"))
                    for k in ("flode_a", "flode_b")
                ]
            ),
        )
        app = create_app(config, make_engine(db_url), clock=lambda: NOW, environ={})

        def writer() -> None:
            """What the scheduler does on a Monday morning: crawl → match → health → digest."""
            try:
                results["stages"] = run_once(
                    config,
                    engine,
                    NOW,
                    settings_overrides={**BENCH_SETTINGS, "RETRY_TIMES": 0},
                )
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        statuses: list[tuple[str, int]] = []
        locked: list[str] = []
        thread = threading.Thread(target=writer, name="scheduler-work")
        with _Web(app) as web, httpx.Client(base_url=web.url, timeout=60) as client:
            thread.start()
            paths = ["/", "/health", "/registrera"] + [f"/utlysning/{i}" for i in call_ids]
            n = 0
            while thread.is_alive() or n < len(paths):
                path = paths[n % len(paths)]
                n += 1
                response = client.get(path)
                statuses.append((path, response.status_code))
                if "locked" in response.text.lower():
                    locked.append(path)
            thread.join()

    assert not errors, errors
    assert not locked, locked
    bad = [s for s in statuses if s[1] != 200]
    assert not bad, bad[:10]
    print(f"{len(statuses)} pages served while the writers ran")
    assert len(statuses) >= len(paths)
    stages = {r.name: r for r in results["stages"]}
    assert all(r.ok for r in stages.values()), [(r.name, r.error) for r in stages.values()]
    assert stages["crawl"].summary["new"] == 2 * ITEMS
    assert len(rows(engine, Call, Call.source.in_(["flode_a", "flode_b"]))) == 2 * ITEMS
    assert stages["digest"].summary["sent"] == SUBSCRIBERS + 2, stages["digest"].summary
    assert {d.status for d in rows(engine, Delivery)} == {"sent"}
    assert len(smtp.messages) == SUBSCRIBERS + 2
    engine.dispose()


def test_two_crawls_of_one_source_at_once_store_each_call_once(db_url, tmp_path):
    """The scheduler's crawl and a hand-run `bevaka crawl` of the same source overlap: every
    call is stored once, and neither run reports the other's inserts as failures (the
    deterministic form of the race is the next test)."""
    engine = make_engine(db_url)
    with FaultServer() as feeds:
        feeds.route("/same.xml", Body(big_feed("same"), "application/rss+xml"))
        config = dataclasses.replace(
            example_config(tmp_path),
            sources=SourcesFile(
                sources=[
                    SourceEntry(key="same", name="same", kind="feed", url=feeds.url("/same.xml"))
                ]
            ),
        )
        results: list = []
        errors: list[BaseException] = []

        def crawl() -> None:
            try:
                results.extend(
                    crawl_sources(
                        config=config,
                        database_url=db_url,
                        now=NOW,
                        settings_overrides={**BENCH_SETTINGS, "RETRY_TIMES": 0},
                    )
                )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=crawl) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    calls = rows(engine, Call, Call.source == "same")
    assert len(calls) == ITEMS and len({c.external_id for c in calls}) == ITEMS
    assert sorted(r.outcome for r in results) == ["ok", "ok"], [
        (r.outcome, r.error) for r in results
    ]
    assert sum(r.new for r in results) == ITEMS  # each call counted new once
    engine.dispose()


def test_upsert_survives_a_concurrent_insert_of_the_same_call(db_url):
    from sqlalchemy import event

    from storage.db import session_scope
    from storage.records import CallData
    from storage.repo import upsert_call

    data = CallData(
        source="same",
        external_id="same-1",
        url="https://example.org/same-1",
        title="Samma utlysning",
    )
    mine, other = make_engine(db_url), make_engine(db_url)
    with Session(mine) as session:
        fired: list[int] = []

        @event.listens_for(session, "before_flush")
        def _other_process_inserts_first(sess, _context, _instances) -> None:
            if not fired and any(isinstance(o, Call) for o in sess.new):
                fired.append(1)
                with session_scope(other) as theirs:
                    upsert_call(session=theirs, data=data, now=NOW)

        result = upsert_call(session=session, data=data, now=NOW)
        session.commit()
    assert fired
    assert result.outcome in ("unchanged", "changed")
    assert len(rows(mine, Call, Call.source == "same")) == 1
    mine.dispose()
    other.dispose()
