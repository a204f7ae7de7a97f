"""Tillväxtverket: the RSS feed of calls plus each call's detail page.

The feed ("Tillväxtverkets senaste utlysningar", a Sitevision portlet, RSS 2.0) gives title,
link and publication date only; it is handed to feedparser as bytes in a stream, never as
a string it could take for a path or URL to open. Each detail page has the title (h1), then
a bullet list with the status and date ("Öppnar 1 februari 2027", "Stänger 12 september
2027", "Stängd 12 september 2023") and the regions ("Västra Götaland", "Region Gotland"),
then fixed sections. Sitevision puts a heading and its text in separate portlets
(``div.sv-text-portlet``), so a section is read from the page's headings and text blocks in
document order, not from siblings. The budget is free text under "Hur mycket kan ni få i
stöd?": the call's total ("Totalt fördelas 57,7 miljoner") is the budget, a cap per project
("högst 744 000 kr per förstudie") is kept as ``extra.max_contribution`` (see
crawler/amounts.py). A page that says only "Öppnar 12 augusti 2024" is forthcoming until
that day and open, with an unknown deadline, after it. The regions stay on the call
(``regions``) for the matcher. The stable id is the Sitevision number at the end of the URL
(``…/smartomstallning.4708.html`` → 4708).

A detail page that cannot be fetched or read costs an error (a ``detail_failures`` on the
CrawlRun), and the call is stored from the feed alone. Options: ``programme`` (default
ERUF), ``max_items``, ``fetch_details`` (default true), ``download_delay``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser
import scrapy

from crawler import textparse
from crawler.amounts import budget_amounts
from crawler.items import CallItem
from crawler.spiders.base import BevakaSpider
from crawler.spiders.feed import utf8_feed

REGIONS = (
    "Blekinge", "Dalarna", "Gotland", "Gävleborg", "Halland", "Jämtland", "Jönköping",
    "Kalmar", "Kronoberg", "Norrbotten", "Skåne", "Stockholm", "Södermanland", "Uppsala",
    "Värmland", "Västerbotten", "Västernorrland", "Västmanland", "Västra Götaland", "Örebro",
    "Östergötland", "Hela Sverige", "Norra Mellansverige", "Mellersta Norrland",
    "Övre Norrland", "Östra Mellansverige", "Småland och öarna", "Sydsverige", "Västsverige",
)  # fmt: skip
_STATUS_WORDS = re.compile(
    r"(?P<closed>stängd)|(?P<open>öppen|stänger|sista ansökningsdag)|(?P<forthcoming>öppnar|planerad|kommande)",
    re.IGNORECASE,
)
_BUDGET_HEADING = re.compile(r"hur mycket|budget|stödbelopp|vad kan ni få", re.IGNORECASE)
MAX_LINKS = 200


def _status_hint(text: str) -> str | None:
    match = _STATUS_WORDS.search(text)
    return match.lastgroup if match else None


class TillvaxtverketSpider(BevakaSpider):
    name = "tillvaxtverket"
    kinds = ("tillvaxtverket",)

    def feed_request(self) -> scrapy.Request:
        return scrapy.Request(
            self.source.url or "",
            callback=self.parse_feed,
            errback=self.on_fatal_error,
            dont_filter=True,
        )

    async def start(self) -> Any:
        yield self.feed_request()

    def start_requests(self) -> Iterator[scrapy.Request]:  # Scrapy < 2.13
        yield self.feed_request()

    # --- feed -----------------------------------------------------------------------

    def parse_feed(self, response, **kwargs: Any) -> Iterator[Any]:
        self.pages += 1
        # bytes in a stream: given a str or bytes, feedparser opens what looks like a path
        feed = feedparser.parse(
            io.BytesIO(utf8_feed(response.body, response.headers.get("Content-Type", b""))),
            response_headers={"content-type": "application/xml; charset=utf-8"},
            resolve_relative_uris=False,
            sanitize_html=True,
        )
        if not feed.entries and (feed.bozo or not feed.get("feed")):
            reason = getattr(feed, "bozo_exception", None) or "no RSS channel"
            raise ValueError(f"not an RSS feed: {reason}")
        max_items = int(self.option("max_items", 100))
        feed_host = urlsplit(response.url).hostname or ""
        for entry in feed.entries[:max_items]:
            item = self.feed_item(entry, response.url)
            if self.option("fetch_details", True) and self.may_follow(item.url, feed_host):
                yield scrapy.Request(
                    item.url,
                    callback=self.parse_detail,
                    errback=self.detail_failed,
                    cb_kwargs={"item": item},
                )
            else:
                yield item

    @staticmethod
    def may_follow(url: str, feed_host: str) -> bool:
        """Detail pages are fetched only on the feed's own site (or tillvaxtverket.se)."""
        if not url.startswith(("http://", "https://")):
            return False
        host = urlsplit(url).hostname or ""
        return (
            host == feed_host or host == "tillvaxtverket.se" or host.endswith(".tillvaxtverket.se")
        )

    def feed_item(self, entry: Any, base: str) -> CallItem:
        link = textparse.safe_http_url(entry.get("link") or entry.get("id"), base) or str(
            entry.get("link") or ""
        )
        external_id = textparse.sitevision_id(link) or entry.get("id") or link
        published = entry.get("published") or entry.get("updated")
        return CallItem(
            source=self.source_key,
            external_id=str(external_id),
            url=link,
            title=str(entry.get("title") or ""),
            summary=entry.get("summary") or None,
            programme=self.option("programme", "ERUF"),
            kind=self.source.call_kind,
            language="sv",
            extra={"published": published} if published else {},
        )

    # --- detail page ------------------------------------------------------------------

    def parse_detail(self, response, item: CallItem) -> Iterator[CallItem]:
        self.pages += 1
        try:
            self.enrich(response, item)
        except Exception as exc:  # odd markup loses detail, not the call
            self.note_detail_failure(
                f"detail page {response.url} unreadable: {exc.__class__.__name__}: {exc}"
            )
        yield item

    def detail_failed(self, failure) -> Iterator[CallItem]:
        item = failure.request.cb_kwargs["item"]
        self.note_detail_failure(
            f"detail page of {item.external_id}: {self.describe_failure(failure)}"
        )
        yield item

    def enrich(self, response, item: CallItem) -> None:
        if not hasattr(response, "xpath"):
            raise ValueError("not an HTML page")
        main = response.xpath("//main") or response.xpath("//article") or response.xpath("//body")
        if not main:
            raise ValueError("no page content")
        main = main[0]
        title = " ".join(main.xpath("(.//h1)[1]//text()").getall()).strip()
        if title:
            item.title = title
        bullets = [
            " ".join(li.xpath(".//text()").getall()).strip()
            for li in main.xpath("(.//h1)[1]/following::ul[1]/li")
        ]
        date_bullets = [b for b in bullets if _status_hint(b) or textparse.find_dates(b)["dates"]]
        item.regions = [b for b in bullets if b not in date_bullets and self.is_region(b)]
        # a date without a year is dated by the feed entry's own publication date, never by
        # the crawl's day (without one it is skipped: never invent a year)
        anchor = _published_on(item.extra.get("published"))
        dates = textparse.find_dates(" \n".join(date_bullets), anchor=anchor)
        if not dates["deadlines"] and not dates["opens_at"]:
            page_text = textparse.html_to_text(main.get())
            dates = textparse.find_dates(page_text, anchor=anchor)
        item.deadlines = list(dates["deadlines"])
        item.opens_at = dates["opens_at"]
        item.status = self.status_hint(
            " ".join(date_bullets), dates["opens_at"], bool(dates["deadlines"])
        )
        lead = main.xpath("(.//h1)[1]/following::p[1]")
        if lead:
            item.summary = lead[0].get()
        item.budget_text = self.budget_section(main)
        total, per_project = budget_amounts(item.budget_text)
        item.budget = total
        item.currency = "SEK" if total else None
        item.extra["budget_scope"] = "total" if total else ("per_project" if per_project else None)
        if per_project:
            item.extra["max_contribution"] = per_project
        item.description = main.get()
        links = []
        for href in main.xpath(".//a/@href").getall()[:MAX_LINKS]:
            url = textparse.safe_http_url(href, response.url)
            if url:
                links.append(url)
        item.extra["links"] = links
        item.extra["detail"] = True

    @staticmethod
    def is_region(text: str) -> bool:
        if any(text.lower() == r.lower() for r in REGIONS):
            return True
        return 0 < len(text) <= 40 and not any(ch.isdigit() for ch in text)

    def status_hint(self, bullets: str, opens_at, has_deadline: bool) -> str | None:
        """The status the bullets say, as of the crawl's now: "Öppnar 12 augusti 2024" with no
        closing date is forthcoming until that day and open (deadline unknown) after it."""
        hint = _status_hint(bullets) if bullets else None
        if hint == "forthcoming" and not has_deadline and opens_at is not None:
            opened = textparse.parse_date_any(opens_at)
            if opened is not None and opened <= self.now:
                return "open"
        return hint

    @staticmethod
    def budget_section(main) -> str | None:
        """The text under the budget heading, up to the next heading. Headings and text
        blocks are taken in document order: Sitevision keeps a heading and its text in
        separate portlets, so they are not siblings."""
        blocks = main.xpath(".//h2|.//h3|.//h4|.//p|.//li")
        for index, heading in enumerate(blocks):
            if heading.root.tag not in ("h2", "h3", "h4"):
                continue
            if not _BUDGET_HEADING.search(" ".join(heading.xpath(".//text()").getall())):
                continue
            parts = []
            for block in blocks[index + 1 :]:
                if block.root.tag in ("h2", "h3", "h4"):
                    break
                if block.root.tag == "p" and block.xpath("ancestor::li"):
                    continue  # inside a list item already taken
                parts.append(" ".join(block.xpath(".//text()").getall()))
            text = textparse.clean_text(" ".join(parts), multiline=False)
            return text or None
        return None


def _published_on(value: Any) -> datetime | None:
    """The feed entry's publication time (RFC 822, as RSS sends it), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        published = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return published if published.tzinfo else published.replace(tzinfo=UTC)
