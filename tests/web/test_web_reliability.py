"""Issue 17 items 8 and 9 in the web app: the slash redirect's host, tokens of the wrong
shape, a sign-up link that re-subscribed, the form body cap, X-Forwarded-For and the rate
limit (real uvicorn), and a blocked database write that must not stall other requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from sqlalchemy import event, text
from sqlmodel import Session
from test_web_subscription import follow_signup, make_subscriber, save, token
from web_support import NOW, SECRET, csrf_from, make_config

from cli.web import uvicorn_options
from notifications.tokens import (
    _serializer,  # signed as the app signs, at its clock
    make_token,
)
from storage.db import make_engine
from storage.models import Subscriber
from web.app import create_app
from web.deps import MAX_FORM_BYTES


@contextmanager
def served(app, settings) -> Iterator[str]:
    """The app under a real uvicorn on 127.0.0.1 with ``bevaka web``'s proxy options."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            thread.join(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]  # the port the OS gave it
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_slash_redirect_never_takes_its_host_from_the_request(client):
    for path, expected in (
        ("/registrera/", "/registrera"),
        ("/registrera/?a=1", "/registrera?a=1"),
        ("//evil.example/", "/evil.example"),
        ("/\\evil.example/", "/%5Cevil.example"),
    ):
        response = client.get(f"http://testserver{path}", headers={"Host": "evil.example"})
        assert response.status_code == 307, path
        assert response.headers["location"] == expected, path
    assert client.get("/registrera/", follow_redirects=True).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"s": 1, "v": "x", "p": "prefs"},
        {"s": "1", "v": 1, "p": "prefs"},
        {"s": 1, "v": True, "p": "prefs"},
    ],
)
def test_a_signed_token_of_the_wrong_shape_is_an_invalid_link(client, session, web_config, payload):
    make_subscriber(session, web_config, topics=["klimat"])
    forged = _serializer(SECRET, NOW).dumps(payload)
    response = client.get(f"/prenumeration/{forged}")
    assert response.status_code == 400 and "Länken fungerar inte" in response.text
    unsub = _serializer(SECRET, NOW).dumps({**payload, "p": "unsubscribe"})
    assert client.post(f"/avregistrera/{unsub}").status_code == 400


def test_a_signup_link_used_to_subscribe_again_dies_once_saved(client, outbox, session, web_config):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    client.post(f"/avregistrera/{token('unsubscribe', sub)}")
    path = follow_signup(client, outbox)
    assert save(client, path, topics=["klimat"]).status_code == 303
    session.expire_all()
    assert session.get(Subscriber, sub.id).unsubscribed_at is None
    again = client.get(path)
    assert again.status_code == 400 and "Länken fungerar inte" in again.text
    page = client.get("/registrera")
    form = {"csrf_token": csrf_from(page.text), "name": "Mallory", "topics": "integration"}
    assert client.post(path, data=form).status_code == 400  # and it changes nothing
    session.expire_all()
    assert session.get(Subscriber, sub.id).name == "Anna Berg"


def test_a_huge_form_body_is_refused_before_it_is_parsed(client, session, web_config):
    sub = make_subscriber(session, web_config, topics=["klimat"])
    path = f"/prenumeration/{token('prefs', sub)}"
    page = client.get(path)
    big = {"csrf_token": csrf_from(page.text), "name": "A" * (MAX_FORM_BYTES + 1)}
    response = client.post(path, data=big)
    assert response.status_code == 413 and "för stort" in response.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: streamed
        yield f"csrf_token={csrf_from(page.text)}&name=".encode()
        for _ in range(MAX_FORM_BYTES // 1024 + 2):
            yield b"B" * 1024

    streamed = client.post(
        path, content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert streamed.status_code == 413
    session.expire_all()
    assert session.get(Subscriber, sub.id).name == "Anna Berg"
    # a normal save still works
    assert save(client, path, topics=["klimat"]).status_code == 303


def _sign_up(http: httpx.Client, email: str, forwarded: str) -> int:
    page = http.get("/registrera")
    data = {"email": email, "csrf_token": csrf_from(page.text)}
    return http.post("/registrera", data=data, headers={"X-Forwarded-For": forwarded}).status_code


@pytest.mark.parametrize("trusted", [[], ["127.0.0.1"]])
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    config_dir, db_url, tmp_path, engine, trusted
):
    """With no trusted proxy (the default) a client on loopback cannot dodge the per-address
    limit by sending a new X-Forwarded-For each time; behind a configured proxy each
    forwarded client has its own count. Under real uvicorn, as `bevaka web` runs it."""
    config = make_config(config_dir, db_url, tmp_path, trusted_proxies=trusted)
    app = create_app(config, engine, environ={})
    limit = config.settings.web.signup_rate_limit_per_hour
    with served(app, config.settings) as base, httpx.Client(base_url=base) as http:
        codes = [
            _sign_up(http, f"person{n}@lidkoping.se", f"203.0.113.{n}") for n in range(limit + 1)
        ]
    if trusted:
        assert codes == [200] * (limit + 1)
    else:
        assert codes == [200] * limit + [429]


@pytest.mark.storage
def test_a_blocked_database_write_does_not_stall_other_requests(
    config_dir, db_url, tmp_path, engine
):
    """Another connection holds the write lock; a preferences POST waits for it (up to the
    busy timeout). Meanwhile a GET must be answered: the POST's synchronous database work
    runs in the thread pool, not in the event loop (it was an `async def` that blocked every
    request for the whole wait)."""
    config = make_config(config_dir, db_url, tmp_path)
    with Session(engine) as session:
        sub = make_subscriber(session, config, topics=["klimat"])
        prefs = make_token(SECRET, purpose="prefs", subscriber_id=sub.id, version=sub.token_version)
    app_engine = make_engine(db_url)
    writing = threading.Event()

    @event.listens_for(app_engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, *args):  # the POST has reached its write
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            writing.set()

    app = create_app(config, app_engine, clock=lambda: datetime(2027, 2, 1, tzinfo=UTC), environ={})
    blocker = make_engine(db_url)
    lock = blocker.connect()
    try:
        with served(app, config.settings) as base, httpx.Client(base_url=base) as http:
            page = http.get(f"/prenumeration/{prefs}")
            form = {"csrf_token": csrf_from(page.text), "name": "Anna B", "topics": "integration"}
            if lock.dialect.name == "sqlite":
                lock.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                lock.begin()
                lock.execute(text("LOCK TABLE subscriber IN EXCLUSIVE MODE"))
            result: dict[str, httpx.Response] = {}
            poster = threading.Thread(
                target=lambda: result.update(
                    post=httpx.post(
                        f"{base}/prenumeration/{prefs}", data=form, cookies=http.cookies, timeout=60
                    )
                )
            )
            poster.start()
            assert writing.wait(30), "the POST never reached its write"
            answered = http.get("/registrera", timeout=20)
            assert answered.status_code == 200
            assert poster.is_alive(), "the write was not blocked: the test proves nothing"
            lock.rollback()
            poster.join(60)
            assert result["post"].status_code == 303
    finally:
        lock.close()
        blocker.dispose()
        app_engine.dispose()
    with Session(engine) as session:
        assert session.get(Subscriber, sub.id).name == "Anna B"


def test_no_async_handler_opens_a_database_session_on_the_event_loop():
    """An ``async def`` route runs on the event loop: a synchronous database session opened
    in it blocks every other request while SQLite waits for a lock. Such work belongs in a
    plain ``def`` route or in a function handed to the thread pool (a nested def)."""
    import ast
    import inspect
    import textwrap

    from fastapi.routing import APIRoute

    from web import actions, calendar, followup, health, pages, subscription

    routes = [
        route
        for module in (actions, calendar, followup, health, pages, subscription)
        for route in module.router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(routes) > 20  # every page of the app is looked at
    offenders = []
    for route in routes:
        if not inspect.iscoroutinefunction(route.endpoint):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(route.endpoint)))
        (handler,) = tree.body
        nested = {
            id(n)
            for d in ast.walk(handler)
            if isinstance(d, ast.FunctionDef | ast.Lambda) and d is not handler
            for n in ast.walk(d)
        }
        for node in ast.walk(handler):
            if (
                id(node) not in nested
                and isinstance(node, ast.Attribute)
                and node.attr in ("session", "session_scope")
            ):
                offenders.append(f"{route.endpoint.__module__}.{route.endpoint.__name__}")
                break
    assert offenders == []
