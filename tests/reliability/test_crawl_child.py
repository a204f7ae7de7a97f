"""The crawl child process dies with its parent: ``kill -9`` of ``bevaka crawl`` alone (not
its process group) used to leave the child crawling and writing the database with nobody
to watch it (issue 17, item 8). Real CLI in a subprocess, a real HTTP server that never
answers; the test waits for events (the request arriving, the child ending), not seconds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

import psutil
import pytest
from faults import FaultServer, Hang
from rel_support import write_cli_config

pytestmark = pytest.mark.slow


def test_kill_9_of_the_crawl_parent_ends_its_crawl_child(bevaka, config_dir):
    asked = threading.Event()
    with FaultServer(hang_limit=120) as server:
        server.route("/hang/feed.xml", Hang())
        server.on_request.append(lambda _m, path, _hit: asked.set() if "hang" in path else None)
        write_cli_config(
            config_dir,
            sources=[
                {
                    "key": "haengande",
                    "name": "Hängande flöde",
                    "kind": "feed",
                    "url": server.url("/hang/feed.xml"),
                }
            ],
            crawl={"timeout_seconds": 120, "retries": 0},
        )
        parent = subprocess.Popen(
            [sys.executable, "-m", "cli.app", "crawl"],
            env=bevaka.env,
            cwd=bevaka.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group, so the test can clean up after it
        )
        try:
            assert asked.wait(120), "the crawl never reached the server"
            children = psutil.Process(parent.pid).children(recursive=True)
            crawlers = [c for c in children if "crawler.runner" in " ".join(c.cmdline())]
            assert crawlers, "no crawl child process"
            os.kill(parent.pid, signal.SIGKILL)  # the parent alone, as a crash would
            parent.wait()
            gone, alive = psutil.wait_procs(crawlers, timeout=30)
            assert not alive, f"crawl child still running after its parent died: {alive}"
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(parent.pid, signal.SIGKILL)
