"""The generic ``listing`` spider against recorded pages served by a real local HTTP server,
and every shipped listing/feed source entry against its demo recording."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from freezegun import freeze_time
from generic_spider_driver import drive
from pydantic import ValidationError
from scrapy.utils.test import get_crawler

from config.loader import load_config
from config.schema import SourceEntry
from crawler.mirror import Mirror
from crawler.options import ListingOptions, validate_options
from crawler.spiders.listing import SELECTOR_MISSES, ListingSpider

FILES = Path(__file__).resolve().parent.parent / "files"
BASIC = {
    "item": "article.call",
    "title": "h2",
    "link": "h2 a::attr(href)",
    "date": ".meta",
    "summary": ".ingress",
    "next_page": "a.next::attr(href)",
    "max_pages": 2,
    "programme": "OTHER",
}
TOPIC_URL = (
    "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/"
    "topic-details/ERASMUS-EDU-2027-PI-ALL-INNO"
)


@pytest.fixture(scope="module")
def mirror() -> Iterator[Mirror]:
    with Mirror(FILES, keys=["listing"]) as server:
        yield server


@pytest.fixture(autouse=True)
def _frozen(request) -> Iterator[None]:
    if request.node.get_closest_marker("slow"):
        yield  # a child process: "now" is passed explicitly instead
        return
    with freeze_time("2027-01-15 10:00:00"):
        yield


def entry_for(mirror: Mirror, path: str, options: dict, **kw) -> SourceEntry:
    return SourceEntry(
        key="testlisting",
        name="Testlista",
        kind="listing",
        url=mirror.base_url + path,
        options=options,
        **kw,
    )


def spider_for(mirror: Mirror, path: str = "/listing/page1.html", **options) -> ListingSpider:
    """A spider attached to a real Scrapy crawler (for its stats)."""
    crawler = get_crawler(ListingSpider, {})
    return ListingSpider.from_crawler(crawler, source=entry_for(mirror, path, options))


def by_title(items, start: str):
    return next(item for item in items if item.title.startswith(start))


@pytest.fixture(scope="module")
def basic(mirror: Mirror):
    with freeze_time("2027-01-15 10:00:00"):
        spider = spider_for(mirror, **BASIC)
        return drive(spider), spider


def test_items_pagination_dedupe_and_bound(basic, mirror: Mirror) -> None:
    run, spider = basic
    # page 3 is beyond max_pages; the duplicate of 4711 and the item without a title are dropped
    assert run.urls == [
        mirror.base_url + "/listing/page1.html",
        mirror.base_url + "/listing/page2.html",
    ]
    assert [i.title for i in run.items] == [
        "Skolans digitalisering & AI",
        "Välfärdsteknik i äldreomsorgen",
        "Utlysning utan riktig länk",
        "Ungdom och kultur i hela kommunen",
    ]
    assert spider.pages == 2
    assert spider.crawler.stats.get_value("bevaka/field_misses/title") == 1


def test_item_fields(basic, mirror: Mirror) -> None:
    item = by_title(basic[0].items, "Skolans")
    assert item.source == "testlisting"
    assert item.external_id == "4711"  # the Sitevision id
    assert item.url == mirror.base_url + "/listing/calls/skolans-digitalisering.4711.html"
    assert item.summary == "Stöd till skolor som vill utveckla digitala lärmiljöer."
    assert item.programme == "OTHER"
    assert item.kind == "call"
    assert item.language == "sv"


def test_item_dates_from_cue_words(basic) -> None:
    items = basic[0].items
    skola = by_title(items, "Skolans")
    assert skola.opens_at == datetime(2027, 1, 31, 23, 0, tzinfo=UTC)
    assert skola.deadlines == [datetime(2027, 4, 15, 21, 59, 59, tzinfo=UTC)]
    aldre = by_title(items, "Välfärdsteknik")
    assert aldre.opens_at == datetime(2027, 2, 28, 23, 0, tzinfo=UTC)
    assert aldre.deadlines == [datetime(2027, 5, 30, 21, 59, 59, tzinfo=UTC)]


def test_date_without_cue_is_a_deadline_for_calls(basic) -> None:
    item = by_title(basic[0].items, "Ungdom")
    assert item.deadlines == [datetime(2027, 6, 15, 21, 59, 59, tzinfo=UTC)]


def test_unsafe_link_falls_back_to_the_listing_page(basic, mirror: Mirror) -> None:
    item = by_title(basic[0].items, "Utlysning utan")
    assert item.url == mirror.base_url + "/listing/page1.html"
    assert item.external_id.startswith("title:utlysning-utan-riktig-länk-")


def test_date_role_published_for_news(mirror: Mirror) -> None:
    spider = ListingSpider(
        source=entry_for(
            mirror,
            "/listing/page2.html",
            {"item": "article.call", "date": ".meta"},
            call_kind="news",
        )
    )
    (item,) = drive(spider).items
    assert item.kind == "news"
    assert item.deadlines == []
    assert item.extra["published"] == "2027-06-14T22:00:00+00:00"


def test_detail_pages(mirror: Mirror) -> None:
    options = {
        **BASIC,
        "max_pages": 1,
        "detail": {
            "title": "h1",
            "description": ".text",
            "deadline": ".fakta .stanger",
            "opens": ".fakta .oppnar",
            "budget": ".budget",
            "regions": ".fakta .region",
        },
    }
    spider = spider_for(mirror, **options)
    run = drive(spider)
    item = by_title(run.items, "Skolans digitalisering och AI i undervisningen")
    assert item.deadlines == [datetime(2027, 4, 15, 12, 0, tzinfo=UTC)]  # kl. 14.00 CEST
    assert item.opens_at == datetime(2027, 1, 31, 23, 0, tzinfo=UTC)
    assert (
        item.budget_text == "Totalt fördelas 60 miljoner kronor, maximalt 40 procent per projekt."
    )
    assert item.regions == ["Västra Götaland", "Halland"]
    assert item.description.startswith("Kommuner och skolhuvudmän kan söka stöd.")
    assert item.extra["links"] == [TOPIC_URL]
    assert (spider.errors, spider.fatal) == (0, False)


def test_failing_detail_page_keeps_the_listing_item(mirror: Mirror) -> None:
    spider = spider_for(mirror, **{**BASIC, "detail": {"title": "h1"}})
    run = drive(spider)
    item = by_title(run.items, "Ungdom och kultur")
    assert item.deadlines == [datetime(2027, 6, 15, 21, 59, 59, tzinfo=UTC)]
    assert spider.errors == 1
    assert spider.fatal is False
    assert "HTTP 500" in spider.first_error


def test_layout_change_is_a_selector_miss(mirror: Mirror, caplog) -> None:
    spider = spider_for(mirror, "/listing/changed.html", **BASIC)
    run = drive(spider)
    assert run.items == []
    assert spider.crawler.stats.get_value(SELECTOR_MISSES) == 1
    assert spider.fatal is True
    assert "item selector 'article.call' matched nothing" in spider.first_error
    assert any(
        r.levelname == "ERROR" and "matched nothing" in r.getMessage() for r in caplog.records
    )


def test_honestly_empty_listing_is_no_error(mirror: Mirror) -> None:
    spider = spider_for(
        mirror, "/listing/empty.html", **BASIC, empty_text="inga aktuella utlysningar"
    )
    assert drive(spider).items == []
    assert spider.crawler.stats.get_value(SELECTOR_MISSES) is None
    assert (spider.errors, spider.fatal) == (0, False)


def test_empty_page_without_empty_text_is_a_miss(mirror: Mirror) -> None:
    spider = spider_for(mirror, "/listing/empty.html", **BASIC)
    drive(spider)
    assert spider.crawler.stats.get_value(SELECTOR_MISSES) == 1


def test_listing_answering_500_is_fatal(mirror: Mirror) -> None:
    spider = spider_for(mirror, "/listing/gone.html", **BASIC)
    assert drive(spider).items == []
    assert spider.fatal is True
    assert "HTTP 500" in spider.first_error


def test_link_pattern_keeps_only_call_links(mirror: Mirror) -> None:
    spider = spider_for(
        mirror, "/listing/links.html", item="main a[href]", link_pattern="utlysning|ansok|call"
    )
    items = drive(spider).items
    assert [(i.title, i.external_id) for i in items] == [
        ("utlysningen för skolor", "4711"),
        ("Call: climate adaptation", "/listing/calls/klimat.html?call=2027"),
    ]


def test_xpath_selectors(mirror: Mirror) -> None:
    spider = spider_for(
        mirror,
        item="xpath://article[contains(@class, 'call')]",
        title="xpath:.//h2/a",
        link="xpath:.//h2/a/@href",
        summary="xpath:.//p[@class='ingress']",
        max_items=2,
    )
    items = drive(spider).items
    assert [i.title for i in items] == [
        "Skolans digitalisering & AI",
        "Välfärdsteknik i äldreomsorgen",
    ]
    assert items[1].summary == "Pilotprojekt med välfärdsteknik i hemtjänst och särskilt boende."


def test_include_and_exclude(mirror: Mirror) -> None:
    spider = spider_for(
        mirror, **{**BASIC, "include": ["skol", "äldreomsorg"], "exclude": ["digitalisering"]}
    )
    assert [i.title for i in drive(spider).items] == [
        "Välfärdsteknik i äldreomsorgen",
        "Ungdom och kultur i hela kommunen",  # "kulturskola" in its summary
    ]


# --- options ----------------------------------------------------------------------------


def test_options_model_defaults() -> None:
    opts = validate_options("listing", {"item": "li"})
    assert isinstance(opts, ListingOptions)
    assert (opts.max_pages, opts.language, opts.detail) == (5, "sv", None)


def test_code_spider_kinds_have_no_generic_model() -> None:
    assert validate_options("eu_portal", {"anything": 1}) is None


@pytest.mark.parametrize(
    ("options", "loc"),
    [
        ({"find": "everything"}, ("find",)),  # an item selector is optional (auto mode)
        ({"item": "li", "titel": "h2"}, ("titel",)),
        ({"item": "li[["}, ("item",)),
        ({"item": "xpath://li[", "title": "h2"}, ("item",)),
        ({"item": "li", "detail": {"deadline": "xpath://p[@"}}, ("detail", "deadline")),
        ({"item": "li", "detail": {"budgett": "p"}}, ("detail", "budgett")),
        ({"item": "li", "link_pattern": "utlysning("}, ("link_pattern",)),
        ({"item": "li", "max_pages": 0}, ("max_pages",)),
        ({"item": "li", "date_role": "someday"}, ("date_role",)),
        ({"item": "li", "programme": "XX"}, ("programme",)),
    ],
)
def test_bad_options_name_the_key(options: dict, loc: tuple) -> None:
    with pytest.raises(ValidationError) as err:
        validate_options("listing", options)
    assert tuple(err.value.errors()[0]["loc"]) == loc


# --- the shipped config -------------------------------------------------------------------
# (each shipped Swedish source is checked on its recorded fixture in test_swedish_sources.py)


def test_v6_is_disabled_without_url() -> None:
    v6 = load_config().source("v6")
    assert v6.state == "disabled: url not set"


# --- through real Scrapy (S1's runner: a child process, real reactor, real pipelines) -------


@pytest.mark.slow  # a child process; not frozen
def test_layout_change_fails_the_source_through_scrapy(mirror: Mirror) -> None:
    from config.schema import SourcesFile
    from crawler.runner import inspect_source
    from crawler.settings import BENCH_SETTINGS

    entry = entry_for(mirror, "/listing/changed.html", BASIC)
    config = SimpleNamespace(settings=load_config().settings, sources=SourcesFile(sources=[entry]))
    report = inspect_source(
        config=config,
        key=entry.key,
        now=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
        settings_overrides=BENCH_SETTINGS,
    )
    assert report.result.outcome == "failed"
    assert "item selector 'article.call' matched nothing" in report.result.error
    assert report.calls == []


def test_option_errors_for_config_validation() -> None:
    from crawler.options import option_errors

    assert option_errors("listing", {"item": "li"}) == []
    assert option_errors("eu_portal", {"whatever": True}) == []
    problems = dict(option_errors("listing", {"titel": "h2", "detail": {"deadline": "xpath://p["}}))
    assert ("item",) not in problems  # optional: without it calls are found without selectors
    assert problems[("titel",)] == "unknown option"
    assert problems[("detail", "deadline")].startswith("invalid XPath '//p['")


def test_title_selector_missing_everywhere_is_a_selector_miss(mirror: Mirror) -> None:
    spider = spider_for(mirror, **{**BASIC, "title": "h5.rubrik"})
    assert drive(spider).items == []
    assert spider.crawler.stats.get_value(SELECTOR_MISSES) == 2  # both pages
    assert spider.fatal is True
    assert "none of the 5 items" in spider.first_error
