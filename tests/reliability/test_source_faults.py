"""Source faults: one crawl through the real runner (sources sharing child processes) where
most sources misbehave in a different way, between two healthy ones.

Every misbehaving source ("victim") already has two calls from an earlier crawl; then all
sources are crawled once, each victim answering with its fault. What must hold:

* the healthy sources (crawled before and after the victims) finish and store their calls;
* a victim's CrawlRun says what happened (outcome and error text);
* a victim's calls from the first crawl are kept exactly as they were;
* retries are bounded (the server counts the requests);
* with the default settings a source that never answers costs at most two minutes
  (computed from the settings, not waited for).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from faults import (
    Body,
    FaultServer,
    Hang,
    Huge,
    Redirect,
    ResetMidBody,
    Sequence,
    Slow,
    Status,
    TooManyRequests,
)
from rel_support import rows, shipped_config, with_sources

from config.schema import CrawlSettings
from crawler.runner import crawl_sources
from crawler.settings import BENCH_SETTINGS, RETRY_BACKOFF_BASE, RETRY_BACKOFF_MAX, crawl_settings
from storage.db import make_engine, session_scope
from storage.models import Call, CrawlRun
from storage.records import CallData
from storage.repo import upsert_call

pytestmark = pytest.mark.storage

NOW1 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
NOW2 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
RETRIES = 1
OVERRIDES = {
    **BENCH_SETTINGS,
    "DOWNLOAD_TIMEOUT": 2,
    "RETRY_TIMES": RETRIES,
    "RETRY_BACKOFF_BASE": 0.1,
    "CLOSESPIDER_TIMEOUT": 60,
}
FEED_TYPE = "application/rss+xml; charset=utf-8"
JSON_TYPE = "application/json"


def rss(key: str, count: int = 2) -> str:
    items = "".join(
        f"""<item><guid isPermaLink="false">{key}-{n}</guid>
        <title>Utlysning {key} nummer {n}</title>
        <link>{{base}}/{key}/call/{n}</link>
        <description>Stöd till kommuner. Sista ansökningsdag 15 mars 2027.</description>
        <pubDate>Mon, 16 Nov 2026 08:00:00 +0100</pubDate></item>"""
        for n in range(1, count + 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{key}</title><link>{{base}}/{key}</link><description>x</description>"
        f"{items}</channel></rss>"
    )


def listing(key: str, count: int = 2, css_class: str = "call") -> str:
    items = "".join(
        f"""<article class="{css_class}"><h2><a href="/{key}/call/{n}">Utlysning {key} för
        föreningar nummer {n}</a></h2><p class="datum">Sista ansökningsdag 15 mars 2027</p>
        </article>"""
        for n in range(1, count + 1)
    )
    return f"<!doctype html><html><head><title>{key}</title></head><body><main>{items}</main></body></html>"


def sedia(key: str, count: int = 2) -> str:
    results = [
        {
            "reference": f"{key}-{n}",
            "summary": f"Topic {key} {n}",
            "metadata": {
                "identifier": [f"HORIZON-{key.upper()}-{n}"],
                "title": [f"Climate topic {key} number {n}"],
                "type": ["1"],
                "status": ["31094502"],
                "startDate": ["2026-11-01T00:00:00.000+0000"],
                "deadlineDate": ["2027-04-22T17:00:00.000+0200"],
                "frameworkProgramme": ["43108390"],
            },
        }
        for n in range(1, count + 1)
    ]
    return json.dumps({"totalResults": count, "pageNumber": 1, "results": results})


def feed_entry(key: str) -> dict:
    return {"key": key, "name": f"Source {key}", "kind": "feed", "url": f"/{key}/feed.xml"}


def listing_entry(key: str) -> dict:
    return {
        "key": key,
        "name": f"Source {key}",
        "kind": "listing",
        "url": f"/{key}/list.html",
        "options": {"item": "article.call", "date": ".datum"},
    }


def portal_entry(key: str) -> dict:
    return {
        "key": key,
        "name": f"Source {key}",
        "kind": "eu_portal",
        "url": f"/{key}/search",
        "options": {"page_size": 10, "fetch_details": False, "topic_url": "{base}/t/{identifier}"},
    }


# Each victim: (entry, path, healthy answer (for reference), fault, expected outcome)
def _victims() -> dict[str, tuple[dict, str, object, object, str]]:
    def feed(key, fault, outcome="failed"):
        path = f"/{key}/feed.xml"
        return feed_entry(key), path, Body(rss(key), FEED_TYPE), fault, outcome

    def page(key, fault, outcome="failed"):
        path = f"/{key}/list.html"
        return listing_entry(key), path, Body(listing(key)), fault, outcome

    def portal(key, fault, outcome="failed"):
        path = f"/{key}/search"
        return portal_entry(key), path, Body(sedia(key), JSON_TYPE), fault, outcome

    latin1 = listing("charset_header").encode("latin-1")
    cp1252 = (
        listing("charset_meta")
        .replace("<head>", '<head><meta charset="windows-1252">')
        .encode("cp1252")
    )
    broken_xml = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</ti'
        "<item><guid>1</guid><title>Half an item</title><link>"
    )
    return {
        "e500_then_ok": feed(
            "e500_then_ok", Sequence(Status(500), Body(rss("e500_then_ok"), FEED_TYPE)), "ok"
        ),
        "e429_then_ok": feed(
            "e429_then_ok",
            Sequence(TooManyRequests(1), Body(rss("e429_then_ok"), FEED_TYPE)),
            "ok",
        ),
        "e500_always": feed("e500_always", Status(500)),
        "never_answers": feed("never_answers", Hang()),
        "reset_mid_body": portal("reset_mid_body", ResetMidBody(sedia("reset_mid_body"))),
        "truncated_json": portal("truncated_json", Body(sedia("truncated_json")[:200], JSON_TYPE)),
        "malformed_xml": feed("malformed_xml", Body(broken_xml, FEED_TYPE)),
        "layout_change": page(
            "layout_change", Body(listing("layout_change", css_class="teaser-card"))
        ),
        "huge_body": page("huge_body", Huge()),
        "huge_stream": page("huge_stream", Huge(declare_length=False)),
        "redirect_loop": feed("redirect_loop", Redirect("/redirect_loop/b")),
        "charset_header": page("charset_header", Body(latin1, "text/html; charset=utf-8"), "ok"),
        "charset_meta": page("charset_meta", Body(cp1252, "text/html"), "ok"),
    }


VICTIMS = _victims()
FAILING = [k for k, v in VICTIMS.items() if v[4] == "failed"]
RECOVERING = [k for k, v in VICTIMS.items() if v[4] == "ok"]
SNAPSHOT_FIELDS = (
    "title",
    "url",
    "summary",
    "deadlines",
    "status",
    "first_seen_at",
    "last_seen_at",
    "updated_at",
    "content_hash",
)


def _snapshot(engine, source: str) -> dict[str, dict]:
    return {
        c.external_id: {f: getattr(c, f) for f in SNAPSHOT_FIELDS}
        for c in rows(engine, Call, Call.source == source)
    }


def _seed(engine, source: str) -> None:
    """Two calls this source stored in an earlier crawl."""
    with session_scope(engine) as session:
        for n in (1, 2):
            upsert_call(
                session=session,
                now=NOW1,
                data=CallData(
                    source=source,
                    external_id=f"earlier-{n}",
                    url=f"https://example.org/{source}/{n}",
                    title=f"Tidigare utlysning {n} från {source}",
                    summary="Stöd till kommuner.",
                    deadlines=[datetime(2027, 3, 15, 16, 0, tzinfo=UTC)],
                ),
            )


@pytest.fixture(scope="module")
def crawled(module_db_url):
    """One crawl of every source; yields what the tests look at."""
    engine = make_engine(module_db_url)
    with FaultServer(hang_limit=15) as server:
        entries = [feed_entry("good_before")]
        server.route("/good_before/feed.xml", Body(rss("good_before", 3), FEED_TYPE))
        for key, (entry, path, _healthy, fault, _outcome) in VICTIMS.items():
            entries.append(entry)
            server.route(path, fault)
            _seed(engine, key)
        entries.append(listing_entry("good_after"))
        server.route("/good_after/list.html", Body(listing("good_after", 3)))
        server.route("/redirect_loop/b", Redirect("/redirect_loop/feed.xml"))
        for entry in entries:
            entry["url"] = server.base_url + entry["url"]
            if "topic_url" in entry.get("options", {}):
                entry["options"]["topic_url"] = entry["options"]["topic_url"].replace(
                    "{base}", server.base_url
                )
        config = with_sources(shipped_config(), entries)
        before = {e["key"]: _snapshot(engine, e["key"]) for e in entries}
        results = crawl_sources(
            config=config, database_url=module_db_url, now=NOW2, settings_overrides=OVERRIDES
        )
        after = {e["key"]: _snapshot(engine, e["key"]) for e in entries}
        yield {
            "engine": engine,
            "results": {r.source: r for r in results},
            "order": [r.source for r in results],
            "before": before,
            "after": after,
            "hits": dict(server.counts),
            "server": server,
        }
    engine.dispose()


def test_sources_around_the_faults_finish_and_store(crawled):
    assert crawled["order"][0] == "good_before" and crawled["order"][-1] == "good_after"
    assert len(crawled["order"]) == len(VICTIMS) + 2  # every source got its turn
    for key in ("good_before", "good_after"):
        result = crawled["results"][key]
        assert result.outcome == "ok", result.error
        assert result.seen == 3 and result.new == 3
        run = rows(crawled["engine"], CrawlRun, CrawlRun.id == result.run_id)[0]
        assert run.outcome == "ok" and run.finished_at is not None
        assert all(c["last_seen_at"] == NOW2 for c in crawled["after"][key].values())


@pytest.mark.parametrize("key", FAILING)
def test_failing_source_run_says_what_happened(crawled, key):
    result = crawled["results"][key]
    run = rows(crawled["engine"], CrawlRun, CrawlRun.id == result.run_id)[0]
    assert run.outcome == "failed", (key, run.outcome, run.error)
    assert run.error, key
    assert run.finished_at is not None
    expected = {
        "e500_always": "500",
        "never_answers": "timeout",
        "reset_mid_body": "",
        "truncated_json": "json",
        "malformed_xml": "feed",
        "layout_change": "matched nothing",
        "huge_body": "size",
        "huge_stream": "size",
        "redirect_loop": "redirect",
    }[key]
    assert expected in run.error.lower(), (key, run.error)


@pytest.mark.parametrize("key", FAILING)
def test_failing_source_keeps_its_earlier_calls(crawled, key):
    assert crawled["after"][key] == crawled["before"][key]
    assert len(crawled["after"][key]) == 2


@pytest.mark.parametrize("key", RECOVERING)
def test_transient_faults_recover(crawled, key):
    result = crawled["results"][key]
    assert result.outcome == "ok", (key, result.error)
    assert result.seen == 2
    calls = crawled["after"][key]
    fresh = {k: c for k, c in calls.items() if not k.startswith("earlier-")}
    assert len(fresh) == 2 and all(c["last_seen_at"] == NOW2 for c in fresh.values())


def test_retries_are_bounded(crawled):
    hits = crawled["hits"]
    assert hits["/e500_always/feed.xml"] == RETRIES + 1
    assert hits["/never_answers/feed.xml"] == RETRIES + 1
    assert hits["/e500_then_ok/feed.xml"] == 2
    assert hits["/e429_then_ok/feed.xml"] == 2
    # a redirect loop is cut off by Scrapy's REDIRECT_MAX_TIMES (20), never followed forever
    loop = hits["/redirect_loop/feed.xml"] + hits["/redirect_loop/b"]
    assert 2 <= loop <= (20 + 1) * (RETRIES + 1)


def test_huge_bodies_are_cut_off_not_read_whole(crawled):
    for key in ("huge_body", "huge_stream"):
        fault = VICTIMS[key][3]
        assert fault.sent < fault.size, key  # the crawler hung up before 50 MB


def test_charset_faults_store_readable_text(crawled):
    fresh = {
        key: [c for k, c in crawled["after"][key].items() if not k.startswith("earlier-")]
        for key in ("charset_meta", "charset_header")
    }
    assert len(fresh["charset_meta"]) == 2
    assert all("för" in c["title"] for c in fresh["charset_meta"]), fresh
    # a body in Latin-1 sent as UTF-8 cannot be read right, but must not break anything
    assert len(fresh["charset_header"]) == 2
    for call in fresh["charset_header"]:
        call["title"].encode("utf-8")  # no lone surrogates
        assert "Utlysning charset_header" in call["title"]


def test_429_retry_after_is_honoured(crawled):
    """The retry waits at least what Retry-After asked (a lower bound on a wait the crawler
    must make, not a timing measurement of its speed)."""
    times = [t for _m, p, t in crawled["server"].requests if p.startswith("/e429_then_ok/")]
    assert len(times) >= 2
    assert times[-1] - times[-2] >= 1.0  # Retry-After: 1


def test_a_source_that_never_answers_costs_at_most_two_minutes_by_default():
    """Computed from the shipped defaults: every attempt times out, with the backoff between
    attempts and the politeness delay before each (worst case of the randomised delay)."""
    crawl = shipped_config().settings.crawl
    defaults = CrawlSettings()
    assert crawl.timeout_seconds == defaults.timeout_seconds
    attempts = crawl.retries + 1
    backoff = sum(
        min(RETRY_BACKOFF_BASE * 2 ** (n - 1), RETRY_BACKOFF_MAX) for n in range(1, attempts)
    )
    delays = attempts * crawl.download_delay * 1.5  # RANDOMIZE_DOWNLOAD_DELAY: up to 1.5x
    # before the first page: the host's robots.txt, one attempt (it used to get the page
    # requests' retries too: 3 × 30 s more, 192 s in all)
    settings = crawl_settings(crawl)
    robots = settings["BEVAKA_ROBOTS_TIMEOUT"] + crawl.download_delay * 1.5
    assert crawl.obey_robots
    worst = robots + attempts * crawl.timeout_seconds + backoff + delays
    assert worst <= 120, worst


def test_a_hanging_robots_txt_gets_one_short_attempt(db_url):
    """A host whose robots.txt never answers: one attempt of BEVAKA_ROBOTS_TIMEOUT (from
    crawl.robots_timeout_seconds), no retries, then the feed is crawled as usual (an
    unreadable robots.txt allows everything, as Scrapy does). Before, robots.txt got the
    page retries: 3 attempts here."""
    with FaultServer(hang_limit=30) as server:
        server.route("/robots.txt", Hang())
        server.route(
            "/robots/feed.xml", Body(rss("robots").replace("{base}", server.url("")), FEED_TYPE)
        )
        entry = feed_entry("robots")
        entry["url"] = server.url("/robots/feed.xml")
        config = with_sources(shipped_config(), [entry])
        overrides = {
            **OVERRIDES,
            "ROBOTSTXT_OBEY": True,
            "RETRY_TIMES": 2,
            "RETRY_BACKOFF_BASE": 0.0,
            "BEVAKA_ROBOTS_TIMEOUT": 1,
        }
        (result,) = crawl_sources(
            config=config, database_url=db_url, now=NOW2, settings_overrides=overrides
        )
        assert server.hits("/robots.txt") == 1
        assert result.outcome == "ok" and result.new == 2, result


def test_a_slow_source_is_stopped_whole_at_its_time_limit(db_url):
    """Every page answers, each a little under the request timeout: no single request
    fails, so only the source's own limit (``source_timeout_seconds`` → CLOSESPIDER_TIMEOUT)
    ends it. The run is ``failed`` with a message saying so; the calls read by then are
    stored."""
    engine = make_engine(db_url)
    items = 40
    with FaultServer() as server:
        page = "".join(
            f'<article class="call"><h2><a href="/slow/d/{n}">Utlysning {n}</a></h2></article>'
            for n in range(items)
        )
        server.route("/slow/list.html", Body(f"<html><body>{page}</body></html>"))
        for n in range(items):
            server.route(f"/slow/d/{n}", Slow(0.8, Body(f"<h1>Utlysning {n}</h1>")))
        entry = listing_entry("slow")
        entry["url"] = server.url("/slow/list.html")
        entry["options"]["detail"] = {"title": "h1"}
        config = with_sources(shipped_config(), [entry])
        overrides = {
            **OVERRIDES,
            "CLOSESPIDER_TIMEOUT": 3,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
            "CONCURRENT_REQUESTS": 2,
        }
        (result,) = crawl_sources(
            config=config, database_url=db_url, now=NOW2, settings_overrides=overrides
        )
        detail_hits = sum(v for p, v in server.counts.items() if p.startswith("/slow/d/"))
    assert result.outcome == "failed", result
    assert "timed out after 3 s" in (result.error or ""), result.error
    stored = rows(engine, Call, Call.source == "slow")
    assert 0 < len(stored) < items  # what was read is kept; the rest comes next time
    assert detail_hits < items
    engine.dispose()
