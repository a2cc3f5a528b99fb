"""Prometheus metrics of the Cloud Runner, hand-rolled (text exposition format 0.0.4).

Owns a few thread-safe counters (HTTP requests by method and status class, runs
submitted, cancelled, rerun) and the rendering of `/metrics`, which also reports the
number of runs per status read from the store at scrape time.
"""

from __future__ import annotations

import threading
from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._runs: Counter[str] = Counter()

    def request(self, method: str, status: int) -> None:
        with self._lock:
            self._requests[(method, f"{status // 100}xx")] += 1

    def run_event(self, what: str) -> None:
        """`what`: submitted, cancelled or rerun."""
        with self._lock:
            self._runs[what] += 1

    def render(self, runs_by_status: dict[str, int]) -> str:
        with self._lock:
            requests, runs = dict(self._requests), dict(self._runs)
        lines = [
            "# HELP reqflo_http_requests_total API requests by method and status class.",
            "# TYPE reqflo_http_requests_total counter",
            *(
                f'reqflo_http_requests_total{{method="{m}",status="{s}"}} {n}'
                for (m, s), n in sorted(requests.items())
            ),
            "# HELP reqflo_runs_total Runs submitted, cancelled and rerun by this process.",
            "# TYPE reqflo_runs_total counter",
            *(f'reqflo_runs_total{{action="{a}"}} {n}' for a, n in sorted(runs.items())),
            "# HELP reqflo_runs Runs in the store by status.",
            "# TYPE reqflo_runs gauge",
            *(f'reqflo_runs{{status="{s}"}} {n}' for s, n in sorted(runs_by_status.items())),
        ]
        return "\n".join(lines) + "\n"
