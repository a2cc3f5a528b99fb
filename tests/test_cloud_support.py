"""Shared helpers for the Cloud Runner tests (no tests of its own).

- `fresh_postgres()`: a context manager creating a uniquely named PostgreSQL database
  (`reqflo_test_<random>`) on 127.0.0.1:5432 and dropping it afterwards.
- `opened_store(kind, folder)`: a migrated `Store` on SQLite in `folder` or on a fresh
  PostgreSQL database (`kind` is "sqlite" or "postgresql"), closed on exit.
- `compiled(path)`: compiles a journey file into a verified artifact.
- `ServerProcess`: `reqflo server` as a real subprocess on an ephemeral port.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx

from reqflo.artifact import Artifact
from reqflo.store import Store, sqlite_url

PG_ADMIN_URL = os.environ.get("REQFLO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SRC = Path(__file__).resolve().parents[1] / "src"


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """Yields the URL of a new, empty database; drops it on exit."""
    import psycopg

    name = f"reqflo_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def opened_store(kind: str, folder: Path) -> Iterator[Store]:
    with fresh_postgres() if kind == "postgresql" else nullcontext(sqlite_url(folder)) as url:
        opened = Store.open(url)
        try:
            yield opened
        finally:
            opened.close()


def compiled(path: Path) -> Artifact:
    from reqflo.compiler import check_file

    result = check_file(path, str(path))
    assert result.artifact is not None, result.render()
    return result.artifact


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """`python -m reqflo.cli server ...` on 127.0.0.1:<free port>, ready when healthy."""

    def __init__(
        self,
        data_dir: Path,
        db_url: str | None,
        env: dict[str, str],
        executor: str = "inprocess",
        options: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "reqflo.cli", "server", "--data-dir", str(data_dir)]
        args += ["--port", str(self.port), "--executor", executor, *options]
        if db_url:
            args += ["--db", db_url]
        self.log = data_dir.parent / f"server-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=_child_env(env)
            )
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not healthy in {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_worker(data_dir: Path, db_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`reqflo worker` as a subprocess; its output goes to `<data dir>/../worker.log`."""
    args = [sys.executable, "-m", "reqflo.cli", "worker", "--data-dir", str(data_dir)]
    with (data_dir.parent / "worker.log").open("wb") as log:
        return subprocess.Popen(
            [*args, "--db", db_url], stdout=log, stderr=subprocess.STDOUT, env=_child_env(env)
        )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the worker's graceful stop), then SIGKILL if it is still up after 20 s."""
    worker.terminate()
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(5)


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQFLO_SECRET_")}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env
