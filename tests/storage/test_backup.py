"""`bevaka db backup FILE` and `bevaka db restore FILE` (docs/operations.md): a backup of a
database holding every kind of row, restored into a fresh database, gives back every row
of every table; a restore into a live database needs --force. On SQLite always; on
PostgreSQL (BEVAKA_TEST_DATABASE_URL) when pg_dump and pg_restore are installed."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from db_support import PG_ADMIN_URL
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from notifications.example import EXAMPLE_NOW, example_config, seed_example
from notifications.ledger import run_digest
from storage.db import make_engine, normalise_url

if PG_ADMIN_URL and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
    pytest.skip("pg_dump/pg_restore are not installed", allow_module_level=True)


def _all_rows(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in SQLModel.metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                rows = conn.execute(select(table).order_by(*order)).all()
                out[table.name] = [tuple(r) for r in rows]
            out["alembic_version"] = conn.execute(text("select * from alembic_version")).all()
            return out
    finally:
        engine.dispose()


@pytest.fixture
def fresh_url(tmp_path) -> Iterator[str]:
    """A database that does not exist yet (SQLite) or is empty (PostgreSQL)."""
    if not PG_ADMIN_URL:
        yield f"sqlite:///{tmp_path / 'restored' / 'bevaka.sqlite3'}"
        return
    admin = create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"bevaka_restore_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(normalise_url(PG_ADMIN_URL)).set(database=name).render_as_string(False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_backup_restored_into_a_fresh_database_has_every_row(
    bevaka, engine, session, db_url, fresh_url, tmp_path
):
    seed_example(session)
    session.commit()
    config = example_config(tmp_path)
    config = type(config)(
        config.directory,
        config.settings.model_copy(
            update={
                "digest": config.settings.digest.model_copy(
                    update={"outbox_dir": str(tmp_path / "outbox")}
                )
            }
        ),
        config.sources,
        config.needs,
    )
    report = run_digest(config=config, engine=engine, now=EXAMPLE_NOW)  # deliveries, ledger
    assert report is not None
    before = _all_rows(db_url)
    filled = [name for name, rows in before.items() if rows]
    assert {"call", "subscriber", "subscription", "tag", "delivery", "announcement"} <= set(
        filled
    ), filled

    backup_file = tmp_path / "backups" / "bevaka.backup"
    done = bevaka("db", "backup", str(backup_file), check=True)
    assert f"to {backup_file}" in done.stdout
    again = bevaka("db", "backup", str(backup_file))
    assert again.returncode == 1 and "never overwrites a file" in again.stderr

    into_fresh = {"env": {"DATABASE_URL": fresh_url}}
    restored = bevaka("db", "restore", str(backup_file), check=True, **into_fresh)
    assert "restored" in restored.stdout
    assert _all_rows(fresh_url) == before

    live = bevaka("db", "restore", str(backup_file), **into_fresh)
    assert live.returncode == 1
    assert "is a live database" in live.stderr and "--force" in live.stderr
    forced = bevaka("db", "restore", str(backup_file), "--force", check=True, **into_fresh)
    assert "restored" in forced.stdout
    assert _all_rows(fresh_url) == before
    # the restored database is one Bevaka runs on
    assert bevaka("calls", "list", "--format", "json", check=True, **into_fresh).stdout


def test_restore_refuses_a_file_that_is_not_a_backup(bevaka, fresh_url, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database", encoding="utf-8")
    result = bevaka("db", "restore", str(bogus), env={"DATABASE_URL": fresh_url})
    assert result.returncode == 1
    assert "not" in result.stderr and "backup" in result.stderr
