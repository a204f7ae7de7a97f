"""/health, security headers, no open redirects, no API docs, and the rate limiter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from web_support import NOW, SECRET, Clock, csrf_from

from notifications.subscribers import add_subscriber
from notifications.tokens import make_token
from storage.models import CrawlRun, Delivery
from web.app import create_app
from web.security import CONTENT_SECURITY_POLICY, RateLimiter, check_basic_auth


def test_health_reports_database_sources_and_last_digest(client, session, web_config):
    sources = [s.key for s in web_config.sources.sources]
    assert sources, "the shipped config lists sources"
    first = sources[0]
    t = datetime(2027, 2, 28, 6, tzinfo=UTC)
    session.add(CrawlRun(source=first, started_at=t, finished_at=t, outcome="failed"))
    session.add(
        CrawlRun(
            source=first,
            started_at=t + timedelta(days=1),
            finished_at=t + timedelta(days=1, minutes=5),
            outcome="ok",
        )
    )
    session.add(CrawlRun(source=first, started_at=t + timedelta(days=2), outcome="running"))
    sub = add_subscriber(
        session=session, needs=web_config.needs, email="a@lidkoping.se", name="A", now=NOW
    )
    session.add(
        Delivery(
            subscriber_id=sub.id,
            week="2027-W09",
            status="sent",
            created_at=t,
            sent_at=t + timedelta(minutes=1),
        )
    )
    session.commit()
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert set(body["sources"]) == set(sources)
    assert body["sources"][first]["outcome"] == "ok"
    assert body["sources"][first]["finished_at"] == "2027-03-01T06:05:00+00:00"
    for other in sources[1:]:
        assert body["sources"][other] == {
            "enabled": web_config.source(other).enabled,
            "outcome": "never run",
            "finished_at": None,
        }
    assert body["last_digest"] == {
        "week": "2027-W09",
        "status": "sent",
        "sent_at": "2027-02-28T06:01:00+00:00",
    }


def test_health_without_any_digest(client):
    body = client.get("/health").json()
    assert body["last_digest"] is None and body["database"] == "ok"


def test_health_when_the_database_is_unreachable(web_config, clock):
    engine = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    with TestClient(create_app(web_config, engine, clock=clock, environ={})) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


@pytest.mark.parametrize(
    "path", ["/", "/registrera", "/health", "/static/bevaka.css", "/nope", "/prenumeration/bad"]
)
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none': no script at all
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


def test_pages_have_no_inline_script_or_style(client, seeded):
    for path in ("/", f"/utlysning/{seeded['climate'].id}", "/registrera"):
        html = client.get(path).text
        assert "<script" not in html and "style=" not in html and "<style" not in html


def test_token_pages_are_not_cached(client, session, web_config):
    sub = add_subscriber(
        session=session, needs=web_config.needs, email="b@lidkoping.se", name="B", now=NOW
    )
    session.commit()
    token = make_token(SECRET, purpose="prefs", subscriber_id=sub.id, version=1, now=NOW)
    assert client.get(f"/prenumeration/{token}").headers["cache-control"] == "no-store"


def test_csrf_cookie_is_httponly_and_strict(client):
    cookie = client.get("/registrera").headers["set-cookie"]
    assert "bevaka_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http here; over https the cookie is Secure
    with TestClient(client.app, base_url="https://testserver") as https:
        assert "Secure" in https.get("/registrera").headers["set-cookie"]


def test_no_open_redirect(client, session, web_config):
    sub = add_subscriber(
        session=session,
        needs=web_config.needs,
        email="c@lidkoping.se",
        name="C",
        now=NOW,
        topics=["klimat"],
    )
    session.commit()
    token = make_token(SECRET, purpose="prefs", subscriber_id=sub.id, version=1, now=NOW)
    path = f"/prenumeration/{token}?next=https://evil.example&redirect=//evil.example"
    page = client.get(path)
    response = client.post(
        path,
        data={
            "csrf_token": csrf_from(page.text),
            "topics": "klimat",
            "next": "https://evil.example",
        },
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/prenumeration/") and "evil" not in location


def test_no_api_docs_exposed(client):
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404


def test_rate_limiter_window():
    clock = Clock(NOW)
    limiter = RateLimiter(2, timedelta(hours=1), clock)
    assert limiter.hit("a") and limiter.hit("a")
    assert not limiter.hit("a")
    assert limiter.hit("b")
    clock.advance(minutes=59)
    assert not limiter.hit("a")
    clock.advance(minutes=1)
    assert limiter.hit("a")


def test_basic_auth_header_parsing():
    import base64

    good = "Basic " + base64.b64encode(b"intl:p:w").decode()
    assert check_basic_auth(good, "intl", "p:w")
    assert not check_basic_auth(good, "intl", "p")
    assert not check_basic_auth("Basic !!!", "intl", "p:w")
    assert not check_basic_auth("Bearer abc", "intl", "p:w")
    assert not check_basic_auth(None, "intl", "p:w")


def test_follow_up_pages_are_part_of_the_app(client):
    response = client.get("/uppfoljning/2027")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"


def test_database_down_gives_a_swedish_error_page_with_headers(web_config, clock):
    engine = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    app = create_app(web_config, engine, clock=clock, environ={})
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert "Något gick fel" in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "psycopg" not in response.text  # no internals shown
