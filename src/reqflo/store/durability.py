"""When a store commit must survive a power loss, and making it so.

The store's SQLite connections (reqflo.store.database) commit with `synchronous=NORMAL`:
a commit is in the WAL file when it returns, so it survives the death of any process
(kill -9 included), but it reaches the disk only at the next sync, so a power loss or a
kernel crash may roll back the last commits. The database stays consistent either way
(the WAL replays a prefix of the commits). What must not roll back is what a client has
been told: `WalBarrier.sync()` makes every commit made before the call durable
(`fdatasync` of the WAL and of the database file, what `synchronous=FULL` does after each
commit), and the API calls it before it answers a request that may have changed
something (reqflo.cloud.app), so a run a client was told is queued, a secret it was told
is stored, stays so. Durable checkpoints are DBOS's own connections, which keep SQLite's
default (`FULL`: synced at each commit).

Calls that overlap share one flush (group commit): a call returns once a flush that
began after it was made has finished. On PostgreSQL (`synchronous_commit` on) and for
in-memory databases `barrier_for` gives a barrier that does nothing.

Owns `sqlite_file(url)`, `WalBarrier` and `barrier_for(url)` (one per file per process).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

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
    """Group-committed `fdatasync` of one SQLite database (its `-wal` file and itself).
    `file` None: nothing to flush (PostgreSQL, memory); `sync` returns at once."""

    def __init__(self, file: Path | None, flush: Callable[[int], None] = os.fdatasync) -> None:
        self._files = () if file is None else (Path(f"{file}-wal"), file)
        self._flush = flush
        self._counts = threading.Lock()  # guards _asked and _covered
        self._flushing = threading.Lock()  # one flush at a time
        self._asked = 0  # sync calls so far
        self._covered = 0  # calls made before the start of the last finished flush
        self.flushes = 0

    def sync(self) -> None:
        """Return once every commit made before this call is on disk."""
        if not self._files:
            return
        with self._counts:
            self._asked += 1
            mine = self._asked
        with self._flushing:
            with self._counts:
                if self._covered >= mine:
                    return  # a flush that started after this call has finished
                covering = self._asked
            self._flush_files()
            with self._counts:
                self._covered = covering
                self.flushes += 1

    def _flush_files(self) -> None:
        for path in self._files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # no WAL: every commit has been checkpointed into the database
            try:
                self._flush(fd)
            finally:
                os.close(fd)


def barrier_for(url: str) -> WalBarrier:
    """This process's barrier for the database at `url` (shared by every caller)."""
    file = sqlite_file(url)
    with _barriers_lock:
        found = _barriers.get(file)
        if found is None:
            found = _barriers[file] = WalBarrier(file)
        return found
