"""One portable upsert (INSERT ... ON CONFLICT DO UPDATE) for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def upsert(
    session: Session, model: type[DeclarativeBase], values: dict[str, Any], keys: list[str]
) -> None:
    """Insert `values`, or update the row whose `keys` columns match."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values)
    changes = {k: v for k, v in values.items() if k not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))
