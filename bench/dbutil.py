"""Database helpers for the benchmarks: a fresh migrated SQLite file, row snapshots."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path


def fresh_sqlite(path: Path) -> str:
    """A new SQLite database at ``path``, migrated to head; returns its URL."""
    from storage.migrate import upgrade

    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


def snapshot(path: Path) -> dict[str, list]:
    """Every table's row count and a hash over all its rows (in rowid order)."""
    out: dict[str, list] = {}
    con = sqlite3.connect(str(path))
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in sorted(tables):
            digest = hashlib.sha256()
            count = 0
            for row in con.execute(f'SELECT * FROM "{table}"'):
                digest.update(repr(row).encode())
                count += 1
            out[table] = [count, digest.hexdigest()]
    finally:
        con.close()
    return out


def diff(before: dict[str, list], after: dict[str, list]) -> dict[str, dict]:
    """Tables whose rows changed: {table: {"rows_before", "rows_after"}}."""
    changed = {}
    for table in sorted(set(before) | set(after)):
        if before.get(table) != after.get(table):
            changed[table] = {
                "rows_before": (before.get(table) or [0])[0],
                "rows_after": (after.get(table) or [0])[0],
            }
    return changed
