"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL when
BEVAKA_TEST_DATABASE_URL is set), a config directory, and CLI runners.

Tests that use the database are marked ``storage`` automatically; CI runs them again on
PostgreSQL with ``BEVAKA_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from db_support import fresh_database
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from storage.db import make_engine, normalise_url
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
FILES = Path(__file__).resolve().parent / "files"
PG_ADMIN_URL = os.environ.get("BEVAKA_TEST_DATABASE_URL")
DB_FIXTURES = {"db_url", "engine", "session", "bevaka", "cli_env"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.storage)


@pytest.fixture(scope="session")
def _migrated_database(tmp_path_factory) -> Iterator[str]:
    """Run the real Alembic migrations once per test session."""
    if PG_ADMIN_URL:
        admin_url = normalise_url(PG_ADMIN_URL)
        name = f"bevaka_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url


@pytest.fixture
def db_url(_migrated_database: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for this test."""
    yield fresh_database(_migrated_database, tmp_path / "bevaka.sqlite3")


@pytest.fixture
def engine(db_url: str):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped config that a test may edit."""
    target = tmp_path / "config"
    target.mkdir()
    for name in ("settings.yaml", "sources.yaml", "needs.yaml"):
        shutil.copyfile(ROOT / "config" / name, target / name)
    return target


@pytest.fixture
def cli_env(db_url: str, config_dir: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for running ``bevaka`` against the test database and config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEVAKA_", "DATABASE_URL"))}
    env.update(
        {
            "DATABASE_URL": db_url,
            "BEVAKA_CONFIG": str(config_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Bevaka:
    """Runs the real ``bevaka`` command in a subprocess."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env = env
        self.cwd = cwd

    def __call__(
        self, *args: str, check: bool = False, timeout: float = 240, **kw
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "cli.app", *args],
            env={**self.env, **kw.pop("env", {})},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"bevaka {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result


@pytest.fixture
def bevaka(cli_env: dict[str, str], tmp_path: Path) -> Bevaka:
    env = dict(cli_env)
    env["PYTHONPATH"] = str(ROOT)
    return Bevaka(env, tmp_path)
