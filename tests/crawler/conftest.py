"""Fixtures for the crawler tests; the helpers live in crawl_support.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crawl_support import FILES, fresh_database

from crawler.mirror import Mirror


@pytest.fixture(scope="module")
def module_db_url(_migrated_database: str, tmp_path_factory) -> Iterator[str]:
    yield fresh_database(_migrated_database, tmp_path_factory.mktemp("db") / "bevaka.sqlite3")


@pytest.fixture(scope="module")
def files_mirror() -> Iterator[Mirror]:
    with Mirror(FILES) as mirror:
        yield mirror
