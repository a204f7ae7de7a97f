"""A fresh, migrated, empty database for a test (or a test module), on SQLite or on
PostgreSQL (BEVAKA_TEST_DATABASE_URL). Imported by name from the test folders' helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

PG_ADMIN_URL = os.environ.get("BEVAKA_TEST_DATABASE_URL")


def fresh_database(template_url: str, target: Path) -> str:
    """An empty migrated database: a copy of the SQLite template at ``target``, or the
    PostgreSQL test database with every table truncated."""
    if PG_ADMIN_URL:
        engine = create_engine(template_url)
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return template_url
    shutil.copyfile(Path(make_url(template_url).database), target)
    return f"sqlite:///{target}"
