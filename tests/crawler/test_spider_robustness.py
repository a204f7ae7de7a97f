"""Scraped data is untrusted: the code spiders' parsers never crash on odd shapes, and what
they make of them still passes through the pipelines (or is counted invalid)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy.http import HtmlResponse, Request

from config.schema import SourceEntry
from crawler.items import CallItem
from crawler.pipelines import NormalisePipeline
from crawler.spiders.eu_portal import EuPortalSpider
from crawler.spiders.tillvaxtverket import TillvaxtverketSpider
from crawler.spiders.vinnova import VinnovaSpider

TEXT = st.text(max_size=40)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXT)
JSONISH = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
EU_KEYS = st.sampled_from(
    ["identifier", "title", "type", "startDate", "deadlineDate", "actions", "budgetOverview",
     "keywords", "tags", "frameworkProgramme", "callIdentifier", "callTitle", "status",
     "descriptionByte", "typesOfAction"]
)  # fmt: skip


def _spider(cls, kind: str):
    return cls(source=SourceEntry(key=kind, name=kind, kind=kind, url="https://example.org/x"))


EU = _spider(EuPortalSpider, "eu_portal")
VINNOVA = _spider(VinnovaSpider, "vinnova")
TV = _spider(TillvaxtverketSpider, "tillvaxtverket")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    metadata=st.dictionaries(
        EU_KEYS,
        st.one_of(
            st.lists(TEXT, max_size=3),
            st.lists(JSONISH.map(json.dumps), max_size=2),
            JSONISH,
        ),
        max_size=8,
    ),
    identifier=st.one_of(st.just("HORIZON-CL5-2027-01"), TEXT),
)
def test_eu_topic_item_never_crashes(metadata, identifier):
    metadata.setdefault("identifier", [identifier])
    item = EU.topic_item({"metadata": metadata, "summary": None})
    if item is not None:
        NormalisePipeline().process_item(item)


@settings(max_examples=150, deadline=None)
@given(record=st.dictionaries(
    st.sampled_from(["Diarienummer", "Titel", "TitelEngelska", "Beskrivning", "Oppningsdatum",
                     "Stangningsdatum", "Publik", "LankLista", "DokumentLista", "WebTextLista"]),
    JSONISH, max_size=10,
))  # fmt: skip
def test_vinnova_round_item_never_crashes(record):
    item = VINNOVA.round_item(record)
    if item is not None:
        NormalisePipeline().process_item(item)


@settings(max_examples=60, deadline=None)
@given(body=st.lists(st.sampled_from(
    ["<main>", "</main>", "<h1>", "</h1>", "<ul>", "<li>", "</li>", "</ul>", "<h2>Hur mycket", "</h2>",
     "<p>", "Stänger 12 september 2027", "Öppnar 31 februari 2027", "60 miljoner kronor", "Halland",
     '<a href="javascript:x">', '<a href="https://ec.europa.eu/topic-details/X">', "\u202e", "&amp;"]),
    max_size=30,
).map("".join))  # fmt: skip
def test_tillvaxtverket_detail_never_crashes(body):
    response = HtmlResponse(
        url="https://tillvaxtverket.se/a.1.html",
        body=body.encode("utf-8"),
        encoding="utf-8",
        request=Request("https://tillvaxtverket.se/a.1.html"),
    )
    item = CallItem(source="tillvaxtverket", external_id="1", url=response.url, title="T")
    TV.errors = 0
    for out in TV.parse_detail(response, item=item):
        NormalisePipeline().process_item(out)
    assert TV.fatal is False


@settings(max_examples=100, deadline=None)
@given(
    results=st.lists(
        st.one_of(
            JSONISH,
            st.fixed_dictionaries(
                {
                    "metadata": st.one_of(
                        JSONISH, st.dictionaries(EU_KEYS, st.lists(TEXT, max_size=2))
                    )
                }
            ),
        ),
        max_size=4,
    ),
    total=st.one_of(JSONISH, st.integers(-5, 10_000)),
)
def test_eu_search_page_never_crashes(results, total):
    from scrapy.http import TextResponse

    body = json.dumps({"results": results, "totalResults": total}).encode()
    response = TextResponse(url="https://example.org/search", body=body, encoding="utf-8")
    for out in EU.parse_search(response, page=1):
        if isinstance(out, CallItem):
            NormalisePipeline().process_item(out)
