"""Helpers for the crawler tests (imported by name: a module called ``conftest`` is not
unique across test folders): fixtures served by a real local HTTP server (the mirror),
crawls with politeness off, fresh databases."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from db_support import fresh_database  # noqa: F401 - re-exported for the tests

from config.loader import Config, load_config
from crawler.mirror import Mirror
from crawler.settings import BENCH_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "tests" / "files"

#: politeness off, and a short per-request timeout so the "timing out" test is quick
TEST_SETTINGS = {**BENCH_SETTINGS, "DOWNLOAD_TIMEOUT": 2, "RETRY_TIMES": 1}


def mirrored_config(mirror: Mirror, config_dir: Path | None = None) -> Config:
    """The shipped (or given) config with every recorded source pointed at the mirror."""
    config = load_config(config_dir or ROOT / "config")
    return dataclasses.replace(config, sources=mirror.sources(config.sources))


def copy_recordings(target: Path, *keys: str) -> Path:
    """A private copy of some fixture recordings that a test may edit."""
    target.mkdir(parents=True, exist_ok=True)
    for key in keys:
        shutil.copytree(FILES / key, target / key)
    return target


def add_sources(config_dir: Path, entries: str) -> None:
    """Append source entries (YAML text, indented as list items) to a config copy."""
    path = config_dir / "sources.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + entries, encoding="utf-8")
