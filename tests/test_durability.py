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


def test_a_sync_flushes_the_wal_and_the_database_file(tmp_path: Path) -> None:
    database = tmp_path / "reqflo.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE t (v TEXT)")
    connection.execute("INSERT INTO t VALUES ('x')")
    connection.commit()
    flushed: list[str] = []

    def flush(fd: int) -> None:
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        os.fdatasync(fd)

    WalBarrier(database, flush).sync()
    connection.close()
    assert flushed == [f"{database}-wal", str(database)]


def test_overlapping_syncs_share_flushes_and_each_waits_for_one_begun_after_it(
    tmp_path: Path,
) -> None:
    database = tmp_path / "reqflo.db"
    database.write_bytes(b"")
    flushes: list[tuple[float, float]] = []

    def slow_flush(fd: int) -> None:
        began = time.monotonic()
        os.fdatasync(fd)
        time.sleep(0.02)
        flushes.append((began, time.monotonic()))

    barrier = WalBarrier(database, slow_flush)
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
        assert any(began <= start and end <= returned for start, end in flushes)
