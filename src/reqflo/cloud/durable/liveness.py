"""Worker liveness: heartbeats, and a sweeper that hands dead workers' runs to live ones.

Owns `Liveness`: a daemon thread that, every `interval_s`, upserts this worker's row in
`reqflo_durable_workers` (executor id, host, pid, last heartbeat, its heartbeat interval)
and then — only on the
leader — looks for workers whose heartbeat is older than `dead_after_s`, asks the engine
to recover their pending workflows (DBOS re-enqueues them; any live worker dequeues
them) and deletes their rows. On PostgreSQL the leader is whoever holds the session
advisory lock `LEADER_LOCK`; on SQLite (one machine) every worker may sweep, which is
safe because recovery is idempotent.

`HEARTBEAT_SECONDS` and `DEAD_AFTER_SECONDS` are the defaults of both; `Thresholds` says
from which heartbeat age a worker counts as late (`LATE_AFTER_BEATS` beats missed) and
stale (the sweep threshold), for pages that show workers; `Thresholds.beating_every`
applies a worker's own recorded interval.

The table is the workers' own (not an Alembic migration of the store): `create_table`,
run by every worker as it starts, creates it, or adds to a table an older version created
the columns it lacks (`ADDED_COLUMNS`, nullable: an older worker still beating leaves
them empty).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

LEADER_LOCK = 0x52_51_46_4C  # "RQFL"
HEARTBEAT_SECONDS = 5.0  # a worker upserts its heartbeat this often
DEAD_AFTER_SECONDS = 30.0  # a worker silent this long is swept: its runs go to live ones
LATE_AFTER_BEATS = 3  # heartbeats missed before a worker is shown as late


@dataclass(frozen=True)
class Thresholds:
    """Heartbeat ages (seconds) from which a worker is late, and stale (swept)."""

    late_after_s: float
    stale_after_s: float

    @classmethod
    def of(cls, interval_s: float, dead_after_s: float) -> Thresholds:
        return cls(min(LATE_AFTER_BEATS * interval_s, dead_after_s), dead_after_s)

    def beating_every(self, interval_s: float | None) -> Thresholds:
        """For a worker that beats every `interval_s` (None: not recorded → these): late
        after its own `LATE_AFTER_BEATS` beats, stale as these (the sweepers' threshold)."""
        if interval_s is None or not interval_s > 0:
            return self
        return Thresholds.of(interval_s, self.stale_after_s)


DEFAULT_THRESHOLDS = Thresholds.of(HEARTBEAT_SECONDS, DEAD_AFTER_SECONDS)
_metadata = sa.MetaData()
workers_table = sa.Table(
    "reqflo_durable_workers",
    _metadata,
    sa.Column("executor_id", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("heartbeat_interval_s", sa.Float, nullable=True),
)
ADDED_COLUMNS = ("heartbeat_interval_s",)  # not in the table's first version


def create_table(engine: sa.Engine) -> None:
    """Create the workers table, or add the `ADDED_COLUMNS` an older one lacks (safe when
    several workers start at once)."""
    _metadata.create_all(engine)
    for name in ADDED_COLUMNS:
        if name not in column_names(engine):
            _add_column(engine, workers_table.c[name])


def column_names(engine: sa.Engine) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(workers_table.name)}


def _add_column(engine: sa.Engine, column: sa.Column[float]) -> None:
    kind = column.type.compile(dialect=engine.dialect)
    guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
    statement = f"ALTER TABLE {workers_table.name} ADD COLUMN {guard}{column.name} {kind}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    except sa.exc.DBAPIError:  # SQLite: a worker starting at the same time added it first
        if column.name not in column_names(engine):
            raise


def sqlalchemy_url(database_url: str) -> str:
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        return "postgresql+psycopg://" + database_url.split("://", 1)[1]
    return database_url


class Liveness:
    def __init__(
        self,
        database_url: str,
        executor_id: str,
        recover: Callable[[list[str]], int],
        *,
        interval_s: float = HEARTBEAT_SECONDS,
        dead_after_s: float = DEAD_AFTER_SECONDS,
    ) -> None:
        self.executor_id = executor_id
        self._recover = recover
        self.interval_s, self.dead_after_s = interval_s, dead_after_s
        self._engine = sa.create_engine(sqlalchemy_url(database_url), pool_pre_ping=True)
        self._postgres = self._engine.dialect.name == "postgresql"
        self._leader: sa.Connection | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reqflo-liveness", daemon=True)
        self._started_at = time.time()

    @property
    def thresholds(self) -> Thresholds:
        """Late and stale as this worker beats and sweeps."""
        return Thresholds.of(self.interval_s, self.dead_after_s)

    def start(self) -> None:
        create_table(self._engine)
        self.beat()
        self._thread.start()

    def beat(self) -> None:
        now = time.time()
        row = {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat_at": now,
               "heartbeat_interval_s": self.interval_s}  # fmt: skip
        with self._engine.begin() as conn:
            updated = conn.execute(
                workers_table.update()
                .where(workers_table.c.executor_id == self.executor_id)
                .values(**row)
            ).rowcount
            if not updated:
                conn.execute(
                    workers_table.insert().values(
                        executor_id=self.executor_id, started_at=self._started_at, **row
                    )
                )

    def sweep(self) -> list[str]:
        """Recover the runs of every dead worker (leader only); the ids recovered."""
        if not self._is_leader():
            return []
        deadline = time.time() - self.dead_after_s
        with self._engine.begin() as conn:
            dead = [
                r.executor_id
                for r in conn.execute(
                    sa.select(workers_table.c.executor_id).where(
                        workers_table.c.heartbeat_at < deadline,
                        workers_table.c.executor_id != self.executor_id,
                    )
                )
            ]
        if dead:
            self._recover(dead)
            with self._engine.begin() as conn:
                conn.execute(workers_table.delete().where(workers_table.c.executor_id.in_(dead)))
        return dead

    def _is_leader(self) -> bool:
        if not self._postgres:
            return True
        if self._leader is None:
            conn = self._engine.connect()
            locked = conn.execute(sa.select(sa.func.pg_try_advisory_lock(LEADER_LOCK))).scalar()
            conn.commit()
            if not locked:
                conn.close()
                return False
            self._leader = conn
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
                self.sweep()
            except Exception:  # a database hiccup must not kill the heartbeat thread
                self._drop_leadership()

    def _drop_leadership(self) -> None:
        if self._leader is not None:
            self._leader.close()
            self._leader = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 5)
        self._drop_leadership()
        with self._engine.begin() as conn:
            conn.execute(
                workers_table.delete().where(workers_table.c.executor_id == self.executor_id)
            )
        self._engine.dispose()
