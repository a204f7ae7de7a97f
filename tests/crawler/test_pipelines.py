"""The normalise and validate pipelines on their own (no crawl): untrusted scraped values in,
clean CallData out; invalid items are counted and dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from crawler.items import CallItem
from crawler.pipelines import NormalisePipeline, ValidatePipeline
from storage.records import CallData


def _item(**fields) -> CallItem:
    base = {
        "source": "tillvaxtverket",
        "external_id": "5101",
        "url": "https://example.org/a.5101.html",
        "title": "T",
    }
    return CallItem(**{**base, **fields})


def test_html_title_becomes_one_clean_line():
    item = NormalisePipeline().process_item(
        _item(title="  <b>Stärkt</b>\n kompetens&shy;försörjning\u200b  ")
    )
    assert item.title == "Stärkt kompetensförsörjning"


def test_description_html_becomes_safe_text():
    item = NormalisePipeline().process_item(
        _item(description="<p>Hej</p><script>alert(1)</script><ul><li>ett</li><li>två</li></ul>")
    )
    assert item.description == "Hej\n\n• ett\n• två"


def test_non_http_url_is_dropped_from_the_item():
    assert NormalisePipeline().process_item(_item(url="javascript:alert(1)")).url == ""


def test_swedish_and_iso_dates_become_utc():
    item = NormalisePipeline().process_item(
        _item(
            opens_at="1 februari 2027",
            deadlines=["Stänger 12 september 2027", "2027-04-08T00:00:00.000+0000", "nonsense"],
        )
    )
    assert item.opens_at == datetime(2027, 1, 31, 23, 0, tzinfo=UTC)
    assert item.deadlines == [
        datetime(2027, 4, 8, tzinfo=UTC),
        datetime(2027, 9, 12, 21, 59, 59, tzinfo=UTC),
    ]


def test_budget_text_gives_amount_and_currency():
    item = NormalisePipeline().process_item(
        _item(budget_text="Totalt fördelas 60 miljoner kronor.")
    )
    assert (item.budget, item.currency) == (60_000_000.0, "SEK")


def test_numeric_budget_is_kept_and_nonsense_dropped():
    assert NormalisePipeline().process_item(_item(budget=4e6, currency="EUR")).budget == 4e6
    assert NormalisePipeline().process_item(_item(budget=float("nan"))).budget is None


def test_duplicate_keywords_and_regions_are_merged():
    item = NormalisePipeline().process_item(
        _item(keywords=["Skola", " Skola ", ""], regions=["Halland", "Halland", "Västra Götaland"])
    )
    assert (item.keywords, item.regions) == (["Skola"], ["Halland", "Västra Götaland"])


def test_unknown_status_hint_is_dropped():
    assert NormalisePipeline().process_item(_item(status="31094501")).status is None


def test_valid_item_becomes_calldata():
    pipeline = ValidatePipeline.from_crawler(get_crawler())
    data = pipeline.process_item(NormalisePipeline().process_item(_item()))
    assert isinstance(data, CallData)
    assert (data.source, data.external_id, data.title) == ("tillvaxtverket", "5101", "T")


@pytest.mark.parametrize(
    "fields",
    [{"title": "   "}, {"url": "ftp://example.org/x"}, {"external_id": ""}, {"source": ""}],
    ids=["no title", "no http url", "no external id", "no source"],
)
def test_invalid_items_are_counted_and_dropped(fields):
    crawler = get_crawler()
    crawler.stats.open_spider()
    pipeline = ValidatePipeline.from_crawler(crawler)
    with pytest.raises(DropItem):
        pipeline.process_item(NormalisePipeline().process_item(_item(**fields)))
    assert pipeline.invalid == 1
    assert crawler.stats.get_value("bevaka/invalid") == 1
