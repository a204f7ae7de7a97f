"""Benchmark 6: the whole pipeline's memory. ``bevaka run-once`` (crawl → match → health →
digest) over N SEDIA topics from the emulator, with the shipped needs.yaml and a few
subscribers getting digests over SMTP to a local aiosmtpd. The process tree (the CLI and its
crawl child) is polled for its summed RSS; the largest single process is reported too."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import Result, checked, run_child, write_bevaka_config

LIMIT_MB = 300.0
SUBSCRIBERS = 25


def setup(directory: str, url: str, smtp_port: int) -> dict[str, Any]:
    """Worker: config dir, migrated database, subscribers (one per audience key + the
    coordinator)."""
    from bench.dbutil import fresh_sqlite
    from config.loader import load_config
    from storage.db import make_engine, session_scope
    from storage.models import Subscriber, Subscription

    path = Path(directory)
    source = {
        "key": "eu_portal",
        "name": "EU Funding & Tenders Portal (bench emulator)",
        "kind": "eu_portal",
        "url": url,
        "options": {"page_size": 100, "max_pages": 10_000},
    }
    config = write_bevaka_config(
        path, smtp_port=smtp_port, sources=[source], timeout_seconds=30, source_timeout_seconds=3600
    )
    needs = load_config(config).needs
    database_url = fresh_sqlite(path / "bevaka.sqlite3")
    engine = make_engine(database_url)
    departments = [a.key for a in needs.departments]
    topics = [a.key for a in needs.topics]
    keys = departments + topics
    with session_scope(engine) as session:
        session.add(
            Subscriber(
                email="international@lidkoping.se",
                name="Internationella gruppen",
                role="coordinator",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        for n in range(SUBSCRIBERS - 1):
            key = keys[n % len(keys)]
            sub = Subscriber(
                email=f"person{n:03d}@lidkoping.se",
                name=f"Person {n:03d}",
                department=key if key in departments else None,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
            session.add(sub)
            session.flush()
            if key in topics:
                session.add(Subscription(subscriber_id=sub.id, topic=key))
    engine.dispose()
    return {"config": str(config)}


def run(quick: bool, log) -> list[Result]:
    from bench.peer import _bin
    from bench.sedia import SediaServer
    from bench.servers import SmtpSink

    topics = 500 if quick else 5000
    log(f"memory: bevaka run-once over {topics} SEDIA topics …")
    with (
        SediaServer(topics) as server,
        SmtpSink() as sink,
        tempfile.TemporaryDirectory(prefix="bevaka-bench-mem-") as tmp,
    ):
        prepared = checked(
            run_child(
                "bench.memory:setup",
                {"directory": tmp, "url": server.url, "smtp_port": sink.port},
            ),
            "pipeline setup",
        )
        child = run_child(
            "bench.peer:run_process",
            {"argv": [_bin("bevaka"), "run-once"], "directory": tmp, "config": prepared["config"]},
            timeout=3600,
        )
        answer = checked(child, "bevaka run-once")
        mails = sink.count
    log(
        f"memory: run-once {answer['seconds']:.1f} s, exit {answer['returncode']}, "
        f"peak tree {child.peak_tree_mb} MB, largest process {child.peak_process_mb} MB"
    )
    peak = child.peak_tree_mb
    return [
        Result(
            name="memory",
            title=f"Whole pipeline memory (bevaka run-once, {topics} topics)",
            ours=peak,
            baseline=LIMIT_MB,
            ratio=round(peak / LIMIT_MB, 3),
            unit="MB",
            target=f"peak RSS ≤ {LIMIT_MB:.0f} MB",
            passed=bool(answer["returncode"] == 0 and peak <= LIMIT_MB),
            peak_memory_mb=peak,
            ours_label="summed RSS of bevaka run-once and its crawl child (polled)",
            baseline_label="the limit",
            details={
                "topics": topics,
                "seconds": round(answer["seconds"], 1),
                "exit": answer["returncode"],
                "largest_process_mb": child.peak_process_mb,
                "mails": mails,
                "output": answer["stdout"][-2000:],
                "stderr": answer["stderr"][-1000:],
            },
        )
    ]
