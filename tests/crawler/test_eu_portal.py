"""The eu_portal spider against a recorded SEDIA search (two pages) served by a real local
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
        [CLIMATE, SOIL, EOSC, "ERASMUS-EDU-2027-PEX-COVE", "CERV-2027-CITIZENS-CIV"]
    )


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


def test_two_stage_topic_keeps_all_deadlines(crawled):
    call = crawled[1][SOIL]
    assert call.deadlines == ["2027-04-08T00:00:00+00:00", "2027-09-14T00:00:00+00:00"]
    assert call.next_deadline == datetime(2027, 4, 8, tzinfo=UTC)


def test_deadline_offsets_are_converted_to_utc(crawled):
    assert crawled[1][CLIMATE].deadlines == ["2027-04-22T15:00:00+00:00"]


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
    assert (result.outcome, result.seen, result.new) == ("ok", 5, 5)
    assert result.errors == 4  # detail fetches: one 500, three not recorded
    assert result.error.startswith("topic details of")
    assert len(runs) == 1 and runs[0].outcome == "ok" and runs[0].pages == 3


def test_search_request_is_multipart_post_with_paging(crawled):
    mirror = crawled[3]
    searches = [r for r in mirror.requests if r[0] == "POST"]
    assert [r[1].rsplit("pageNumber=", 1)[1] for r in searches] == ["1", "2"]
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
