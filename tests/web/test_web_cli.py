"""`bevaka web` serves the app with uvicorn (the real CLI in a subprocess)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from net_support import free_port


def test_web_needs_a_secret_key(bevaka):
    result = bevaka("web", "--port", str(free_port()), timeout=60)
    assert result.returncode == 2
    assert "BEVAKA_SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_web_serves_health_and_pages(bevaka):
    port = free_port()
    env = {**bevaka.env, "BEVAKA_SECRET_KEY": "cli-test-secret-Vq8Lm3Zx7Rt2Wp5Ks9"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.app", "web", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=bevaka.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = []
        for line in proc.stdout:  # blocks until uvicorn says it is listening (or exits)
            seen.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
        assert proc.poll() is None, "".join(seen)
        assert any("public_url is not set" in line for line in seen)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 200 and health.json()["database"] == "ok"
        page = httpx.get(f"http://127.0.0.1:{port}/registrera", timeout=10)
        assert page.status_code == 200 and "Prenumerera på Bevaka" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
