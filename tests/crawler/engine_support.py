"""Shared by the engine's tests (test_engine_*.py, test_wordpress.py, test_sitemap.py):
the mirror serving tests/files/engine/, a frozen clock, a source entry on it, and a check
through real Scrapy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from config.schema import SourceEntry
from crawler.mirror import Mirror

FILES = Path(__file__).resolve().parent.parent / "files"
NOW = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module", name="mirror")
def engine_mirror() -> Iterator[Mirror]:
    with Mirror(FILES, keys=["engine"]) as server:
        yield server


@pytest.fixture(autouse=True, name="_frozen")
def frozen_now(request) -> Iterator[None]:
    if request.node.get_closest_marker("slow"):
        yield  # a child process: "now" is passed explicitly instead
        return
    with freeze_time(NOW):
        yield


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def entry(mirror: Mirror, kind: str, path: str, **options) -> SourceEntry:
    return SourceEntry(key="k", name="K", kind=kind, url=mirror.base_url + path, options=options)


def inspect(source: SourceEntry):
    """``crawler.runner.inspect_source`` for one entry: a child process, real Scrapy."""
    from types import SimpleNamespace

    from config.loader import load_config
    from config.schema import SourcesFile
    from crawler.runner import inspect_source
    from crawler.settings import BENCH_SETTINGS

    config = SimpleNamespace(settings=load_config().settings, sources=SourcesFile(sources=[source]))
    return inspect_source(config=config, key=source.key, now=NOW, settings_overrides=BENCH_SETTINGS)
