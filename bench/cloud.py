"""Cloud Runner measurements for bench/run.py: `reqflo run --cloud --data` on a real service.

A `Service` is one configuration, started fresh for each measurement and stopped after
it (so an idle service never adds load to the other tools' measurements):

* `cloud sqlite`      `reqflo server --executor durable` on its embedded SQLite file in a
                      temporary data directory; the server's own durable executor is the
                      only worker;
* `cloud pg +1w`      the server with `--api-only` (it submits, serves the API and
                      follows the run, but executes nothing) on a fresh PostgreSQL
                      database (127.0.0.1:5432, dropped afterwards) plus one
                      `reqflo worker` process, the only executor;
* `cloud pg +2w`      the same with two `reqflo worker` processes (so the ratio of the two
                      shows what a second worker process adds).

Setup (not timed): a token created directly in the database (`reqflo token create
--db`), the server started and healthy, the workers registered (`/api/v1/workers`), the
CLI logged in (`reqflo login`, a private REQFLO_HOME) and the `bench` environment pushed.
Timed: one `reqflo run journey.yaml --env bench --data rows.csv --cloud -c N` process
(upload, queueing, execution, following the run to its summary). The secret is given
to the service as `REQFLO_SECRET_BENCH_PASSWORD` (the workers' fallback source). Peak
RSS is the largest of the server's and workers' VmHWM; the note gives the service's CPU
seconds for the run. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("REQFLO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CONFIGS = {
    "cloud sqlite": ("sqlite", 0),
    "cloud pg +1w": ("postgres", 1),
    "cloud pg +2w": ("postgres", 2),
}
TICKS = os.sysconf("SC_CLK_TCK")


class Service:
    """One Cloud Runner configuration: server (+ workers) on a fresh database."""

    def __init__(self, name: str, reqflo: Path, out: Path, env: dict[str, str]) -> None:
        self.kind, self.workers = CONFIGS[name]
        self.reqflo, self.env = str(reqflo), env
        self.folder = out / "cloud" / name.replace(" ", "_").replace("+", "")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = ""
        self.processes: list[subprocess.Popen[bytes]] = []
        self.token = ""

    # ------------------------------------------------------------ lifecycle

    def start(self, project: Path) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        (self.folder / "home").mkdir(parents=True)
        data = self.folder / "server"
        self.db = _create_pg() if self.kind == "postgres" else f"sqlite:///{data}/reqflo.db"
        db = ["--db", self.db]
        made = self._cli(["token", "create", "--name", "bench", "--role", "admin",
                          "--data-dir", str(data), *db])  # fmt: skip
        found = re.search(r"rqf_[A-Za-z0-9_-]+", made.stdout)
        if found is None:
            raise RuntimeError("reqflo token create printed no token")
        self.token = found.group(0)
        api_only = ["--api-only"] if self.workers else []
        self._spawn("server", ["server", "--data-dir", str(data), "--port", str(self.port),
                               "--executor", "durable", *api_only, *db])  # fmt: skip
        self._wait(lambda: self._get("/api/v1/health") is not None, "server health")
        for i in range(self.workers):
            self._spawn(f"worker{i}", ["worker", "--data-dir", str(data), *db])
        executors = self.workers or 1  # the workers, or the server's own executor
        self._wait(lambda: len(self._get("/api/v1/workers") or []) >= executors, "workers")
        self._cli(["login", self.url, "--token", self.token])
        self._cli(["env", "push", "bench", "environments/bench.yaml"], cwd=project)

    def stop(self) -> float:
        """Stop every process; the largest peak RSS among them, in MB."""
        peak = max((_hwm_mb(p.pid) for p in self.processes), default=0.0)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes = []
        if self.kind == "postgres" and self.db:
            _drop_pg(self.db)
        return peak

    def cpu_seconds(self) -> float:
        return sum(_cpu_ticks(p.pid) for p in self.processes) / TICKS

    def client_env(self) -> dict[str, str]:
        return {**self.env, "REQFLO_HOME": str(self.folder / "home")}

    # ------------------------------------------------------------ helpers

    def _cli(self, args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.reqflo, *args], cwd=cwd, env=self.client_env(),
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"reqflo {args[0]} failed: {done.stderr.strip()[-400:]}")
        return done

    def _spawn(self, label: str, args: list[str]) -> None:
        env = {**self.env, "REQFLO_HOME": str(self.folder / "service-home")}
        with (self.folder / f"{label}.log").open("wb") as log:  # the child keeps its copy
            self.processes.append(
                subprocess.Popen([self.reqflo, *args], env=env, stdout=log, stderr=log)
            )

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return json.loads(response.read() or b"null")
        except (OSError, ValueError):
            return None

    def _wait(self, ready: Any, what: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a service process exited while waiting for {what}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _create_pg() -> str:
    import psycopg

    name = f"reqflo_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime
