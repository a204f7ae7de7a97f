"""Cross-source links: calls that name an EU topic/call identifier or link to a portal topic
page are linked to it, whichever arrives first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crawl_support import TEST_SETTINGS, mirrored_config
from sqlmodel import select

from crawler.links import find_identifiers, link_mentions
from crawler.runner import crawl_sources
from storage.models import Call, CallLink
from storage.records import CallData
from storage.repo import mentions_of, upsert_call

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
TOPIC = "HORIZON-CL5-2027-01-D4-02"
PORTAL = "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/"


def test_finds_identifiers_of_known_programmes_only():
    text = (
        "Sök HORIZON-CL5-2027-01-D4-02. Se även ERASMUS-EDU-2027-PEX-COVE och "
        "CERV-2027-CITIZENS-CIV-ansökan; inte Erasmus-programmet, NOTAPROG-2027-01 eller HORIZON-EUROPE."
    )
    assert find_identifiers(text) == {
        "HORIZON-CL5-2027-01-D4-02",
        "ERASMUS-EDU-2027-PEX-COVE",
        "CERV-2027-CITIZENS-CIV",
    }


def test_finds_topic_page_links():
    assert find_identifiers(f"Läs mer: {PORTAL}life-2027-sap-clima") == {"life-2027-sap-clima"}


def _store(session, **fields) -> Call:
    data = CallData(**{"url": "https://example.org/x", **fields})
    call = upsert_call(session=session, data=data, now=NOW).call
    session.commit()
    return call


def _eu(session) -> Call:
    return _store(
        session,
        source="eu_portal",
        external_id=TOPIC,
        identifier=TOPIC,
        call_identifier="HORIZON-CL5-2027-01",
        title="Climate adaptation",
        url=PORTAL + TOPIC,
    )


def test_news_stored_after_the_topic_is_linked(session):
    topic = _eu(session)
    news = _store(
        session,
        source="skr",
        external_id="n1",
        kind="news",
        title="Ny EU-utlysning om klimatanpassning",
        description=f"Kommuner kan söka inom {TOPIC} fram till april.",
    )
    assert link_mentions(session=session, call_ids=[news.id], now=NOW) == 1
    (link,) = session.exec(select(CallLink)).all()
    assert (link.from_call_id, link.to_call_id, link.reason) == (
        news.id,
        topic.id,
        f"mentions {TOPIC}",
    )
    assert [c.id for c in mentions_of(session=session, call_ids=[topic.id])[topic.id]] == [news.id]


def test_news_stored_before_the_topic_is_linked_when_the_topic_arrives(session):
    news = _store(
        session,
        source="tillvaxtverket",
        external_id="5102",
        title="Klimatanpassning i små kommuner",
        extra={"links": [PORTAL + TOPIC]},
    )
    assert link_mentions(session=session, call_ids=[news.id], now=NOW) == 0
    topic = _eu(session)
    assert (
        link_mentions(session=session, call_ids=[topic.id], new_topic_ids=[topic.id], now=NOW) == 1
    )
    (link,) = session.exec(select(CallLink)).all()
    assert (link.from_call_id, link.to_call_id) == (news.id, topic.id)
    # linking again adds nothing
    assert (
        link_mentions(session=session, call_ids=[news.id], new_topic_ids=[topic.id], now=NOW) == 0
    )


def test_mention_of_a_call_identifier_links_its_topics(session):
    topic = _eu(session)
    news = _store(
        session, source="skr", external_id="n2", title="Utlysningen HORIZON-CL5-2027-01 är öppen"
    )
    link_mentions(session=session, call_ids=[news.id], now=NOW)
    assert [(k.from_call_id, k.to_call_id) for k in session.exec(select(CallLink))] == [
        (news.id, topic.id)
    ]


def test_a_prefix_of_another_identifier_is_not_a_mention(session):
    _eu(session)
    other = _store(
        session, source="skr", external_id="n3", title="Om HORIZON-CL5-2027-01-D4-02b och annat"
    )
    assert link_mentions(session=session, call_ids=[other.id], now=NOW) == 0


@pytest.mark.slow
def test_crawl_links_a_page_crawled_before_the_topic(files_mirror, db_url, session):
    results = crawl_sources(
        config=mirrored_config(files_mirror),
        keys=["tillvaxtverket", "eu_portal"],
        database_url=db_url,
        now=NOW,
        settings_overrides=TEST_SETTINGS,
    )
    assert [r.linked for r in results] == [0, 1]
    page = session.exec(select(Call).where(Call.external_id == "5102")).one()
    topic = session.exec(select(Call).where(Call.external_id == TOPIC)).one()
    assert [c.id for c in mentions_of(session=session, call_ids=[topic.id])[topic.id]] == [page.id]
