"""`bevaka run` as a real process: one instance per database, clean stop on SIGTERM,
a SIGKILLed holder's lease runs out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SOURCES = """sources:
  - key: eu_portal
    name: EU Funding & Tenders Portal
    kind: eu_portal
    enabled: false
"""


@pytest.fixture
def run_env(cli_env, config_dir):
    (config_dir / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    settings = config_dir / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    text = text.replace("misfire_grace_seconds: 21600", "misfire_grace_seconds: 1")
    text = text.replace("lock_lease_seconds: 120", "lock_lease_seconds: 3")
    settings.write_text(text, encoding="utf-8")
    env = dict(cli_env)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _start(env, tmp_path: Path, name: str):
    log = tmp_path / f"{name}.log"
    handle = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.app", "run"],
        env=env,
        cwd=tmp_path,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return proc, log


def _wait_for(log: Path, text: str, proc, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(encoding="utf-8", errors="replace")
        if text in content:
            return content
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not seen; log:\n{log.read_text(errors='replace')}")


def test_second_instance_refused_then_sigterm_exits_zero(run_env, tmp_path):
    first, first_log = _start(run_env, tmp_path, "first")
    try:
        _wait_for(first_log, "event=service.start", first)
        second = subprocess.run(
            [sys.executable, "-m", "cli.app", "run"],
            env=run_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert f"pid {first.pid}" in second.stderr + second.stdout
        assert "another Bevaka scheduler is running" in second.stderr + second.stdout
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
        assert "event=service.stopped" in first_log.read_text()
    finally:
        if first.poll() is None:
            first.kill()


def test_after_sigkill_a_new_instance_starts_once_the_lease_runs_out(run_env, tmp_path):
    first, first_log = _start(run_env, tmp_path, "first")
    _wait_for(first_log, "event=service.start", first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    # Right after the kill the lease (3 s) is still held; retry until it has run out.
    deadline = time.monotonic() + 30
    while True:
        third, third_log = _start(run_env, tmp_path, "third")
        with contextlib.suppress(AssertionError):
            _wait_for(third_log, "event=service.", third)
        content = third_log.read_text()
        if "event=service.start" in content:
            break
        assert third.wait(timeout=30) != 0
        assert "another Bevaka scheduler is running" in content
        assert time.monotonic() < deadline, "the dead holder's lease never ran out"
        time.sleep(0.5)
    third.send_signal(signal.SIGINT)
    assert third.wait(timeout=10) == 0
