"""``bevaka db backup FILE`` and ``bevaka db restore FILE``: a consistent copy of the whole
database while Bevaka runs, and its way back.

SQLite uses its online backup API (page by page, consistent while the scheduler and the web
write); PostgreSQL uses ``pg_dump --format=custom`` and ``pg_restore``. A restore refuses a
database that already holds Bevaka tables unless ``force`` is given: a backup never
overwrites a live database by mistake.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from storage.db import make_engine, normalise_url, redact_url


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError(f"{url}: an in-memory SQLite database has nothing to back up")
    return Path(parsed.database)


def _libpq_url(url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver suffix)."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {detail[-1] if detail else done.returncode}")


def tables_in(url: str) -> list[str]:
    """The tables the database holds now (none for a new or empty one)."""
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        return []
    engine = make_engine(url)
    try:
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def backup(url: str, target: Path) -> None:
    """Write a consistent copy of the database at ``url`` to ``target`` (a new file)."""
    if target.exists():
        raise BackupError(f"{target} exists: a backup never overwrites a file; give a new name")
    if not tables_in(url):
        raise BackupError(f"{redact_url(url)} holds no tables: nothing to back up")
    target.parent.mkdir(parents=True, exist_ok=True)
    path = _sqlite_path(url)
    partial = target.with_name(target.name + ".partial")
    try:
        if path is not None:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        else:
            _run(
                [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial)]
                + ["--dbname", _libpq_url(url)],
                "pg_dump",
            )
        partial.replace(target)  # whole or not at all
    finally:
        partial.unlink(missing_ok=True)


def _check_sqlite_backup(source: Path) -> None:
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as db:
            names = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not an SQLite backup: {exc}") from None
    if "alembic_version" not in names:
        raise BackupError(f"{source} is not a Bevaka backup (no alembic_version table)")


def restore(url: str, source: Path, *, force: bool = False) -> None:
    """Restore the backup ``source`` into the database at ``url``. A database that holds
    tables is live: it is overwritten only with ``force`` (stop the services first)."""
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    existing = tables_in(url)
    if existing and not force:
        raise BackupError(
            f"{redact_url(url)} is a live database ({len(existing)} tables): restoring would "
            "overwrite it. Stop the services, take a backup of it, and run again with --force"
        )
    path = _sqlite_path(url)
    if path is not None:
        _check_sqlite_backup(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        live = sqlite3.connect(path)
        try:
            backup_db.backup(live)  # replaces every page of the target, in one transaction
        finally:
            live.close()
            backup_db.close()
        return
    _run([_tool("pg_restore"), "--list", str(source)], f"reading {source} as a pg_dump backup")
    args = [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction"]
    if existing:
        args += ["--clean", "--if-exists"]
    _run([*args, "--dbname", _libpq_url(url), str(source)], "pg_restore")
