"""Fixtures for the web tests: a config with a few förvaltningar and topics, the app on the
test database with a controllable clock, seeded calls, and a real local SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from net_support import start_controller
from sqlmodel import Session
from web_support import NOW, Clock, SmtpSink, add_call, make_config

from config.loader import Config
from storage.repo import link_calls
from web.app import create_app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web_config(config_dir: Path, db_url: str, tmp_path: Path) -> Config:
    return make_config(config_dir, db_url, tmp_path)


@pytest.fixture
def app(web_config: Config, engine, clock: Clock):
    return create_app(web_config, engine, clock=clock, environ={})


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture
def outbox(web_config: Config) -> Path:
    return Path(web_config.settings.digest.outbox_dir)


@pytest.fixture
def seeded(session: Session) -> dict[str, Any]:
    """Calls of every status and kind, tagged, with a change history and a mention."""
    at = lambda y, m, d, h=15: datetime(y, m, d, h, 0, tzinfo=UTC)  # noqa: E731
    calls = {}
    calls["school"] = add_call(
        session,
        external_id="ERASMUS-SCHOOL",
        title="Skolutveckling i Europa",
        deadlines=[at(2027, 3, 15, 16)],
        programme="ERASMUS",
        tags={"utbildning": "department"},
        budget=4_000_000,
        currency="EUR",
    )
    calls["climate"] = add_call(
        session,
        external_id="LIFE-CLIMATE",
        title="Klimatanpassning i kommuner",
        deadlines=[at(2027, 5, 20, 16)],
        programme="LIFE",
        tags={"klimat": "topic", "samhallsbyggnad": "department"},
    )
    calls["digital"] = add_call(
        session,
        external_id="DIGITAL-1",
        title="Digitala tjänster för medborgare",
        deadlines=[at(2027, 9, 1, 16)],
        opens_at=at(2027, 4, 1),
        programme="DIGITAL",
        source="vinnova",
        url="https://www.vinnova.se/e/digitala-tjanster/",
        tags={"digitalisering": "topic"},
    )
    calls["closed"] = add_call(
        session,
        external_id="OLD-1",
        title="Stängd klimatutlysning",
        deadlines=[at(2027, 1, 10)],
        programme="LIFE",
        tags={"klimat": "topic"},
    )
    calls["undated"] = add_call(
        session,
        external_id="UNDATED",
        title="Integration utan datum",
        status="open",
        tags={"integration": "topic"},
    )
    calls["news"] = add_call(
        session,
        external_id="news-1",
        title="Nyhet: ny klimatutlysning från LIFE",
        kind="news",
        source="tillvaxtverket",
        url="https://tillvaxtverket.se/nyhet/1",
        tags={"klimat": "topic"},
    )
    # A later crawl moves the climate call's deadline: one CallChange row.
    add_call(
        session,
        external_id="LIFE-CLIMATE",
        title="Klimatanpassning i kommuner",
        deadlines=[at(2027, 6, 3, 16)],
        programme="LIFE",
        now=NOW + timedelta(hours=1),
    )
    link_calls(
        session=session,
        from_call_id=calls["news"].id,
        to_call_id=calls["climate"].id,
        reason="identifier",
        now=NOW,
    )
    session.commit()
    return calls


@pytest.fixture
def smtp_server():
    sink = SmtpSink()
    controller = start_controller(lambda **free: Controller(sink, hostname="127.0.0.1", **free))
    try:
        yield controller, sink
    finally:
        controller.stop()
