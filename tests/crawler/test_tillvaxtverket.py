"""The tillvaxtverket spider: the RSS feed plus detail pages, served by a real local HTTP
server, crawled once through the runner with the clock fixed at 2027-03-01."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crawl_support import FILES, TEST_SETTINGS, copy_recordings, mirrored_config
from sqlmodel import Session, select

from crawler.mirror import Mirror
from crawler.runner import crawl_sources
from storage.db import make_engine
from storage.models import Call

pytestmark = pytest.mark.storage

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def crawled(files_mirror, module_db_url):
    results = crawl_sources(
        config=mirrored_config(files_mirror),
        keys=["tillvaxtverket"],
        database_url=module_db_url,
        now=NOW,
        settings_overrides=TEST_SETTINGS,
    )
    engine = make_engine(module_db_url)
    with Session(engine) as session:
        calls = {c.external_id: c for c in session.exec(select(Call)).all()}
    engine.dispose()
    return results[0], calls, files_mirror.base_url


def test_external_id_is_the_sitevision_number(crawled):
    assert sorted(crawled[1]) == ["4708", "5101", "5102", "5110", "6501", "6502"]


def test_title_from_the_detail_page(crawled):
    assert crawled[1]["5101"].title == "Stärkt kompetensförsörjning i Västsverige"


def test_url_is_the_detail_page(crawled):
    base = crawled[2]
    assert crawled[1]["5101"].url == (
        f"{base}/tillvaxtverket/utlysningar/starktkompetensforsorjningivastsverige.5101.html"
    )


def test_swedish_closing_date_is_the_deadline_at_end_of_day(crawled):
    # "Stänger 12 september 2027": the end of that day in Stockholm
    assert crawled[1]["5101"].deadlines == ["2027-09-12T21:59:59+00:00"]


def test_swedish_opening_date(crawled):
    assert crawled[1]["5101"].opens_at == datetime(2027, 1, 31, 23, 0, tzinfo=UTC)


def test_status_from_dates(crawled):
    calls = crawled[1]
    assert calls["5101"].status == "open"
    assert calls["4708"].status == "closed"  # "Stängd 12 september 2023"


def test_regions(crawled):
    assert crawled[1]["5101"].regions == ["Västra Götaland", "Halland"]


def test_budget_text_and_amount(crawled):
    call = crawled[1]["5101"]
    assert call.budget_text == (
        "Totalt fördelas 60 miljoner kronor. Maximalt kan beviljas 40 procent av projektets kostnader."
    )
    assert (call.budget, call.currency) == (60_000_000.0, "SEK")


def test_description_is_plain_text_without_navigation_or_scripts(crawled):
    description = crawled[1]["5101"].description
    assert "samverkan mellan skola och arbetsliv" in description
    assert "tracking" not in description and "Sök finansiering" not in description
    assert "<" not in description


def test_programme_and_language(crawled):
    call = crawled[1]["5101"]
    assert (call.programme, call.language) == ("ERUF", "sv")


def test_missing_detail_page_still_stores_the_call_from_the_feed(crawled):
    call = crawled[1]["5110"]
    assert call.title == "Ny utlysning: Digital omställning i besöksnäringen"
    assert call.deadlines == [] and call.status == "unknown"


def test_run_counts_errors_and_invalid_items(crawled):
    result = crawled[0]
    assert (result.outcome, result.seen, result.new, result.invalid) == ("ok", 7, 6, 1)
    assert result.errors == 1 and "HTTP 404" in result.error
    assert result.detail_failures == 1  # the optional detail page, counted on the CrawlRun


def test_detail_pages_are_only_followed_on_the_feeds_site():
    from crawler.spiders.tillvaxtverket import TillvaxtverketSpider as Spider

    assert Spider.may_follow("https://tillvaxtverket.se/a.1.html", "tillvaxtverket.se")
    assert Spider.may_follow("http://127.0.0.1:8000/a.1.html", "127.0.0.1")
    assert not Spider.may_follow("https://elsewhere.example/a.1.html", "tillvaxtverket.se")
    assert not Spider.may_follow("javascript:alert(1)", "tillvaxtverket.se")


def test_budget_heading_and_text_in_separate_sitevision_portlets(crawled):
    call = crawled[1]["6501"]
    assert call.budget_text == (
        "Totalt fördelas 57,7 miljoner. Förstudier kan beviljas högst 744 000 kr per förstudie. "
        "Regionalfonden kan finansiera maximalt 40 procent av de totala kostnaderna."
    )


def test_miljoner_with_a_decimal_comma_is_the_budget_and_a_cap_per_project_is_not(crawled):
    call = crawled[1]["6501"]
    assert (call.budget, call.currency) == (57_700_000.0, "SEK")
    assert call.extra["max_contribution"] == 744_000.0
    assert call.extra["budget_scope"] == "total"


def test_a_page_with_only_a_percentage_has_no_budget(crawled):
    call = crawled[1]["6502"]
    assert call.budget is None and "max_contribution" not in call.extra


def test_regions_are_kept_as_data_for_the_matcher(crawled):
    assert crawled[1]["6501"].regions == [
        "Region Gotland", "Region Jönköpings län", "Region Kalmar län", "Region Kronoberg",
    ]  # fmt: skip
    assert crawled[1]["6502"].regions == ["Västra Götaland"]


def test_opened_without_a_closing_date_is_open_with_an_unknown_deadline(crawled):
    call = crawled[1]["6502"]
    assert call.opens_at == datetime(2024, 8, 11, 22, 0, tzinfo=UTC)
    assert (call.status, call.deadlines, call.next_deadline) == ("open", [], None)


def test_before_its_opening_day_it_is_forthcoming(files_mirror, db_url):
    (result,) = crawl_sources(
        config=mirrored_config(files_mirror),
        keys=["tillvaxtverket"],
        database_url=db_url,
        now=datetime(2024, 8, 1, 9, 0, tzinfo=UTC),
        settings_overrides=TEST_SETTINGS,
    )
    engine = make_engine(db_url)
    with Session(engine) as session:
        call = session.exec(select(Call).where(Call.external_id == "6502")).one()
    engine.dispose()
    assert result.outcome == "ok" and call.status == "forthcoming"


def test_a_feed_body_that_names_a_local_file_is_not_read_from_disk(tmp_path, db_url):
    """feedparser opens a str or bytes that looks like a path: the body must go to it as
    bytes in a stream. Here the server answers with the path of a valid feed on disk."""
    local = tmp_path / "local-feed.xml"
    local.write_text(
        (FILES / "tillvaxtverket" / "feed.xml").read_text("utf-8").replace("{base}", "http://x"),
        "utf-8",
    )
    recordings = copy_recordings(tmp_path / "rec", "tillvaxtverket")
    (recordings / "tillvaxtverket" / "feed.xml").write_text(str(local), "utf-8")
    with Mirror(recordings) as mirror:
        (result,) = crawl_sources(
            config=mirrored_config(mirror),
            keys=["tillvaxtverket"],
            database_url=db_url,
            now=NOW,
            settings_overrides=TEST_SETTINGS,
        )
    assert result.outcome == "failed" and "not an RSS feed" in result.error
    assert result.seen == 0


def _crawl_with_detail(tmp_path, db_url, *, now, edit, pub_date=None):
    recordings = copy_recordings(tmp_path / "rec", "tillvaxtverket")
    detail = recordings / "tillvaxtverket" / "detail-5102.html"
    detail.write_text(edit(detail.read_text("utf-8")), "utf-8")
    if pub_date is not None:
        feed = recordings / "tillvaxtverket" / "feed.xml"
        feed.write_text(
            feed.read_text("utf-8").replace("Tue, 02 Feb 2027 10:00:00 +0100", pub_date),
            "utf-8",
        )
    with Mirror(recordings) as mirror:
        (result,) = crawl_sources(
            config=mirrored_config(mirror),
            keys=["tillvaxtverket"],
            database_url=db_url,
            now=now,
            settings_overrides=TEST_SETTINGS,
        )
    engine = make_engine(db_url)
    with Session(engine) as session:
        call = session.exec(select(Call).where(Call.external_id == "5102")).one()
    engine.dispose()
    return result, call


def test_a_yearless_closing_date_is_dated_by_the_feed_entry_not_the_crawl_day(tmp_path, db_url):
    """Never invent: "Stänger 22 april" on a page the feed published on 14 June 2023 takes
    its year from that date (textparse: on or after the publication less 60 days, so 22
    April 2023), whatever the crawl's day; crawled in 2031 it is a past round."""
    result, call = _crawl_with_detail(
        tmp_path,
        db_url,
        now=datetime(2031, 3, 1, 9, 0, tzinfo=UTC),
        edit=lambda html: html.replace("Stänger 22 april 2027", "Stänger 22 april"),
        pub_date="Wed, 14 Jun 2023 09:00:00 +0200",
    )
    assert result.outcome == "ok"
    assert call.deadlines == ["2023-04-22T21:59:59+00:00"]
    assert call.status == "closed"
