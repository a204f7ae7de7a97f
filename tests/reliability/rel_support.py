"""Helpers shared by the reliability tests (importable as ``rel_support``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from db_support import fresh_database  # noqa: F401 - re-exported for the tests
from sqlmodel import Session, select

from config.loader import Config, load_config
from config.schema import SourceEntry, SourcesFile

ROOT = Path(__file__).resolve().parents[2]


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


def write_cli_config(
    config_dir: Path,
    *,
    sources: list[dict[str, Any]] | None = None,
    crawl: dict[str, Any] | None = None,
    smtp: dict[str, Any] | None = None,
    schedule: dict[str, Any] | None = None,
    example_needs: bool = True,
) -> None:
    """Make a test config directory crawl ``sources`` quickly (politeness off, short
    timeouts: only ever against 127.0.0.1) and use the example förvaltningar and topics of
    notifications.example (so the example world's subscribers are valid)."""
    import yaml

    from notifications.example import example_needs as needs

    settings = yaml.safe_load((config_dir / "settings.yaml").read_text("utf-8"))
    settings["crawl"].update(
        {
            "obey_robots": False,
            "download_delay": 0,
            "autothrottle": False,
            "timeout_seconds": 2,
            "retries": 1,
            "source_timeout_seconds": 60,
            **(crawl or {}),
        }
    )
    settings["smtp"].update(smtp or {})
    settings["schedule"].update(schedule or {})
    (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))
    if sources is not None:
        (config_dir / "sources.yaml").write_text(
            yaml.safe_dump({"sources": sources}, allow_unicode=True, sort_keys=False)
        )
    if example_needs:
        data = needs().model_dump(mode="json", exclude_defaults=True)
        (config_dir / "needs.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
