"""The harness: run one measured side in a fresh child process, poll its process tree for
the peak RSS, collect its JSON answer; results, the table and the machine description."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


@dataclass
class ChildRun:
    """What one child process did: its answer, wall time and memory."""

    answer: dict[str, Any]
    wall_seconds: float
    peak_tree_mb: float  # peak of the summed RSS of the child and all its descendants
    peak_process_mb: float  # the largest single process (exact: ru_maxrss)
    returncode: int
    log_tail: str = ""


@dataclass
class Result:
    """One benchmark's row in the table and in results.json."""

    name: str
    title: str
    ours: float | None
    baseline: float | None
    ratio: float | None
    unit: str
    target: str
    passed: bool | None
    peak_memory_mb: float | None = None
    ours_label: str = ""
    baseline_label: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Poller(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop_event.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self.stop_event.wait(self.interval)


def run_child(
    task: str, args: dict[str, Any] | None = None, *, timeout: float = 1800, env: dict | None = None
) -> ChildRun:
    """Run ``bench.worker`` with ``task`` ("module:function") and ``args`` in a fresh
    process; the function's return value (a dict) is the answer."""
    with tempfile.TemporaryDirectory(prefix="bevaka-bench-") as tmp:
        answer_path = Path(tmp) / "answer.json"
        log_path = Path(tmp) / "child.log"
        job = {"task": task, "args": args or {}, "answer": str(answer_path)}
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), child_env.get("PYTHONPATH")) if p
        )
        child_env.update(env or {})
        started = time.perf_counter()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.worker"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(ROOT),
                env=child_env,
            )
            poller = _Poller(proc.pid)
            poller.start()
            try:
                proc.communicate(json.dumps(job).encode(), timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            finally:
                poller.stop_event.set()
                poller.join()
        wall = time.perf_counter() - started
        answer: dict[str, Any] = {}
        if answer_path.is_file():
            answer = json.loads(answer_path.read_text(encoding="utf-8"))
        tail = "\n".join(
            log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-25:]
        )
    exact = float(answer.get("_maxrss_kb", 0)) / 1024
    return ChildRun(
        answer=answer,
        wall_seconds=wall,
        peak_tree_mb=round(poller.peak / MB, 1),
        peak_process_mb=round(exact, 1),
        returncode=proc.returncode,
        log_tail=tail,
    )


class ChildFailed(RuntimeError):
    pass


def checked(run: ChildRun, what: str) -> dict[str, Any]:
    """The child's answer, or ChildFailed with its log tail."""
    if run.returncode != 0 or "error" in run.answer or not run.answer:
        message = run.answer.get("error") or f"exit status {run.returncode}"
        raise ChildFailed(f"{what} failed: {message}\n{run.log_tail}")
    return run.answer


def maxrss_kb() -> int:
    """The largest RSS of this process or any of its waited-for children (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def ratio(ours: float | None, baseline: float | None) -> float | None:
    if ours is None or not baseline:
        return None
    return round(ours / baseline, 3)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def table(results: list[Result]) -> str:
    headers = ["benchmark", "ours", "baseline", "ratio", "target", "peak MB", "result"]
    rows = []
    for r in results:
        verdict = "ERROR" if r.error else ("pass" if r.passed else "MISS")
        rows.append(
            [
                r.name,
                fmt(r.ours, r.unit),
                fmt(r.baseline, r.unit),
                "—" if r.ratio is None else f"{r.ratio:.3f}",
                r.target,
                fmt(r.peak_memory_mb),
                verdict,
            ]
        )
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)
    return "\n".join(out)


def write_bevaka_config(
    directory: Path, *, smtp_port: int, sources: list[dict[str, Any]], **crawl: Any
) -> Path:
    """A Bevaka config directory for a benchmark run: politeness off (the servers are local),
    digests over SMTP to the local sink, a SQLite file in ``directory``, the shipped needs.
    ``crawl`` adds or overrides ``settings.crawl`` keys."""
    import shutil

    import yaml

    from config.loader import DEFAULT_CONFIG_DIR

    config = directory / "config"
    config.mkdir(parents=True, exist_ok=True)
    settings = {
        "database_url": f"sqlite:///{directory / 'bevaka.sqlite3'}",
        "public_url": "https://bevaka.lidkoping.se",
        "crawl": {
            "obey_robots": False,
            "download_delay": 0,
            "autothrottle": False,
            "concurrent_requests_per_domain": 8,
            "retries": 1,
            **crawl,
        },
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"},
        "digest": {"outbox_dir": str(directory / "outbox")},
    }
    (config / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (config / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
    shutil.copy(DEFAULT_CONFIG_DIR / "needs.yaml", config / "needs.yaml")
    return config
