"""Worker process entry point: `python -m reqflo.cloud.durable.worker --db URL --data-dir D`.

Owns `main(argv)` and `run_worker(...)`, which start a `DurableExecutor` (recovering
this executor's pending workflows first), then serve the queues until SIGTERM/SIGINT.
Results go to the sink named by `--sink module:callable` (called as
`callable(database_url, data_dir)`), by default a `JsonlSink` at
`<data dir>/results.jsonl`. Options: `--executor-id` (default: unique per process; give
the same id to a restarted worker so it resumes its own runs at once; otherwise another
worker recovers them once the heartbeat is stale), `--concurrency`,
`--global-concurrency`, `--heartbeat`, `--dead-after` (defaults: `HEARTBEAT_SECONDS`,
`DEAD_AFTER_SECONDS` of reqflo.cloud.durable.liveness), `--poll`.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from reqflo.cloud.durable.engine import EngineConfig
from reqflo.cloud.durable.executor import DurableExecutor, default_executor_id
from reqflo.cloud.durable.liveness import DEAD_AFTER_SECONDS, HEARTBEAT_SECONDS
from reqflo.cloud.durable.sinks import JsonlSink
from reqflo.cloud.executor import ResultSink
from reqflo.secrets.redact import redact_process_logs

SinkFactory = Callable[[str, Path], ResultSink]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reqflo worker", description=__doc__)
    parser.add_argument("--db", required=True, help="sqlite:///path/reqflo.db or postgresql://")
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--executor-id", default=None)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--global-concurrency", type=int, default=None)
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=HEARTBEAT_SECONDS,
        help="seconds between heartbeats (default: %(default)g)",
    )
    parser.add_argument(
        "--dead-after",
        type=float,
        default=DEAD_AFTER_SECONDS,
        help="sweep a worker silent this many seconds (default: %(default)g)",
    )
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--sink", default=None, help="module:callable(database_url, data_dir)")
    return parser


def load_sink_factory(spec: str) -> SinkFactory:
    module_name, _, attr = spec.partition(":")
    factory: SinkFactory = getattr(importlib.import_module(module_name), attr)
    return factory


def run_worker(
    config: EngineConfig,
    sink: ResultSink,
    *,
    heartbeat_s: float = HEARTBEAT_SECONDS,
    dead_after_s: float = DEAD_AFTER_SECONDS,
    stop: threading.Event | None = None,
) -> None:
    """Serve until `stop` is set or the process gets SIGTERM/SIGINT."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    executor = DurableExecutor(config, sink, heartbeat_s=heartbeat_s, dead_after_s=dead_after_s)
    try:
        stop.wait()
    finally:
        executor.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    redact_process_logs()  # every resolved secret is masked in every library's logs
    data_dir: Path = args.data_dir
    config = EngineConfig(
        database_url=args.db,
        data_dir=data_dir,
        executor_id=args.executor_id or default_executor_id(),
        worker_concurrency=args.concurrency,
        global_concurrency=args.global_concurrency,
        poll_interval_s=args.poll,
    )
    if args.sink:
        sink = load_sink_factory(args.sink)(args.db, data_dir)
    else:
        sink = JsonlSink(data_dir / "results.jsonl")
    run_worker(config, sink, heartbeat_s=args.heartbeat, dead_after_s=args.dead_after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
