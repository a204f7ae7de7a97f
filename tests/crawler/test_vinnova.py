"""The vinnova spider against a recorded API answer (the register's real field names, see
tests/files/vinnova/README.md) served by a real local HTTP server, crawled twice through
the runner with the clock fixed at 2027-03-01: first the whole register, then the window."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from crawl_support import TEST_SETTINGS, mirrored_config
from sqlmodel import Session, select

from crawler.runner import crawl_sources
from crawler.spiders.vinnova import planned_opening
from storage.db import make_engine
from storage.models import Call

pytestmark = pytest.mark.storage

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
AI = "2026-03112"
CARE = "2027-00418"
PLANNED = "2027-00801"


@pytest.fixture(scope="module")
def crawled(files_mirror, module_db_url):
    def crawl():
        (result,) = crawl_sources(
            config=mirrored_config(files_mirror),
            keys=["vinnova"],
            database_url=module_db_url,
            now=NOW,
            settings_overrides=TEST_SETTINGS,
        )
        return result

    result = crawl()
    again = crawl()
    paths = [path for _, path, _ in files_mirror.requests if "/vinnova/" in path]
    engine = make_engine(module_db_url)
    with Session(engine) as session:
        calls = {c.external_id: c for c in session.exec(select(Call)).all()}
    engine.dispose()
    return result, calls, paths, again


def test_first_crawl_reads_the_whole_register_then_the_rolling_window(crawled):
    assert crawled[2] == [
        "/vinnova/ansokningsomgangar/2000-01-01",
        "/vinnova/ansokningsomgangar/2026-12-31",
    ]
    assert crawled[3].outcome == "ok" and crawled[3].new == 0


def test_only_rounds_public_and_on_the_web_are_stored(crawled):
    # 2026-09999: Publik 0 (invited only); 2027-00155: Webbsida 0 (not published)
    assert sorted(crawled[1]) == ["2026-02231", AI, CARE, PLANNED]


def test_round_without_title_is_counted_invalid(crawled):
    result = crawled[0]
    assert (result.outcome, result.seen, result.invalid, result.new) == ("ok", 5, 1, 4)


def test_swedish_title(crawled):
    assert crawled[1][AI].title == "Gemensamma AI-förmågor i kommuner och regioner 2027"


def test_english_title_kept_and_x_placeholders_are_empty(crawled):
    calls = crawled[1]
    assert calls[AI].extra["title_en"] == "Joint AI capabilities in municipalities and regions 2027"
    assert calls[CARE].extra["title_en"] is None
    assert "x" not in calls[CARE].description.split()
    assert calls[PLANNED].extra["title_en"] is None


def test_web_texts_who_can_apply_and_budget_are_kept(crawled):
    description = crawled[1][AI].description
    assert description.startswith("Erbjudandet riktar sig till kommuner")
    assert "En kommun, ett kommunalförbund eller en region ska vara koordinator" in description
    assert "For municipalities and regions" in description
    assert crawled[1][AI].summary.startswith("Innovations- och utvecklingsprojekt")


def test_budget_from_the_web_text_and_cap_per_project(crawled):
    call = crawled[1][AI]
    assert call.budget_text == (
        "Det går att söka upp till 2 mkr i bidrag per projekt. "
        "Utlysningens preliminära budget är 10 mkr."
    )
    assert (call.budget, call.currency) == (10_000_000.0, "SEK")
    assert call.extra["max_contribution"] == 2_000_000.0


def test_a_cap_per_project_alone_is_not_the_budget(crawled):
    call = crawled[1][CARE]
    assert call.budget is None and call.extra["max_contribution"] == 800_000.0


def test_opening_date_is_swedish_local_time(crawled):
    assert crawled[1][CARE].opens_at == datetime(2027, 3, 31, 22, 0, tzinfo=UTC)


def test_closing_date_is_the_deadline(crawled):
    assert crawled[1][AI].deadlines == ["2027-03-17T13:00:00+00:00"]


def test_status_from_dates(crawled):
    calls = crawled[1]
    assert calls[AI].status == "open"
    assert calls[CARE].status == "forthcoming"
    assert calls["2026-02231"].status == "closed"


def test_planned_round_is_forthcoming_from_its_announcement_period(crawled):
    call = crawled[1][PLANNED]
    # AnnonseringslägeÅr 2027, AnnonseringslägePeriod "september"; 1900-01-01 is no date
    assert call.status == "forthcoming"
    assert call.opens_at == datetime(2027, 8, 31, 22, 0, tzinfo=UTC)
    assert call.deadlines == []
    assert call.extra["planned_opening"] == "2027-09-01"


def test_url_is_never_the_login_gated_application_form(crawled):
    calls = crawled[1]
    for call in calls.values():
        assert "portal.vinnova.se" not in call.url and "ansok.vinnova.se" not in call.url
        assert call.url.startswith("https://www.vinnova.se/")
    # the form stays reachable from the call's links
    assert any("portal.vinnova.se" in link for link in calls[AI].extra["links"])


def test_url_is_the_rounds_page_on_vinnova_se_when_linked(crawled):
    assert crawled[1][CARE].url == (
        "https://www.vinnova.se/e/innovationer-i-offentlig-sektor/"
        "innovativa-losningar-for-en-2027-00418/"
    )


def test_url_falls_back_to_vinnovas_public_list_of_offers(crawled):
    assert crawled[1][AI].url == "https://www.vinnova.se/sok-finansiering/hitta-finansiering/"


def test_programme_language_and_call_number(crawled):
    call = crawled[1][AI]
    assert (call.programme, call.language, call.call_identifier) == ("VINNOVA", "sv", "2026-03100")
    assert call.extra["decision_expected"] == "2027-05-28T00:00:00"


def test_contact_persons_are_not_stored(crawled):
    call = crawled[1][AI]
    assert "anna.andersson" not in json.dumps(call.extra) + (call.description or "")


@pytest.mark.parametrize(
    ("year", "period", "expected"),
    [
        (2027, "september", date(2027, 9, 1)),
        ("2027", "Hösten", date(2027, 9, 1)),
        (2027, "Q2", date(2027, 4, 1)),
        (2027, 11, date(2027, 11, 1)),
        (2027, None, date(2027, 1, 1)),
        (None, "maj", None),
        ("nästa år", None, None),
    ],
)
def test_planned_opening(year, period, expected):
    assert planned_opening(year, period) == expected
