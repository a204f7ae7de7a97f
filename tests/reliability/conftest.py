"""Fixtures for the reliability tests: a module-wide database, configs whose sources point
at a fault server, and helpers that read what a crawl left in the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# pytest puts this directory on sys.path (rootdir-relative imports, no __init__.py), so the
# test modules import the helpers as `faults` and `rel_support`.
from rel_support import fresh_database  # noqa: E402


@pytest.fixture(scope="module")
def module_db_url(_migrated_database: str, tmp_path_factory) -> Iterator[str]:
    yield fresh_database(_migrated_database, tmp_path_factory.mktemp("db") / "bevaka.sqlite3")


@pytest.fixture(scope="module")
def tls_certs(tmp_path_factory):
    """A throw-away CA and a server certificate for 127.0.0.1 (trustme)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    return ca, cert
