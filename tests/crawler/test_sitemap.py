"""The ``sitemap`` kind (Scrapy's SitemapSpider; page URLs picked by an RE2 link_pattern)
against a real local HTTP server, in-process and through real Scrapy."""

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
from crawler.spiders.sitemap import SitemapSpider

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


# --- through real Scrapy (a child process, real reactor, real pipelines) -------------------


@pytest.mark.slow  # a child process; not frozen
def test_sitemap_through_scrapy(mirror: Mirror) -> None:
    report = inspect(entry(mirror, "sitemap", "/engine/sitemap.xml", link_pattern="/utlysningar/"))
    assert report.result.outcome == "ok", report.result.error
    assert sorted(c.title for c in report.calls) == [
        "Projektstöd",
        "Stort intresse för andra ansökningsomgången",
    ]
