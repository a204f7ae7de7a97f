"""Hostile content in every scraped field, end to end: a feed and an HTML listing (with
detail pages) full of HTML and script, ``javascript:``/``data:`` links, CR/LF header
injection, a megabyte title, zero-width and right-to-left characters, invalid UTF-8,
template syntax, "31 februari" and negative budgets are crawled by the real runner,
matched, mailed as a digest to a real SMTP server and shown by the web app.

Nothing executes (no script element, no event-handler attribute, no non-http(s) link in
any page or mail), nothing breaks a page or a mail header, nothing crashes a run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser

import pytest
from faults import Body, FaultServer, SmtpFaultServer
from rel_support import rows

from config.schema import SourceEntry, SourcesFile
from crawler.runner import crawl_sources
from crawler.settings import BENCH_SETTINGS
from matching.service import run_match
from notifications.example import example_config
from notifications.ledger import run_digest
from storage.db import make_engine, session_scope
from storage.models import Call, CrawlRun, Subscriber

pytestmark = [
    pytest.mark.storage,
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
OVERRIDES = {**BENCH_SETTINGS, "DOWNLOAD_TIMEOUT": 5, "RETRY_TIMES": 0}
MEGA = "Klimat " + "A" * 1_000_000
INVISIBLE = "\u200b\u200d\u202e\u202a\u2066\ufeff"
INJECT = "Klimat&#13;&#10;Bcc: evil@example.com&#13;&#10;Subject: pwned"
ICS_INJECT = (
    "Kultur och klimat&#13;&#10;END:VEVENT&#13;&#10;BEGIN:VEVENT&#13;&#10;"
    "SUMMARY:injected&#13;&#10;ATTENDEE:mailto:evil@example.com"
)
ALLOWED_SCHEMES = ("http://", "https://", "mailto:")


def hostile_feed() -> bytes:
    items = [
        (
            "<![CDATA[Klimat <script>alert(1)</script><img src=x onerror=alert(2)>"
            " \"citat\" & 'apostrof' {{ 7*7 }} {% raw %}]]>",
            "{base}/ok/1",
            "<![CDATA[<p onclick='alert(3)'>Klimat <a href=\"javascript:alert(4)\">js</a>"
            ' <a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg1KTwvc2NyaXB0Pg==">data</a>'
            ' <a href="https://ok.example/las-mer">läs mer</a>'
            ' <iframe src="javascript:alert(6)"></iframe></p>]]>',
        ),
        (INJECT, "{base}/ok/2", "Klimat. Sista ansökningsdag 31 februari 2027."),
        (MEGA, "{base}/ok/3", "Klimat " * 20000),
        (f"Klimat{INVISIBLE}evil\u202c", "{base}/ok/4", "Klimat \x01\x02 kontroll"),
        ("Klimat via javascript-länk", "javascript:alert(7)", "ska inte lagras med länken"),
        ("Klimat via data-länk", "data:text/html,&lt;script&gt;alert(8)&lt;/script&gt;", "x"),
        ("Klimat =?utf-8?b?QmNjOiBldmlsQGV4YW1wbGUuY29t?=", "{base}/ok/5", "Budget: -5 000 000 kr"),
        (ICS_INJECT, "{base}/ok/8", "Kultur. Sista ansökningsdag 15 mars 2027."),
    ]
    body = "".join(
        f"<item><guid isPermaLink='false'>h{n}</guid><title>{t}</title><link>{link}</link>"
        f"<description>{d}</description></item>"
        for n, (t, link, d) in enumerate(items)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>f</title>"
        f"<link>{{base}}</link><description>d</description>{body}</channel></rss>"
    ).encode()


def broken_bytes_feed() -> bytes:
    """The same feed with a few invalid UTF-8 bytes in one entry."""
    return hostile_feed().replace(b"kontroll", b"kontroll \xff\xfe\xc3(")


def hostile_listing() -> bytes:
    items = [
        '<a href="javascript:alert(1)">Klimat js-länk i listan</a>',
        '<a href="  JaVaScRiPt:alert(1)">Klimat blandade versaler</a>',
        '<a href="java&#x09;script:alert(1)">Klimat med tabb</a>',
        '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">Klimat data-länk</a>',
        '<a href="/ok/6">Klimat <b>fet</b> &lt;script&gt;alert(9)&lt;/script&gt;</a>',
        '<a href="/ok/7">Klimat "><svg onload=alert(10)> {{ config }}</a>',
    ]
    body = "".join(
        f'<article class="call"><h2>{a}</h2><p class="datum">Sista ansökningsdag 31 februari 2027'
        "</p></article>"
        for a in items
    )
    page = f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    return page.encode("utf-8") + b"\xff\xfe trailing garbage \xc3("


def detail_page(n: int) -> str:
    return (
        "<html><body><h1>Detalj</h1>"
        f"<div class='budget'>Totalt -{n} 000 000 kronor</div>"
        "<div class='deadline'>Sista ansökningsdag: 2027-02-30</div>"
        "<script>alert('detail')</script>"
        "<a href='javascript:alert(11)'>x</a></body></html>"
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.bad: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.bad.append(f"{tag} {name}={value}")
            if name in ("href", "src", "action", "formaction", "xlink:href") and value:
                self.links.append(value)
        if tag in ("iframe", "object", "embed", "svg"):
            self.bad.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def check_html(html: str, *, own_scripts: tuple[str, ...] = ()) -> _Collector:
    parsed = _Collector()
    parsed.feed(html)
    parsed.close()
    assert not parsed.bad, parsed.bad
    scripts = parsed.tags.count("script")
    assert scripts <= len(own_scripts), "a <script> element in the page"
    for link in parsed.links:
        value = link.strip().lower()
        assert value.startswith(ALLOWED_SCHEMES) or value.startswith(("/", "#", "?")), link
    assert "javascript:" not in " ".join(parsed.links).lower()
    return parsed


@pytest.fixture(scope="module")
def hostile(module_db_url, tmp_path_factory):
    engine = make_engine(module_db_url)
    with FaultServer() as server:
        server.route("/hostile/feed.xml", Body(hostile_feed(), "application/rss+xml"))
        server.route("/hostile/list.html", Body(hostile_listing(), "text/html; charset=utf-8"))
        server.route("/hostile/bytes.xml", Body(broken_bytes_feed(), "application/rss+xml"))
        for n in range(1, 9):
            server.route(f"/ok/{n}", Body(detail_page(n)))
        config = example_config(tmp_path_factory.mktemp("cfg"))
        sources = SourcesFile(
            sources=[
                SourceEntry(
                    key="hostile_feed",
                    name="Fientligt flöde <script>",
                    kind="feed",
                    url=server.url("/hostile/feed.xml"),
                    options={
                        "follow_links": True,
                        "detail": {"budget": ".budget", "deadline": ".deadline"},
                    },
                ),
                SourceEntry(
                    key="hostile_bytes",
                    name="Trasiga byte",
                    kind="feed",
                    url=server.url("/hostile/bytes.xml"),
                ),
                SourceEntry(
                    key="hostile_listing",
                    name="Fientlig lista",
                    kind="listing",
                    url=server.url("/hostile/list.html"),
                    options={
                        "item": "article.call",
                        "date": ".datum",
                        "detail": {"budget": ".budget", "deadline": ".deadline"},
                    },
                ),
            ]
        )
        config = dataclasses.replace(config, sources=sources)
        results = crawl_sources(
            config=config, database_url=module_db_url, now=NOW, settings_overrides=OVERRIDES
        )
    with session_scope(engine) as session:
        session.add(
            Subscriber(
                email="international@lidkoping.se",
                name='Gruppen "\r\nBcc: evil@example.com',
                role="coordinator",
                created_at=NOW - timedelta(days=60),
            )
        )
        match = run_match(session=session, needs=config.needs, now=NOW)
    yield {"engine": engine, "config": config, "results": results, "match": match}
    engine.dispose()


def test_crawls_survive(hostile):
    by_source = {r.source: r for r in hostile["results"]}
    for key in ("hostile_feed", "hostile_bytes", "hostile_listing"):
        assert by_source[key].outcome == "ok", (key, by_source[key].error)
        assert by_source[key].seen >= 4
    runs = rows(hostile["engine"], CrawlRun)
    assert {r.outcome for r in runs} == {"ok"}


def test_stored_calls_are_clean(hostile):
    calls = rows(hostile["engine"], Call)
    assert len(calls) >= 8
    for call in calls:
        assert call.url.startswith(("http://", "https://")), call.url
        assert "\r" not in call.title and "\n" not in call.title
        assert 0 < len(call.title) <= 500
        for bad in INVISIBLE + "\x00\x01\x02\u202c":
            assert bad not in call.title and bad not in (call.summary or "")
        assert "\ud800" not in call.title  # valid text only
        call.title.encode("utf-8")
        (call.summary or "").encode("utf-8")
        assert call.budget is None or call.budget > 0, (call.title, call.budget)
        for link in (call.extra or {}).get("links", []):
            assert str(link).startswith(("http://", "https://")), link
        for deadline in call.deadlines:
            datetime.fromisoformat(deadline)
    titles = " ".join(c.title for c in calls)
    assert "Bcc: evil@example.com" in titles  # kept as text, on the title's one line
    assert any(c.title.startswith("Klimat AAAA") for c in calls)  # the megabyte title, cut


def test_invalid_bytes_in_one_entry_do_not_garble_the_others(hostile):
    bytes_feed = {
        c.external_id: c for c in rows(hostile["engine"], Call, Call.source == "hostile_bytes")
    }
    clean_feed = {
        c.external_id: c for c in rows(hostile["engine"], Call, Call.source == "hostile_feed")
    }
    assert len(clean_feed) >= 5 and sorted(bytes_feed) == sorted(clean_feed)
    for external_id, clean in clean_feed.items():
        if external_id == "h3":  # the entry with the invalid bytes
            continue
        assert bytes_feed[external_id].title == clean.title, bytes_feed[external_id].title
        assert bytes_feed[external_id].deadlines == clean.deadlines, external_id


def test_impossible_dates_do_not_become_deadlines(hostile):
    for call in rows(hostile["engine"], Call):
        for deadline in call.deadlines:
            moment = datetime.fromisoformat(deadline)
            assert (moment.month, moment.day) not in ((2, 29), (2, 30), (2, 31), (3, 1), (3, 2))


def test_digest_mail_is_safe(hostile, tmp_path):
    config = hostile["config"]
    with SmtpFaultServer() as smtp:
        settings = config.settings.model_copy(
            update={
                "smtp": config.settings.smtp.model_copy(
                    update={"host": "127.0.0.1", "port": smtp.port, "security": "none"}
                )
            }
        )
        config = dataclasses.replace(config, settings=settings)
        report = run_digest(config=config, engine=hostile["engine"], now=NOW)
        assert report.ok and report.sent == ["international@lidkoping.se"], report.as_json()
        (received,) = smtp.messages
    assert received.rcpt_tos == ["international@lidkoping.se"]  # no injected Bcc
    raw = received.message.as_bytes()
    message = BytesParser(policy=policy.default).parsebytes(raw)
    names = [k.lower() for k in message]
    assert "bcc" not in names and names.count("subject") == 1 and names.count("to") == 1
    for key, value in message.items():
        assert "\r" not in str(value) and "\n" not in str(value), key
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    parsed = check_html(html)
    shown = "".join(parsed.text)
    # the hostile titles reached the mail, as text
    assert "{{ 7*7 }}" in shown and "Bcc: evil@example.com" in shown
    assert "{{ 7*7 }}" in text and "javascript:" not in text.lower()


def test_web_pages_are_safe(hostile):
    from fastapi.testclient import TestClient

    from web.app import create_app

    app = create_app(hostile["config"], hostile["engine"], clock=lambda: NOW, environ={})
    calls = rows(hostile["engine"], Call)
    with TestClient(app) as client:
        pages = ["/"] + [f"/utlysning/{c.id}" for c in calls]
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            assert "text/html" in response.headers["content-type"]
            check_html(response.text)
        templated = next(c for c in calls if "{{ 7*7 }}" in c.title)
        page = client.get(f"/utlysning/{templated.id}").text
        assert "{{ 7*7 }}" in _Collector_text(page)  # shown as text, never evaluated


def _Collector_text(html: str) -> str:
    parsed = _Collector()
    parsed.feed(html)
    return "".join(parsed.text)


def test_calendar_cannot_be_injected(hostile):
    from fastapi.testclient import TestClient
    from icalendar import Calendar

    from web.app import create_app

    app = create_app(hostile["config"], hostile["engine"], clock=lambda: NOW, environ={})
    with TestClient(app) as client:
        response = client.get("/kalender/forvaltning/kultur-fritid.ics")
    assert response.status_code == 200
    body = response.content.decode("utf-8")
    lines = body.replace("\r\n ", "").split("\r\n")  # unfolded content lines
    assert not [line for line in lines if line.startswith(("SUMMARY:injected", "ATTENDEE"))]
    calendar = Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    summaries = [str(e.get("summary")) for e in events]
    injected = [t for t in summaries if "END:VEVENT" in t]
    assert injected, summaries  # the hostile call is in the calendar, as one event
    assert len(events) == len({str(e["uid"]) for e in events})
    for summary in injected:
        assert "END:VEVENT BEGIN:VEVENT" in summary and "\n" not in summary
    for event in events:
        assert "ATTENDEE" not in [k.upper() for k in event]
