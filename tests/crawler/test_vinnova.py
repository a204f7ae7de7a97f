"""The vinnova spider against recorded API answers served by a real local HTTP server,
crawled once through the runner with the clock fixed at 2027-03-01."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crawl_support import TEST_SETTINGS, mirrored_config
from sqlmodel import Session, select

from crawler.runner import crawl_sources
from storage.db import make_engine
from storage.models import Call

pytestmark = pytest.mark.storage

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
AI = "2026-03112"
CARE = "2027-00418"


@pytest.fixture(scope="module")
def crawled(files_mirror, module_db_url):
    results = crawl_sources(
        config=mirrored_config(files_mirror),
        keys=["vinnova"],
        database_url=module_db_url,
        now=NOW,
        settings_overrides=TEST_SETTINGS,
    )
    engine = make_engine(module_db_url)
    with Session(engine) as session:
        calls = {c.external_id: c for c in session.exec(select(Call)).all()}
    engine.dispose()
    return results[0], calls, files_mirror


def test_asks_for_rounds_changed_in_the_rolling_window(crawled):
    paths = [path for method, path, _ in crawled[2].requests if "/vinnova/" in path]
    assert paths == ["/vinnova/ansokningsomgangar/2026-12-31"]


def test_only_public_rounds_are_stored(crawled):
    assert sorted(crawled[1]) == ["2026-02231", AI, CARE]


def test_round_without_title_is_counted_invalid(crawled):
    result = crawled[0]
    assert (result.outcome, result.seen, result.invalid, result.new) == ("ok", 4, 1, 3)


def test_swedish_title(crawled):
    assert crawled[1][AI].title == "Gemensamma AI-förmågor i kommuner och regioner 2027"


def test_english_title_kept(crawled):
    assert crawled[1][AI].extra["title_en"] == (
        "Joint AI capabilities in municipalities and regions 2027"
    )


def test_description_has_both_languages(crawled):
    description = crawled[1][AI].description
    assert description.startswith("Erbjudandet riktar sig till kommuner")
    assert "For municipalities and regions" in description


def test_opening_date_is_swedish_local_time(crawled):
    assert crawled[1][CARE].opens_at == datetime(2027, 3, 31, 22, 0, tzinfo=UTC)


def test_closing_date_is_the_deadline(crawled):
    assert crawled[1][AI].deadlines == ["2027-03-17T13:00:00+00:00"]


def test_status_from_dates(crawled):
    calls = crawled[1]
    assert calls[AI].status == "open"
    assert calls[CARE].status == "forthcoming"
    assert calls["2026-02231"].status == "closed"


def test_url_is_the_vinnova_page(crawled):
    assert crawled[1][AI].url == (
        "https://www.vinnova.se/e/larande-och-motesplatser/"
        "gemensamma-ai-formagor-i-kommuner-och-regioner-2027/"
    )


def test_url_falls_back_to_search_when_no_vinnova_link(crawled):
    assert crawled[1][CARE].url == (
        "https://www.vinnova.se/sok-finansiering/hitta-finansiering/?q=2027-00418"
    )


def test_programme_language_and_call_number(crawled):
    call = crawled[1][AI]
    assert (call.programme, call.language, call.call_identifier) == ("VINNOVA", "sv", "2026-03100")
