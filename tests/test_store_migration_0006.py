"""Migration 0006 on SQLite and PostgreSQL: the `schedule_ticks.submitted_at` index.

A database stamped 0005 by a checkout whose 0005 did not yet create that index is
brought to head with the index; a fresh database and one whose 0005 made the index
upgrade to head without complaint (one index, no duplicate).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from reqflo.store import make_engine, migrate, sqlite_url
from reqflo.store.database import MIGRATIONS
from test_cloud_support import fresh_postgres

INDEX = "ix_schedule_ticks_submitted_at"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    kind = request.param
    with fresh_postgres() if kind == "postgresql" else nullcontext(sqlite_url(tmp_path)) as url:
        made = make_engine(url)
        try:
            yield made
        finally:
            made.dispose()


def migrations() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


HEAD = ScriptDirectory.from_config(migrations()).get_current_head()


def upgrade_to(engine: Engine, revision: str) -> None:
    config = migrations()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision_of(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.scalar(text("SELECT version_num FROM alembic_version")))


def tick_indexes(engine: Engine) -> list[tuple[str | None, list[str | None]]]:
    found = inspect(engine).get_indexes("schedule_ticks")
    return sorted((index["name"], index["column_names"]) for index in found)


def test_a_database_stamped_0005_without_the_index_gets_it(engine: Engine) -> None:
    upgrade_to(engine, "0005")
    with engine.begin() as connection:  # what an earlier checkout's 0005 left behind
        connection.execute(text(f"DROP INDEX {INDEX}"))
    assert (INDEX, ["submitted_at"]) not in tick_indexes(engine)
    assert revision_of(engine) == "0005"
    migrate(engine)
    assert (INDEX, ["submitted_at"]) in tick_indexes(engine)
    assert revision_of(engine) == HEAD


def test_a_database_at_0005_with_the_index_keeps_exactly_one(engine: Engine) -> None:
    upgrade_to(engine, "0005")
    before = tick_indexes(engine)
    migrate(engine)
    assert tick_indexes(engine) == before
    assert [name for name, _ in before].count(INDEX) == 1


def test_a_fresh_database_upgrades_to_head_with_the_index(engine: Engine) -> None:
    migrate(engine)
    migrate(engine)  # and again: nothing left to do
    assert (INDEX, ["submitted_at"]) in tick_indexes(engine)
    assert revision_of(engine) == HEAD
