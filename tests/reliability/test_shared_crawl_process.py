"""Sources sharing one crawl process (``crawl.sources_per_process``): when that process is
killed (kill -9, an out-of-memory kill) in the middle of the batch, the sources that had
finished keep their runs, and every source that had not is crawled again in a process of
its own, under the same CrawlRun; nothing is stored twice."""

from __future__ import annotations

import dataclasses
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faults import Body, Fault, FaultServer
from rel_support import rows, shipped_config, with_sources
from test_source_faults import FEED_TYPE, OVERRIDES, feed_entry, rss

from crawler.runner import crawl_sources
from storage.db import make_engine
from storage.models import Call, CrawlRun

pytestmark = pytest.mark.storage

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _crawl_children() -> list[int]:
    """This process's children that are crawl processes (``python -m crawler.runner``)."""
    mine = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = stat.rsplit(")", 1)[1].split()[1]
        if parent == mine and b"crawler.runner" in cmdline:
            found.append(int(entry.name))
    return found


@dataclasses.dataclass
class KillCrawlerOnce(Fault):
    """The first request kills the crawl process asking; later ones get the feed."""

    then: Fault
    kills: int = 0

    def answer(self, handler, hit: int) -> None:
        if hit == 1:
            for pid in _crawl_children():
                os.kill(pid, signal.SIGKILL)
                self.kills += 1
            handler.close_connection = True
            return
        self.then.answer(handler, hit)


def _crawl_feeds(
    server: FaultServer, db_url: str, keys: list[str], overrides=OVERRIDES, **crawl_settings
):
    """Crawl feed sources ``keys`` served by ``server`` (``settings.crawl`` overridden)."""
    entries = [feed_entry(k) for k in keys]
    for entry in entries:
        entry["url"] = server.base_url + entry["url"]
    config = with_sources(shipped_config(), entries)
    crawl = config.settings.crawl.model_copy(update=crawl_settings)
    config = dataclasses.replace(
        config, settings=config.settings.model_copy(update={"crawl": crawl})
    )
    return crawl_sources(config=config, database_url=db_url, now=NOW, settings_overrides=overrides)


def test_a_killed_shared_process_reruns_each_unfinished_source_alone(db_url):
    keys = ["first", "victim", "after"]
    with FaultServer() as server:
        killer = KillCrawlerOnce(Body(rss("victim", 3), FEED_TYPE))
        server.route("/first/feed.xml", Body(rss("first", 2), FEED_TYPE))
        server.route("/victim/feed.xml", killer)
        server.route("/after/feed.xml", Body(rss("after", 4), FEED_TYPE))
        results = _crawl_feeds(server, db_url, keys, sources_per_process=3)
        hits = {k: server.hits(f"/{k}/feed.xml") for k in keys}

    assert killer.kills == 1  # the shared process (one host: one source at a time) died
    assert [(r.source, r.outcome, r.new) for r in results] == [
        ("first", "ok", 2),
        ("victim", "ok", 3),
        ("after", "ok", 4),
    ]
    # "first" ended before the kill: not crawled again; the other two once more, alone
    assert hits == {"first": 1, "victim": 2, "after": 1}
    engine = make_engine(db_url)
    try:
        runs = rows(engine, CrawlRun)
        assert sorted((r.source, r.outcome, r.new) for r in runs) == [
            ("after", "ok", 4),
            ("first", "ok", 2),
            ("victim", "ok", 3),
        ]
        calls = rows(engine, Call)
        assert len(calls) == 9
        assert len({(c.source, c.external_id) for c in calls}) == 9
    finally:
        engine.dispose()


def test_sources_per_process_1_gives_each_source_its_own_process(db_url):
    """The most isolated setting: the kill costs the victim's first attempt only, and
    since its process ran nothing else, it is not retried."""
    with FaultServer() as server:
        killer = KillCrawlerOnce(Body(rss("victim", 3), FEED_TYPE))
        server.route("/victim/feed.xml", killer)
        server.route("/after/feed.xml", Body(rss("after", 1), FEED_TYPE))
        results = _crawl_feeds(server, db_url, ["victim", "after"], sources_per_process=1)
    victim, after = results
    assert (victim.outcome, after.outcome, after.new) == ("failed", "ok", 1)
    assert "crawl process exited with status -9" in victim.error


@dataclasses.dataclass
class Counted(Fault):
    """Answers with ``fault`` and records how many requests of a group were in flight at
    once, per Host header (``seen`` holds the highest count per host)."""

    fault: Fault
    group: dict

    def answer(self, handler, hit: int) -> None:
        host = handler.headers.get("Host", "").rsplit(":", 1)[0]
        with self.group["lock"]:
            self.group["now"][host] = self.group["now"].get(host, 0) + 1
            self.group["seen"][host] = max(self.group["seen"].get(host, 0), self.group["now"][host])
        try:
            self.fault.answer(handler, hit)
        finally:
            with self.group["lock"]:
                self.group["now"][host] -= 1


def test_sources_of_one_host_are_never_crawled_at_once(db_url):
    """Politeness holds across sources: a shared process crawls several sources at once,
    but never two of the same host (here every source answers slowly on one host)."""
    import threading

    from faults import Slow

    group: dict = {"lock": threading.Lock(), "now": {}, "seen": {}}
    keys = [f"s{n}" for n in range(4)]
    with FaultServer() as server:
        for key in keys:
            feed = Body(rss(key, 1), FEED_TYPE)
            server.route(f"/{key}/feed.xml", Counted(Slow(0.3, feed), group))
        results = _crawl_feeds(server, db_url, keys, parallel_sources=4)
    assert [(r.outcome, r.new) for r in results] == [("ok", 1)] * 4
    assert group["seen"] == {"127.0.0.1": 1}


def _listening_sockets(pid: int) -> list[str]:
    """The TCP sockets process ``pid`` listens on (its socket fds matched against
    /proc/net/tcp{,6} rows in state LISTEN)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                listening.append(fields[1])
    return listening


@dataclasses.dataclass
class RecordListeners(Fault):
    """Answers with ``fault``, first noting what the crawl processes listen on."""

    fault: Fault
    seen: dict = dataclasses.field(default_factory=dict)

    def answer(self, handler, hit: int) -> None:
        for pid in _crawl_children():
            self.seen[pid] = _listening_sockets(pid)
        self.fault.answer(handler, hit)


def test_a_crawl_process_opens_no_port(db_url):
    """Scrapy 2.19 would start a remote-control HTTP server in every crawl; it is off."""
    with FaultServer() as server:
        recorder = RecordListeners(Body(rss("quiet", 1), FEED_TYPE))
        server.route("/quiet/feed.xml", recorder)
        (result,) = _crawl_feeds(server, db_url, ["quiet"])
    assert result.outcome == "ok"
    assert len(recorder.seen) == 1
    assert list(recorder.seen.values()) == [[]]


def test_a_batch_longer_than_one_source_limit_is_not_killed(db_url):
    """Sources of one host take turns, so a shared process may rightly run many times one
    source's time limit; the watchdog kills only a process in which nothing ends."""
    from faults import Slow

    keys = [f"turn{n}" for n in range(4)]
    with FaultServer() as server:
        for key in keys:
            server.route(f"/{key}/feed.xml", Slow(1.0, Body(rss(key, 1), FEED_TYPE)))
        overrides = {**OVERRIDES, "CLOSESPIDER_TIMEOUT": 2, "BEVAKA_KILL_GRACE_SECONDS": 1}
        results = _crawl_feeds(server, db_url, keys, overrides)
    # four turns of at least 1 s each outlast the 3 s watchdog, which counts from each
    # crawl's opening (never the process's start-up), so none is killed however busy the
    # machine is
    assert [(r.source, r.outcome, r.new) for r in results] == [(k, "ok", 1) for k in keys]
