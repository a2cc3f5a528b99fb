"""One-command benchmark: reqflo vs a hand-written aiohttp script vs Newman, side by side.

    .venv/bin/python bench/run.py                       # 1, 1,000 and 100,000 rows
    .venv/bin/python bench/run.py --rows 1,1000 --repeat 3

Starts a fast target on 127.0.0.1 (nginx from Debian, installed with apt-get when missing
and running as root; otherwise an aiohttp target, which RESULTS.md then names), writes a
throw-away project under bench/out/ (journey, environment, CSV data), installs Newman from
npm into bench/.cache/ and runs, for each row count and repetition, every tool in turn:

* `baseline`    bench/baseline_aiohttp.py, one process (the reference: ratios are to it)
* `baseline x2` the same script with rows split across two processes
* `reqflo`      `reqflo run journey.yaml --env bench --data rows.csv` (the installed CLI)
* `reqflo -w2`  the same with `--workers 2` (when the CLI has that option)
* `newman`      `newman run collection.json -d rows.csv` (skipped above --newman-max-rows)
* `stepci`      `stepci run stepci-N.yml` (one test per row; bench/stepci.py), like Newman
* `cloud ...`   `reqflo run --cloud --data rows.csv` on a fresh Cloud Runner (bench/cloud.py):
                SQLite, and PostgreSQL with 1 and 2 `reqflo worker` processes (skipped above
                --cloud-max-rows)

Each measurement is one fresh process: wall time includes interpreter start-up; peak RSS
is `ru_maxrss` from wait4 (the largest single process of the tree, not a sum). A tool
that does not pass every row is reported as failed, not timed. The median of the
repetitions is reported; RESULTS.md is rewritten and raw figures go to bench/out/.
Only 127.0.0.1 is contacted; every loop is bounded by the row count and --repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cloud  # bench/cloud.py
import npm  # bench/npm.py
import stepci  # bench/stepci.py

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
CACHE = BENCH / ".cache"
PYTHON = Path(sys.executable)
REQFLO = PYTHON.parent / "reqflo"
PASSWORD = "bench-password"
REQUESTS_PER_JOURNEY = 3
NEWMAN_VERSION = "6"


@dataclass
class Measure:
    tool: str
    rows: int
    ok: bool
    wall_s: float
    peak_rss_mb: float
    note: str = ""
    service_cpu_s: float = 0.0  # cloud tools: CPU seconds of the server and workers


# ---------------------------------------------------------------- target server


class Target:
    """nginx (preferred) or the aiohttp fallback, listening on 127.0.0.1:port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kind = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        nginx = _ensure_nginx()
        if nginx is not None:
            self.kind = _version_line([nginx, "-v"]) or "nginx"
            self.process = self._start_nginx(nginx)
        else:
            self.kind = "aiohttp fallback target (nginx unavailable)"
            script = BENCH / "target" / "aiohttp_target.py"
            self.process = subprocess.Popen([str(PYTHON), str(script), str(self.port)])
        _wait_for_port(self.port, self.process)

    def _start_nginx(self, nginx: str) -> subprocess.Popen[bytes]:
        folder = OUT / "nginx"
        folder.mkdir(parents=True, exist_ok=True)
        template = (BENCH / "target" / "nginx.conf.in").read_text(encoding="utf-8")
        conf = folder / "nginx.conf"
        conf.write_text(
            template.replace("@PORT@", str(self.port)).replace("@DIR@", str(folder)),
            encoding="utf-8",
        )
        return subprocess.Popen([nginx, "-e", "stderr", "-p", str(folder), "-c", str(conf)])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _ensure_nginx() -> str | None:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("installing nginx-light with apt-get …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["apt-get", "install", "-y", "nginx-light"], env=env, check=False, stdout=subprocess.DEVNULL
    )
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):  # 10 s at most
        if process.poll() is not None:
            raise SystemExit(f"the target server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the target server did not start listening within 10 s")


# ---------------------------------------------------------------- project and tools


def write_project(url: str, sizes: list[int]) -> Path:
    project = OUT / "project"
    (project / "environments").mkdir(parents=True, exist_ok=True)
    shutil.copy(BENCH / "journey.yaml", project / "journey.yaml")
    (project / "environments" / "bench.yaml").write_text(f"base_url: {url}\n", encoding="utf-8")
    env = {"values": [{"key": "base_url", "value": url}, {"key": "password", "value": PASSWORD}]}
    (project / "newman-env.json").write_text(json.dumps(env), encoding="utf-8")
    for size in sizes:
        with (project / f"rows-{size}.csv").open("w", encoding="utf-8") as handle:
            handle.write("user,qty\n")
            handle.writelines(f"user-{i:06d},{i % 5 + 1}\n" for i in range(size))
    return project


def reqflo_has_workers() -> bool:
    result = subprocess.run(
        [str(REQFLO), "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    return "--workers" in result.stdout


def commands(
    args: argparse.Namespace,
    project: Path,
    url: str,
    newman: Path | None,
    workers: bool,
    stepci_script: Path | None = None,
) -> dict[str, list[str]]:
    c = str(args.concurrency)
    base = [str(REQFLO), "run", "journey.yaml", "--env", "bench", "-c", c, "--data", "{data}"]
    tools = {
        "baseline": [
            str(PYTHON),
            str(BENCH / "baseline_aiohttp.py"),
            url,
            "{data}",
            "--concurrency",
            c,
        ],
        "baseline x2": [
            str(PYTHON),
            str(BENCH / "baseline_aiohttp.py"),
            url,
            "{data}",
            "--concurrency",
            c,
            "--processes",
            "2",
        ],
        "reqflo": base,
    }
    if workers:
        tools["reqflo -w2"] = [*base, "--workers", "2"]
    if newman is not None:
        tools["newman"] = [
            "node",
            str(newman),
            "run",
            str(BENCH / "newman" / "collection.json"),
            "-e",
            str(project / "newman-env.json"),
            "-d",
            "{data}",
        ]
    if stepci_script is not None:
        tools["stepci"] = ["node", str(stepci_script), "run", "{stepci}", "-s",
                           f"password={PASSWORD}"]  # fmt: skip
    for name in cloud.CONFIGS:
        tools[name] = [*base, "--cloud"]
    return tools


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "REQFLO_SECRET_BENCH_PASSWORD": PASSWORD,
        "REQFLO_HOME": str(OUT / "reqflo-home"),
        "NO_COLOR": "1",
        "STEPCI_DISABLE_ANALYTICS": "1",
    }


def measure(
    tool: str, argv: list[str], rows: int, project: Path, env: dict[str, str] | None = None
) -> Measure:
    data = str(project / f"rows-{rows}.csv")
    flow = str(project / f"stepci-{rows}.yml")
    argv = [a.replace("{data}", data).replace("{stepci}", flow) for a in argv]
    log = OUT / "logs" / f"{tool.replace(' ', '_').replace('+', '')}-{rows}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as handle:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=project, env=env or _env(), stdout=handle, stderr=handle
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    ok = process.returncode == 0 and _all_passed(tool, log, rows)
    note = "" if ok else f"exit {process.returncode}, see {log.relative_to(BENCH)}"
    return Measure(tool, rows, ok, wall, usage.ru_maxrss / 1024, note)


def measure_cloud(tool: str, argv: list[str], rows: int, project: Path) -> Measure:
    """Start the tool's service, time one `run --cloud`, stop it (bench/cloud.py)."""
    service = cloud.Service(tool, REQFLO, OUT, _env())
    try:
        service.start(project)
        cpu = service.cpu_seconds()
        m = measure(tool, argv, rows, project, service.client_env())
        cpu = service.cpu_seconds() - cpu
    except RuntimeError as exc:
        return Measure(tool, rows, False, 0.0, 0.0, f"service failed: {exc}")
    finally:  # any failure (a CLI timeout, PostgreSQL) still stops the processes, drops the db
        peak = service.stop()
    return Measure(tool, rows, m.ok, m.wall_s, peak, m.note, round(cpu, 2))


def _all_passed(tool: str, log: Path, rows: int) -> bool:
    text = log.read_text(encoding="utf-8", errors="replace")
    if tool.startswith("baseline"):
        return f'"passed": {rows}, "failed": 0' in text
    if tool.startswith("reqflo") or tool.startswith("cloud"):
        return "PASSED" in text  # exit 0 already means no failed or errored instance
    if tool == "stepci":
        return f"Tests: 0 failed, {rows} passed" in text
    return True  # newman exits non-zero when any test fails


# ---------------------------------------------------------------- report


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    mem = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal")
        ),
        "?",
    )
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": f"{cpu} × {os.cpu_count()} logical cores",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "aiohttp": _pkg_version("aiohttp"),
        "reqflo": f"{_version_line([str(REQFLO), '--version'])} (git {commit})",
        "node": _version_line(["node", "--version"]),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _pkg_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _version_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "?"
    )


def summarise(results: list[Measure]) -> dict[tuple[str, int], Measure]:
    grouped: dict[tuple[str, int], list[Measure]] = {}
    for m in results:
        grouped.setdefault((m.tool, m.rows), []).append(m)
    out = {}
    for key, runs in grouped.items():
        good = [m for m in runs if m.ok]
        if not good:
            out[key] = runs[0]
            continue
        wall = statistics.median(m.wall_s for m in good)
        rss = max(m.peak_rss_mb for m in good)
        note = f"median of {len(good)}"
        cpu = statistics.median(m.service_cpu_s for m in good)
        if cpu:
            note += f"; service CPU {cpu:.1f} s"
        out[key] = Measure(key[0], key[1], True, wall, rss, note, cpu)
    return out


def table(summary: dict[tuple[str, int], Measure], rows: int) -> list[str]:
    base = summary.get(("baseline", rows))
    lines = [
        "| tool | wall s | journeys/s | requests/s | peak RSS MB | journeys/s ÷ baseline | "
        "time ÷ baseline | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (tool, size), m in summary.items():
        if size != rows:
            continue
        if not m.ok:
            lines.append(f"| {tool} | failed | | | | | | {m.note} |")
            continue
        jps = rows / m.wall_s
        ratio = f"{jps / (rows / base.wall_s):.2f}" if base and base.ok else "–"
        slower = f"{m.wall_s / base.wall_s:.2f}x" if base and base.ok else "–"
        lines.append(
            f"| {tool} | {m.wall_s:.3f} | {jps:,.0f} | {jps * REQUESTS_PER_JOURNEY:,.0f} | "
            f"{m.peak_rss_mb:.0f} | {ratio} | {slower} | {m.note} |"
        )
    return lines


def targets(summary: dict[tuple[str, int], Measure], sizes: list[int]) -> list[str]:
    def get(tool: str, rows: int) -> Measure | None:
        m = summary.get((tool, rows))
        return m if m and m.ok else None

    lines = []
    r, b, n = get("reqflo", 1000), get("baseline", 1000), get("newman", 1000)
    if r and b:
        share = b.wall_s / r.wall_s
        lines.append(
            f"- 1,000 rows, reqflo ≥ 80% of the one-process baseline's journeys/s: "
            f"**{share:.0%}** {'✔' if share >= 0.8 else '✘'}"
        )
    if r and n:
        lines.append(
            f"- 1,000 rows, reqflo ≥ 30x faster than Newman: **{n.wall_s / r.wall_s:.2f}x** "
            f"{'✔' if n.wall_s / r.wall_s >= 30 else '✘'}"
        )
    lines += _stepci_targets(get("stepci", 1000), r, get("reqflo -w2", 1000))
    lines += _cloud_targets(get, sizes)
    one = get("reqflo", 1)
    if one:
        lines.append(
            f"- one-row run < 0.5 s wall including interpreter start: **{one.wall_s:.3f} s** "
            f"{'✔' if one.wall_s < 0.5 else '✘'}"
        )
    big = max(sizes)
    for tool in ("reqflo", "reqflo -w2"):
        small, large = get(tool, 1000), get(tool, big)
        if small and large and big > 1000:
            growth = large.peak_rss_mb / small.peak_rss_mb
            lines.append(
                f"- `{tool}` peak RSS {big:,} rows ÷ 1,000 rows ≤ 1.5: **{growth:.2f}** "
                f"{'✔' if growth <= 1.5 else '✘'}"
            )
    return lines


def _stepci_targets(st: Measure | None, r: Measure | None, w2: Measure | None) -> list[str]:
    lines = []
    for label, mine in (("reqflo", r), ("reqflo -w2", w2)):
        if st and mine:
            times = st.wall_s / mine.wall_s
            lines.append(
                f"- 1,000 rows, {label} ≥ 5x faster than Step CI: **{times:.2f}x** "
                f"{'✔' if times >= 5 else '✘'}"
            )
    return lines


def _cloud_targets(get: Any, sizes: list[int]) -> list[str]:
    lines = []
    for rows in (n for n in sizes if n > 1):
        local, sqlite = get("reqflo", rows), get("cloud sqlite", rows)
        if local and sqlite:
            share = local.wall_s / sqlite.wall_s
            lines.append(
                f"- {rows:,} rows, cloud on SQLite ≥ 40% of the local run's journeys/s: "
                f"**{share:.1%}** {'✔' if share >= 0.4 else '✘'}"
            )
        one, two = get("cloud pg +1w", rows), get("cloud pg +2w", rows)
        if one and two:
            gain = one.wall_s / two.wall_s  # one run each: only ≥ 1.10 is beyond the noise
            lines.append(
                f"- {rows:,} rows, PostgreSQL: a second worker process adds throughput "
                f"(journeys/s with 2 workers ÷ with 1, ≥ 1.10 to count): **{gain:.2f}** "
                f"{'✔' if gain >= 1.1 else '✘'}"
            )
    return lines


def write_results(
    args: argparse.Namespace,
    info: dict[str, str],
    target: str,
    summary: dict[tuple[str, int], Measure],
    sizes: list[int],
    newman: str,
    stepci_version: str = "not measured",
    when: str = "an unrecorded date",
) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `.venv/bin/python bench/run.py "
        f"--rows {','.join(map(str, sizes))} --repeat {args.repeat}` "
        f"on {when}. Every figure below comes from the same run, "
        "tools interleaved per repetition; ratios are to the one-process aiohttp baseline "
        "of the same row count. Wall time includes interpreter/runtime start-up.",
        "",
        "## Machine and versions",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        f"- newman: {newman}",
        f"- stepci: {stepci_version}",
        f"- target: {target}, 1 worker process, 127.0.0.1",
        f"- concurrency (journeys in flight, reqflo and baseline): {args.concurrency}",
        "",
        "## Targets",
        "",
        *targets(summary, sizes),
        "",
    ]
    for rows in sizes:
        lines += [f"## {rows:,} row{'s' if rows != 1 else ''}", "", *table(summary, rows), ""]
    notes = BENCH / "RESULTS-notes.md"
    if notes.exists():
        lines += [notes.read_text(encoding="utf-8").rstrip(), ""]
    (BENCH / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,1000,100000", help="comma-separated row counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and row count")
    parser.add_argument("--big-repeat", type=int, default=1, help="runs above 10,000 rows")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--newman-max-rows", type=int, default=1000)
    parser.add_argument("--newman-repeat", type=int, default=1, help="Newman runs above 1 row")
    parser.add_argument("--stepci-max-rows", type=int, default=1000)
    parser.add_argument("--cloud-max-rows", type=int, default=1000)
    parser.add_argument(
        "--cloud-repeat", type=int, default=1, help="cloud runs per configuration above 1 row"
    )
    parser.add_argument("--only", default="", help="comma-separated tools to run (default all)")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite RESULTS.md from bench/out/results.json"
    )
    args = parser.parse_args()
    if not args.report_only:
        measure_all(args)
    saved = json.loads((OUT / "results.json").read_text(encoding="utf-8"))
    run_args = argparse.Namespace(**saved["args"])
    measures = [Measure(**m) for m in saved["measures"]]
    write_results(
        run_args, saved["machine"], saved["target"], summarise(measures), saved["sizes"],
        saved["newman"], saved.get("stepci", "not measured"),
        saved.get("when", "an unrecorded date"),
    )  # fmt: skip
    print((BENCH / "RESULTS.md").read_text(encoding="utf-8"))
    return 0


def measure_all(args: argparse.Namespace) -> None:
    """Run every tool and save the raw figures, with machine and versions, to results.json."""
    sizes = sorted({int(s) for s in args.rows.split(",") if s.strip()})
    OUT.mkdir(parents=True, exist_ok=True)
    precompile()
    target = Target()
    target.start()
    try:
        project = write_project(target.url, sizes)
        newman = npm.ensure(CACHE, "newman", NEWMAN_VERSION, "bin/newman.js")
        flow = stepci.ensure(CACHE)
        for size in sizes:
            if flow is not None and size <= args.stepci_max_rows:
                stepci.write_workflow(project, target.url, size, args.concurrency)
        tools = commands(args, project, target.url, newman, reqflo_has_workers(), flow)
        if args.only:
            tools = {k: v for k, v in tools.items() if k in args.only.split(",")}
        results = run_all(args, tools, sizes, project)
    finally:
        target.stop()
    saved = {
        "args": vars(args),
        "sizes": sizes,
        "machine": machine(),
        "target": target.kind,
        "newman": _version_line(["node", str(newman), "--version"]) if newman else "not installed",
        "stepci": stepci.version(flow) if flow else "not installed",
        "measures": [asdict(m) for m in results],
        "when": time.strftime("%Y-%m-%d %H:%M %Z"),  # --report-only keeps the run's date
    }
    (OUT / "results.json").write_text(json.dumps(saved, indent=1), encoding="utf-8")


def precompile() -> None:
    """Byte-compile the reqflo package the measured CLI imports, as installing a wheel does.

    An editable install under PYTHONDONTWRITEBYTECODE (set on some CI machines) would
    otherwise recompile every changed module in each measured process (~50 ms per
    start-up), a cost no installed copy pays. The package is found by importing it, so a
    copy of bench/ run from elsewhere compiles the same sources the CLI runs.
    """
    where = "import os, reqflo; print(os.path.dirname(reqflo.__file__))"
    found = subprocess.run([str(PYTHON), "-c", where], check=True, capture_output=True, text=True)
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", found.stdout.strip()], check=True)


def run_all(
    args: argparse.Namespace, tools: dict[str, list[str]], sizes: list[int], project: Path
) -> list[Measure]:
    results: list[Measure] = []
    for rows in sizes:
        repeat = args.repeat if rows <= 10_000 else args.big_repeat
        for attempt in range(repeat):
            for tool, argv in tools.items():
                if _skipped(args, tool, rows, attempt):
                    continue
                if tool.startswith("cloud"):
                    m = measure_cloud(tool, argv, rows, project)
                else:
                    m = measure(tool, argv, rows, project)
                print(
                    f"{rows:>7} rows  {tool:<12} {'ok ' if m.ok else 'FAIL'} "
                    f"{m.wall_s:8.3f} s  {m.peak_rss_mb:6.0f} MB  {m.note}",
                    flush=True,
                )
                results.append(m)
    return results


def _skipped(args: argparse.Namespace, tool: str, rows: int, attempt: int) -> bool:
    limits = {  # tool: (largest row count, repetitions above one row)
        "newman": (args.newman_max_rows, args.newman_repeat),
        "stepci": (args.stepci_max_rows, args.newman_repeat),
        **{name: (args.cloud_max_rows, args.cloud_repeat) for name in cloud.CONFIGS},
    }
    if tool in limits:
        largest, repeat = limits[tool]
        if rows > largest or (rows > 1 and attempt >= repeat):
            return True
    return (tool.endswith("x2") or tool.endswith("-w2")) and rows == 1


if __name__ == "__main__":
    sys.exit(main())
