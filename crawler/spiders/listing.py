"""``kind: listing``: an HTML page listing calls (or news), driven entirely by config.

Options (validated by :class:`crawler.options.ListingOptions`)::

    options:
      item: "article.utlysning"           # one match per call (required)
      title: "h2"                         # inside the item (default: heading/link text)
      link: "a::attr(href)"               # inside the item (default: its own/first href)
      date: ".datum"                      # text with a date, cue words decide its role
      summary: "p.ingress"
      next_page: "a.next::attr(href)"     # followed up to max_pages
      link_pattern: "utlysning|ansok|call"  # keep only links matching this regex
      empty_text: "Inga aktuella utlysningar"  # an honestly empty page, not a layout change
      detail:                             # each item's page (optional)
        deadline: ".fakta"                # also: title, summary, description, opens, budget, regions
      programme: ESF-SE
      language: sv

A layout change shows: when the ``item`` selector matches nothing on the first page (and
``empty_text`` does not match), or none of the items has a title, the spider logs an error,
adds 1 to the crawler stat ``bevaka/selector_misses`` and records a fatal error, so the
source's CrawlRun is ``failed`` with the message "item selector ... matched nothing" (or
"none of the N items ... has a title"). On a later page the same is a non-fatal error.
"""

from __future__ import annotations

import re
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse

from crawler import textparse
from crawler.extract import (
    extract_first,
    extract_text,
    extract_texts,
    keep,
    links_in,
    select,
    stable_id,
    title_id,
)
from crawler.items import CallItem
from crawler.options import ListingOptions, checked_options
from crawler.spiders.base import DetailPageSpider

SELECTOR_MISSES = "bevaka/selector_misses"
FIELD_MISSES = "bevaka/field_misses/{field}"
TZ = textparse.STOCKHOLM


class ListingSpider(DetailPageSpider):
    name = "listing"
    kinds = ("listing",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.opts: ListingOptions = checked_options("listing", self.options, source=self.source_key)
        self.seen_ids: set[str] = set()
        self.yielded = 0
        self.filtered = 0
        self.untitled = 0
        self._link_re = re.compile(self.opts.link_pattern, re.I) if self.opts.link_pattern else None

    async def start(self) -> Any:  # Scrapy >= 2.13
        for request in self.start_requests():
            yield request

    def start_requests(self):
        # dont_filter: see FeedSpider.start_requests (redirect loops must fail the source).
        for url in self.source.all_urls:
            yield scrapy.Request(
                url,
                callback=self.parse,
                errback=self.on_fatal_error,
                cb_kwargs={"page": 1},
                dont_filter=True,
            )

    # --- stats -------------------------------------------------------------------------

    def _stat(self, key: str) -> None:
        crawler = getattr(self, "crawler", None)
        if crawler is not None and crawler.stats is not None:
            crawler.stats.inc_value(key)

    def selector_miss(self, response: Response, page: int) -> None:
        message = (
            f"item selector {self.opts.item!r} matched nothing on {response.url} "
            "(has the page layout changed? mend the selector and run "
            f"`bevaka sources check {self.source_key}`)"
        )
        self._stat(SELECTOR_MISSES)
        self.logger.error(message)
        self.note_error(message, fatal=page == 1)

    # --- parsing -----------------------------------------------------------------------

    def parse(self, response: Response, page: int = 1, **_: Any):
        self.pages += 1
        if not isinstance(response, TextResponse):
            self.note_error(f"not an HTML page: {response.url}", fatal=page == 1)
            return
        nodes = select(response, self.opts.item)
        if not nodes:
            page_text = textparse.html_to_text(response.text)
            if self.opts.empty_text and re.search(self.opts.empty_text, page_text, re.I):
                self.logger.info("listing %s is empty (empty_text matched)", response.url)
            else:
                self.selector_miss(response, page)
            return
        untitled_before = self.untitled
        for node in nodes:
            if self.yielded >= self.opts.max_items:
                break
            item = self.item_from(node, response)
            if item is None:
                continue
            if self.opts.detail is not None and item.url != response.url:
                yield self.detail_request(item)
            else:
                yield item
        if self.untitled - untitled_before == len(nodes):
            message = (
                f"none of the {len(nodes)} items on {response.url} has a title "
                f"(title selector {self.opts.title or '(default)'!r}; has the layout changed?)"
            )
            self._stat(SELECTOR_MISSES)
            self.logger.error(message)
            self.note_error(message, fatal=page == 1)
        if (
            self.opts.next_page
            and page < self.opts.max_pages
            and self.yielded < self.opts.max_items
        ):
            href = extract_first(response, self.opts.next_page)
            url = textparse.safe_http_url(href, response.url) if href else None
            if url and url != response.url:
                yield scrapy.Request(
                    url,
                    callback=self.parse,
                    errback=self.on_soft_error,
                    cb_kwargs={"page": page + 1},
                )

    def _default_link(self, node: Any) -> str | None:
        return node.xpath("@href").get() or node.xpath(".//a/@href").get()

    def _default_title(self, node: Any) -> str | None:
        for query in (".//h1|.//h2|.//h3|.//h4", ".//a", "."):
            found = node.xpath(query)
            if found:
                text = textparse.html_to_text(found[0].get())
                if text:
                    return text.split("\n", 1)[0]
        return None

    def item_from(self, node: Any, response: Response) -> CallItem | None:
        opts = self.opts
        href = extract_first(node, opts.link) if opts.link else self._default_link(node)
        if opts.link and not href:
            self._stat(FIELD_MISSES.format(field="link"))
        url = textparse.safe_http_url(href, response.url) if href else None
        if self._link_re is not None and (url is None or not self._link_re.search(url)):
            self.filtered += 1
            return None
        if opts.title:
            titles = extract_texts(node, opts.title)
            title = titles[0] if titles else None
        else:
            title = self._default_title(node)
        title = textparse.clean_text(title, multiline=False) if title else ""
        if not title:
            self.untitled += 1
            self._stat(FIELD_MISSES.format(field="title"))
            self.logger.warning("an item on %s has no title; skipped", response.url)
            return None
        summary = extract_text(node, opts.summary)
        if not keep(f"{title}\n{summary or ''}", opts.include, opts.exclude):
            self.filtered += 1
            return None
        external_id = stable_id(url) if url else title_id(title)
        if external_id in self.seen_ids:
            return None
        self.seen_ids.add(external_id)
        item_text = textparse.html_to_text(node.get())
        date_text = extract_text(node, opts.date) if opts.date else item_text
        role = opts.date_role or ("published" if self.source.call_kind == "news" else "deadline")
        found = textparse.find_dates(
            date_text, tz=TZ, now=self.now, default=role if opts.date else None
        )
        extra: dict[str, Any] = {}
        if found["published"]:
            extra["published"] = found["published"].isoformat()
        links = [u for u in links_in(node, response.url) if u != url]
        if links:
            extra["links"] = links
        self.yielded += 1
        return CallItem(
            source=self.source_key,
            external_id=external_id,
            url=url or response.url,
            title=title,
            summary=summary,
            programme=opts.programme,
            kind=self.source.call_kind,
            opens_at=found["opens_at"],
            deadlines=list(found["deadlines"]),
            language=opts.language,
            extra=extra,
        )
