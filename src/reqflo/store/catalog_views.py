"""Read-only views of the catalog for the web UI: journeys, their artifacts, the runs of
each artifact and the recent ticks of a schedule with their runs' status.

Owns `JourneySummary`, `ArtifactUsage`, `TickView` and the queries that make them
(`journeys`, `journey_names`, `journey_artifacts`, `recent_ticks`, `recent_ticks_of`).
Every function opens one short session through `Store.session()`, runs a fixed number of
queries however many journeys, artifacts, runs and schedules there are (the newest rows of
each group by a window function), never writes, and returns frozen records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from reqflo.store.models import ArtifactRow, RunRow
from reqflo.store.records import ArtifactRecord, RunRecord
from reqflo.store.schedule_models import TickRow
from reqflo.store.schedule_records import TickRecord
from reqflo.store.store import Store

Row = TypeVar("Row", ArtifactRow, RunRow)


@dataclass(frozen=True)
class JourneySummary:
    """A journey the service has seen: how many artifacts, the latest one, the last run."""

    name: str
    artifacts: int
    latest: ArtifactRecord
    last_run: RunRecord | None


@dataclass(frozen=True)
class ArtifactUsage:
    """One artifact of a journey and how many runs it had (the last one, if any)."""

    artifact: ArtifactRecord
    runs: int
    last_run: RunRecord | None


@dataclass(frozen=True)
class TickView:
    """A fired tick of a schedule with the status of its run (None: no run, or pruned)."""

    tick: TickRecord
    run_status: str | None


def journeys(store: Store) -> list[JourneySummary]:
    """Every journey with an uploaded artifact, by name (three queries in all)."""
    counts = (
        select(ArtifactRow.journey, func.count())
        .group_by(ArtifactRow.journey)
        .order_by(ArtifactRow.journey)
    )
    with store.session() as session:
        latest = _newest(session, ArtifactRow, ArtifactRow.journey)
        last_runs = _newest(session, RunRow, RunRow.journey)
        return [
            JourneySummary(
                name,
                count,
                ArtifactRecord.of(latest[name]),
                RunRecord.of(last_runs[name]) if name in last_runs else None,
            )
            for name, count in session.execute(counts).all()
        ]


def journey_names(store: Store) -> list[str]:
    """The names of the journeys with an uploaded artifact, sorted (one query)."""
    query = select(ArtifactRow.journey).distinct().order_by(ArtifactRow.journey)
    with store.session() as session:
        return list(session.scalars(query))


def journey_artifacts(store: Store, journey: str) -> list[ArtifactUsage]:
    """The artifacts of a journey, newest first, with their run counts."""
    artifacts = (
        select(ArtifactRow)
        .where(ArtifactRow.journey == journey)
        .order_by(ArtifactRow.created_at.desc(), ArtifactRow.id)
    )
    runs = (
        select(RunRow.artifact_id, func.count())
        .where(RunRow.journey == journey)
        .group_by(RunRow.artifact_id)
    )
    with store.session() as session:
        per_artifact = {artifact_id: count for artifact_id, count in session.execute(runs).all()}
        last_runs = _newest(session, RunRow, RunRow.artifact_id, RunRow.journey == journey)
        return [
            ArtifactUsage(
                ArtifactRecord.of(row),
                per_artifact.get(row.id, 0),
                RunRecord.of(last_runs[row.id]) if row.id in last_runs else None,
            )
            for row in session.scalars(artifacts)
        ]


def artifact_runs(store: Store, artifact_id: str) -> int:
    """How many runs used this artifact."""
    with store.session() as session:
        query = select(func.count()).select_from(RunRow).where(RunRow.artifact_id == artifact_id)
        return session.scalar(query) or 0


def recent_ticks(store: Store, schedule_id: str, limit: int = 20) -> list[TickView]:
    """The schedule's last `limit` ticks, newest first, with their runs' status."""
    query = (
        select(TickRow, RunRow.status)
        .outerjoin(RunRow, RunRow.id == TickRow.run_id)
        .where(TickRow.schedule_id == schedule_id)
        .order_by(TickRow.tick_at.desc())
        .limit(limit)
    )
    with store.session() as session:
        return [TickView(TickRecord.of(tick), status) for tick, status in session.execute(query)]


def recent_ticks_of(store: Store, limit: int) -> dict[str, list[TickView]]:
    """Every schedule's last `limit` ticks, newest first, by schedule id (one query)."""
    rank = func.row_number().over(partition_by=TickRow.schedule_id, order_by=TickRow.tick_at.desc())
    ranked = select(TickRow.schedule_id, TickRow.tick_at, rank.label("rank")).subquery()
    query = (
        select(TickRow, RunRow.status)
        .join(
            ranked,
            (ranked.c.schedule_id == TickRow.schedule_id) & (ranked.c.tick_at == TickRow.tick_at),
        )
        .outerjoin(RunRow, RunRow.id == TickRow.run_id)
        .where(ranked.c.rank <= limit)
        .order_by(TickRow.schedule_id, TickRow.tick_at.desc())
    )
    found: dict[str, list[TickView]] = {}
    with store.session() as session:
        for tick, status in session.execute(query):
            found.setdefault(tick.schedule_id, []).append(TickView(TickRecord.of(tick), status))
    return found


def _newest(
    session: Session, model: type[Row], key: InstrumentedAttribute[str], *where: Any
) -> dict[str, Row]:
    """The newest row (by created_at, then id) of `model` for each value of `key`."""
    rank = func.row_number().over(partition_by=key, order_by=(model.created_at.desc(), model.id))
    ranked = select(model.id, rank.label("rank")).where(*where).subquery()
    query = select(model).join(ranked, model.id == ranked.c.id).where(ranked.c.rank == 1)
    return {getattr(row, key.key): row for row in session.scalars(query)}


__all__ = [
    "ArtifactUsage",
    "JourneySummary",
    "TickView",
    "artifact_runs",
    "journey_artifacts",
    "journey_names",
    "journeys",
    "recent_ticks",
    "recent_ticks_of",
]
