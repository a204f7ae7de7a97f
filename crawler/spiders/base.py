"""The base of every Bevaka spider.

A spider is built for one source entry of config/sources.yaml. The runner passes the entry
(``source=SourceEntry``); from the command line ``scrapy crawl eu_portal`` or
``scrapy crawl feed -a source=esf_nyheter`` looks the entry up in the config (``BEVAKA_CONFIG``).
Spiders yield :class:`crawler.items.CallItem`; the pipelines normalise, validate and store.

Errors: a request whose failure means the source could not be read (a listing, a feed, a
search page) uses ``errback=self.on_fatal_error``; one whose failure only loses detail
(a detail page) uses ``errback=self.on_soft_error`` or handles it itself and calls
:meth:`note_error`. An exception in a callback (e.g. garbage instead of JSON) is fatal.
A fatal error makes the source's CrawlRun ``failed``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import scrapy
from scrapy import signals
from twisted.python.failure import Failure

from config.schema import SourceEntry

MAX_ERROR_MESSAGES = 100


@cache
def extraction_code_hash() -> str:
    """A hash of the code that turns a raw record into a stored call (the spiders, the
    pipelines, the text parsers, the record model and how it is stored): part of every
    fingerprint, so that a new version re-reads every record once instead of skipping it."""
    root = Path(__file__).resolve().parents[2]
    crawler = root / "crawler"
    files = sorted((crawler / "spiders").glob("*.py")) + [
        crawler / name
        for name in (
            "amounts.py",
            "extract.py",
            "items.py",
            "options.py",
            "pages.py",
            "pipelines.py",
            "textparse.py",
        )
    ]
    files += [root / "storage" / name for name in ("records.py", "repo.py")]
    files.append(root / "config" / "programmes.py")
    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class BevakaSpider(scrapy.Spider):
    #: the source kinds (config ``kind``) this spider serves
    kinds: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _configured_source(cls, key: str | None) -> SourceEntry:
        """The sources.yaml entry for ``scrapy crawl NAME [-a source=KEY]``; a clear error
        naming the fitting keys (or the spider to use) when there is none."""
        from config.loader import load_config

        entries = {s.key: s for s in load_config().sources.sources}
        fitting = ", ".join(k for k, s in entries.items() if s.kind in cls.kinds) or "none"
        if key is None:
            if cls.name not in entries:
                raise ValueError(
                    f"spider {cls.name!r} needs -a source=KEY; its sources in sources.yaml: "
                    f"{fitting}"
                )
            key = cls.name
        if key not in entries:
            raise ValueError(f"no source {key!r} in sources.yaml; {cls.name} sources: {fitting}")
        entry = entries[key]
        if entry.kind not in cls.kinds:
            raise ValueError(
                f"source {key!r} is a {entry.kind} source: run `scrapy crawl {entry.kind} "
                f"-a source={key}` (the {cls.name} spider's sources: {fitting})"
            )
        return entry

    def __init__(self, source: SourceEntry | str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if source is None or isinstance(source, str):
            source = self._configured_source(source)
        if source.kind not in self.kinds:
            raise ValueError(
                f"source {source.key!r} is of kind {source.kind!r}, not one of {self.kinds}"
            )
        self.source: SourceEntry = source
        self.options: dict[str, Any] = dict(source.options)
        self.errors: int = 0
        self.first_error: str | None = None
        #: every error's message (the first MAX_ERROR_MESSAGES), for `bevaka sources check`
        self.error_messages: list[str] = []
        self.fatal: bool = False
        self.pages: int = 0
        #: optional fetches (detail pages, detail JSON) that failed: the call is stored
        #: from what the listing said; counted on the CrawlRun (``stats.detail_failures``)
        self.detail_failures: int = 0
        #: external id -> fingerprint of the calls this crawl may skip when their raw record
        #: is the same (set by the store pipeline; empty when not storing)
        self.skippable: dict[str, str] = {}
        self.skipped: int = 0
        self._salt = (
            extraction_code_hash()
            + json.dumps(source.model_dump(mode="json"), sort_keys=True, default=str)
        ).encode()

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_spider_error, signal=signals.spider_error)
        delay = spider.options.get("download_delay")
        if delay is not None and crawler.settings.getbool("BEVAKA_POLITE", True):
            spider.download_delay = float(delay)
        return spider

    @property
    def source_key(self) -> str:
        return self.source.key

    @property
    def now(self) -> datetime:
        """The crawl's "now": ``BEVAKA_NOW`` when set (tests), else the clock (UTC)."""
        settings = getattr(self, "settings", None)
        value = settings.get("BEVAKA_NOW") if settings is not None else None
        if value:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return datetime.now(UTC)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    # --- unchanged records ---------------------------------------------------------------

    def fingerprint(self, *raw: Any) -> str:
        """A fingerprint of a raw record (JSON-like values) as the source sent it, salted with
        the extraction code and this source's config: the same means the same stored call."""
        digest = hashlib.blake2b(self._salt, digest_size=32)
        digest.update(json.dumps(raw, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def unchanged(self, external_id: str, fingerprint: str) -> bool:
        """True (and counted as seen and unchanged) when the call was stored from a raw
        record with this very fingerprint and nothing else would change: skip it."""
        if self.skippable.get(external_id) == fingerprint:
            self.skipped += 1
            return True
        return False

    # --- errors ------------------------------------------------------------------------

    def note_error(self, message: str, *, fatal: bool = False) -> None:
        """Count an error (the first one is kept for the CrawlRun); ``fatal`` fails the run."""
        self.errors += 1
        if self.first_error is None:
            self.first_error = message[:1000]
        if len(self.error_messages) < MAX_ERROR_MESSAGES:
            self.error_messages.append(message[:1000])
        if fatal:
            self.fatal = True
        self.logger.warning("%s: %s", "fatal" if fatal else "error", message)

    def note_detail_failure(self, message: str) -> None:
        """An optional fetch failed: an error, and one more ``detail_failures``."""
        self.detail_failures += 1
        self.note_error(message)

    def describe_failure(self, failure: Failure) -> str:
        from scrapy.spidermiddlewares.httperror import HttpError

        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if failure.check(HttpError):
            return f"HTTP {failure.value.response.status} from {url}"
        exc = failure.value
        if exc.__class__.__name__ == "DownloadCancelledError" and not str(exc):
            # Scrapy cancels a body that outgrows DOWNLOAD_MAXSIZE without saying so.
            crawler = getattr(self, "crawler", None)
            limit = crawler.settings.getint("DOWNLOAD_MAXSIZE") if crawler else 0
            return (
                f"download cancelled: response size over crawl.max_response_bytes "
                f"({limit} bytes) ({url})"
            )
        text = str(exc) or exc.__class__.__name__
        return f"{exc.__class__.__name__}: {text} ({url})"

    def on_fatal_error(self, failure: Failure) -> None:
        self.note_error(self.describe_failure(failure), fatal=True)

    def on_soft_error(self, failure: Failure) -> None:
        self.note_error(self.describe_failure(failure))

    def _on_spider_error(self, failure: Failure, response, spider) -> None:
        if spider is not self:
            return
        exc = failure.value
        self.note_error(
            f"{exc.__class__.__name__} while parsing {response.url}: {str(exc)[:300]}",
            fatal=True,
        )


class DetailPageSpider(BevakaSpider):
    """A config-driven spider (feed, listing) that may follow each item to its own page and
    read more fields there with the ``detail`` selectors of its options (``self.opts``)."""

    def detail_request(self, item) -> scrapy.Request:
        """The request for an item's own page; the item is yielded from its callback."""
        return scrapy.Request(
            item.url,
            callback=self.parse_detail,
            errback=self.detail_failed,
            cb_kwargs={"item": item},
            # items are deduplicated by external id; two items sharing a page must both
            # get their detail, not be dropped by Scrapy's duplicate filter
            dont_filter=True,
        )

    def passes_include(self, item) -> bool:
        """The ``include`` words: in the title, summary or description (the item's own
        page's text, once read)."""
        from crawler.extract import keep

        include = self.opts.include
        if not include:
            return True
        text = "\n".join(p for p in (item.title, item.summary, item.description) if p)
        return keep(text, include, [])

    def parse_detail(self, response, item):
        from scrapy.http import TextResponse

        from crawler import pages
        from crawler.extract import detail_fields
        from crawler.textparse import STOCKHOLM

        self.pages += 1
        if isinstance(response, TextResponse):
            anchor = pages.published_date(response) or _published(item)
            if self.opts.detail is not None:
                fields = detail_fields(response, self.opts.detail, tz=STOCKHOLM, anchor=anchor)
            else:
                fields = auto_detail_fields(response, anchor)
            apply_detail(item, fields, now=self.now)
            if fields.get("links"):
                merged = [*item.extra.get("links", []), *fields["links"]]
                item.extra["links"] = list(dict.fromkeys(merged))[:200]
        if item.extra.pop("_include_pending", False) and not self.passes_include(item):
            return
        yield item

    def detail_failed(self, failure):
        """A detail page that fails loses only detail: the item from the feed or listing is
        still stored (unless it was fetched only to look for the ``include`` words)."""
        self.note_detail_failure(self.describe_failure(failure))
        item = failure.request.cb_kwargs.get("item")
        if item is not None:
            if item.extra.pop("_include_pending", False):
                return
            yield item


def _published(item) -> datetime | None:
    """The item's own publication date (a feed entry's or post's date: the date of the page
    it links to); not the date of the listing page it was found on."""
    value = item.extra.get("published")
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def auto_detail_fields(response, anchor: datetime | None) -> dict[str, Any]:
    """An item's own page read without selectors: its main text (trafilatura) as the
    description, the dates and budget named there."""
    from crawler import pages, textparse

    _title, text = pages.main_text(response.text, response.url)
    out: dict[str, Any] = {}
    if not text:
        return out
    out["description"] = text
    found = textparse.find_dates(text, anchor=anchor)
    out["found"] = found
    if found["deadlines"]:
        out["deadlines"] = found["deadlines"]
    if found["opens_at"]:
        out["opens_at"] = found["opens_at"]
    budget = pages.budget_text(text)
    if budget:
        out["budget_text"] = budget[:1000]
    return out


def set_dates(item, found: dict, *, now: datetime, news: bool = False) -> None:
    """An item's dates and status hint from :func:`crawler.textparse.find_dates`."""
    from crawler.textparse import status_hint

    item.opens_at = found.get("opens_at")
    item.deadlines = list(found.get("deadlines") or [])
    if found.get("published"):
        item.extra["published"] = found["published"].isoformat()
    for flag in ("rolling", "deadline_unknown"):
        if found.get(flag):
            item.extra[flag] = True
    item.status = status_hint(found, now)


def _same_day(a: datetime, b: datetime) -> bool:
    from crawler.textparse import STOCKHOLM

    return a.astimezone(STOCKHOLM).date() == b.astimezone(STOCKHOLM).date()


def apply_detail(item, fields: dict[str, Any], *, now: datetime | None = None) -> None:
    """Merge what an item's own page says into the item. Text (title from a ``detail``
    selector, summary, description), budget and regions from the page win. Dates do not:
    an item that has dates of its own keeps them (the page may be a generic programme
    page: a call's deadline 2019-01-31 must not become "12 april" of another year); the
    page may only give a time to a date the item already has ("15 april" -> "15 april
    kl. 14.00") or an opening date before the item's own deadline. An item without dates
    takes the page's dates and status hint."""
    from crawler.textparse import clean_text, status_hint

    if fields.get("title"):
        item.title = clean_text(fields["title"], multiline=False)
    if fields.get("summary"):
        item.summary = fields["summary"]
    if fields.get("description"):
        item.description = fields["description"]
    own = bool(item.deadlines or item.opens_at or item.extra.get("rolling"))
    if own:
        page_deadlines = list(fields.get("deadlines") or [])
        item.deadlines = [
            next((d for d in page_deadlines if _same_day(d, mine)), mine)
            if isinstance(mine, datetime)
            else mine
            for mine in item.deadlines
        ]
        opens = fields.get("opens_at")
        if opens and isinstance(item.opens_at, datetime) and _same_day(opens, item.opens_at):
            item.opens_at = opens
        elif (
            opens
            and item.opens_at is None
            and item.deadlines
            and all(isinstance(d, datetime) and opens <= d for d in item.deadlines)
        ):
            item.opens_at = opens  # a missing opening date before the item's own deadline
    else:
        if fields.get("deadlines"):
            item.deadlines = list(fields["deadlines"])
        if fields.get("opens_at"):
            item.opens_at = fields["opens_at"]
        found = fields.get("found")
        if found is not None:
            for flag in ("rolling", "deadline_unknown"):
                if found.get(flag):
                    item.extra[flag] = True
            if now is not None:
                merged = {
                    **found,
                    "deadlines": item.deadlines,
                    "opens_at": item.opens_at,
                }
                item.status = status_hint(merged, now) or item.status
    if fields.get("budget_text"):
        item.budget_text = fields["budget_text"]
    if fields.get("regions"):
        item.regions = list(fields["regions"])
