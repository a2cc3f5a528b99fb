"""When a store commit must survive a power loss, and making it so.

The store's SQLite connections (reqflo.store.database) commit with `synchronous=NORMAL`:
a commit is in the WAL file when it returns, so it survives the death of any process
(kill -9 included), but it reaches the disk only at the next sync, so a power loss or a
kernel crash may roll back the last commits. The database stays consistent either way
(the WAL replays a prefix of the commits). What must not roll back is what a client has
been told: `WalBarrier.sync()` makes every commit made before the call durable (a
commit of its own with `synchronous=FULL`, which syncs the WAL and so every commit
before it), and the API calls it before it answers a request that may have changed
something (reqflo.cloud.app), so a run a client was told is queued, a secret it was told
is stored, stays so. Durable checkpoints are DBOS's own connections, which keep SQLite's
default (`FULL`: synced at each commit).

Calls that overlap share one flush (group commit): a call returns once a flush that
began after it was made has finished. On PostgreSQL (`synchronous_commit` on) and for
in-memory databases `barrier_for` gives a barrier that does nothing.

Owns `sqlite_file(url)`, `WalBarrier` and `barrier_for(url)` (one per file per process).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from reqflo.store.database import BUSY_TIMEOUT_MS

_barriers: dict[Path | None, WalBarrier] = {}
_barriers_lock = threading.Lock()


def sqlite_file(url: str) -> Path | None:
    """The database file of a `sqlite:///path` URL; None for other databases and memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).resolve()


class WalBarrier:
    """Group-committed durability of one SQLite database. `file` None: nothing to sync
    (PostgreSQL, memory); `sync` returns at once.

    The sync is SQLite's own: a one-row write (the header's `user_version`, a counter no
    one else uses) committed on a connection of its own with `synchronous=FULL`, which
    fsyncs the WAL after the commit, and with it every frame written before. The files
    are never opened outside SQLite: closing any descriptor of the database file would
    drop the POSIX locks SQLite's connections in this process hold on it (it did: the
    next `wal_checkpoint(TRUNCATE)` failed with "disk I/O error")."""

    def __init__(self, file: Path | None) -> None:
        self._file = file
        self._connection: sqlite3.Connection | None = None
        self._counts = threading.Lock()  # guards _asked and _covered
        self._flushing = threading.Lock()  # one flush at a time; guards _connection
        self._asked = 0  # sync calls so far
        self._covered = 0  # calls made before the start of the last finished flush
        self.flushes = 0

    def sync(self) -> None:
        """Return once every commit made before this call is on disk."""
        if self._file is None:
            return
        with self._counts:
            self._asked += 1
            mine = self._asked
        with self._flushing:
            with self._counts:
                if self._covered >= mine:
                    return  # a flush that started after this call has finished
                covering = self._asked
            self.flush()
            with self._counts:
                self._covered = covering
                self.flushes += 1

    def flush(self) -> None:
        """One synced commit (callers hold `_flushing`)."""
        connection = self._connection or self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            (count,) = connection.execute("PRAGMA user_version").fetchone()
            connection.execute(f"PRAGMA user_version = {(int(count) + 1) % 2**31}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            str(self._file), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
        connection.execute("PRAGMA synchronous=FULL")
        self._connection = connection
        return connection


def barrier_for(url: str) -> WalBarrier:
    """This process's barrier for the database at `url` (shared by every caller)."""
    file = sqlite_file(url)
    with _barriers_lock:
        found = _barriers.get(file)
        if found is None:
            found = _barriers[file] = WalBarrier(file)
        return found
