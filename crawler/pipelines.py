"""Item pipelines, one job each: normalise → validate → store.

* :class:`NormalisePipeline` cleans a :class:`~crawler.items.CallItem` in place: HTML to
  safe plain text, whitespace, dates (ISO, RFC 822, Swedish and English text) to aware UTC,
  money text to an amount and currency, only http(s) URLs.
* :class:`ValidatePipeline` turns it into a :class:`storage.records.CallData`; an item that
  does not validate (no title, URL, source or external id) is counted, logged and dropped.
* :class:`StorePipeline` upserts each call (CallChange rows come from
  :func:`storage.repo.upsert_call`), links calls across sources (:mod:`crawler.links`) and
  writes the source's CrawlRun when the spider closes. A call missing from a crawl is left
  alone: only its dates close it. With ``BEVAKA_STORE = False`` it only collects the
  validated calls on the spider (``spider.collected``), for ``bevaka sources check``.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from scrapy import signals
from scrapy.exceptions import DropItem

from crawler import textparse
from crawler.items import CallItem
from storage.records import CallData

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 100_000
MAX_KEYWORDS = 100
#: calls to write are stored in one transaction per this many (about one page), or sooner
#: when the first of them has waited this long
BATCH_SIZE = 100
BATCH_SECONDS = 2.0


def _clean_line(value: Any, limit: int = MAX_TITLE_CHARS) -> str | None:
    if value is None:
        return None
    text = textparse.html_to_text(str(value)) if "<" in str(value) else str(value)
    text = textparse.clean_text(text, multiline=False)
    return text[:limit] or None


def _clean_block(value: Any) -> str | None:
    if value is None:
        return None
    text = textparse.html_to_text(str(value))
    return text[:MAX_TEXT_CHARS] or None


def _date(value: Any, *, end_of_day: bool) -> datetime | None:
    return textparse.parse_date_any(value, end_of_day=end_of_day)


class NormalisePipeline:
    """CallItem → CallItem with clean values (see the module docstring)."""

    def process_item(self, item: Any, spider=None) -> Any:
        if not isinstance(item, CallItem):
            return item
        item.source = (item.source or "").strip()
        item.external_id = textparse.clean_text(str(item.external_id or ""), multiline=False)[:512]
        item.url = textparse.safe_http_url(item.url) or ""
        item.title = _clean_line(item.title) or ""
        item.summary = _clean_block(item.summary)
        item.description = _clean_block(item.description)
        item.identifier = _clean_line(item.identifier, 255)
        item.call_identifier = _clean_line(item.call_identifier, 255)
        item.programme = _clean_line(item.programme, 64)
        keywords: list[str] = []
        for word in item.keywords or []:
            cleaned = _clean_line(word, 200)
            if cleaned and cleaned not in keywords:
                keywords.append(cleaned)
        item.keywords = keywords[:MAX_KEYWORDS]
        regions: list[str] = []
        for region in item.regions or []:
            cleaned = _clean_line(region, 100)
            if cleaned and cleaned not in regions:
                regions.append(cleaned)
        item.regions = regions
        item.opens_at = _date(item.opens_at, end_of_day=False) if item.opens_at else None
        deadlines = []
        for value in item.deadlines or []:
            parsed = _date(value, end_of_day=True)
            if parsed is not None:
                deadlines.append(parsed)
        item.deadlines = sorted(set(deadlines))
        item.budget_text = _clean_line(item.budget_text, 1000)
        item.budget, item.currency = self._budget(item)
        item.language = _clean_line(item.language, 8)
        item.status = item.status if item.status in ("forthcoming", "open", "closed") else None
        return item

    @staticmethod
    def _budget(item: CallItem) -> tuple[float | None, str | None]:
        if item.extra.get("budget_scope") and not isinstance(item.budget, int | float):
            # the spider has read the text and found no budget of this call's own in it (only
            # a cap per project, or the whole call's total for one topic): never parse it
            return None, None
        budget = item.budget
        if isinstance(budget, bool):
            budget = None
        if isinstance(budget, int | float):
            value = float(budget)
            if math.isfinite(value) and value > 0:
                return value, (item.currency or None)
            return None, None
        text = budget if isinstance(budget, str) else item.budget_text
        if text:
            amount, currency = textparse.parse_money(text)
            if amount is not None:
                return amount, currency or item.currency
        return None, None


class ValidatePipeline:
    """CallItem → CallData; invalid items are counted, logged and dropped."""

    def __init__(self) -> None:
        self.invalid = 0

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls()
        pipeline.crawler = crawler
        return pipeline

    def process_item(self, item: Any, spider=None) -> Any:
        if not isinstance(item, CallItem):
            return item
        spider = spider or self.crawler.spider
        data = {
            name: getattr(item, name)
            for name in CallData.model_fields
            if getattr(item, name, None) is not None
        }
        try:
            return CallData.model_validate(data)
        except ValidationError as exc:
            self.invalid += 1
            self.crawler.stats.inc_value("bevaka/invalid")
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            logger.warning(
                "invalid item from %s (%r): %s",
                item.source,
                (item.external_id or item.url or item.title)[:200],
                problems,
            )
            try:  # our own warning above says it all; Scrapy's would repeat the whole item
                drop = DropItem(f"invalid call: {problems}", log_level="DEBUG")
            except TypeError:  # Scrapy < 2.13
                drop = DropItem(f"invalid call: {problems}")
            raise drop from None


def crawl_now(settings) -> datetime:
    value = settings.get("BEVAKA_NOW")
    if value:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


class StorePipeline:
    """Upsert each call, link calls across sources, write the CrawlRun at the end."""

    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self.settings = crawler.settings
        self.store = self.settings.getbool("BEVAKA_STORE", True)
        self.counts = {"seen": 0, "new": 0, "changed": 0, "unchanged": 0, "errors": 0}
        self.engine = None
        self.run_id: int | None = None
        self.first_error: str | None = None
        self.stored_ids: list[int] = []
        self.new_eu_ids: list[int] = []
        self.summary: dict[str, Any] | None = None
        self.known: dict[str, Any] = {}  # external_id -> storage.repo.StoredCall
        self.batch: list[tuple[CallData, datetime]] = []  # calls to write, in order
        self.pending: set[str] = set()  # their external ids
        self.batch_started = 0.0
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.item_scraped_or_dropped, signal=signals.item_dropped)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def item_scraped_or_dropped(self, item, response, exception, spider) -> None:
        # dropped by the validate pipeline: it was still seen
        if isinstance(item, CallItem):
            self.counts["seen"] += 1

    def open_spider(self, spider=None) -> None:
        spider = spider or self.crawler.spider
        spider.collected = []
        self.started = time.monotonic()
        if not self.store:
            return
        from storage.db import make_engine, session_scope
        from storage.repo import may_skip, start_crawl_run, stored_calls

        url = self.settings.get("BEVAKA_DATABASE_URL")
        if not url:
            raise RuntimeError("BEVAKA_DATABASE_URL is not set")
        self.engine = make_engine(url)
        run_id = self.settings.get("BEVAKA_CRAWL_RUN_ID")
        if run_id:
            self.run_id = int(run_id)
        else:
            with session_scope(self.engine) as session:
                self.run_id = start_crawl_run(
                    session=session, source=spider.source_key, now=crawl_now(self.settings)
                ).id
        # what is stored already, loaded once: an unchanged call then costs no query, and
        # one whose raw record is the same is skipped by the spider (see may_skip)
        with session_scope(self.engine) as session:
            self.known = stored_calls(session=session, source=spider.source_key)
        spider.stored_count = len(self.known)  # e.g. a first crawl reads a whole register
        now = crawl_now(self.settings)
        if hasattr(spider, "skippable"):
            spider.skippable = {
                external_id: stored.source_hash
                for external_id, stored in self.known.items()
                if may_skip(stored, now)
            }

    def process_item(self, item: Any, spider=None) -> Any:
        if not isinstance(item, CallData):
            return item
        spider = spider or self.crawler.spider
        self.counts["seen"] += 1
        if not self.store:  # only `bevaka sources check` reads them; storing keeps none
            spider.collected.append(item)
            return item
        from storage.repo import upsert_would_write

        now = crawl_now(self.settings)
        try:
            if item.external_id not in self.pending and not upsert_would_write(
                stored=self.known.get(item.external_id), data=item, now=now
            ):
                self.counts["unchanged"] += 1  # upsert_call would write nothing either
                return item
        except Exception as exc:  # one bad row must not stop the crawl
            self._failed(item, exc)
            return item
        if not self.batch:
            self.batch_started = time.monotonic()
        self.batch.append((item, now))
        self.pending.add(item.external_id)
        if len(self.batch) >= BATCH_SIZE or time.monotonic() - self.batch_started >= BATCH_SECONDS:
            self.flush()
        return item

    def flush(self) -> None:
        """Store the calls waiting in the batch in one transaction. Calls not stored before
        are inserted by one statement (:func:`storage.repo.insert_calls`); the others (and
        all of them, when that statement fails, e.g. because another crawl inserted one of
        them meanwhile) go through :func:`storage.repo.upsert_call` in order, each in its
        own savepoint; a call that fails there is tried once more in its own transaction, so
        one bad row costs only itself. If the batch's transaction fails, its calls are
        stored one transaction each."""
        from storage.db import session_scope

        batch, self.batch = self.batch, []
        self.pending = set()
        if not batch:
            return
        fresh: list[tuple[CallData, datetime]] = []  # the first of each new external id
        fresh_ids: set[str] = set()
        for item, now in batch:
            if item.external_id not in self.known and item.external_id not in fresh_ids:
                fresh.append((item, now))
                fresh_ids.add(item.external_id)
        inserted: list[Any] = []
        done: list[tuple[CallData, Any]] = []
        try:
            with session_scope(self.engine) as session:
                one_by_one = self._insert_fresh(session, fresh, inserted)
                firsts = {id(item) for item, _ in fresh}
                rest = batch if one_by_one else [e for e in batch if id(e[0]) not in firsts]
                for item, now in rest:
                    try:
                        with session.begin_nested():
                            done.append((item, self._upsert(session, item, now)))
                    except Exception as exc:  # reported after the commit
                        done.append((item, exc))
        except Exception:  # retried one by one below
            logger.warning("a batch of %d calls failed; storing them one by one", len(batch))
            for item, now in batch:
                self._store_one(item, now)
            return
        for (item, _), stored in zip(fresh if inserted else [], inserted, strict=True):
            self._record(item, ("new", stored.call_id, bool(item.identifier), stored))
        for (item, now), (_, outcome) in zip(rest, done, strict=True):
            if isinstance(outcome, Exception):
                # e.g. SQLite's "database is locked" when another crawl wrote meanwhile:
                # once more on its own, as without batching (a bad row fails again)
                self._store_one(item, now)
            else:
                self._record(item, outcome)

    def _insert_fresh(self, session, fresh: list[tuple[CallData, datetime]], out: list) -> bool:
        """Insert the calls new to this source in one statement (a savepoint), appending what
        was stored to ``out``; True when they must go one by one instead."""
        from storage.repo import insert_calls

        if not fresh:
            return False
        try:
            with session.begin_nested():
                out.extend(
                    insert_calls(session=session, items=[i for i, _ in fresh], now=fresh[-1][1])
                )
        except Exception as exc:  # each is tried on its own next
            out.clear()
            logger.info("inserting %d new calls at once failed (%s); one by one", len(fresh), exc)
            return True
        return False

    def _upsert(self, session, item: CallData, now: datetime) -> tuple[str, int, bool, Any]:
        from storage.repo import stored_call_of, upsert_call

        result = upsert_call(session=session, data=item, now=now, crawl_run_id=self.run_id)
        call = result.call
        return result.outcome, call.id, bool(call.identifier), stored_call_of(result)

    def _store_one(self, item: CallData, now: datetime) -> None:
        from storage.db import session_scope

        try:
            with session_scope(self.engine) as session:
                outcome = self._upsert(session, item, now)
        except Exception as exc:  # one bad row must not stop the crawl
            self._failed(item, exc)
            return
        self._record(item, outcome)

    def _record(self, item: CallData, outcome: tuple[str, int, bool, Any]) -> None:
        name, call_id, has_identifier, stored = outcome
        self.counts[name] += 1
        if name != "unchanged":
            self.stored_ids.append(call_id)
            if has_identifier and name == "new":
                self.new_eu_ids.append(call_id)
        self.known[item.external_id] = stored

    def _failed(self, item: CallData, exc: Exception) -> None:
        self.counts["errors"] += 1
        message = f"cannot store {item.external_id!r}: {exc.__class__.__name__}: {exc}"
        self.first_error = self.first_error or message[:1000]
        logger.error("store failed for %s", item.external_id, exc_info=exc)

    def spider_closed(self, spider, reason: str) -> None:
        if getattr(spider, "source_key", None) is None:
            return
        if self.store and self.engine is not None:
            self.flush()  # the calls still waiting in the batch
        skipped = int(getattr(spider, "skipped", 0))  # unchanged raw records
        self.counts["seen"] += skipped
        self.counts["unchanged"] += skipped
        invalid = int(self.crawler.stats.get_value("bevaka/invalid", 0))
        errors = self.counts["errors"] + spider.errors
        error = spider.first_error or self.first_error
        failed = spider.fatal or self.counts["errors"] > 0
        if reason == "closespider_timeout":
            failed = True
            error = error or (
                f"timed out after {self.settings.getint('CLOSESPIDER_TIMEOUT')} s "
                "(the calls found so far are stored)"
            )
        elif reason not in ("finished",):
            failed = True
            error = error or f"crawl ended: {reason}"
        summary: dict[str, Any] = {
            **self.counts,
            "skipped": skipped,
            "invalid": invalid,
            "errors": errors,
            "pages": spider.pages,
            "detail_failures": int(getattr(spider, "detail_failures", 0)),
            "error": error,
            "error_messages": [
                *getattr(spider, "error_messages", []),
                *([self.first_error] if self.first_error else []),
            ],
            "reason": reason,
            "duration_seconds": round(
                time.monotonic() - getattr(self, "started", time.monotonic()), 3
            ),
        }
        if self.store and self.engine is not None:
            summary.update(self._finish_run(spider, summary, failed))
        else:
            summary["outcome"] = (
                "failed" if failed else ("empty" if not self.counts["seen"] else "ok")
            )
        self.summary = summary
        spider.summary = summary
        if self.engine is not None:
            self.engine.dispose()

    def _finish_run(self, spider, summary: dict[str, Any], failed: bool) -> dict[str, Any]:
        from crawler.links import link_mentions
        from storage.db import session_scope
        from storage.models import CrawlRun

        now = crawl_now(self.settings)
        linked = 0
        with session_scope(self.engine) as session:
            try:
                linked = link_mentions(
                    session=session,
                    call_ids=self.stored_ids,
                    new_topic_ids=self.new_eu_ids,
                    now=now,
                )
            except Exception:  # links are a bonus; never fail the crawl on them
                logger.exception("linking calls failed")
        with session_scope(self.engine) as session:
            run = session.get(CrawlRun, self.run_id)
            if failed:
                outcome = "failed"
            elif summary["seen"] == 0 and _had_calls(session, spider.source_key, self.run_id):
                outcome = "empty"
            else:
                outcome = "ok"
            if run is not None:
                run.outcome = outcome
                # the crawl's "now" may be fixed (BEVAKA_NOW: the scheduler's job time, tests):
                # the end is then that time plus how long the crawl took, never the start
                took = timedelta(seconds=time.monotonic() - self.started)
                run.finished_at = max(now, run.started_at) + (
                    took if self.settings.get("BEVAKA_NOW") else timedelta(0)
                )
                for key in ("seen", "new", "changed", "unchanged", "invalid", "errors", "pages"):
                    setattr(run, key, int(summary[key]))
                run.error = summary["error"]
                run.stats = {
                    "reason": summary["reason"],
                    "linked": linked,
                    "skipped": summary["skipped"],
                    "detail_failures": summary["detail_failures"],
                    "duration_seconds": summary["duration_seconds"],
                }
                session.add(run)
        return {"outcome": outcome, "linked": linked, "run_id": self.run_id}


def _had_calls(session, source: str, run_id: int | None) -> bool:
    """Did this source yield calls before (so that nothing now is suspicious)?"""
    from sqlmodel import col, select

    from storage.models import Call, CrawlRun

    earlier = session.exec(
        select(CrawlRun.id).where(
            CrawlRun.source == source, col(CrawlRun.seen) > 0, CrawlRun.id != run_id
        )
    ).first()
    if earlier is not None:
        return True
    return session.exec(select(Call.id).where(Call.source == source)).first() is not None
