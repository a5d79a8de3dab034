"""The schema comes from Alembic migrations, and the models agree with them."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bot.db import migrate
from bot.db.engine import sync_url
from bot.db.models import Base


def test_migrated_schema_matches_the_models(database_url):
    engine = create_engine(sync_url(database_url))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_database_is_at_the_latest_revision(database_url):
    assert migrate.pending_revisions(database_url) is False


def test_downgrade_and_upgrade_again_on_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    engine = create_engine(sync_url(url))
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(url)
    assert {"subscribers", "subscriptions", "zones", "comuni", "strategies"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()
