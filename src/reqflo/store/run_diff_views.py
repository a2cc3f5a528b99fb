"""Two runs' instances compared in the database: the data behind run diffs of any size.

Instances are matched by key: the n-th instance (by index) with a key in one run matches
the n-th with that key in the other, so repeated keys pair up one to one. Keys are
ordered by their code points (`COLLATE "C"` on PostgreSQL, SQLite's binary order), the
order of Python strings, on both databases.

Owns `DiffViews`:
- `status_changes(old, new, after, limit)`: one page, in key order, of the instances whose
  status differs or that are in one run only; the database joins and compares, only the
  page is read. `DiffCursor` is a position in that order (`N:KEY`, a page's `next`; a key
  of any length and with any character but NUL: keys are data row values).
- `counts(old, new)`: how many changed status, appeared, disappeared, kept their status.
- `pairs(old, new)`: every matched pair with both results, streamed in key order from
  one query per run, so a caller going through thousands holds one batch at a time
  (`pair_up` pairs rows already in memory the same way).
Nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.sql import Select
from sqlalchemy.sql.expression import CTE

from reqflo.store.models import InstanceRow
from reqflo.store.store import Store

CURSOR = re.compile(r"([1-9][0-9]{0,8}):(.+)", re.S)
BATCH = 500  # rows fetched at a time while streaming pairs


class BadCursor(ValueError):
    """A cursor that no page of a diff returned."""


@dataclass(frozen=True, order=True)
class DiffCursor:
    """After the `n`-th instance with `key` (in key order)."""

    key: str
    n: int

    @property
    def text(self) -> str:
        return f"{self.n}:{self.key}"

    @classmethod
    def parse(cls, text: str) -> DiffCursor:
        found = CURSOR.fullmatch(text)
        if not found or "\x00" in text:  # never compared: PostgreSQL refuses a NUL
            shown = text[:40] + ("…" if len(text) > 40 else "")
            raise BadCursor(f"expected the `next` value of a previous page, like '1:row-17' "
                            f"(N:KEY), got '{shown}'")  # fmt: skip
        return cls(found.group(2), int(found.group(1)))


@dataclass(frozen=True)
class StatusChange:
    key: str
    old: str | None  # None: the key is new in the newer run
    new: str | None  # None: the key is gone


@dataclass(frozen=True)
class StatusPage:
    changes: tuple[StatusChange, ...]
    next: DiffCursor | None  # None: this is the last page


@dataclass(frozen=True)
class DiffCounts:
    changed: int  # in both runs, with another status
    added: int  # in the newer run only
    removed: int  # in the older run only
    same: int  # in both runs with the same status

    @property
    def listed(self) -> int:
        """Instances the status pages list."""
        return self.changed + self.added + self.removed


@dataclass(frozen=True)
class Pair:
    """One instance key in both runs (a result is None when the run lacks the key)."""

    key: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


class DiffViews:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._postgres = store.engine.dialect.name == "postgresql"

    def _ordered(self, column: Any) -> Any:
        return column.collate("C") if self._postgres else column

    def status_changes(
        self, old_id: str, new_id: str, after: DiffCursor | None, limit: int
    ) -> StatusPage:
        matched = _matched(old_id, new_id)
        key = self._ordered(matched.c.key)
        query = select(matched.c.key, matched.c.n, matched.c.old_status, matched.c.new_status)
        query = query.where(_differs(matched))
        if after is not None:
            query = query.where(or_(key > after.key, and_(key == after.key, matched.c.n > after.n)))
        with self.store.session() as session:
            rows = list(session.execute(query.order_by(key, matched.c.n).limit(limit + 1)))
        changes = tuple(StatusChange(r.key, r.old_status, r.new_status) for r in rows[:limit])
        last = rows[limit - 1] if len(rows) > limit else None
        return StatusPage(changes, DiffCursor(last.key, last.n) if last else None)

    def counts(self, old_id: str, new_id: str) -> DiffCounts:
        m = _matched(old_id, new_id)
        both = and_(m.c.old_status.is_not(None), m.c.new_status.is_not(None))
        sums = (
            func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
            for condition in (
                and_(both, m.c.old_status != m.c.new_status),
                m.c.old_status.is_(None),
                m.c.new_status.is_(None),
                and_(both, m.c.old_status == m.c.new_status),
            )
        )
        with self.store.session() as session:
            changed, added, removed, same = session.execute(select(*sums)).one()
        return DiffCounts(int(changed), int(added), int(removed), int(same))

    def pairs(self, old_id: str, new_id: str) -> Iterator[Pair]:
        """Every key of either run with both results, in key order (a merge of two
        streamed queries: memory holds a batch of each, whatever the run sizes)."""
        with self.store.session() as session:
            olds = session.execute(
                self._in_key_order(old_id), execution_options={"yield_per": BATCH}
            )
            news = session.execute(
                self._in_key_order(new_id), execution_options={"yield_per": BATCH}
            )
            try:
                yield from pair_up(olds, news)
            finally:  # a caller stopping early (or failing) leaves no server cursor open
                olds.close()
                news.close()

    def _in_key_order(self, run_id: str) -> Select[tuple[str, dict[str, Any]]]:
        return (
            select(InstanceRow.key, InstanceRow.result)
            .where(InstanceRow.run_id == run_id)
            .order_by(self._ordered(InstanceRow.key), InstanceRow.index)
        )


def pair_up(olds: Iterable[Any], news: Iterable[Any]) -> Iterator[Pair]:
    """(key, result) rows of each run, in key order (then index) → their pairs in key order."""
    return _merged(_numbered_rows(olds), _numbered_rows(news))


def _numbered_rows(rows: Iterable[Any]) -> Iterator[tuple[DiffCursor, dict[str, Any]]]:
    """(key, n-th time the key is seen) and the result of each row, in key order."""
    previous, n = None, 0
    for key, result in rows:
        n = n + 1 if key == previous else 1
        previous = key
        yield DiffCursor(key, n), result


def _merged(
    olds: Iterator[tuple[DiffCursor, dict[str, Any]]],
    news: Iterator[tuple[DiffCursor, dict[str, Any]]],
) -> Iterator[Pair]:
    old, new = next(olds, None), next(news, None)
    while old is not None or new is not None:
        if new is None or (old is not None and old[0] < new[0]):
            assert old is not None
            yield Pair(old[0].key, old[1], None)
            old = next(olds, None)
        elif old is None or new[0] < old[0]:
            yield Pair(new[0].key, None, new[1])
            new = next(news, None)
        else:
            yield Pair(old[0].key, old[1], new[1])
            old, new = next(olds, None), next(news, None)


def _matched(old_id: str, new_id: str) -> CTE:
    """Every key of either run: key, n, old_status (None: new), new_status (None: gone).
    One sort of both runs' rows grouped by (key, n), no join: O(n log n) on both databases."""
    n = func.row_number().over(
        partition_by=(InstanceRow.run_id, InstanceRow.key), order_by=InstanceRow.index
    )
    numbered = (
        select(InstanceRow.run_id, InstanceRow.key, InstanceRow.status, n.label("n"))
        .where(InstanceRow.run_id.in_((old_id, new_id)))
        .subquery("numbered")
    )

    def status_in(run_id: str) -> Any:
        return func.max(case((numbered.c.run_id == run_id, numbered.c.status)))

    old_status, new_status = status_in(old_id), status_in(new_id)
    columns = (old_status.label("old_status"), new_status.label("new_status"))
    grouped = select(numbered.c.key, numbered.c.n, *columns)
    return grouped.group_by(numbered.c.key, numbered.c.n).cte("matched")


def _differs(m: CTE) -> ColumnElement[bool]:
    return or_(m.c.old_status.is_(None), m.c.new_status.is_(None), m.c.old_status != m.c.new_status)


__all__ = [
    "BadCursor", "DiffCounts", "DiffCursor", "DiffViews", "Pair", "StatusChange", "StatusPage",
    "pair_up",
]  # fmt: skip
