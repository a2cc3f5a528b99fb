"""Tick claims survive a scheduler that dies between claiming a tick and submitting its run:
once the claim's lease expires another scheduler (or the restarted one) takes it over and
submits the same run exactly once; a run that already reached an executor is only marked
submitted; a tick claimed too often ends its run as `error`. On SQLite, and with two
schedulers racing for the same stale claims on one fresh PostgreSQL database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reqflo.cloud.executor import QueuedRun
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.cloud.scheduler import Leases, Scheduler
from reqflo.store import RunFilter, RunRecord, StoreSink, sqlite_url
from reqflo.store.schedule_records import RunnerSettings
from test_cloud_scheduler import FakeClock, World, open_world, utc
from test_cloud_support import fresh_postgres


class ServerDied(BaseException):
    """Stands for the process ending (kill -9, power loss) at that exact point."""


class DyingExecutor(InProcessExecutor):
    """A real executor whose process 'dies' when asked to submit."""

    def submit(self, run: QueuedRun) -> None:
        raise ServerDied(run.run_id)


@pytest.fixture
def world(tmp_path: Path, demo_url: str) -> Iterator[World]:
    opened = open_world(sqlite_url(tmp_path), tmp_path, demo_url, FakeClock(utc(2026, 5, 4, 10, 5)))
    yield opened
    opened.executor.close()
    opened.store.close()


def crash_while_firing(world: World, folder: Path, schedules: int = 1) -> list[RunRecord]:
    """Schedules firing at 11:00, claimed at 11:00:10 by a scheduler that dies before
    submitting; their queued runs."""
    ids = [world.schedule(f"hourly-{n}", "0 * * * *") for n in range(schedules)]
    dying = DyingExecutor(StoreSink(world.store), folder)
    try:
        dead = Scheduler(world.store, dying, "http://x", clock=world.clock, owner="dead")
        world.clock.now = utc(2026, 5, 4, 11, 0, 10)
        for schedule_id in ids:
            schedule = world.schedules.get(schedule_id)
            assert schedule is not None
            with pytest.raises(ServerDied):
                dead.fire_due(schedule, world.clock(), world.schedules.settings())
    finally:
        dying.close()
    runs = []
    for schedule_id in ids:
        (tick,) = world.schedules.ticks(schedule_id)
        assert tick.claimed_by == "dead" and tick.submitted_at is None and tick.claims == 1
        run = world.store.run(tick.run_id or "")
        assert run is not None and run.status == "queued"
        runs.append(run)
    return runs


def test_a_tick_claimed_by_a_dead_scheduler_is_submitted_once_after_its_lease(
    world: World, tmp_path: Path
) -> None:
    (run,) = crash_while_firing(world, tmp_path / "dead")
    restarted = world.scheduler()
    world.clock.now = utc(2026, 5, 4, 11, 0, 50)  # the lease (60 s) holds
    assert restarted.run_pass() == []  # the tick is claimed: it is not fired again
    assert world.schedules.ticks(run_id_schedule(world, run))[0].submitted_at is None
    world.clock.now = utc(2026, 5, 4, 11, 1, 20)
    assert [r.id for r in restarted.recover_submissions(world.clock(), settings(world))] == [run.id]
    world.executor.wait(run.id, 20)
    (tick,) = world.schedules.ticks(run_id_schedule(world, run))
    assert tick.submitted_at == world.clock() and tick.claims == 2
    assert tick.claimed_by == restarted.owner
    assert world.store.run(run.id).status == "passed"  # type: ignore[union-attr]
    world.clock.now += timedelta(minutes=5)
    assert restarted.recover_submissions(world.clock(), settings(world)) == []
    assert world.store.runs(RunFilter())[1] == 1  # one run: no second one was created
    assert len(world.store.instances(run.id)) == 1


def test_a_run_that_reached_an_executor_is_only_marked_submitted(
    world: World, tmp_path: Path
) -> None:
    (run,) = crash_while_firing(world, tmp_path / "dead")
    world.store.mark_started(run.id)  # it was submitted; the crash came before the record
    world.clock.now = utc(2026, 5, 4, 11, 5)
    scheduler = world.scheduler()
    assert scheduler.recover_submissions(world.clock(), settings(world)) == []
    (tick,) = world.schedules.ticks(run_id_schedule(world, run))
    assert tick.submitted_at is not None and tick.claims == 1
    assert world.store.run(run.id).status == "running"  # type: ignore[union-attr]


def test_a_tick_claimed_too_often_ends_its_run_as_error(world: World, tmp_path: Path) -> None:
    (run,) = crash_while_firing(world, tmp_path / "dead")
    world.clock.now = utc(2026, 5, 4, 11, 5)
    scheduler = Scheduler(world.store, world.executor, "http://x", clock=world.clock,
                          leases=Leases(max_claims=1))  # fmt: skip
    assert scheduler.recover_submissions(world.clock(), settings(world)) == []
    ended = world.store.run(run.id)
    assert ended is not None and ended.status == "error"
    assert "claimed 1 times and never submitted" in (ended.error or "")


def test_two_schedulers_on_postgresql_take_over_each_stale_claim_exactly_once(
    tmp_path: Path, demo_url: str
) -> None:
    clock = FakeClock(utc(2026, 5, 4, 10, 5))
    with fresh_postgres() as url:
        worlds = [open_world(url, tmp_path / n, demo_url, clock) for n in ("a", "b")]
        try:
            runs = crash_while_firing(worlds[0], tmp_path / "dead", schedules=6)
            clock.now = utc(2026, 5, 4, 11, 2)
            recovered = race_recovery(worlds)
            assert sorted(recovered) == sorted(r.id for r in runs)  # each once, by one of them
            for run in runs:
                (tick,) = worlds[1].schedules.ticks(run_id_schedule(worlds[1], run))
                assert tick.claims == 2 and tick.submitted_at is not None
                for world in worlds:
                    world.executor.wait(run.id, 20)
                assert worlds[1].store.run(run.id).status == "passed"  # type: ignore[union-attr]
        finally:
            for world in worlds:
                world.executor.close()
                world.store.close()


def race_recovery(worlds: list[World]) -> list[str]:
    barrier, lock, recovered = threading.Barrier(len(worlds)), threading.Lock(), []

    def recover(world: World) -> None:
        scheduler = world.scheduler()
        barrier.wait(30)
        found = scheduler.recover_submissions(world.clock(), settings(world))
        with lock:
            recovered.extend(r.id for r in found)

    threads = [threading.Thread(target=recover, args=(w,)) for w in worlds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return recovered


def settings(world: World) -> RunnerSettings:
    return world.schedules.settings()


def run_id_schedule(world: World, run: RunRecord) -> str:
    for schedule in world.schedules.all():
        if any(t.run_id == run.id for t in world.schedules.ticks(schedule.id)):
            return schedule.id
    raise AssertionError(f"no tick has run {run.id}")
