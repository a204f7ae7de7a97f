"""Helpers for the crawler tests: fixtures served by a real local HTTP server (the mirror),
crawls run through the real runner (one child process per source) with politeness off, and a
database per test module so each spider module crawls once and asserts many fields."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from config.loader import Config, load_config
from crawler.mirror import Mirror
from crawler.settings import BENCH_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "tests" / "files"
PG_ADMIN_URL = os.environ.get("BEVAKA_TEST_DATABASE_URL")

#: politeness off, and a short per-request timeout so the "timing out" test is quick
TEST_SETTINGS = {**BENCH_SETTINGS, "DOWNLOAD_TIMEOUT": 2, "RETRY_TIMES": 1}


def mirrored_config(mirror: Mirror, config_dir: Path | None = None) -> Config:
    """The shipped (or given) config with every recorded source pointed at the mirror."""
    config = load_config(config_dir or ROOT / "config")
    return dataclasses.replace(config, sources=mirror.sources(config.sources))


def fresh_database(template_url: str, target: Path) -> str:
    """An empty migrated database: a copy of the SQLite template, or PostgreSQL truncated."""
    if PG_ADMIN_URL:
        engine = create_engine(template_url)
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return template_url
    shutil.copyfile(Path(make_url(template_url).database), target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def module_db_url(_migrated_database: str, tmp_path_factory) -> Iterator[str]:
    yield fresh_database(_migrated_database, tmp_path_factory.mktemp("db") / "bevaka.sqlite3")


@pytest.fixture(scope="module")
def files_mirror() -> Iterator[Mirror]:
    with Mirror(FILES) as mirror:
        yield mirror


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
