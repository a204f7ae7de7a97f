"""Benchmarks 1 and 2: crawl throughput against a SEDIA emulator, and the recrawl of the
unchanged source.

* ours: ``crawler.runner.crawl_sources`` with the ``eu_portal`` source pointed at the
  emulator and ``crawler.settings.BENCH_SETTINGS`` (politeness off), storing to a fresh
  SQLite file; timed around the call (child process, Scrapy, pipelines, storage).
* baseline: :mod:`bench.bare_spider` in a fresh process (same pages, same request pattern,
  does nothing); timed around the process. Run before and after ours; the mean is used.
* recrawl: the same crawl again; every table is hashed before and after, and only
  ``crawl_run`` may differ (one row more).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Result, checked, ratio, run_child

CRAWL_TARGET = 0.7
RECRAWL_TARGET = 0.25


def _config(url: str, database_url: str):
    from config.loader import Config
    from config.schema import NeedsFile, Settings, SourceEntry, SourcesFile

    settings = Settings(database_url=database_url)
    sources = SourcesFile(
        sources=[
            SourceEntry(
                key="eu_portal",
                name="EU Funding & Tenders Portal (bench emulator)",
                kind="eu_portal",
                url=url,
                options={"page_size": 100, "max_pages": 10_000},
            )
        ]
    )
    return Config(Path(tempfile.gettempdir()), settings, sources, NeedsFile())


def ours_crawl(url: str, db_path: str, fresh: bool) -> dict[str, Any]:
    """Worker: one eu_portal crawl into ``db_path`` (migrated first when ``fresh``)."""
    from bench.dbutil import diff, fresh_sqlite, snapshot
    from crawler.runner import crawl_sources
    from crawler.settings import BENCH_SETTINGS

    path = Path(db_path)
    database_url = fresh_sqlite(path) if fresh else f"sqlite:///{path}"
    before = snapshot(path)
    with tempfile.TemporaryDirectory(prefix="bevaka-bench-crawl-") as workdir:
        os.chdir(workdir)
        started = time.perf_counter()
        (result,) = crawl_sources(
            config=_config(url, database_url),
            keys=["eu_portal"],
            database_url=database_url,
            settings_overrides=dict(BENCH_SETTINGS),
        )
        seconds = time.perf_counter() - started
        os.chdir(ROOT)
    after = snapshot(path)
    import json
    import sqlite3

    con = sqlite3.connect(str(path))
    row = con.execute("SELECT stats FROM crawl_run WHERE id = ?", (result.run_id,)).fetchone()
    con.close()
    stats = json.loads(row[0]) if row and row[0] else {}
    return {
        "seconds": seconds,
        # the store pipeline's own clock, from open to close, before cross-source linking
        "pipeline_seconds": stats.get("duration_seconds"),
        "result": result.as_dict(),
        "changed_tables": diff(before, after),
    }


def baseline_crawl(url: str, pages: int, page_size: int) -> dict[str, Any]:
    """Worker: the bare spider in a fresh process, timed around the process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory(prefix="bevaka-bench-bare-") as workdir:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.bare_spider", url, str(pages), str(page_size)],
            capture_output=True,
            text=True,
            cwd=workdir,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"bare spider failed: {proc.stderr[-2000:]}")
    import json

    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"seconds": seconds, **stats}


def run(quick: bool, log) -> list[Result]:
    from bench.sedia import SediaServer

    topics = 500 if quick else 5000
    log(f"crawl: generating {topics} SEDIA topics …")
    with SediaServer(topics) as server, tempfile.TemporaryDirectory(prefix="bevaka-bench-") as tmp:
        db_path = str(Path(tmp) / "crawl.sqlite3")
        pages = server.pages
        log(
            f"crawl: {pages} pages of {server.page_size} ({server.total_bytes / 1e6:.1f} MB) at {server.url}"
        )
        base_args = {"url": server.url, "pages": pages, "page_size": server.page_size}
        b1 = checked(run_child("bench.crawl:baseline_crawl", base_args), "baseline crawl")
        log(f"crawl: baseline {b1['seconds']:.2f} s")
        first_run = run_child(
            "bench.crawl:ours_crawl", {"url": server.url, "db_path": db_path, "fresh": True}
        )
        first = checked(first_run, "first crawl")
        log(
            f"crawl: ours {first['seconds']:.2f} s ({first['result']['outcome']}, new {first['result']['new']})"
        )
        b2 = checked(run_child("bench.crawl:baseline_crawl", base_args), "baseline crawl")
        log(f"crawl: baseline again {b2['seconds']:.2f} s")
        server.reset_counts()
        second_run = run_child(
            "bench.crawl:ours_crawl", {"url": server.url, "db_path": db_path, "fresh": False}
        )
        second = checked(second_run, "recrawl")
        log(f"crawl: recrawl {second['seconds']:.2f} s (unchanged {second['result']['unchanged']})")

    base_seconds = (b1["seconds"] + b2["seconds"]) / 2
    ours_pps = first["result"]["pages"] / first["seconds"]
    base_pps = pages / base_seconds
    r1 = ratio(ours_pps, base_pps)
    fr = first["result"]
    crawl_ok = fr["outcome"] == "ok" and fr["new"] == server.unique_topics and fr["pages"] == pages
    results = [
        Result(
            name="crawl",
            title="Crawl throughput (SEDIA emulator)",
            ours=round(ours_pps, 2),
            baseline=round(base_pps, 2),
            ratio=r1,
            unit="pages/s",
            target=f"≥ {CRAWL_TARGET} × baseline",
            passed=bool(crawl_ok and r1 is not None and r1 >= CRAWL_TARGET),
            peak_memory_mb=first_run.peak_tree_mb,
            ours_label="eu_portal → SQLite via crawl_sources (BENCH_SETTINGS)",
            baseline_label="bare Scrapy spider, same pages, does nothing",
            details={
                "topics": server.unique_topics,
                "results": len(server.results),
                "pages": pages,
                "ours_seconds": round(first["seconds"], 3),
                "ours_topics_per_second": round(server.unique_topics / first["seconds"], 1),
                "ours_pipeline_seconds_before_linking": first.get("pipeline_seconds"),
                "baseline_seconds": [round(b1["seconds"], 3), round(b2["seconds"], 3)],
                "baseline_in_scrapy_seconds": [b1.get("elapsed"), b2.get("elapsed")],
                "ours_result": fr,
                "ours_peak_process_mb": first_run.peak_process_mb,
                "correct": crawl_ok,
            },
        )
    ]
    changed = second["changed_tables"]
    only_run = (
        set(changed) <= {"crawl_run"}
        and changed.get("crawl_run", {}).get("rows_after", 0)
        == changed.get("crawl_run", {}).get("rows_before", 0) + 1
    )
    sr = second["result"]
    r2 = ratio(second["seconds"], first["seconds"])
    results.append(
        Result(
            name="recrawl",
            title="Recrawl of the unchanged source",
            ours=round(second["seconds"], 3),
            baseline=round(first["seconds"], 3),
            ratio=r2,
            unit="s",
            target=f"≤ {RECRAWL_TARGET} × first crawl; only the CrawlRun written",
            passed=bool(
                only_run and sr["outcome"] == "ok" and r2 is not None and r2 <= RECRAWL_TARGET
            ),
            peak_memory_mb=second_run.peak_tree_mb,
            ours_label="second crawl_sources, nothing changed",
            baseline_label="first crawl's time",
            details={
                "changed_tables": changed,
                "only_crawl_run_written": only_run,
                "first_pipeline_seconds_before_linking": first.get("pipeline_seconds"),
                "pipeline_seconds_before_linking": second.get("pipeline_seconds"),
                "result": sr,
            },
        )
    )
    return results
