"""Run crawls in child processes (Scrapy's reactor cannot be restarted inside a
long-lived process such as the scheduler), with a per-source time limit, so one broken or
stuck source never stops the others. Several sources share one process (settings
``crawl.sources_per_process`` and ``crawl.parallel_sources``): starting Python and Scrapy
costs more than crawling a small feed.

Public interface (used by ``bevaka crawl``, ``bevaka sources check``, the scheduler and the
demo)::

    crawl_sources(*, config, keys=None, database_url=None, now=None,
                  settings_overrides=None, progress=None) -> list[SourceResult]
    check_source(*, config, key, now=None, settings_overrides=None) -> list[CallData]
    inspect_source(...) -> CheckReport          # check_source with the run's summary

``config`` is a :class:`config.loader.Config`, or anything with ``.settings`` and
``.sources`` (e.g. sources pointed at a mirror, see :mod:`crawler.mirror`).
``settings_overrides`` are Scrapy settings applied last; ``crawler.settings.BENCH_SETTINGS``
switches politeness off for tests and benchmarks against a local mirror.

The child is ``python -m crawler.runner`` reading a JSON job (its crawls) on stdin and
writing a JSON summary per crawl to a file; its log goes to a file whose tail is shown when
it dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage.records import CallData

#: seconds a child gets beyond CLOSESPIDER_TIMEOUT to close cleanly before it is killed
KILL_GRACE_SECONDS = 30
#: seconds a child may take to start (Python, Scrapy, its first spider); not counted
#: against any crawl's limit
CHILD_START_SECONDS = 120
#: how often the parent looks at a crawl process's progress
WATCH_SECONDS = 0.5
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SourceResult:
    """How one source's crawl went (mirrors its CrawlRun row)."""

    source: str
    outcome: str  # ok | failed | empty | skipped
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    invalid: int = 0
    errors: int = 0
    pages: int = 0
    linked: int = 0
    #: optional fetches (detail pages) that failed; the calls were stored without them
    detail_failures: int = 0
    error: str | None = None
    duration_seconds: float = 0.0
    run_id: int | None = None
    #: every error's message (``sources check`` prints them all); ``error`` is the first
    messages: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The source key (same as ``source``)."""
        return self.source

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckReport:
    """What ``check_source`` saw: the calls extracted and the run's summary."""

    result: SourceResult
    calls: list[CallData] = field(default_factory=list)


class SourceFailed(RuntimeError):
    """``check_source`` on a source whose crawl failed; carries what was extracted."""

    def __init__(self, report: CheckReport):
        self.report = report
        super().__init__(f"{report.result.source}: {report.result.error or 'crawl failed'}")


ProgressCallback = Callable[[str, str, SourceResult | None], None]


def _entries(config: Any, keys: Iterable[str] | None) -> list[Any]:
    sources = list(config.sources.sources)
    if keys is None:
        return [s for s in sources if s.enabled]
    by_key = {s.key: s for s in sources}
    wanted = list(dict.fromkeys(keys))
    unknown = [k for k in wanted if k not in by_key]
    if unknown:
        known = ", ".join(sorted(by_key))
        raise KeyError(f"unknown source(s): {', '.join(unknown)} (known: {known})")
    return [by_key[k] for k in wanted]


def scrapy_settings(
    config: Any,
    *,
    database_url: str | None = None,
    run_id: int | None = None,
    now: datetime | None = None,
    store: bool = True,
    settings_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Scrapy settings for one source's crawl (JSON-serialisable)."""
    from crawler.settings import crawl_settings

    out = crawl_settings(config.settings.crawl)
    out["HTTPCACHE_DIR"] = str(Path.cwd() / "var" / "httpcache")
    out["BEVAKA_DATABASE_URL"] = database_url
    out["BEVAKA_CRAWL_RUN_ID"] = run_id
    out["BEVAKA_STORE"] = store
    out["BEVAKA_NOW"] = now.isoformat() if now else None
    out.update(settings_overrides or {})
    return out


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class ChildOutcome:
    """What one crawl process gave back: a summary per job (None where it wrote none) and,
    when the process died or was killed, why."""

    summaries: list[dict | None]
    error: str = ""
    timed_out: bool = False


def _read_summary(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _run_child(
    jobs: list[dict[str, Any]], timeout: float, parallel: int = 1, start_limit: float | None = None
) -> ChildOutcome:
    """Run crawls in one child process; ``jobs`` are ``{"source", "settings"}`` dicts.

    The watchdog counts events, not the batch's length: the child writes a marker when a
    crawl's spider opens and its summary when the crawl ends. It is killed when a crawl has
    been open for longer than ``timeout`` (each crawl stops itself at its own time limit),
    when ``timeout`` passes with no crawl open and none starting, or when no crawl has
    opened ``start_limit`` seconds after the process started (its Python and Scrapy start-up
    is not counted against any crawl)."""
    if start_limit is None:
        start_limit = max(_start_limit(job["settings"]) for job in jobs)
    with tempfile.TemporaryDirectory(prefix="bevaka-crawl-") as tmp:
        results = [Path(tmp) / f"result-{i}.json" for i in range(len(jobs))]
        opened = [r.with_suffix(".opened") for r in results]
        log_path = Path(tmp) / "crawl.log"
        job = {
            "crawls": [
                {**j, "result": str(r), "opened": str(o)}
                for j, r, o in zip(jobs, results, opened, strict=True)
            ],
            "parallel": parallel,
        }
        env = dict(os.environ)
        env["BEVAKA_CRAWL_CHILD"] = "1"
        env["BEVAKA_CRAWL_PARENT"] = str(os.getpid())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        with log_path.open("wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "crawler.runner"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=os.getcwd(),
                env=env,
            )
            with contextlib.suppress(BrokenPipeError):  # a child that died at once
                child.stdin.write(json.dumps(job).encode("utf-8"))
                child.stdin.close()
            watchdog = _Watchdog(opened, results, timeout, start_limit, time.monotonic())
            killed = ""
            while True:
                try:
                    child.wait(timeout=WATCH_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    killed = watchdog.verdict(time.monotonic())
                    if killed:
                        child.kill()
                        child.wait()
                        break
        summaries = [_read_summary(r) for r in results]
        if killed:
            return ChildOutcome(summaries, f"{killed} (crawl process killed)", True)
        if child.returncode == 0 and all(x is not None for x in summaries):
            return ChildOutcome(summaries)
        tail = _tail(log_path)
        last = tail.splitlines()[-1] if tail else ""
        return ChildOutcome(
            summaries, f"crawl process exited with status {child.returncode}: {last}"[:1000]
        )


@dataclass
class _Watchdog:
    """Decides from the child's marker files (a crawl opened, a crawl ended) and the times
    they were first seen whether the child is stuck. Times are ``time.monotonic()``."""

    opened: list[Path]
    ended: list[Path]
    timeout: float
    start_limit: float
    spawned: float
    opened_at: dict[int, float] = field(default_factory=dict)
    ended_at: dict[int, float] = field(default_factory=dict)

    def verdict(self, now: float) -> str:
        """Why the child must be killed at ``now``, or "" while it is making progress."""
        for i, (opened, ended) in enumerate(zip(self.opened, self.ended, strict=True)):
            if i not in self.ended_at and ended.is_file():
                self.ended_at[i] = now
                self.opened_at.setdefault(i, now)
            if i not in self.opened_at and opened.is_file():
                self.opened_at[i] = now
        if not self.opened_at:
            if now - self.spawned > self.start_limit:
                return f"no crawl started within {self.start_limit:.0f} s"
            return ""
        open_since = [t for i, t in self.opened_at.items() if i not in self.ended_at]
        if open_since and now - min(open_since) > self.timeout:
            return f"timed out after {self.timeout:.0f} s"
        last_event = max([*self.opened_at.values(), *self.ended_at.values()])
        if not open_since and now - last_event > self.timeout:
            return f"timed out after {self.timeout:.0f} s with no crawl running"
        return ""


def _start_limit(settings: dict[str, Any]) -> float:
    """How long a child may take to start (Python, Scrapy, the first spider) before it is
    killed as stuck: setting BEVAKA_CHILD_START_SECONDS (default CHILD_START_SECONDS)."""
    limit = settings.get("BEVAKA_CHILD_START_SECONDS")
    return CHILD_START_SECONDS if limit is None else float(limit)


def _timeout(settings: dict[str, Any]) -> float:
    """How long a child may go without a crawl ending before it is killed as stuck:
    CLOSESPIDER_TIMEOUT (Scrapy's own, graceful, per-crawl limit; it cannot interrupt a
    download that hangs) plus a grace (setting BEVAKA_KILL_GRACE_SECONDS)."""
    grace = settings.get("BEVAKA_KILL_GRACE_SECONDS")
    grace = KILL_GRACE_SECONDS if grace is None else float(grace)
    return float(settings.get("CLOSESPIDER_TIMEOUT") or 900) + grace


def _finish_dead_run(engine, run_id: int, error: str, now: datetime) -> None:
    from storage.db import session_scope
    from storage.models import CrawlRun

    with session_scope(engine) as session:
        run = session.get(CrawlRun, run_id)
        if run is not None and run.outcome == "running":
            run.outcome = "failed"
            run.errors = max(run.errors, 1)
            run.error = error
            run.finished_at = max(now, run.started_at)
            session.add(run)


def _result_from_run(engine, run_id: int, extra: dict[str, Any]) -> SourceResult:
    from storage.db import session_scope
    from storage.models import CrawlRun

    with session_scope(engine) as session:
        run = session.get(CrawlRun, run_id)
        return SourceResult(
            source=run.source,
            outcome=run.outcome,
            seen=run.seen,
            new=run.new,
            changed=run.changed,
            unchanged=run.unchanged,
            invalid=run.invalid,
            errors=run.errors,
            pages=run.pages,
            linked=int((run.stats or {}).get("linked", 0)),
            detail_failures=int((run.stats or {}).get("detail_failures", 0)),
            error=run.error,
            duration_seconds=float(extra.get("duration_seconds", 0.0)),
            run_id=run.id,
        )


def crawl_sources(
    *,
    config: Any,
    keys: Iterable[str] | None = None,
    database_url: str | None = None,
    now: datetime | None = None,
    settings_overrides: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> list[SourceResult]:
    """Crawl sources and store their calls; the results in the order of ``keys``.

    ``keys``: the sources to crawl (default: every enabled one; an explicitly named disabled
    source is ``skipped``). ``database_url`` defaults to the configured one. ``now`` fixes
    the clock used for statuses and timestamps (tests). ``progress(source, stage, result)``
    is called with stage ``"start"`` and ``"done"``. Every crawled source gets a CrawlRun
    (ok / failed / empty); a source that crashes or times out is ``failed`` with its error,
    and the others still run. Raises KeyError for an unknown key.

    Up to ``crawl.sources_per_process`` sources share one child process (which crawls up to
    ``crawl.parallel_sources`` of them at once, never two of one host at once). If that
    process dies before a source finished, the source is crawled again in a process of its
    own; if no crawl in it ends for longer than the per-source time limit (+ grace), it is
    stuck: it is killed and the sources not yet finished are failed as timed out.
    """
    from storage.db import make_engine

    entries = _entries(config, keys)
    url = database_url or config.settings.database_url
    per_process = max(1, int(getattr(config.settings.crawl, "sources_per_process", 1)))
    engine = make_engine(url)
    results: dict[str, SourceResult] = {}
    batch: list[Any] = []

    def run_batch() -> None:
        for result in _crawl_batch(
            engine, config, batch, url, now, settings_overrides or {}, progress
        ):
            results[result.source] = result
        batch.clear()

    try:
        for entry in entries:
            if not entry.enabled or not entry.all_urls:
                if progress:
                    progress(entry.key, "start", None)
                result = SourceResult(source=entry.key, outcome="skipped", error=entry.state)
                results[entry.key] = result
                if progress:
                    progress(entry.key, "done", result)
                continue
            batch.append(entry)
            if len(batch) >= per_process:
                run_batch()
        if batch:
            run_batch()
    finally:
        engine.dispose()
    return [results[entry.key] for entry in entries]


def _crawl_batch(
    engine,
    config: Any,
    batch: list[Any],
    url: str,
    now: datetime | None,
    overrides: dict[str, Any],
    progress: ProgressCallback | None,
) -> list[SourceResult]:
    """Crawl ``batch`` in one child process (see :func:`crawl_sources`)."""
    started = time.monotonic()
    started_at = now or datetime.now(UTC)
    # A run older than twice the per-source time limit can only be left over from a crawl
    # process that was killed.
    stale_before = started_at - timedelta(seconds=2 * config.settings.crawl.source_timeout_seconds)
    jobs: list[dict[str, Any]] = []
    run_ids: list[int] = []
    try:
        return _crawl_batch_runs(
            engine, config, batch, url, now, overrides, progress, jobs, run_ids, started,
            started_at, stale_before,
        )  # fmt: skip
    except Exception as exc:
        # e.g. a full disk (the temporary folder, the log, the database): never leave a run
        # "running" behind if it can be helped (a database that refuses every write cannot
        # be helped: the next crawl closes such a run as interrupted)
        error = f"the crawl stopped: {exc.__class__.__name__}: {exc}"[:1000]
        for run_id in run_ids:
            with contextlib.suppress(Exception):
                _finish_dead_run(engine, run_id, error, now or datetime.now(UTC))
        raise


def _crawl_batch_runs(
    engine,
    config: Any,
    batch: list[Any],
    url: str,
    now: datetime | None,
    overrides: dict[str, Any],
    progress: ProgressCallback | None,
    jobs: list[dict[str, Any]],
    run_ids: list[int],
    started: float,
    started_at: datetime,
    stale_before: datetime,
) -> list[SourceResult]:
    from storage.db import session_scope
    from storage.repo import start_crawl_run

    for entry in batch:
        if progress:
            progress(entry.key, "start", None)
        with session_scope(engine) as session:
            run_id = start_crawl_run(
                session=session, source=entry.key, now=started_at, stale_before=stale_before
            ).id
        run_ids.append(run_id)
        settings = scrapy_settings(
            config, database_url=url, run_id=run_id, now=now, settings_overrides=overrides
        )
        jobs.append({"source": entry.model_dump(mode="json"), "settings": settings})
    parallel = int(getattr(config.settings.crawl, "parallel_sources", 1))
    timeout = max(_timeout(job["settings"]) for job in jobs)
    outcome = _run_child(jobs, timeout, parallel)
    results = []
    for entry, run_id, job, summary in zip(batch, run_ids, jobs, outcome.summaries, strict=True):
        error = outcome.error if summary is None else ""
        died = summary is None and len(batch) > 1 and not outcome.timed_out
        if died and _still_running(engine, run_id):
            # the shared process died (not at its time limit) before this source ended
            # (perhaps because of another source): this one gets a process of its own
            again = _run_child([job], _timeout(job["settings"]))
            summary, error = again.summaries[0], again.error
        wall = time.monotonic() - started
        _finish_dead_run(
            engine,
            run_id,
            error or (summary or {}).get("error") or "the crawl did not finish",
            # a fixed "now" (the scheduler's job time) plus the time the crawl took
            now + timedelta(seconds=wall) if now else datetime.now(UTC),
        )
        own = (summary or {}).get("duration_seconds")
        duration = wall if len(batch) == 1 or own is None else float(own)
        result = _result_from_run(engine, run_id, {"duration_seconds": round(duration, 3)})
        results.append(result)
        if progress:
            progress(entry.key, "done", result)
    return results


def _still_running(engine, run_id: int) -> bool:
    from storage.db import session_scope
    from storage.models import CrawlRun

    with session_scope(engine) as session:
        run = session.get(CrawlRun, run_id)
        return run is not None and run.outcome == "running"


def inspect_source(
    *,
    config: Any,
    key: str,
    now: datetime | None = None,
    settings_overrides: dict[str, Any] | None = None,
) -> CheckReport:
    """Crawl one source without storing anything; the calls it extracts and the summary."""
    (entry,) = _entries(config, [key])
    if not entry.all_urls:
        result = SourceResult(source=key, outcome="failed", error=entry.state)
        return CheckReport(result=result)
    settings = scrapy_settings(config, store=False, now=now, settings_overrides=settings_overrides)
    started = time.monotonic()
    outcome = _run_child(
        [{"source": entry.model_dump(mode="json"), "settings": settings}], _timeout(settings)
    )
    data, error = outcome.summaries[0], outcome.error
    duration = round(time.monotonic() - started, 3)
    if data is None:
        return CheckReport(
            SourceResult(
                source=key, outcome="failed", errors=1, error=error, duration_seconds=duration
            )
        )
    calls = [CallData.model_validate(c) for c in data.pop("calls", [])]
    result = SourceResult(
        source=key,
        outcome=data.get("outcome", "failed"),
        seen=int(data.get("seen", 0)),
        invalid=int(data.get("invalid", 0)),
        errors=int(data.get("errors", 0)),
        pages=int(data.get("pages", 0)),
        error=data.get("error"),
        duration_seconds=duration,
        messages=[str(m) for m in data.get("error_messages") or []]
        or ([data["error"]] if data.get("error") else []),
    )
    return CheckReport(result=result, calls=calls)


def check_source(
    *,
    config: Any,
    key: str,
    now: datetime | None = None,
    settings_overrides: dict[str, Any] | None = None,
) -> list[CallData]:
    """The calls one source yields now, without storing them. Raises :class:`SourceFailed`
    (carrying the report) when the crawl fails, KeyError for an unknown key."""
    report = inspect_source(config=config, key=key, now=now, settings_overrides=settings_overrides)
    if report.result.failed:
        raise SourceFailed(report)
    return report.calls


# --- the child process -------------------------------------------------------------------


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent() -> None:
    """Let the kernel kill this process (SIGKILL) when the parent that started it dies,
    even by ``kill -9`` (Linux ``prctl(PR_SET_PDEATHSIG)``); a crawl must never go on
    writing the database for a parent that is gone. If the parent died before this ran,
    exit at once. Elsewhere (no prctl) the parent's own watchdog is all there is."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return
    expected = os.environ.get("BEVAKA_CRAWL_PARENT")
    if expected and os.getppid() != int(expected):
        os._exit(1)  # orphaned already: the parent died before prctl took effect


def _child_main() -> int:
    """Run the crawls of a job read from stdin (see :func:`_run_child`) in one reactor: up
    to ``parallel`` at once, never two whose sources share a host; each crawl's summary is
    written to its result file as soon as it ends."""
    die_with_parent()
    job = json.loads(sys.stdin.read())
    from urllib.parse import urlsplit

    from scrapy import signals
    from scrapy.crawler import Crawler, CrawlerProcess
    from scrapy.settings import Settings

    from config.schema import SourceEntry
    from crawler.spiders import SPIDERS_BY_KIND

    crawls = job["crawls"]
    parallel = max(1, int(job.get("parallel") or 1))
    entries = [SourceEntry.model_validate(c["source"]) for c in crawls]
    hosts = [{urlsplit(u).hostname or u for u in e.all_urls} for e in entries]

    def settings_of(crawl: dict[str, Any], priority: str = "cmdline") -> Settings:
        settings = Settings()
        settings.setmodule("crawler.settings", priority="project")
        settings.update(dict(crawl["settings"]), priority=priority)
        return settings

    # The process's own settings (logging) are merged into every crawler below those of
    # its crawl: each crawler keeps its own run id, database, limits.
    process = CrawlerProcess(settings_of(crawls[0], priority="project"))
    waiting = list(range(len(crawls)))
    running: dict[int, set[str]] = {}
    started: list[Crawler] = []

    def opened(index: int) -> None:  # the parent's watchdog starts this crawl's clock
        Path(crawls[index]["opened"]).touch()

    def ended(outcome: Any, index: int, crawler: Crawler) -> None:
        running.pop(index, None)
        try:
            _write_summary(crawls[index], crawler, outcome)
        finally:
            start_more()

    def start_more() -> None:
        busy = set().union(*running.values())
        for index in list(waiting):
            if len(running) >= parallel:
                break
            if hosts[index] & busy:
                continue
            waiting.remove(index)
            running[index] = hosts[index]
            busy |= hosts[index]
            crawler = Crawler(
                SPIDERS_BY_KIND[entries[index].kind],
                settings_of(crawls[index]),
                init_reactor=not started,  # the first one installs the reactor
            )
            started.append(crawler)
            crawler.signals.connect(
                lambda index=index, **_: opened(index), signal=signals.spider_opened, weak=False
            )
            deferred = process.crawl(crawler, source=entries[index])
            deferred.addBoth(ended, index, crawler)

    start_more()
    process.start()
    return 0


def _write_summary(crawl: dict[str, Any], crawler: Any, outcome: Any) -> None:
    from twisted.python.failure import Failure

    spider = getattr(crawler, "spider", None)
    summary = dict(getattr(spider, "summary", None) or {})
    if not summary:
        reason = (
            f"the crawl did not start: {outcome.getErrorMessage()}"
            if isinstance(outcome, Failure)
            else "the crawl did not finish"
        )
        summary = {"outcome": "failed", "error": reason[:1000], "errors": 1}
    if not crawl["settings"].get("BEVAKA_STORE", True):
        summary["calls"] = [c.model_dump(mode="json") for c in getattr(spider, "collected", [])]
    path = Path(crawl["result"])
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(summary, default=str), encoding="utf-8")
    partial.replace(path)  # whole or not at all: the parent watches for the file


if __name__ == "__main__":
    sys.exit(_child_main())
