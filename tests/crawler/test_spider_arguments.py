"""``scrapy crawl NAME [-a source=KEY]`` (the README's plain-Scrapy commands): the source is
looked up in sources.yaml, and a missing or wrong key is a one-line error naming the keys
that fit, or the spider to use instead."""

from __future__ import annotations

import pytest

from crawler.spiders.eu_portal import EuPortalSpider
from crawler.spiders.feed import FeedSpider
from crawler.spiders.listing import ListingSpider


@pytest.fixture(autouse=True)
def _shipped_config(monkeypatch, config_dir):
    monkeypatch.setenv("BEVAKA_CONFIG", str(config_dir))


def test_the_documented_feed_command_finds_its_source():
    assert FeedSpider(source="interreg_baltic").source.key == "interreg_baltic"
    assert EuPortalSpider().source.key == "eu_portal"  # one source of its own: no -a needed


def test_feed_without_a_source_names_the_feed_sources():
    with pytest.raises(ValueError, match=r"^spider 'feed' needs -a source=KEY; .*: skr, leader_nv_skaraborg, interreg_baltic$"):
        FeedSpider()


def test_a_listing_source_given_to_the_feed_spider_names_the_right_spider():
    with pytest.raises(ValueError) as error:
        FeedSpider(source="esf")
    assert "source 'esf' is a listing source: run `scrapy crawl listing -a source=esf`" in str(
        error.value
    )
    assert ListingSpider(source="esf").source.kind == "listing"


def test_an_unknown_key_names_the_fitting_ones():
    with pytest.raises(ValueError, match=r"no source 'nope' in sources.yaml; listing sources: esf"):
        ListingSpider(source="nope")
