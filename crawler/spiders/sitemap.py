"""``kind: sitemap``: the pages a site's sitemap lists (Scrapy's SitemapSpider), config only.

The url is a ``sitemap.xml``, a sitemap index (its sitemaps are followed) or a
``robots.txt`` (its ``Sitemap:`` lines are followed). Every page URL that matches
``link_pattern`` (RE2, case-insensitive; e.g. ``/utlysningar/[^/]+/$``) is fetched and read
as ONE call (:mod:`crawler.pages`): title from its h1, description from its main text
(trafilatura), dates from Swedish cue words anchored to the page's own publication date,
budget from a "Totalt …"/"fördelas …" sentence. Options
(:class:`crawler.options.SitemapOptions`): ``link_pattern`` (required), ``include``,
``exclude``, ``programme``, ``language``, ``max_items`` (pages fetched, default 200),
``download_delay``.

A start URL that is not a sitemap, or whose sitemap lists no URL matching
``link_pattern``, is a fatal error (a layout or config problem, not an empty source).
"""

from __future__ import annotations

from typing import Any

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.spiders import SitemapSpider as ScrapySitemapSpider

from crawler import pages, textparse
from crawler.extract import keep, stable_id
from crawler.items import CallItem
from crawler.options import SitemapOptions, checked_options, compile_pattern
from crawler.spiders.base import DetailPageSpider, set_dates


class SitemapSpider(DetailPageSpider, ScrapySitemapSpider):
    name = "sitemap"
    kinds = ("sitemap",)
    # every URL is offered to sitemap_filter (below), which applies link_pattern with RE2
    sitemap_rules = [("", "parse_page")]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.opts: SitemapOptions = checked_options("sitemap", self.options, source=self.source_key)
        self._link_re = compile_pattern(self.opts.link_pattern)
        self.sitemap_urls = list(self.source.all_urls)
        self.seen_ids: set[str] = set()
        self.queued = 0
        self.yielded = 0
        self._max_size = 20_000_000
        self._warn_size = 20_000_000

    async def start(self) -> Any:  # Scrapy >= 2.13
        for request in self.start_requests():
            yield request

    def start_requests(self):
        for url in self.sitemap_urls:
            yield scrapy.Request(
                url, callback=self._parse_sitemap, errback=self.on_fatal_error, dont_filter=True
            )

    def sitemap_filter(self, entries):
        if getattr(entries, "type", None) == "sitemapindex":
            yield from entries  # nested sitemaps are all read
            return
        for entry in entries:
            loc = entry.get("loc") or ""
            if self.queued < self.opts.max_items and self._link_re.search(loc):
                self.queued += 1
                yield entry

    def _parse_sitemap(self, response: Response):
        self.pages += 1
        start = response.request is not None and response.request.url in self.sitemap_urls
        requests = list(super()._parse_sitemap(response))
        if start and not requests:
            self.note_error(
                f"no page URL matching link_pattern {self.opts.link_pattern!r} in the sitemap "
                f"at {response.url} (or it is not a sitemap)",
                fatal=True,
            )
        for request in requests:
            yield request.replace(errback=self.on_soft_error)

    def parse_page(self, response: Response, **_: Any):
        self.pages += 1
        if not isinstance(response, TextResponse):
            self.note_error(f"not an HTML page: {response.url}")
            return
        item = page_item(self, response)
        if item is not None:
            yield item


def page_item(spider: Any, response: TextResponse) -> CallItem | None:
    """A page read as one call (the sitemap kind's pages), or None when it has no title
    or fails the include/exclude words."""
    opts = spider.opts
    title, text = pages.main_text(response.text, response.url)
    if not title:
        spider.logger.warning("a page without a title skipped: %s", response.url)
        return None
    if not keep(f"{title}\n{text}", opts.include, []) or not keep(title, [], opts.exclude):
        return None
    external_id = stable_id(response.url)
    if external_id in spider.seen_ids:
        return None
    spider.seen_ids.add(external_id)
    published = pages.published_date(response, text)
    found = textparse.find_dates(text, anchor=published)
    item = CallItem(
        source=spider.source_key,
        external_id=external_id,
        url=response.url,
        title=title,
        description=text or None,
        programme=opts.programme,
        kind=spider.source.call_kind,
        language=opts.language,
        budget_text=pages.budget_text(text),
    )
    set_dates(item, found, now=spider.now)
    if published is not None:
        item.extra["page_published"] = published.isoformat()
    spider.yielded += 1
    return item
