"""The eu_portal spider against a recorded SEDIA search (three pages) served by a real local
HTTP server, crawled once through the runner with the clock fixed at 2027-03-01."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crawl_support import TEST_SETTINGS, mirrored_config
from sqlmodel import Session, select

from crawler.runner import crawl_sources
from crawler.spiders.eu_portal import EuPortalSpider, first, json_in_string, multipart
from storage.db import make_engine
from storage.models import Call, CrawlRun

pytestmark = pytest.mark.storage

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
CLIMATE = "HORIZON-CL5-2027-01-D4-02"
SOIL = "HORIZON-MISS-2027-05-SOIL-01-two-stage"
EOSC = "HORIZON-INFRA-2024-EOSC-01-03"
JU = "HORIZON-JU-CBE-2026-CSA-01"
PROSPECT = "SMP-COSME-2027-TOURSME-01"
CASCADE = "48411207COMPETITIVE_CALLen"
LEGACY = "LIFE-2027-SAP-CLIMA-GOV"


@pytest.fixture(scope="module")
def crawled(files_mirror, module_db_url):
    config = mirrored_config(files_mirror)
    results = crawl_sources(
        config=config,
        keys=["eu_portal"],
        database_url=module_db_url,
        now=NOW,
        settings_overrides=TEST_SETTINGS,
    )
    engine = make_engine(module_db_url)
    with Session(engine) as session:
        calls = {c.external_id: c for c in session.exec(select(Call)).all()}
        runs = session.exec(select(CrawlRun)).all()
    engine.dispose()
    return results, calls, runs, files_mirror


def test_each_unique_topic_is_stored_once(crawled):
    _, calls, _, _ = crawled
    assert sorted(calls) == sorted(
        [
            CLIMATE, SOIL, EOSC, "ERASMUS-EDU-2027-PEX-COVE", "CERV-2027-CITIZENS-CIV",
            JU, PROSPECT, CASCADE, LEGACY,
        ]
    )  # fmt: skip


def test_title(crawled):
    assert crawled[1][CLIMATE].title == (
        "Climate adaptation solutions co-created with small and medium-sized municipalities"
    )


def test_identifier_and_call_identifier(crawled):
    call = crawled[1][CLIMATE]
    assert (call.identifier, call.call_identifier) == (CLIMATE, "HORIZON-CL5-2027-01")


def test_programme_from_code(crawled):
    calls = crawled[1]
    assert calls[CLIMATE].programme == "HORIZON"
    assert calls["ERASMUS-EDU-2027-PEX-COVE"].programme == "ERASMUS"
    assert calls["CERV-2027-CITIZENS-CIV"].programme == "CERV"


def test_human_url_is_the_portal_topic_page(crawled):
    assert crawled[1][EOSC].url == (
        "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/"
        f"topic-details/{EOSC}"
    )


def test_two_stage_topic_keeps_all_deadlines_at_17_brussels(crawled):
    # "2027-04-08T00:00:00.000+0000" is the date only: the deadline is 17:00 in Brussels
    call = crawled[1][SOIL]
    assert call.deadlines == ["2027-04-08T15:00:00+00:00", "2027-09-14T15:00:00+00:00"]
    assert call.next_deadline == datetime(2027, 4, 8, 15, tzinfo=UTC)


def test_midnight_utc_deadline_in_winter_is_16_utc(crawled):
    # "2026-09-18" summer, "2027-05-20" summer; EOSC's legacy twin: 12 March, winter (CET)
    assert crawled[1][PROSPECT].deadlines == ["2027-05-20T15:00:00+00:00"]
    assert crawled[1][EOSC].deadlines == ["2024-03-12T16:00:00+00:00"]


def test_older_17_00_utc_deadline_is_17_00_in_brussels(crawled):
    # legacy records label Brussels wall-clock time as UTC: "17:00:00.000+0000"
    assert crawled[1][LEGACY].deadlines == ["2027-05-06T15:00:00+00:00"]


def test_deadline_offsets_are_converted_to_utc(crawled):
    assert crawled[1][CLIMATE].deadlines == ["2027-04-22T15:00:00+00:00"]


def test_opening_date_at_midnight_utc_is_the_start_of_that_day_in_brussels(crawled):
    assert crawled[1][SOIL].opens_at == datetime(2027, 2, 3, 23, tzinfo=UTC)


def test_opening_date(crawled):
    assert crawled[1]["CERV-2027-CITIZENS-CIV"].opens_at == datetime(2027, 4, 9, 22, tzinfo=UTC)


def test_status_is_derived_from_dates_not_the_code(crawled):
    calls = crawled[1]
    # status code says forthcoming, but the deadline passed in 2024
    assert calls[EOSC].status == "closed"
    # status code says forthcoming, but it opened on 4 February
    assert calls[SOIL].status == "open"
    assert calls["CERV-2027-CITIZENS-CIV"].status == "forthcoming"
    assert calls[CLIMATE].status == "open"


def test_budget_only_counts_this_topics_rows(crawled):
    call = crawled[1][CLIMATE]
    assert (call.budget, call.currency) == (18_000_000.0, "EUR")
    assert call.extra["max_contribution"] == 6000000


def test_budget_over_several_years(crawled):
    assert crawled[1][SOIL].budget == 32_000_000.0


def test_a_calls_total_is_never_one_topics_budget(crawled):
    # one grant of at most 1.2 M EUR, and a row of 170 760 699 EUR: the call's budget
    call = crawled[1][JU]
    assert call.budget is None
    assert call.budget_text == "Del av en utlysning på totalt 170 760 699 EUR"
    assert call.extra["budget_scope"] == "call"
    assert call.extra["call_budget"] == 170_760_699.0
    assert call.extra["max_contribution"] == 1200000


def test_a_topics_own_budget_says_so(crawled):
    assert crawled[1][CLIMATE].extra["budget_scope"] == "topic"


def test_call_for_proposals_url_is_its_prospect_page(crawled):
    assert crawled[1][PROSPECT].url == (
        "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/"
        "prospect-details/b9e3c6d4-7f1a-4c2e-9d5b-0a1f2e3d4c5bPROSPECTen"
    )


def test_cascade_funding_url_is_its_competitive_call_page(crawled):
    call = crawled[1][CASCADE]
    assert call.url == (
        "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/"
        "competitive-calls-cs/48411207"
    )
    assert call.title == "Open call for municipalities: positive energy district pilots"
    assert call.status == "open"


def test_description_from_detail_is_plain_text(crawled):
    description = crawled[1][CLIMATE].description
    assert (
        "municipalities with fewer than 50 000 inhabitants adopt climate adaptation" in description
    )
    assert "<" not in description


def test_failed_detail_still_stores_topic_from_search(crawled):
    call = crawled[1][SOIL]
    assert call.description == (
        "Living labs bring together farmers, researchers and local authorities to improve soil health."
    )
    assert "detail" not in call.extra


def test_legacy_duplicate_gives_way_to_the_new_record(crawled):
    call = crawled[1][EOSC]
    assert call.summary == "Research infrastructures for open science"
    assert call.extra["legacy"] is False


def test_keywords_and_language(crawled):
    call = crawled[1][CLIMATE]
    assert "Climate adaptation" in call.keywords
    assert "Heat waves" in call.keywords
    assert call.language == "en"


def test_crawl_run_counts(crawled):
    results, _, runs, _ = crawled
    (result,) = results
    assert (result.outcome, result.seen, result.new) == ("ok", 9, 9)
    # detail fetches of the 7 topics (types 2 and 8 have no topicDetails): one 500, five
    # not recorded
    assert result.errors == 6 and result.detail_failures == 6
    assert result.error.startswith("topic details of")
    assert len(runs) == 1 and runs[0].outcome == "ok" and runs[0].pages == 4
    assert runs[0].stats["detail_failures"] == 6


def test_topic_details_are_asked_for_in_lower_case(crawled):
    paths = [r[1] for r in crawled[3].requests if "topicDetails" in r[1]]
    assert f"/eu_portal/topicDetails/{CLIMATE.lower()}.json" in paths
    names = [path.rsplit("/", 1)[1] for path in paths]
    assert len(set(names)) == 7 and all(name == name.lower() for name in names)


def test_search_request_is_multipart_post_with_paging(crawled):
    mirror = crawled[3]
    searches = [r for r in mirror.requests if r[0] == "POST"]
    assert [r[1].rsplit("pageNumber=", 1)[1] for r in searches] == ["1", "2", "3"]
    assert searches[0][2]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "Bevaka" in searches[0][2]["User-Agent"]


def test_helpers_handle_list_values_and_json_in_strings():
    assert first({"a": ["x", "y"]}, "a") == "x"
    assert first({"a": []}, "a") is None
    assert json_in_string('[{"deadlineDates": ["2027-01-01"]}]') == [
        {"deadlineDates": ["2027-01-01"]}
    ]
    assert json_in_string("not json") is None
    body = multipart({"query": {"bool": {}}, "languages": ["en"]}, boundary="B")
    assert b'name="query"' in body and b'["en"]' in body and body.endswith(b"--B--\r\n")


def test_query_asks_for_grants_open_and_forthcoming_in_programmes():
    from config.schema import SourceEntry

    spider = EuPortalSpider(
        source=SourceEntry(
            key="eu_portal",
            name="EU",
            kind="eu_portal",
            url="https://example.org/search",
            options={"programmes": ["LIFE", "CERV"]},
        )
    )
    must = spider.search_query()["bool"]["must"]
    assert {"terms": {"type": ["1", "2", "8"]}} in must
    assert {"terms": {"status": ["31094502", "31094501"]}} in must
    assert {"terms": {"frameworkProgramme": ["43252405", "43251589"]}} in must


def test_identifier_is_quoted_into_url_templates():
    from crawler.spiders.eu_portal import fill

    assert fill("https://x.org/t/{identifier}", "HORIZON-CL5-2027-01") == (
        "https://x.org/t/HORIZON-CL5-2027-01"
    )
    assert (
        fill("https://x.org/t/{identifier}", "../a?b=1 c") == "https://x.org/t/..%2Fa%3Fb%3D1%20c"
    )


@pytest.mark.parametrize(
    ("value", "deadline", "expected"),
    [
        # current records: the date at midnight UTC means that date, 17:00 Brussels
        ("2027-04-08T00:00:00.000+0000", True, datetime(2027, 4, 8, 15, tzinfo=UTC)),
        ("2027-01-14T00:00:00.000+0000", True, datetime(2027, 1, 14, 16, tzinfo=UTC)),
        # older records: Brussels wall-clock 17:00 labelled UTC
        ("2024-03-12T17:00:00.000+0000", True, datetime(2024, 3, 12, 16, tzinfo=UTC)),
        # a real offset is kept
        ("2027-04-22T17:00:00.000+0200", True, datetime(2027, 4, 22, 15, tzinfo=UTC)),
        ("2024-03-12T16:00:00.000+0000", True, datetime(2024, 3, 12, 16, tzinfo=UTC)),
        # bare dates from actions / budgetOverview
        ("2026-09-15", True, datetime(2026, 9, 15, 15, tzinfo=UTC)),
        ("2026-03-03", False, datetime(2026, 3, 2, 23, tzinfo=UTC)),
        ("2027-02-04T00:00:00.000+0000", False, datetime(2027, 2, 3, 23, tzinfo=UTC)),
        ("2023-12-06T01:00:00.000+0100", False, datetime(2023, 12, 6, 0, tzinfo=UTC)),
        ("not a date", True, None),
        ("2027-02-30T00:00:00.000+0000", True, None),
        (None, True, None),
    ],
)
def test_portal_instant(value, deadline, expected):
    from crawler.spiders.eu_portal import portal_instant

    assert portal_instant(value, deadline=deadline) == expected
