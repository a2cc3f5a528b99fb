"""The scheduler with a controllable clock: fire instants across DST changes, the
missed-tick policies after downtime, exactly one run per tick with two scheduler loops
on one fresh PostgreSQL database, runner concurrency, and retention pruning."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reqflo.artifact import Artifact
from reqflo.cloud.cron import CronError, CronSpec
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.cloud.scheduler import Scheduler
from reqflo.store import NewRun, Store, StoreSink, sqlite_url
from reqflo.store.schedule_records import NewSchedule, RunnerSettings
from reqflo.store.schedule_store import ScheduleStore
from test_cloud_support import compiled, fresh_postgres

ECHO = """
journey:
  name: Tick
  variables:
    - {name: base_url, source: environment}
  steps:
    - id: echo
      name: Echo
      request:
        method: GET
        url: "{{ variables.base_url }}/echo"
        query: {word: tick}
      assertions:
        - {type: status_code, expected: 200}
"""


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    store: Store
    schedules: ScheduleStore
    executor: InProcessExecutor
    artifact: Artifact
    clock: FakeClock

    def scheduler(self, grace: timedelta = timedelta(minutes=1)) -> Scheduler:
        return Scheduler(
            self.store, self.executor, "http://reqflo.test", clock=self.clock, grace=grace
        )

    def schedule(self, name: str, cron: str, tz: str = "UTC", missed: str = "skip") -> str:
        new = NewSchedule(name=name, cron=cron, timezone=tz, created_by="tok", journey="Tick",
                          environment="demo", missed=missed)  # fmt: skip
        return self.schedules.create(new, self.clock()).id

    def fired(self, schedule_id: str) -> list[datetime]:
        return [t.tick_at for t in self.schedules.ticks(schedule_id)]


def open_world(url: str, folder: Path, demo_url: str, clock: FakeClock) -> World:
    store = Store.open(url)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tick.yaml"
    path.write_text(ECHO, encoding="utf-8")
    artifact = compiled(path)
    store.put_artifact(artifact)
    store.put_environment("demo", {"base_url": demo_url})
    executor = InProcessExecutor(StoreSink(store), folder)
    return World(store, ScheduleStore(store), executor, artifact, clock)


@pytest.fixture
def world(tmp_path: Path, demo_url: str) -> Iterator[World]:
    opened = open_world(sqlite_url(tmp_path), tmp_path, demo_url, FakeClock(utc(2026, 1, 1)))
    yield opened
    opened.executor.close()
    opened.store.close()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def sweep(world: World, until: datetime, step: timedelta) -> list[str]:
    """Move the clock in steps, one scheduler pass per step (a tick seen within a step is
    on time, not missed); the ids of the runs fired."""
    scheduler, fired = world.scheduler(grace=step), []
    while world.clock.now < until:
        world.clock.now = min(world.clock.now + step, until)
        fired += [run.id for run in scheduler.run_pass()]
    return fired


SPRING = [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
FALL = [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_cron_preview_of_a_0230_paris_schedule_across_dst() -> None:
    spec = CronSpec("30 2 * * *", "Europe/Paris")
    # spring forward: 02:30 does not exist on 29 March, it fires at 03:30 CEST (01:30Z)
    assert spec.next_fires(utc(2026, 3, 27, 12), 3) == SPRING
    # fall back: 02:30 exists twice on 25 October, it fires once (the first, CEST)
    assert spec.next_fires(utc(2026, 10, 23, 12), 3) == FALL
    hourly = CronSpec("0 * * * *", "Europe/Paris").next_fires(utc(2026, 3, 29, 0, 30), 3)
    assert hourly == [utc(2026, 3, 29, 1), utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)]


def test_a_wall_time_of_a_gap_fires_when_asked_just_after_the_gap() -> None:
    # 02:30 of 29 March does not exist in Paris; asked at 03:10 CEST it is still to come
    spec = CronSpec("30 2 * * *", "Europe/Paris")
    assert spec.next_fires(utc(2026, 3, 29, 1, 10), 2) == SPRING[1:]
    # Samoa skipped 30 December 2011 (UTC-10 to UTC+14): its 02:30 fires 22.5 h of wall
    # time before the moment asked, 01:00 on the 31st
    apia = CronSpec("30 2 * * *", "Pacific/Apia").next_fires(utc(2011, 12, 30, 11), 2)
    assert apia == [utc(2011, 12, 30, 12, 30), utc(2011, 12, 31, 12, 30)]


def test_bad_cron_and_timezone_are_refused_with_their_reason() -> None:
    with pytest.raises(CronError, match="5 fields"):
        CronSpec("0 0 * *", "UTC")
    with pytest.raises(CronError, match="IANA timezone"):
        CronSpec("0 0 * * *", "Mars/Olympus")
    for name in ("x" * 300, "Europe/" + "y" * 20_000):  # too long for a file name: OSError
        with pytest.raises(CronError, match="not an IANA timezone"):
            CronSpec("0 0 * * *", name)
    assert CronSpec("0 0 30 2 *", "UTC").next_fires(utc(2026, 1, 1), 1) == []


@pytest.mark.parametrize(("start", "expected"), [(utc(2026, 3, 27, 12), SPRING),
                                                 (utc(2026, 10, 23, 12), FALL)])  # fmt: skip
def test_the_scheduler_fires_at_the_right_instants_across_dst(
    world: World, start: datetime, expected: list[datetime]
) -> None:
    world.clock.now = start
    schedule_id = world.schedule("nightly", "30 2 * * *", "Europe/Paris")
    runs = sweep(world, start + timedelta(days=3), timedelta(minutes=20))
    assert world.fired(schedule_id) == expected
    assert len(runs) == 3
    for run_id in runs:
        world.executor.wait(run_id, 20)
        run = world.store.run(run_id)
        assert run is not None and run.trigger == "schedule" and run.status == "passed"


@pytest.mark.parametrize("policy", ["skip", "run_once"])
def test_ticks_missed_while_down_follow_the_policy(world: World, policy: str) -> None:
    world.clock.now = utc(2026, 5, 4, 10, 5)
    schedule_id = world.schedule(f"hourly-{policy}", "0 * * * *", missed=policy)
    scheduler = world.scheduler()
    world.clock.now = utc(2026, 5, 4, 11, 0, 20)
    assert len(scheduler.run_pass()) == 1  # on time
    world.clock.now = utc(2026, 5, 4, 15, 20)  # "down" from 11:00:20 to 15:20
    caught_up = scheduler.run_pass()
    world.clock.now = utc(2026, 5, 4, 16, 0, 5)
    scheduler.run_pass()
    late = [utc(2026, 5, 4, 15)] if policy == "run_once" else []
    assert len(caught_up) == len(late)
    assert world.fired(schedule_id) == [utc(2026, 5, 4, 11), *late, utc(2026, 5, 4, 16)]


def test_paused_schedules_do_not_fire_and_resume_from_now(world: World) -> None:
    world.clock.now = utc(2026, 5, 4, 10, 5)
    schedule_id = world.schedule("paused", "0 * * * *", missed="run_once")
    world.schedules.set_enabled(schedule_id, False, world.clock())
    sweep(world, utc(2026, 5, 4, 13, 30), timedelta(minutes=30))
    world.schedules.set_enabled(schedule_id, True, world.clock())
    sweep(world, utc(2026, 5, 4, 14, 10), timedelta(minutes=10))
    assert world.fired(schedule_id) == [utc(2026, 5, 4, 14)]


def test_scheduled_runs_use_the_runner_concurrency_of_their_journey(world: World) -> None:
    world.clock.now = utc(2026, 5, 4, 10, 5)
    world.schedules.put_settings(
        RunnerSettings(default_concurrency=3, journey_concurrency={"Tick": 7}), world.clock()
    )
    world.schedule("conc", "0 * * * *")
    world.clock.now = utc(2026, 5, 4, 11, 0, 1)
    (run,) = world.scheduler().run_pass()
    assert run.concurrency == 7
    world.executor.wait(run.id, 20)


def test_two_scheduler_loops_on_postgresql_fire_each_tick_exactly_once(
    tmp_path: Path, demo_url: str
) -> None:
    clock = FakeClock(utc(2026, 6, 1, 8, 0, 30))
    with fresh_postgres() as url:
        worlds = [open_world(url, tmp_path / n, demo_url, clock) for n in ("a", "b")]
        try:
            schedule_id = worlds[0].schedule("minutely", "* * * * *")
            fired = race(worlds, clock, steps=15)
            ticks = worlds[1].schedules.ticks(schedule_id)
            assert [t.tick_at for t in ticks] == [utc(2026, 6, 1, 8, m) for m in range(1, 16)]
            assert sorted(fired) == sorted(t.run_id for t in ticks if t.run_id)
            assert len(set(fired)) == 15
            for world in worlds:
                for run_id in fired:
                    world.executor.wait(run_id, 20)
        finally:
            for world in worlds:
                world.executor.close()
                world.store.close()


def race(worlds: list[World], clock: FakeClock, steps: int) -> list[str]:
    """Both loops run a pass at each clock step, released together by a barrier."""
    barrier = threading.Barrier(len(worlds))
    fired: list[str] = []
    lock = threading.Lock()

    def loop(world: World) -> None:
        scheduler = world.scheduler()
        for step in range(steps):
            barrier.wait(30)
            if world is worlds[0]:
                clock.now = utc(2026, 6, 1, 8, step + 1, 1)
            barrier.wait(30)
            runs = scheduler.run_pass()
            with lock:
                fired.extend(r.id for r in runs)

    threads = [threading.Thread(target=loop, args=(w,)) for w in worlds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return fired


def test_retention_prunes_finished_runs_never_running_ones(world: World) -> None:
    def run(status: str) -> str:
        new = NewRun(artifact_id=world.artifact.id, journey="Tick", environment="demo",
                     requested_by="tok", instances=1, concurrency=1)  # fmt: skip
        record, _ = world.store.create_run(new)
        if status == "running":
            world.store.mark_started(record.id)
        elif status == "cancelled":
            world.store.cancel_run(record.id)
        return record.id

    old_running, old_queued = run("running"), run("queued")
    finished = [run("cancelled") for _ in range(3)]
    now = datetime.now(UTC)
    assert world.schedules.prune_runs(RunnerSettings(retention_max_runs=1), now) == 2
    assert [world.store.run(r) is not None for r in finished] == [False, False, True]
    later = now + timedelta(days=30)
    assert world.schedules.prune_runs(RunnerSettings(retention_days=1), later) == 1
    assert world.store.run(finished[2]) is None
    for kept in (old_running, old_queued):
        assert world.store.run(kept) is not None


def test_the_loop_cancels_overdue_runs_and_prunes_finished_ones(world: World) -> None:
    def run() -> str:
        new = NewRun(artifact_id=world.artifact.id, journey="Tick", environment="demo",
                     requested_by="tok", instances=1, concurrency=1)  # fmt: skip
        return world.store.create_run(new)[0].id

    finished = [run() for _ in range(3)]
    for run_id in finished:
        world.store.cancel_run(run_id)
    queued, running = run(), run()
    world.store.mark_started(running)
    settings = RunnerSettings(max_run_seconds=60, retention_max_runs=2)
    world.schedules.put_settings(settings, datetime.now(UTC))
    world.clock.now = datetime.now(UTC) + timedelta(seconds=30)
    world.scheduler().run_pass()
    assert world.store.run(running).status == "running"  # type: ignore[union-attr]
    world.clock.now = datetime.now(UTC) + timedelta(hours=1)
    world.scheduler().run_pass()
    overdue = world.store.run(running)
    assert overdue is not None and overdue.status == "cancelled"
    assert "maximum run duration (60 s)" in (overdue.error or "")
    assert [world.store.run(r) is not None for r in finished] == [False, False, True]
    assert world.store.run(queued) is not None
