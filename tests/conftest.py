"""Shared fixtures: real target servers on 127.0.0.1 and throw-away Reqflo projects.

- `demo_url`: the demo API (`reqflo.demo.start_demo`) served for the whole session by a
  background thread that owns its own event loop; yields the base URL.
- `httpbin_url`: httpbin (Flask) served by a threaded werkzeug server in a thread.
- `write_environment(root, name, **values)`: writes `environments/NAME.yaml` (a flat
  mapping) into a project folder.
- `write_env`: the same function as a fixture.
- `e2e_project`: a project folder holding a copy of `tests/e2e/` (journeys, data files)
  that is also the working directory, with `REQFLO_HOME` in a temp folder and no
  `REQFLO_SECRET_*` / `REQFLO_ME_*` variables leaking in from the outer environment.
- `cli`: runs `reqflo` in-process (Typer's CliRunner) and returns exit code, stdout, stderr.

Both servers are stopped at session end and every thread they started is joined; a
thread still alive after that fails the fixture's teardown.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

THREAD_JOIN_SECONDS = 10.0
E2E_FILES = Path(__file__).parent / "e2e"


class _LoopThread:
    """An event loop running forever in a daemon thread; coroutines are submitted to it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coroutine: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.call(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(THREAD_JOIN_SECONDS)
        assert not self.thread.is_alive(), "the demo server's loop thread did not stop"
        self.loop.close()


@pytest.fixture(scope="session")
def demo_url() -> Iterator[str]:
    """Base URL of a demo API served for the whole session (state is shared: use unique
    keys and reset `/stats` before counting)."""
    from reqflo.demo import start_demo

    loop_thread = _LoopThread("reqflo-demo-server")
    try:
        runner, base_url = loop_thread.call(start_demo())
    except BaseException:
        loop_thread.stop()
        raise
    try:
        yield base_url
    finally:
        loop_thread.call(runner.cleanup())
        loop_thread.stop()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log on stderr."""


@pytest.fixture(scope="session")
def httpbin_url() -> Iterator[str]:
    """Base URL of httpbin served by a threaded werkzeug server for the whole session."""
    import httpbin

    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, httpbin.app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="httpbin-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(THREAD_JOIN_SECONDS)
        _join_request_threads()
        assert not thread.is_alive(), "the httpbin server thread did not stop"


def _join_request_threads() -> None:
    """Wait for request threads (daemon threads werkzeug does not join) to finish."""
    started = [t for t in threading.enumerate() if "process_request_thread" in t.name]
    for leftover in started:
        leftover.join(THREAD_JOIN_SECONDS)
    alive = sorted(t.name for t in started if t.is_alive())
    assert not alive, f"httpbin threads still running after shutdown: {alive}"


def write_environment(root: Path, name: str, **values: Any) -> Path:
    """Write `environments/NAME.yaml` (JSON is valid YAML) into the project at `root`."""
    folder = root / "environments"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def write_env() -> Callable[..., Path]:
    return write_environment


@pytest.fixture
def e2e_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of tests/e2e used as the working directory, with a private REQFLO_HOME and
    no REQFLO_SECRET_* / REQFLO_ME_* variables from the outer environment."""
    project = tmp_path / "project"
    shutil.copytree(E2E_FILES, project)
    (project / "environments").mkdir(exist_ok=True)
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "reqflo-home"))
    for name in list(os.environ):
        if name.startswith(("REQFLO_SECRET_", "REQFLO_ME_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(project)
    return project


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        """Both streams, for messages that may go to either."""
        return self.stdout + self.stderr


@pytest.fixture
def cli() -> Callable[..., CliRun]:
    """`cli("run", "journey.yaml", "--env", "x")`: the real CLI app, in-process."""
    from typer.testing import CliRunner

    from reqflo.cli import app

    def invoke(*args: str | Path) -> CliRun:
        result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
        return CliRun(result.exit_code, result.stdout, result.stderr)

    return invoke
