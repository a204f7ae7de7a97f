"""Helpers shared by the reliability tests (importable as ``rel_support``)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select

from config.loader import Config, load_config
from config.schema import SourceEntry, SourcesFile

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("BEVAKA_TEST_DATABASE_URL")


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


def shipped_config(directory: Path | None = None) -> Config:
    return load_config(directory or ROOT / "config")


def with_sources(config: Config, entries: list[dict[str, Any]]) -> Config:
    """``config`` crawling exactly these source entries (dicts as in sources.yaml)."""
    sources = SourcesFile(sources=[SourceEntry.model_validate(e) for e in entries])
    return dataclasses.replace(config, sources=sources)


def rows(engine, model, *where) -> list[Any]:
    with Session(engine) as session:
        statement = select(model)
        for clause in where:
            statement = statement.where(clause)
        return list(session.exec(statement).all())
