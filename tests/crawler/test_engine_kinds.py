"""The structured config-only kinds (``wordpress``, ``feed`` on WordPress and Sitevision
feeds, ``sitemap``) and RE2 for config patterns, against a real local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time
from generic_spider_driver import drive
from pydantic import ValidationError

from config.schema import SourceEntry
from crawler.mirror import Mirror
from crawler.options import validate_options
from crawler.spiders.feed import FeedSpider
from crawler.spiders.listing import ListingSpider
from crawler.spiders.sitemap import SitemapSpider
from crawler.spiders.wordpress import WordPressSpider, page_url
from storage.records import derive_status

FILES = Path(__file__).resolve().parent.parent / "files"
NOW = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def mirror() -> Iterator[Mirror]:
    with Mirror(FILES, keys=["engine"]) as server:
        yield server


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with freeze_time(NOW):
        yield


def entry(mirror: Mirror, kind: str, path: str, **options) -> SourceEntry:
    return SourceEntry(key="k", name="K", kind=kind, url=mirror.base_url + path, options=options)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- wordpress ----------------------------------------------------------------------------


def test_page_url_keeps_the_query() -> None:
    assert page_url("https://x.se/wp-json/wp/v2/posts?search=utlysning", 2, 50) == (
        "https://x.se/wp-json/wp/v2/posts?search=utlysning&per_page=50&page=2"
    )


def test_wordpress_reads_every_page_and_the_real_fields(mirror: Mirror) -> None:
    spider = WordPressSpider(source=entry(mirror, "wordpress", "/wp-json/wp/v2/posts"))
    run = drive(spider)
    assert len(run.urls) == 2  # X-WP-TotalPages: 2
    by_id = {i.extra["wp_id"]: i for i in run.items}
    assert sorted(by_id) == [29001, 29333, 30112, 31877]
    post = by_id[31877]
    assert post.title == "Information om kommande utlysningar – ESF+ Stockholmsregionen"
    assert post.url == mirror.base_url + "/nyheter/kommande-utlysningar-stockholm/"
    assert post.external_id == "/nyheter/kommande-utlysningar-stockholm/"
    assert post.summary.startswith("ESF-rådet planerar att öppna fyra utlysningar")
    assert "Strukturfondspartnerskapet" in post.description
    assert post.extra["published"] == "2022-10-24T11:05:12+00:00"  # date_gmt
    # "stänga i mars 2023" is a month: its last day; the partnership's June is not a deadline
    assert post.deadlines == [utc(2023, 3, 31, 21, 59, 59)]
    call = by_id[29333]
    assert call.opens_at == utc(2022, 6, 19, 22, 0)
    assert call.deadlines == [utc(2022, 9, 15, 21, 59, 59)]
    assert call.budget_text == "Totalt fördelas 45 miljoner kronor i utlysningen."
    assert derive_status(opens_at=call.opens_at, deadlines=call.deadlines, now=NOW) == "closed"


def test_wordpress_include_words_in_the_content(mirror: Mirror) -> None:
    spider = WordPressSpider(
        source=entry(mirror, "wordpress", "/wp-json/wp/v2/posts", include=["utlysning"])
    )
    items = drive(spider).items
    # 29333's title and excerpt do not say "utlysning", its content does; 29001 never does
    assert sorted(i.extra["wp_id"] for i in items) == [29333, 30112, 31877]


def test_wordpress_error_object_is_fatal(mirror: Mirror) -> None:
    spider = WordPressSpider(source=entry(mirror, "wordpress", "/wp-json/wp/v2/utlysning"))
    assert drive(spider).items == []
    assert spider.fatal
    assert "HTTP 404" in spider.first_error or "rest_no_route" in spider.first_error


# --- feed on WordPress and Sitevision ------------------------------------------------------


def test_wordpress_feed_with_content_encoded(mirror: Mirror) -> None:
    spider = FeedSpider(source=entry(mirror, "feed", "/feed/", include=["utlysning"]))
    items = drive(spider).items
    assert [i.title for i in items] == [
        "Information om kommande utlysningar – ESF+ Stockholmsregionen"
    ]
    assert items[0].extra["published"] == "2022-10-24T11:05:12+00:00"


def test_feed_include_words_on_the_entry_page(mirror: Mirror) -> None:
    spider = FeedSpider(
        source=entry(mirror, "feed", "/feed/", include=["fördelas"], follow_links=True)
    )
    items = drive(spider).items
    # only the Västsverige entry's page says "Totalt fördelas 45 miljoner kronor"
    (item,) = items
    assert item.title == "Nu kan ni söka stöd för kompetensutveckling i Västsverige"
    assert item.deadlines == [utc(2022, 9, 15, 21, 59, 59)]
    assert item.budget_text == "Totalt fördelas 45 miljoner kronor i utlysningen."


def test_sitevision_rss_portlet(mirror: Mirror) -> None:
    (item,) = drive(FeedSpider(source=entry(mirror, "feed", "/sitevision-rss.xml"))).items
    assert item.title == "Stärk forskningsdriven och smart omställning i Västsverige"
    assert item.external_id == "4708"
    assert item.extra["published"] == "2023-06-12T08:00:00+00:00"


# --- sitemap --------------------------------------------------------------------------------


def test_sitemap_reads_matching_pages_as_calls(mirror: Mirror) -> None:
    spider = SitemapSpider(
        source=entry(mirror, "sitemap", "/engine/sitemap.xml", link_pattern="/utlysningar/")
    )
    run = drive(spider)
    by_url = {i.url.removeprefix(mirror.base_url): i for i in run.items}
    assert sorted(by_url) == [
        "/engine/utlysningar/andra-omgangen/",
        "/engine/utlysningar/projektstod/",
    ]
    rolling = by_url["/engine/utlysningar/projektstod/"]
    assert rolling.title == "Projektstöd" and rolling.status == "open"
    past = by_url["/engine/utlysningar/andra-omgangen/"]
    assert past.deadlines == [utc(2024, 2, 8, 22, 59, 59)]
    assert (spider.errors, spider.fatal) == (0, False)


def test_sitemap_without_a_matching_url_is_fatal(mirror: Mirror) -> None:
    spider = SitemapSpider(
        source=entry(mirror, "sitemap", "/engine/sitemap-pages.xml", link_pattern="/finns-inte/")
    )
    assert drive(spider).items == []
    assert spider.fatal and "no page URL matching" in spider.first_error


def test_sitemap_needs_a_link_pattern() -> None:
    with pytest.raises(ValidationError):
        validate_options("sitemap", {})


# --- RE2: config patterns run in linear time -------------------------------------------------


def test_hostile_link_pattern_runs_with_re2(mirror: Mirror) -> None:
    import re2

    spider = ListingSpider(
        source=entry(mirror, "listing", "/engine/hostile.html", link_pattern="(a+)+$")
    )
    # compiled by RE2 (linear time), not by Python's backtracking re
    assert isinstance(spider._link_re, type(re2.compile("x")))
    run = drive(spider)
    # the one link ends in "!", so "(a+)+$" does not match it: nothing found, promptly
    assert run.items == []
    assert spider.fatal and "no calls found" in spider.first_error


def test_hostile_empty_text_runs_with_re2(mirror: Mirror) -> None:
    import re2

    spider = ListingSpider(
        source=entry(mirror, "listing", "/engine/hostile.html", item="li.none", empty_text="(a+)+$")
    )
    assert isinstance(spider._empty_re, type(re2.compile("x")))
    run = drive(spider)
    # the page's text ends in "…aaaa", so the pattern matches it: an honestly empty page
    assert (run.items, spider.fatal) == ([], False)


@pytest.mark.parametrize("pattern", [r"(utlysning)\1", r"(?<=/)utlysning", r"utlysning(?=/)"])
def test_patterns_re2_cannot_run_are_refused_at_config_check(pattern: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_options("listing", {"link_pattern": pattern})
    assert "RE2" in str(err.value)


# --- through real Scrapy (a child process, real reactor, real pipelines) -------------------


def _inspect(mirror: Mirror, source: SourceEntry):
    from types import SimpleNamespace

    from config.loader import load_config
    from config.schema import SourcesFile
    from crawler.runner import inspect_source
    from crawler.settings import BENCH_SETTINGS

    config = SimpleNamespace(settings=load_config().settings, sources=SourcesFile(sources=[source]))
    return inspect_source(config=config, key=source.key, now=NOW, settings_overrides=BENCH_SETTINGS)


@pytest.mark.slow  # a child process; not frozen
def test_auto_listing_through_scrapy(mirror: Mirror) -> None:
    report = _inspect(mirror, entry(mirror, "listing", "/engine/links-listing.html"))
    assert report.result.outcome == "ok", report.result.error
    calls = {c.external_id: c for c in report.calls}
    assert sorted(calls) == ["4711", "4712", "4713"]
    assert calls["4711"].deadlines == [utc(2019, 9, 10, 21, 59, 59)]
    assert (calls["4711"].budget, calls["4711"].currency) == (2_330_000.0, "SEK")
    assert calls["4712"].deadlines == [utc(2019, 8, 30, 21, 59, 59)]


@pytest.mark.slow  # a child process; not frozen
def test_sitemap_through_scrapy(mirror: Mirror) -> None:
    report = _inspect(
        mirror, entry(mirror, "sitemap", "/engine/sitemap.xml", link_pattern="/utlysningar/")
    )
    assert report.result.outcome == "ok", report.result.error
    assert sorted(c.title for c in report.calls) == [
        "Projektstöd",
        "Stort intresse för andra ansökningsomgången",
    ]
