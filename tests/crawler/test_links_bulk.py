"""Cross-source linking in bulk: many topics arriving at once are linked to the earlier
calls of other sources that name them (one scan of those calls, not one per topic), and many
calls stored at once are linked to the topics they name."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from crawler.links import link_mentions
from storage.models import Call, CallLink
from storage.records import CallData
from storage.repo import upsert_call

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PORTAL = "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/"


def _store(session, **fields) -> Call:
    data = CallData(**{"url": "https://example.org/x", "title": "Nyhet", **fields})
    return upsert_call(session=session, data=data, now=NOW).call


def _topic(session, identifier: str, call_identifier: str) -> Call:
    return _store(
        session,
        source="eu_portal",
        external_id=identifier,
        identifier=identifier,
        call_identifier=call_identifier,
        title=f"Topic {identifier}",
        url=PORTAL + identifier,
    )


def _links(session) -> set[tuple[int, int, str]]:
    return {(k.from_call_id, k.to_call_id, k.reason) for k in session.exec(select(CallLink))}


def test_many_topics_arriving_at_once_are_linked_to_earlier_mentions(session):
    by_text = _store(
        session, source="skr", external_id="n1", description="Sök LIFE-2027-SAP-CLIMA nu."
    )
    by_call = _store(
        session, source="skr", external_id="n2", title="Utlysningen HORIZON-CL5-2027-01 är öppen"
    )
    by_url = _store(
        session,
        source="tillvaxtverket",
        external_id="p1",
        title="Klimat",
        extra={"links": [PORTAL + "cerv-2027-citizens-civ"]},
    )
    prefix_only = _store(
        session, source="skr", external_id="n3", title="Om HORIZON-CL5-2027-01-D4-02b"
    )
    unrelated = _store(session, source="skr", external_id="n4", title="Inget EU här")
    same_source = _store(
        session,
        source="eu_portal",
        external_id="other",
        title="Related: LIFE-2027-SAP-CLIMA",
        identifier="LIFE-2027-SAP-NAT",
    )
    session.commit()

    life = _topic(session, "LIFE-2027-SAP-CLIMA", "LIFE-2027-SAP")
    d402 = _topic(session, "HORIZON-CL5-2027-01-D4-02", "HORIZON-CL5-2027-01")
    d403 = _topic(session, "HORIZON-CL5-2027-01-D4-03", "HORIZON-CL5-2027-01")
    cerv = _topic(session, "CERV-2027-CITIZENS-CIV", "CERV-2027-CITIZENS")
    session.commit()
    ids = [life.id, d402.id, d403.id, cerv.id]

    made = link_mentions(session=session, call_ids=ids, new_topic_ids=ids, now=NOW)
    session.commit()

    expected = {
        (by_text.id, life.id, "mentions LIFE-2027-SAP-CLIMA"),
        (by_call.id, d402.id, "mentions HORIZON-CL5-2027-01"),
        (by_call.id, d403.id, "mentions HORIZON-CL5-2027-01"),
        (by_url.id, cerv.id, "mentions CERV-2027-CITIZENS-CIV"),
    }
    assert _links(session) == expected
    assert made == len(expected)
    linked_from = {f for f, _, _ in expected}
    assert not {prefix_only.id, unrelated.id, same_source.id} & linked_from
    # the same topics arriving again link nothing new
    assert link_mentions(session=session, call_ids=ids, new_topic_ids=ids, now=NOW) == 0


def test_many_calls_stored_at_once_are_linked_to_the_topics_they_name(session):
    life = _topic(session, "LIFE-2027-SAP-CLIMA", "LIFE-2027-SAP")
    d402 = _topic(session, "HORIZON-CL5-2027-01-D4-02", "HORIZON-CL5-2027-01")
    session.commit()
    news = [
        _store(
            session,
            source="skr",
            external_id=f"n{i}",
            title=f"Nyhet {i}",
            description="Se LIFE-2027-SAP-CLIMA och HORIZON-CL5-2027-01-D4-02."
            if i % 2
            else "Se life-2027-sap-clima.",
        )
        for i in range(6)
    ]
    session.commit()

    made = link_mentions(session=session, call_ids=[n.id for n in news] + [life.id], now=NOW)

    expected = {(n.id, life.id, "mentions LIFE-2027-SAP-CLIMA") for n in news[1::2]}
    expected |= {(n.id, d402.id, "mentions HORIZON-CL5-2027-01-D4-02") for n in news[1::2]}
    # "life-2027-sap-clima" in lower case is not an identifier (capitals only) nor a page link
    assert _links(session) == expected
    assert made == len(expected)
