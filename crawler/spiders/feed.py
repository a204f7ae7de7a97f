"""``kind: feed``: an RSS or Atom feed, read with feedparser, driven entirely by config.

One CallItem per entry: external id from the guid/id (a Sitevision id or the URL's path when
the guid is a URL), else the link; title; link (http(s) only); summary (HTML made plain
text; WordPress's ``content:encoded``, when given, is the description and is read for
dates and links too); the published date;
dates named in the text ("Sista ansökningsdag 15 mars 2027", a yearless one anchored to
the entry's own date); the ``include`` words are looked for in the entry and, with
``follow_links``, in its page;
``kind`` from the source's ``call_kind`` (``news`` for SKR). Options
(:class:`crawler.options.FeedOptions`)::

    options:
      include: [utlysning, EU-medel, fonder, EU-program]   # keep only entries naming one
      exclude: [pressmeddelande]
      follow_links: true          # fetch each entry's page: its main text is the description
      detail:                     # ... or read these selectors there
        deadline: ".fakta"
        budget: "xpath://h2[contains(., 'Hur mycket')]/following-sibling::p[1]"
      programme: ESF-SE
      language: sv

A response that is not a feed (HTML, garbage, truncated XML without entries) is a fatal
error: the source's CrawlRun is ``failed`` with the parser's message.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import feedparser
import scrapy
from parsel import Selector
from scrapy.http import Response

from crawler import textparse
from crawler.extract import keep, links_in, stable_id
from crawler.items import CallItem
from crawler.options import FeedOptions, checked_options
from crawler.spiders.base import DetailPageSpider, set_dates

TZ = textparse.STOCKHOLM


def _struct_to_utc(value: Any) -> datetime | None:
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


_XML_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([A-Za-z0-9._-]+)(["'])""")
_CHARSET = re.compile(rb"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)


def utf8_feed(body: bytes, content_type: bytes = b"") -> bytes:
    """The feed as UTF-8, decoded in its declared charset (HTTP header, then the XML
    declaration, else UTF-8) with invalid bytes replaced. Left to itself, feedparser re-decodes
    a whole feed in a guessed charset when one entry holds invalid bytes, garbling every
    å, ä and ö in the others."""
    declared = _CHARSET.search(content_type or b"") or None
    xml_decl = _XML_ENCODING.match(body[:200])
    name = (declared.group(1) if declared else xml_decl.group(2) if xml_decl else b"utf-8").decode(
        "ascii"
    )
    try:
        text = body.decode(name, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    data = text.encode("utf-8")
    if xml_decl:
        data = _XML_ENCODING.sub(rb"\g<1>utf-8\g<3>", data, count=1)
    return data


class FeedSpider(DetailPageSpider):
    name = "feed"
    kinds = ("feed",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.opts: FeedOptions = checked_options("feed", self.options, source=self.source_key)
        self.seen_ids: set[str] = set()
        self.yielded = 0

    async def start(self) -> Any:  # Scrapy >= 2.13
        for request in self.start_requests():
            yield request

    def start_requests(self):
        # dont_filter: a redirect back to a start URL must reach RedirectMiddleware's limit
        # (and so the errback) instead of being dropped silently by the duplicate filter.
        for url in self.source.all_urls:
            yield scrapy.Request(
                url, callback=self.parse, errback=self.on_fatal_error, dont_filter=True
            )

    def parse(self, response: Response, **_: Any):
        self.pages += 1
        # Bytes in a stream: feedparser would treat a str/bytes that looks like a path or URL
        # as something to open or fetch.
        parsed = feedparser.parse(
            io.BytesIO(utf8_feed(response.body, response.headers.get("Content-Type", b""))),
            response_headers={"content-type": "application/xml; charset=utf-8"},
            resolve_relative_uris=False,
            sanitize_html=True,
        )
        entries = list(parsed.get("entries") or [])
        if not entries and (parsed.get("bozo") or not parsed.get("version")):
            reason = parsed.get("bozo_exception") or "no RSS or Atom feed found"
            self.logger.error("not a feed: %s (%s)", response.url, reason)
            self.note_error(f"not a valid RSS/Atom feed at {response.url}: {reason}", fatal=True)
            return
        if parsed.get("bozo"):
            self.logger.warning(
                "feed %s is not well-formed (%s); read what could be read",
                response.url,
                parsed.get("bozo_exception"),
            )
        for entry in entries:
            if self.yielded >= self.opts.max_items:
                break
            item = self.item_from(entry, response.url)
            if item is None:
                continue
            if self.opts.follow_links:
                yield self.detail_request(item)
            else:
                yield item

    def item_from(self, entry: Any, feed_url: str) -> CallItem | None:
        opts = self.opts
        link = textparse.safe_http_url(entry.get("link"), feed_url)
        title = textparse.clean_text(
            textparse.html_to_text(entry.get("title") or ""), multiline=False
        )
        if not title or not link:
            self.logger.warning("feed entry without a title or http(s) link skipped (%s)", feed_url)
            return None
        content_html = ""
        if entry.get("content"):
            content_html = entry["content"][0].get("value") or ""
        summary_html = entry.get("summary") or content_html
        summary = textparse.html_to_text(summary_html) or None
        # WordPress's content:encoded is the whole post: the description, and where its
        # dates are ("not later than 30 March" is in the post, not in the excerpt)
        content = textparse.html_to_text(content_html) if content_html else None
        description = content if content and content != summary else None
        if not keep(f"{title}\n{summary or ''}", [], opts.exclude):
            return None
        guid = textparse.clean_text(str(entry.get("id") or ""), multiline=False)
        if guid and textparse.safe_http_url(guid):
            external_id = stable_id(guid)
        else:
            external_id = guid or stable_id(link)
        if external_id in self.seen_ids:
            return None
        published = _struct_to_utc(entry.get("published_parsed") or entry.get("updated_parsed"))
        found = textparse.find_dates(
            "\n".join(p for p in (title, summary, description) if p), tz=TZ, anchor=published
        )
        extra: dict[str, Any] = {}
        linked_html = content_html or summary_html
        if linked_html and "<" in linked_html:
            links = links_in(Selector(text=linked_html[: textparse.MAX_INPUT_CHARS]), link)
            if links:
                extra["links"] = links
        keywords = [
            textparse.clean_text(t.get("term") or "", multiline=False)
            for t in (entry.get("tags") or [])[:50]
        ]
        item = CallItem(
            source=self.source_key,
            external_id=external_id,
            url=link,
            title=title,
            summary=summary,
            description=description,
            keywords=[k for k in keywords if k],
            programme=opts.programme,
            kind=self.source.call_kind,
            language=opts.language or (entry.get("language") or None),
            extra=extra,
        )
        set_dates(item, found, now=self.now, news=self.source.call_kind == "news")
        if published is not None:
            item.extra["published"] = published.isoformat()
        if not self.passes_include(item):
            if not opts.follow_links:
                return None
            item.extra["_include_pending"] = True  # its page may name the words
        self.seen_ids.add(external_id)
        self.yielded += 1
        return item
