"""``kind: listing``: an HTML page listing calls (or news, or describing one call), driven
entirely by config.

Only ``url`` is needed. Without an ``item`` selector the calls are found without selectors
(:mod:`crawler.pages`): headings whose section names an application date, else links in
the main content that look like calls, else the page itself when it describes one call.
Each call's own page is then fetched (``follow_links``) and its main text read. Selectors
(validated by :class:`crawler.options.ListingOptions`) override where a site needs it::

    options:
      link_pattern: "utlysning|ansok|call"  # auto mode: only links matching (RE2)
      find: auto                          # or sections | links | page
      item: "article.utlysning"           # selector mode: one match per call
      title: "h2"                         # inside the item (default: heading/link text)
      link: "a::attr(href)"               # inside the item (default: its own/first href)
      date: ".datum"                      # text with a date, cue words decide its role
      summary: "p.ingress"
      next_page: "a.next::attr(href)"     # followed up to max_pages
      empty_text: "Inga aktuella utlysningar"  # an honestly empty page, not a layout change
      detail:                             # selectors on each item's page (optional)
        deadline: ".fakta"                # also: title, summary, description, opens, budget, regions
      programme: ESF-SE
      language: sv

Dates: a yearless date takes its year from the page (a heading "Under 2021", the page's
publication date), never from the crawl's day; an item's own dates are never replaced by
different ones read on its page (which may be a generic programme page).

A layout change shows: when nothing is found on the first page (no ``item`` match, or in
auto mode no call at all) and ``empty_text`` does not match, or none of the items has a
title, the spider logs an error, adds 1 to the crawler stat ``bevaka/selector_misses`` and
records a fatal error, so the source's CrawlRun is ``failed``. On a later page the same is
a non-fatal error.
"""

from __future__ import annotations

from typing import Any

import scrapy
from scrapy.http import Response, TextResponse

from crawler import pages, textparse
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
from crawler.options import ListingOptions, checked_options, compile_pattern
from crawler.spiders.base import DetailPageSpider, set_dates

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
        self.untitled = 0
        self._link_re = compile_pattern(self.opts.link_pattern) if self.opts.link_pattern else None
        self._empty_re = compile_pattern(self.opts.empty_text) if self.opts.empty_text else None

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

    def _is_empty(self, response: TextResponse) -> bool:
        if self._empty_re is None:
            return False
        return self._empty_re.search(textparse.html_to_text(response.text)) is not None

    def _follow(self, item: CallItem, response: Response, own_page: bool = True) -> bool:
        if item.url == response.url or not own_page:
            return False
        if self.opts.follow_links is not None:
            return self.opts.follow_links
        return self.opts.detail is not None or self.opts.item is None

    def _emit(self, item: CallItem, response: Response, *, own_page: bool = True):
        """The item, or the request for its own page; an item that fails the include
        words is kept only when its page is fetched (they may name them there)."""
        follow = self._follow(item, response, own_page)
        if not self.passes_include(item):
            if not follow:
                return None
            item.extra["_include_pending"] = True
        self.yielded += 1
        return self.detail_request(item) if follow else item

    def parse(self, response: Response, page: int = 1, **_: Any):
        self.pages += 1
        if not isinstance(response, TextResponse):
            self.note_error(f"not an HTML page: {response.url}", fatal=page == 1)
            return
        if self.opts.item is None:
            yield from self.parse_auto(response, page)
            yield from self._next_page(response, page)
            return
        nodes = select(response, self.opts.item)
        if not nodes:
            if self._is_empty(response):
                self.logger.info("listing %s is empty (empty_text matched)", response.url)
            else:
                self.selector_miss(response, page)
            return
        anchor = pages.published_date(response)
        untitled_before = self.untitled
        for node in nodes:
            if self.yielded >= self.opts.max_items:
                break
            item = self.item_from(node, response, anchor)
            if item is None:
                continue
            out = self._emit(item, response)
            if out is not None:
                yield out
        if self.untitled - untitled_before == len(nodes):
            message = (
                f"none of the {len(nodes)} items on {response.url} has a title "
                f"(title selector {self.opts.title or '(default)'!r}; has the layout changed?)"
            )
            self._stat(SELECTOR_MISSES)
            self.logger.error(message)
            self.note_error(message, fatal=page == 1)
        yield from self._next_page(response, page)

    def _next_page(self, response: TextResponse, page: int):
        """The request for the listing's next page (``next_page``, up to ``max_pages``)."""
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

    def parse_auto(self, response: TextResponse, page: int):
        """Auto mode: the calls :func:`crawler.pages.find_calls` finds on the page."""
        found, info = pages.find_calls(
            response.text, response.url, strategy=self.opts.find, pattern=self._link_re
        )
        if not found:
            if self._is_empty(response):
                self.logger.info("listing %s is empty (empty_text matched)", response.url)
                return
            message = (
                f"no calls found on {response.url} (no heading with application dates, no "
                "link that looks like a call, and the page itself names no application "
                f"date; see `bevaka sources suggest {response.url}`, or set link_pattern "
                "or item selectors)"
            )
            self._stat(SELECTOR_MISSES)
            self.logger.error(message)
            self.note_error(message, fatal=page == 1)
            return
        self.logger.info("%s: %d call(s) found by %s", response.url, len(found), info["strategy"])
        for call in found:
            if self.yielded >= self.opts.max_items:
                break
            title = textparse.clean_text(call.title, multiline=False)
            external_id = (
                stable_id(call.url)
                if call.own_page
                else (stable_id(call.url) if call.strategy == "page" else title_id(title))
            )
            if external_id in self.seen_ids:
                continue
            self.seen_ids.add(external_id)
            text = textparse.clean_text(call.text)
            item = CallItem(
                source=self.source_key,
                external_id=external_id,
                url=call.url,
                title=title,
                summary=(text[: pages.MAX_SUMMARY] or None) if call.strategy == "links" else None,
                description=text or None if call.strategy != "links" else None,
                programme=self.opts.programme,
                kind=self.source.call_kind,
                language=self.opts.language,
                budget_text=pages.budget_text(text) if call.strategy != "links" else None,
            )
            set_dates(item, call.dates, now=self.now, news=self.source.call_kind == "news")
            if info["published"] is not None:
                item.extra["page_published"] = info["published"].isoformat()
            out = self._emit(item, response, own_page=call.own_page)
            if out is not None:
                yield out

    def item_from(self, node: Any, response: Response, anchor: Any = None) -> CallItem | None:
        opts = self.opts
        href = extract_first(node, opts.link) if opts.link else self._default_link(node)
        if opts.link and not href:
            self._stat(FIELD_MISSES.format(field="link"))
        url = textparse.safe_http_url(href, response.url) if href else None
        if self._link_re is not None and (url is None or not self._link_re.search(url)):
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
        if not keep(f"{title}\n{summary or ''}", [], opts.exclude):
            return None
        external_id = stable_id(url) if url else title_id(title)
        if external_id in self.seen_ids:
            return None
        self.seen_ids.add(external_id)
        item_text = textparse.html_to_text(node.get())
        date_text = extract_text(node, opts.date) if opts.date else item_text
        role = opts.date_role or ("published" if self.source.call_kind == "news" else "deadline")
        found = textparse.find_dates(
            date_text, tz=TZ, anchor=anchor, default=role if opts.date else None
        )
        extra: dict[str, Any] = {}
        links = [u for u in links_in(node, response.url) if u != url]
        if links:
            extra["links"] = links
        item = CallItem(
            source=self.source_key,
            external_id=external_id,
            url=url or response.url,
            title=title,
            summary=summary,
            programme=opts.programme,
            kind=self.source.call_kind,
            language=opts.language,
            extra=extra,
        )
        set_dates(item, found, now=self.now, news=self.source.call_kind == "news")
        return item
