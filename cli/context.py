"""Shared state and helpers for the ``bevaka`` CLI commands of every package."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine
from sqlmodel import Session

from config.loader import Config, ConfigError, load_config
from storage.db import make_engine, redact_url, session_scope

# No emoji codes (":100:" in "settings.yaml:100:" became 💯) and no highlighting: what is
# printed comes from config and sources. Markup stays for Bevaka's own labels; every value
# put into a markup string is escaped (rich.markup.escape) or printed with markup=False.
console = Console(highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, emoji=False)

EXIT_CONFIG = 2


@dataclass
class AppState:
    config: Config
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self):
        return self.config.settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.config.settings.database_url)
        return self._engine

    def require_schema(self) -> None:
        """Refuse to run against a database that is not at the latest migration."""
        from storage.migrate import current_revision, head_revision

        try:
            current = current_revision(self.engine)
        except Exception as exc:  # any driver error means "cannot reach"
            fail(
                f"cannot open database {redact_url(self.settings.database_url)}: {exc.__class__.__name__}: {exc}"
            )
        if current != head_revision():
            fail(
                f"database {redact_url(self.settings.database_url)} is at revision {current or 'none'}, "
                f"not {head_revision()}: run `bevaka db upgrade` first",
                code=EXIT_CONFIG,
            )

    @contextmanager
    def session(self) -> Iterator[Session]:
        self.require_schema()
        with session_scope(self.engine) as session:
            yield session


@dataclass
class ConfigRef:
    """Where the config is, before it has been loaded."""

    directory: Path | None


def state(ctx: typer.Context, *, second_opinion: bool = True) -> AppState:
    """The loaded configuration (and database access). Loads and validates the whole config
    on first use; a bad config ends the command with one line per problem and exit code 2.
    ``second_opinion=False`` (`bevaka model`): the model file is not read."""
    root = ctx.find_root()
    if isinstance(root.obj, AppState):
        return root.obj
    directory = root.obj.directory if isinstance(root.obj, ConfigRef) else None
    try:
        root.obj = AppState(load_config(directory, second_opinion=second_opinion))
    except ConfigError as exc:
        for problem in exc.problems:
            err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        err_console.print(f"configuration refused: {len(exc.problems)} problem(s)", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    return root.obj


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` (the message as written: it may hold config or scraped
    text) and exit with ``code``."""
    err_console.print(
        f"[red]error:[/red] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


def now_utc() -> datetime:
    return datetime.now(UTC)


def print_json(data: Any) -> None:
    """Stable JSON on stdout (sorted keys, UTF-8), for ``--format json``."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
