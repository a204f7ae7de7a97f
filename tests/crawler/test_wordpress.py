"""The ``wordpress`` kind (WordPress REST API, its real field names) against a real local
HTTP server serving recorded responses (tests/files/engine/wp-*.json)."""

from __future__ import annotations

from engine_support import (  # noqa: F401 - engine_mirror, frozen_now: fixtures
    NOW,
    engine_mirror,
    entry,
    frozen_now,
    utc,
)
from generic_spider_driver import drive

from crawler.mirror import Mirror
from crawler.spiders.wordpress import WordPressSpider, page_url
from storage.records import derive_status

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
