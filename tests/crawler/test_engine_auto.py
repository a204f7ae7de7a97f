"""The markup-independent ``listing`` kind (no selectors) and the "never invent a call"
rules, on pages rebuilt from real Swedish funders' text in two CMS markups (see
tests/files/engine/README.md), served by a real local HTTP server."""

from __future__ import annotations

import pytest
from engine_support import (  # noqa: F401 - engine_mirror, frozen_now: fixtures
    NOW,
    engine_mirror,
    entry,
    frozen_now,
    utc,
)
from generic_spider_driver import drive
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.mirror import Mirror
from crawler.options import validate_options
from crawler.pages import find_calls
from crawler.spiders.listing import ListingSpider
from storage.records import derive_status


def crawl(mirror: Mirror, path: str, **options):
    spider = ListingSpider(source=entry(mirror, "listing", path, **options))
    return drive(spider).items, spider


def status(item) -> str:
    return derive_status(
        opens_at=item.opens_at, deadlines=item.deadlines, now=NOW, hint=item.status
    )


def test_url_only_is_a_valid_listing() -> None:
    opts = validate_options("listing", {})
    assert (opts.item, opts.find) == (None, "auto")


@pytest.mark.parametrize(
    "page", ["/engine/sitevision-sections.html", "/engine/wordpress-sections.html"]
)
def test_sections_found_in_both_markups(mirror: Mirror, page: str) -> None:
    items, spider = crawl(mirror, page, follow_links=False)
    assert [i.title for i in items] == [
        "Särskild utlysning inom Landsbygdsprogrammet",
        "Nu kan man söka bidrag till lokala vattenvårdsprojekt (LOVA)",
    ]
    sarskild, lova = items
    assert sarskild.opens_at == utc(2018, 9, 30, 22, 0)
    assert sarskild.deadlines == [utc(2019, 1, 31, 22, 59, 59)]
    assert sarskild.url.endswith("sarskild-utlysning.html") or sarskild.url.endswith(
        "sarskild-utlysning/"
    )
    assert lova.deadlines == [utc(2019, 2, 28, 22, 59, 59)]
    assert lova.url == mirror.base_url + page + "#lova"
    assert all(status(i) == "closed" for i in items)
    assert (spider.errors, spider.fatal) == (0, False)


def test_rounds_with_decision_dates_and_unknown_deadline(mirror: Mirror) -> None:
    items, _ = crawl(mirror, "/engine/sitevision-esf-rounds.html")
    first, second = items
    assert first.title == "Utlysning 1:2023"
    assert first.opens_at == utc(2022, 12, 1, 23, 0)
    assert first.deadlines == [utc(2023, 3, 6, 22, 59, 59)]  # not "juni 2023" (a decision)
    assert second.title == "Utlysning 2:2023"
    assert second.opens_at == utc(2023, 4, 30, 22, 0)  # "Öppnar: Maj 2023"
    assert second.deadlines == []  # "Stänger: Ej bestämt"; not the 11 December decision
    assert second.extra["deadline_unknown"] is True


def test_call_links_and_their_pages(mirror: Mirror) -> None:
    items, spider = crawl(mirror, "/engine/links-listing.html")
    by_id = {i.external_id: i for i in items}
    assert sorted(by_id) == ["4711", "4712", "4713"]  # not the pdf, contact or cookie links
    beredskap = by_id["4711"]
    assert beredskap.title == "Utlysning av medel för beredskap och mottagningskapacitet"
    assert beredskap.deadlines == [utc(2019, 9, 10, 21, 59, 59)]
    assert beredskap.budget_text == "Länsstyrelsen i Norrbottens län kan fördela 2 330 000 kronor."
    assert beredskap.description.startswith("Utlysning av medel för beredskap")
    assert spider.errors == 0


def test_generic_detail_page_never_overrides_the_listing_dates(mirror: Mirror) -> None:
    items, _ = crawl(mirror, "/engine/links-listing.html")
    mat = next(i for i in items if i.external_id == "4712")
    # the listing says 30 August 2019; the page it links to says "Fram till 12 april"
    assert mat.deadlines == [utc(2019, 8, 30, 21, 59, 59)]
    assert status(mat) == "closed"


def test_yearless_date_on_an_undated_page_gives_no_deadline(mirror: Mirror) -> None:
    items, _ = crawl(mirror, "/engine/links-listing.html")
    lona = next(i for i in items if i.external_id == "4713")
    # its page says "Fram till 12 april" with no year and no publication date
    assert (lona.deadlines, lona.opens_at) == ([], None)
    assert status(lona) == "unknown"


def test_past_round_in_a_news_item_is_closed_and_dated_by_the_news(mirror: Mirror) -> None:
    items, _ = crawl(mirror, "/engine/news-past-round.html")
    (item,) = items
    assert item.opens_at == utc(2024, 1, 11, 23, 0)
    assert item.deadlines == [utc(2024, 2, 8, 22, 59, 59)]  # not 2027
    assert status(item) == "closed"


def test_rolling_page_is_one_open_call(mirror: Mirror) -> None:
    items, _ = crawl(mirror, "/engine/page-rolling.html")
    (item,) = items
    assert item.title == "Projektstöd"
    assert item.url == mirror.base_url + "/engine/page-rolling.html"
    assert item.deadlines == [] and item.extra["rolling"] is True
    assert status(item) == "open"


def test_heading_year_and_registration(mirror: Mirror) -> None:
    items, _ = crawl(mirror, "/engine/heading-year.html")
    (item,) = items
    assert item.deadlines == [utc(2021, 4, 12, 21, 59, 59), utc(2021, 12, 1, 22, 59, 59)]
    assert status(item) == "closed"


def test_nothing_found_is_a_fatal_error(mirror: Mirror) -> None:
    items, spider = crawl(mirror, "/engine/yearless-no-anchor.html")
    assert items == []
    assert spider.fatal and "no calls found" in spider.first_error


def test_empty_text_makes_nothing_found_honest(mirror: Mirror) -> None:
    items, spider = crawl(mirror, "/engine/empty.html", empty_text="friluftslivet")
    assert (items, spider.fatal) == ([], False)


def test_include_words_are_looked_for_on_the_call_page(mirror: Mirror) -> None:
    # "2 330 000 kronor" is only on the call's own page, not in the listing
    items, spider = crawl(mirror, "/engine/links-listing.html", include=["2 330 000"])
    assert [i.external_id for i in items] == ["4711"]


def test_selectors_still_override(mirror: Mirror) -> None:
    items, _ = crawl(
        mirror,
        "/engine/links-listing.html",
        item="li.sv-channel-item",
        date=".lst-meta",
    )
    assert [i.title for i in items][:1] == [
        "Utlysning av medel för beredskap och mottagningskapacitet"
    ]


# --- property: a page whose every date is past yields no open or forthcoming call -------

#: a yearless date may land in the year after the page's (a page of May 2024 announcing
#: "Öppnar: 1 februari" means February 2025): with pages of 2024 at the latest every date is
#: more than a year before NOW, past even for an opening date without a deadline (which is
#: open, with an unknown deadline, for a year: see textparse.status_hint)
PAST_YEARS = st.integers(min_value=2005, max_value=2024)
DAYS = st.integers(min_value=1, max_value=28)
MONTH_NAMES = [
    "januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
    "oktober", "november", "december",
]  # fmt: skip
CUES = [
    "Öppnar: {d}", "Stänger: {d}", "Sista ansökningsdag {d}", "Ansök senast {d}",
    "Ansökningsperiod: {d} – {d2}", "Utlysningen öppnar den {d}", "fram till den {d}",
    "Anmäl dig senast den {d}", "Prioriteras i strukturfondspartnerskapet {d}",
    "Stänger: Ej bestämt", "Utlysningen pågick mellan den {d} och {d2}", "{d}",
]  # fmt: skip


@st.composite
def past_page(draw) -> str:
    year = draw(PAST_YEARS)
    published = f"{draw(DAYS)} {MONTH_NAMES[draw(st.integers(0, 11))]} {year}"
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        cue = draw(st.sampled_from(CUES))
        with_year = draw(st.booleans())

        def when() -> str:
            text = f"{draw(DAYS)} {MONTH_NAMES[draw(st.integers(0, 11))]}"
            return f"{text} {year - draw(st.integers(0, 1))}" if with_year else text

        lines.append(cue.format(d=when(), d2=when()))
    heading = draw(st.sampled_from(["h2", "h3"]))
    body = "".join(f"<p>{line}</p>" for line in lines)
    return (
        "<html><body><main><h1>Utlysningar</h1>"
        f"<p>Publicerad {published}</p>"
        f"<{heading}>Utlysning av projektmedel</{heading}>{body}"
        "</main></body></html>"
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(html=past_page())
def test_past_pages_give_no_open_or_forthcoming_call(html: str) -> None:
    """Every date on the page is over a year before NOW (yearless ones are anchored to the
    page's own publication date, never to NOW): nothing found may be open or forthcoming."""
    from crawler.items import CallItem
    from crawler.spiders.base import set_dates

    found, _ = find_calls(html, "https://example.se/utlysningar/")
    for call in found:
        item = CallItem(source="p", external_id="x", url=call.url, title=call.title)
        set_dates(item, call.dates, now=NOW)
        assert status(item) not in ("open", "forthcoming"), (html, item)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Totalt fördelas 60 miljoner kronor.", "Totalt fördelas 60 miljoner kronor."),
        ("Ni kan som mest få 200 000 kronor. Totalt finns 5 miljoner kronor att söka.",
         "Totalt finns 5 miljoner kronor att söka."),
        ("49 ansökningar har beviljats på sammanlagt 102 miljoner kronor.", None),
        ("Maximalt 744 000 kr per förstudie kan sökas.", None),
    ],
)  # fmt: skip
def test_budget_sentence(text: str, expected: str | None) -> None:
    from crawler.pages import budget_text

    assert budget_text(text) == expected


def test_find_page_makes_the_page_a_call_without_dates(mirror: Mirror) -> None:
    items, spider = crawl(mirror, "/engine/yearless-no-anchor.html", find="page")
    (item,) = items
    assert item.title == "Bidrag till friluftslivet"
    assert (item.deadlines, item.opens_at, spider.fatal) == ([], None, False)


def test_auto_mode_follows_next_page(mirror: Mirror) -> None:
    items, spider = crawl(
        mirror,
        "/engine/links-listing.html",
        follow_links=False,
        next_page="xpath://a[contains(., 'Utlysningar och bidrag')]/@href",
        max_pages=2,
    )
    # page 2 (the page the nav link names) has the two section calls
    assert [i.title for i in items][3:] == [
        "Särskild utlysning inom Landsbygdsprogrammet",
        "Nu kan man söka bidrag till lokala vattenvårdsprojekt (LOVA)",
    ]
    assert (spider.pages, spider.errors) == (2, 0)


def test_call_links_beside_their_text_and_in_heading_cards(mirror: Mirror) -> None:
    # "li > a + p + p" and "article > h3 > a + time + p": each link's card holds its dates;
    # the heading over the list is no call of its own
    items, spider = crawl(mirror, "/engine/cards-list.html", follow_links=False)
    by_id = {i.external_id: i for i in items}
    assert sorted(by_id) == ["4711", "4712", "4713"]
    assert by_id["4711"].deadlines == [utc(2019, 9, 10, 21, 59, 59)]
    assert by_id["4712"].deadlines == [utc(2019, 8, 30, 21, 59, 59)]
    assert status(by_id["4713"]) == "closed"  # "Omgången är avslutad"
    assert spider.errors == 0
