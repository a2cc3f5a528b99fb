"""The store's SQLite durability (reqflo.store.durability): commits with synchronous=NORMAL
and the barrier that puts them on disk before the API answers a write (that test is in
test_cloud_api, beside the API it serves). Real SQLite files, real fdatasync."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from reqflo.store.database import make_engine
from reqflo.store.durability import WalBarrier, barrier_for, sqlite_file


def test_sqlite_file_is_the_database_file_and_none_elsewhere(tmp_path: Path) -> None:
    assert sqlite_file(f"sqlite:///{tmp_path}/r.db") == tmp_path / "r.db"
    assert sqlite_file(f"sqlite+pysqlite:///{tmp_path}/r.db?timeout=3") == tmp_path / "r.db"
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql://postgres@127.0.0.1/test"):
        assert sqlite_file(url) is None


def test_nothing_to_flush_on_postgres_or_in_memory() -> None:
    for url in ("postgresql://postgres@127.0.0.1:5432/test", "sqlite://"):
        barrier = barrier_for(url)
        barrier.sync()
        assert barrier.flushes == 0


def test_store_connections_commit_with_synchronous_normal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'reqflo.db'}")
    with engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    engine.dispose()


def test_a_sync_is_a_commit_of_its_own_with_synchronous_full(tmp_path: Path) -> None:
    database = tmp_path / "reqflo.db"
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (v TEXT)")
    barrier = WalBarrier(database)
    barrier.sync()
    barrier.sync()
    assert connection.execute("PRAGMA user_version").fetchone() == (2,)
    assert barrier.flushes == 2
    connection.close()


class SlowBarrier(WalBarrier):
    """A real flush, then a pause, so that calls pile up behind it."""

    def __init__(self, file: Path) -> None:
        super().__init__(file)
        self.spans: list[tuple[float, float]] = []

    def flush(self) -> None:
        began = time.monotonic()
        super().flush()
        time.sleep(0.02)
        self.spans.append((began, time.monotonic()))


def test_overlapping_syncs_share_flushes_and_each_waits_for_one_begun_after_it(
    tmp_path: Path,
) -> None:
    database = tmp_path / "reqflo.db"
    sqlite3.connect(database).execute("PRAGMA journal_mode=WAL").fetchone()
    barrier = SlowBarrier(database)
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()

    def call() -> None:
        began = time.monotonic()
        barrier.sync()
        with lock:
            calls.append((began, time.monotonic()))

    threads = [threading.Thread(target=call) for _ in range(40)]
    for thread in threads:
        thread.start()
        time.sleep(0.001)
    for thread in threads:
        thread.join()
    assert len(calls) == 40
    assert barrier.flushes < 20  # one flush served many calls
    for began, returned in calls:  # each call: a flush that began after it, ended before
        assert any(began <= start and end <= returned for start, end in barrier.spans)


def _posix_locks_of_this_process(file: Path) -> list[str]:
    inode = f":{file.stat().st_ino}"
    with open("/proc/locks", encoding="ascii") as table:
        rows = [line.split() for line in table]
    return [" ".join(r) for r in rows if r[1] == "POSIX" and r[4] == str(os.getpid())
            and r[5].endswith(inode)]  # fmt: skip


def test_a_sync_leaves_the_locks_of_this_process_in_place(tmp_path: Path) -> None:
    """Regression: the first barrier opened and closed the database file itself; closing
    any descriptor of a file drops every POSIX lock the process holds on it, here the
    shared lock of a connection reading in WAL mode (a server then failed a
    `wal_checkpoint(TRUNCATE)` with "disk I/O error", found by fuzzing the API)."""
    database = tmp_path / "reqflo.db"
    reader = sqlite3.connect(database, isolation_level=None)
    reader.execute("PRAGMA journal_mode=WAL")
    reader.execute("CREATE TABLE t (v TEXT)")
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()  # a read transaction holds its lock
    held = _posix_locks_of_this_process(database)
    assert held
    WalBarrier(database).sync()
    assert _posix_locks_of_this_process(database) == held
    reader.close()
