"""Free-text search over calls: an FTS5 index on SQLite, a GIN full-text index on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00

SQLite: ``call_search``, an external-content FTS5 table over call.title, summary and
description (unicode61 tokenizer, diacritics kept: "å", "ä", "ö" are letters in Swedish),
kept in step with ``call`` by triggers. PostgreSQL: an expression index on the Swedish and
the English ``tsvector`` of the same text (web.search uses the same expression).
"""

from __future__ import annotations

from alembic import op

from storage.search import PG_DOCUMENT

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE = [
    "CREATE VIRTUAL TABLE call_search USING fts5(title, summary, description, "
    "content='call', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER call_search_insert AFTER INSERT ON call BEGIN "
    "INSERT INTO call_search(rowid, title, summary, description) "
    "VALUES (new.id, new.title, new.summary, new.description); END",
    "CREATE TRIGGER call_search_delete AFTER DELETE ON call BEGIN "
    "INSERT INTO call_search(call_search, rowid, title, summary, description) "
    "VALUES ('delete', old.id, old.title, old.summary, old.description); END",
    "CREATE TRIGGER call_search_update AFTER UPDATE OF title, summary, description ON call BEGIN "
    "INSERT INTO call_search(call_search, rowid, title, summary, description) "
    "VALUES ('delete', old.id, old.title, old.summary, old.description); "
    "INSERT INTO call_search(rowid, title, summary, description) "
    "VALUES (new.id, new.title, new.summary, new.description); END",
    "INSERT INTO call_search(call_search) VALUES ('rebuild')",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_call_search ON call USING gin (({PG_DOCUMENT}))")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("call_search_insert", "call_search_delete", "call_search_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS call_search")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_call_search")
