"""Admin → Runners judges workers alive/late/stale by the liveness settings the service
runs with (reqflo.cloud.durable.liveness): late after `LATE_AFTER_BEATS` missed beats,
stale at the sweep threshold. A server that runs a durable worker itself uses that
worker's settings; any other server uses the liveness defaults. A worker that records its
own heartbeat interval in its row (`reqflo worker --heartbeat N`) is late after missed
beats of that interval instead; a row of an older worker, without it, is judged as
before. The legend under the table says which thresholds are applied."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.durable.liveness import (
    DEAD_AFTER_SECONDS,
    DEFAULT_THRESHOLDS,
    HEARTBEAT_SECONDS,
    LATE_AFTER_BEATS,
    Liveness,
    create_table,
    workers_table,
)
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.store import Store, StoreSink, sqlite_url
from test_cloud_api import served
from web_support import Site, signed_in


class ServerWithWorker(InProcessExecutor):
    """Runs in-process and carries a durable worker's `Liveness`, as the executor of
    `reqflo server --executor durable` does (its `liveness` attribute)."""

    def __init__(self, store: Store, folder: Path, liveness: Liveness) -> None:
        super().__init__(StoreSink(store), folder)
        self.liveness = liveness


@contextmanager
def site_beating(folder: Path, interval_s: float, dead_after_s: float) -> Iterator[Site]:
    store = Store.open(sqlite_url(folder))
    liveness = Liveness(sqlite_url(folder), "server-worker", lambda ids: 0,
                        interval_s=interval_s, dead_after_s=dead_after_s)  # fmt: skip
    executor = ServerWithWorker(store, folder, liveness)
    tokens = {"admin": store.create_token("admin-token", "admin")[1]}
    try:
        with served(create_app(Services(store, executor, folder))) as url:
            yield Site(url, store, folder, tokens)
    finally:
        liveness.stop()  # never started: removes nothing of ours, disposes its engine
        executor.close()
        store.close()


def statuses(
    site: Site, ages: dict[str, float], intervals: dict[str, float] | None = None
) -> tuple[dict[str, str], str]:
    """Workers whose last heartbeat is `ages` seconds old, recording the heartbeat
    `intervals` given (else none, as an older worker) → their status on the page."""
    create_table(site.store.engine)  # as a worker's start does
    now, intervals = time.time(), intervals or {}
    with site.store.engine.begin() as connection:
        connection.execute(sa.delete(workers_table))
        for executor_id, age in ages.items():
            connection.execute(workers_table.insert().values(
                executor_id=executor_id, host="box-2", pid=77, started_at=now - 600,
                heartbeat_at=now - age,
                heartbeat_interval_s=intervals.get(executor_id)))  # fmt: skip
    try:
        with signed_in(site, "admin") as client:
            page = client.get("/admin/runners").text
            fragment = client.get("/admin/runners/workers").text
    finally:
        with site.store.engine.begin() as connection:
            connection.execute(sa.delete(workers_table))
    found = {}
    for executor_id in ages:
        row = re.search(rf'<td class="mono">{executor_id}</td>.*?status-worker-(\w+)', page, re.S)
        again = re.search(rf'<td class="mono">{executor_id}</td>.*?status-worker-(\w+)', fragment,
                          re.S)  # fmt: skip
        assert row and again and row.group(1) == again.group(1), page
        found[executor_id] = row.group(1)
    legend = re.search(r'id="liveness-legend">(.*?)</p>', fragment, re.S)
    assert legend, fragment
    return found, " ".join(legend.group(1).split())


def test_the_defaults_are_three_beats_late_and_the_sweep_threshold_stale() -> None:
    assert DEFAULT_THRESHOLDS.late_after_s == LATE_AFTER_BEATS * HEARTBEAT_SECONDS == 15.0
    assert DEFAULT_THRESHOLDS.stale_after_s == DEAD_AFTER_SECONDS == 30.0


def test_a_server_without_its_own_worker_applies_the_liveness_defaults(site: Site) -> None:
    found, legend = statuses(site, {"d-alive": 14, "d-late": 16, "d-stale": 31})
    assert found == {"d-alive": "alive", "d-late": "late", "d-stale": "stale"}
    assert legend.startswith("alive: heartbeat in the last 15 s · late: 15–30 s · stale: over 30 s")


def test_a_server_with_its_own_worker_applies_that_workers_settings(tmp_path: Path) -> None:
    with site_beating(tmp_path, interval_s=2, dead_after_s=10) as site:  # late 6 s, stale 10 s
        found, legend = statuses(site, {"w-alive": 4, "w-late": 8, "w-stale": 12})
    assert found == {"w-alive": "alive", "w-late": "late", "w-stale": "stale"}
    assert legend.startswith("alive: heartbeat in the last 6 s · late: 6–10 s · stale: over 10 s")


def test_late_never_comes_after_stale(tmp_path: Path) -> None:
    with site_beating(tmp_path, interval_s=20, dead_after_s=30) as site:  # 3 beats = 60 s > 30
        found, legend = statuses(site, {"s-alive": 25, "s-stale": 31})
    assert found == {"s-alive": "alive", "s-stale": "stale"}
    assert "stale: over 30 s" in legend


def test_a_worker_recording_its_interval_is_late_after_its_own_missed_beats(site: Site) -> None:
    """The defaults apply (late 15 s, stale 30 s) to a row without an interval only."""
    ages = {"i2-alive": 4, "i2-late": 8, "i20-alive": 25, "i20-stale": 31, "i5-late": 16,
            "unrecorded-alive": 14, "unrecorded-late": 16}  # fmt: skip
    intervals = {"i2-alive": 2, "i2-late": 2, "i20-alive": 20, "i20-stale": 20, "i5-late": 5}
    found, legend = statuses(site, ages, intervals)
    assert found == {name: name.rsplit("-", 1)[1] for name in ages}
    assert legend.startswith(
        "alive: heartbeat within 3 beats of the worker's own interval (Beats every; —: in the"
        " last 15 s) · late: after that · stale: over 30 s"
    )


def test_each_row_shows_its_interval_and_thresholds(site: Site) -> None:
    create_table(site.store.engine)
    now = time.time()
    with site.store.engine.begin() as connection:
        connection.execute(sa.delete(workers_table))
        connection.execute(workers_table.insert().values(
            executor_id="shown", host="box-3", pid=78, started_at=now - 60,
            heartbeat_at=now - 1, heartbeat_interval_s=2.5))  # fmt: skip
    try:
        with signed_in(site, "admin") as client:
            fragment = client.get("/admin/runners/workers").text
        with site.api("viewer") as api:  # the API says what the page shows
            listed = {w["executor_id"]: w for w in api.get("/api/v1/workers").json()}
        assert listed["shown"]["heartbeat_interval_s"] == 2.5
    finally:
        with site.store.engine.begin() as connection:
            connection.execute(sa.delete(workers_table))
    row = re.search(r'<td class="mono">shown</td>.*?</tr>', fragment, re.S)
    assert row and '<td class="num">2.5 s</td>' in row.group()
    assert 'title="late after 7.5 s, stale after 30 s"' in row.group()


OLDER_TABLE = """CREATE TABLE reqflo_durable_workers (
    executor_id VARCHAR(200) PRIMARY KEY, host VARCHAR(255) NOT NULL, pid INTEGER NOT NULL,
    started_at FLOAT NOT NULL, heartbeat_at FLOAT NOT NULL)"""


def test_a_table_only_older_workers_beat_in_is_judged_as_before(tmp_path: Path) -> None:
    """No worker of this version has added the interval column yet: the page still works."""
    with site_beating(tmp_path, interval_s=2, dead_after_s=10) as site:  # late 6 s, stale 10 s
        now = time.time()
        with site.store.engine.begin() as connection:
            connection.execute(sa.text(OLDER_TABLE))
            for name, age in (("old-alive", 4), ("old-late", 8), ("old-stale", 12)):
                connection.execute(
                    sa.text("INSERT INTO reqflo_durable_workers VALUES (:e, 'box', 1, :s, :b)"),
                    {"e": name, "s": now - 60, "b": now - age},
                )
        with signed_in(site, "admin") as client:
            fragment = client.get("/admin/runners/workers")
    assert fragment.status_code == 200
    for name in ("old-alive", "old-late", "old-stale"):
        row = re.search(rf'<td class="mono">{name}</td>.*?</tr>', fragment.text, re.S)
        assert row and f"status-worker-{name[4:]}" in row.group() and ">—</td>" in row.group()
    assert "alive: heartbeat in the last 6 s · late: 6–10 s" in fragment.text
