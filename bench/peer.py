"""Benchmark 5: a peer. 200 RSS feeds of 20 items served locally.

* urlwatch (PyPI): one job per feed, its email reporter (SMTP) to a local aiosmtpd; config
  in a temp dir (urls.yaml, urlwatch.yaml, hooks.py, cache.db); ``urlwatch --urls --config
  --hooks --cache`` timed around the process, a first run and a second, unchanged run.
* Bevaka: 200 ``feed`` sources and one subscriber (the coordinator, so one digest);
  ``bevaka run-once`` (crawl → match → health → digest over SMTP to the same aiosmtpd) timed
  around the process, a first and a second run. Both sides: politeness off (Bevaka's
  settings.yaml ``crawl:`` with no robots.txt, no delay, no AutoThrottle; urlwatch has none).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.harness import ROOT, Result, checked, ratio, run_child, write_bevaka_config

TARGET = 0.5


def _bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def write_urlwatch(directory: Path, feed_urls: list[str], smtp_port: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    jobs = [{"name": f"feed {i:03d}", "url": url} for i, url in enumerate(feed_urls)]
    (directory / "urls.yaml").write_text(yaml.safe_dump_all(jobs), encoding="utf-8")
    config = {
        "display": {"new": True, "error": True, "unchanged": False, "empty-diff": False},
        "report": {
            "stdout": {"enabled": False, "color": False},
            "email": {
                "enabled": True,
                "html": False,
                "to": "international@lidkoping.se",
                "from": "urlwatch@lidkoping.se",
                "subject": "{count} changes: {jobs}",
                "method": "smtp",
                "smtp": {
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "starttls": False,
                    "auth": False,
                    "user": "",
                },
            },
        },
    }
    (directory / "urlwatch.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (directory / "hooks.py").write_text("", encoding="utf-8")


def write_bevaka(directory: Path, feed_urls: list[str], smtp_port: int) -> Path:
    """A config dir (settings, sources with one feed source per URL, the shipped needs)."""
    sources = [
        {"key": f"feed{i:03d}", "name": f"Flöde {i:03d}", "kind": "feed", "url": url}
        for i, url in enumerate(feed_urls)
    ]
    return write_bevaka_config(directory, smtp_port=smtp_port, sources=sources, timeout_seconds=10)


def _env(directory: Path, config: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(directory)
    env["XDG_CONFIG_HOME"] = str(directory / ".config")
    env["XDG_CACHE_HOME"] = str(directory / ".cache")
    env["PYTHONPATH"] = str(ROOT)
    env.pop("DATABASE_URL", None)
    if config is not None:
        env["BEVAKA_CONFIG"] = str(config)
        env["BEVAKA_SECRET_KEY"] = "bench-secret-key-not-a-real-one-7Hx2Qm9Zp4"
    return env


def setup_bevaka(directory: str, feed_urls: list[str], smtp_port: int) -> dict[str, Any]:
    """Worker: write the config, migrate the database, add the one subscriber (untimed)."""
    from datetime import UTC, datetime

    from bench.dbutil import fresh_sqlite
    from storage.db import make_engine, session_scope
    from storage.models import Subscriber

    path = Path(directory)
    config = write_bevaka(path, feed_urls, smtp_port)
    url = fresh_sqlite(path / "bevaka.sqlite3")
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.add(
            Subscriber(
                email="international@lidkoping.se",
                name="Internationella gruppen",
                role="coordinator",
                active=True,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    engine.dispose()
    return {"config": str(config)}


def run_process(argv: list[str], directory: str, config: str | None = None) -> dict[str, Any]:
    """Worker: run one command in ``directory``, timed around the process."""
    path = Path(directory)
    started = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=path,
        env=_env(path, Path(config) if config else None),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "returncode": proc.returncode,
        "stdout": proc.stdout[-3000:],
        "stderr": proc.stderr[-3000:],
    }


def run(quick: bool, log) -> list[Result]:
    from bench.feeds import FeedServer
    from bench.servers import SmtpSink
    from bench.vocab import need_terms
    from config.loader import DEFAULT_CONFIG_DIR, load_config

    feeds = 10 if quick else 200
    items = 20
    terms = need_terms(load_config(DEFAULT_CONFIG_DIR).needs)
    log(f"peer: {feeds} RSS feeds × {items} items …")
    results: list[Result] = []
    with (
        FeedServer(feeds, items, terms) as server,
        SmtpSink() as sink,
        tempfile.TemporaryDirectory(prefix="bevaka-bench-peer-") as tmp,
    ):
        urls = [server.feed_url(i) for i in range(feeds)]
        uw_dir = Path(tmp) / "urlwatch"
        write_urlwatch(uw_dir, urls, sink.port)
        uw_argv = [
            _bin("urlwatch"),
            "--urls", str(uw_dir / "urls.yaml"),
            "--config", str(uw_dir / "urlwatch.yaml"),
            "--hooks", str(uw_dir / "hooks.py"),
            "--cache", str(uw_dir / "cache.db"),
        ]  # fmt: skip
        bv_dir = Path(tmp) / "bevaka"
        setup = checked(
            run_child(
                "bench.peer:setup_bevaka",
                {"directory": str(bv_dir), "feed_urls": urls, "smtp_port": sink.port},
            ),
            "bevaka setup",
        )
        bv_argv = [_bin("bevaka"), "run-once"]
        runs: dict[str, dict[str, Any]] = {}
        peaks: dict[str, float] = {}
        for round_name in ("first", "second"):
            for side, argv, directory, config in (
                ("urlwatch", uw_argv, uw_dir, None),
                ("bevaka", bv_argv, bv_dir, setup["config"]),
            ):
                before = (sink.count, sum(server.requests.values()))
                child = run_child(
                    "bench.peer:run_process",
                    {"argv": argv, "directory": str(directory), "config": config},
                )
                answer = checked(child, f"{side} {round_name} run")
                answer["mails"] = sink.count - before[0]
                answer["requests"] = sum(server.requests.values()) - before[1]
                runs[f"{side}_{round_name}"] = answer
                peaks[f"{side}_{round_name}"] = child.peak_tree_mb
                log(
                    f"peer: {side} {round_name} run {answer['seconds']:.2f} s "
                    f"(exit {answer['returncode']}, {answer['requests']} requests, {answer['mails']} mails)"
                )
    for round_name in ("first", "second"):
        uw = runs[f"urlwatch_{round_name}"]
        bv = runs[f"bevaka_{round_name}"]
        r = ratio(bv["seconds"], uw["seconds"])
        ok = bv["returncode"] == 0 and uw["returncode"] == 0
        expected_mails = 1 if round_name == "first" else 0
        correct = ok and bv["mails"] == expected_mails and uw["mails"] == expected_mails
        results.append(
            Result(
                name=f"peer-{round_name}",
                title=f"Peer: {feeds} feeds, {round_name} run (Bevaka vs urlwatch)",
                ours=round(bv["seconds"], 3),
                baseline=round(uw["seconds"], 3),
                ratio=r,
                unit="s",
                target=f"≤ {TARGET} × urlwatch",
                passed=bool(correct and r is not None and r <= TARGET),
                peak_memory_mb=peaks[f"bevaka_{round_name}"],
                ours_label=f"bevaka run-once, {feeds} feed sources, one digest",
                baseline_label=f"urlwatch, {feeds} jobs, email reporter",
                details={
                    "feeds": feeds,
                    "items_per_feed": items,
                    "bevaka_mails": bv["mails"],
                    "urlwatch_mails": uw["mails"],
                    "bevaka_requests": bv["requests"],
                    "urlwatch_requests": uw["requests"],
                    "bevaka_exit": bv["returncode"],
                    "urlwatch_exit": uw["returncode"],
                    "bevaka_output": bv["stdout"][-1500:],
                    "urlwatch_stderr": uw["stderr"][-800:],
                    "urlwatch_peak_mb": peaks[f"urlwatch_{round_name}"],
                    "correct": correct,
                },
            )
        )
    return results
