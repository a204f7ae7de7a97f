"""``feed`` on WordPress and Sitevision feeds, RE2 for config patterns, and the auto listing
through real Scrapy, against a real local HTTP server (tests/files/engine/)."""

from __future__ import annotations

import pytest
from engine_support import (  # noqa: F401 - engine_mirror, frozen_now: fixtures
    engine_mirror,
    entry,
    frozen_now,
    inspect,
    utc,
)
from generic_spider_driver import drive
from pydantic import ValidationError

from crawler.mirror import Mirror
from crawler.options import validate_options
from crawler.spiders.feed import FeedSpider
from crawler.spiders.listing import ListingSpider

# --- feed on WordPress and Sitevision ------------------------------------------------------


def test_wordpress_feed_with_content_encoded(mirror: Mirror) -> None:
    spider = FeedSpider(source=entry(mirror, "feed", "/feed/", include=["utlysning"]))
    items = drive(spider).items
    assert [i.title for i in items] == [
        "Information om kommande utlysningar – ESF+ Stockholmsregionen"
    ]
    assert items[0].extra["published"] == "2022-10-24T11:05:12+00:00"
    # the dates are in content:encoded ("stänga i mars 2023"), not in the excerpt
    assert items[0].description.startswith("ESF-rådet planerar att öppna fyra utlysningar")
    assert items[0].deadlines == [utc(2023, 3, 31, 21, 59, 59)]


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


@pytest.mark.slow  # a child process; not frozen
def test_auto_listing_through_scrapy(mirror: Mirror) -> None:
    report = inspect(entry(mirror, "listing", "/engine/links-listing.html"))
    assert report.result.outcome == "ok", report.result.error
    calls = {c.external_id: c for c in report.calls}
    assert sorted(calls) == ["4711", "4712", "4713"]
    assert calls["4711"].deadlines == [utc(2019, 9, 10, 21, 59, 59)]
    assert (calls["4711"].budget, calls["4711"].currency) == (2_330_000.0, "SEK")
    assert calls["4712"].deadlines == [utc(2019, 8, 30, 21, 59, 59)]


def test_xpath_regex_functions_are_refused_at_config_check() -> None:
    # parsel's XPath has EXSLT re:test(), which would run Python's backtracking engine
    with pytest.raises(ValidationError) as err:
        validate_options("listing", {"item": "xpath://a[re:test(@href, '(a+)+$')]"})
    assert "regular-expression function" in str(err.value)
    assert validate_options("listing", {"item": "xpath://a[contains(@href, 'ansok')]"})
