from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from storage.migrate import current_revision, head_revision, include_object


def test_migrations_reach_head(engine):
    assert current_revision(engine) == head_revision()


def test_models_and_migrations_agree(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
