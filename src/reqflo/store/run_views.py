"""Read-only queries the web UI's runs pages need beyond `Store`'s repository methods.

Owns `InstanceSummary` (an instance without its result, for tables of thousands) and
`RunViews`: the distinct journeys and environments runs used (filter dropdowns; filtered
run pages are `Store.runs` with a `RunFilter`), the previous run of a journey
(for diffs), instance pages and single instances, recent artifacts and token names (a journey's
latest artifact is `ScheduleStore.latest_artifact_id`).
Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from reqflo.store.models import ArtifactRow, InstanceRow, RunRow, TokenRow
from reqflo.store.records import ArtifactRecord, InstanceRecord, RunRecord
from reqflo.store.store import Store

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class InstanceSummary:
    index: int
    key: str
    status: str
    duration_ms: float


class RunViews:
    def __init__(self, store: Store) -> None:
        self.store = store

    def journeys(self) -> list[str]:
        with self.store.session() as session:
            return list(session.scalars(select(RunRow.journey).distinct().order_by(RunRow.journey)))

    def environments(self) -> list[str]:
        query = select(RunRow.environment).where(RunRow.environment.is_not(None)).distinct()
        with self.store.session() as session:
            return [e for e in session.scalars(query.order_by(RunRow.environment)) if e]

    def previous(self, run: RunRecord) -> RunRecord | None:
        """The latest run of the same journey (and environment) created before `run`."""
        query = select(RunRow).where(
            RunRow.journey == run.journey,
            RunRow.environment.is_(None)
            if run.environment is None
            else RunRow.environment == run.environment,
            RunRow.id != run.id,
            RunRow.created_at <= run.created_at,
        )
        query = query.order_by(RunRow.created_at.desc(), RunRow.id).limit(1)
        with self.store.session() as session:
            row = session.scalar(query)
            return RunRecord.of(row) if row else None

    def instance_page(
        self, run_id: str, failed_only: bool, limit: int, offset: int
    ) -> tuple[list[InstanceSummary], int]:
        """Instances without their results, by index: (one page, how many match)."""
        query = select(InstanceRow.index, InstanceRow.key, InstanceRow.status,
                       InstanceRow.duration_ms).where(InstanceRow.run_id == run_id)  # fmt: skip
        if failed_only:
            query = query.where(InstanceRow.status != "passed")
        with self.store.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.execute(query.order_by(InstanceRow.index).limit(limit).offset(offset))
            return [InstanceSummary(*row) for row in rows], total

    def instance(self, run_id: str, index: int) -> InstanceRecord | None:
        with self.store.session() as session:
            row = session.get(InstanceRow, (run_id, index))
            return InstanceRecord.of(row) if row else None

    def artifacts(self, limit: int = 200) -> list[ArtifactRecord]:
        """Newest first."""
        query = select(ArtifactRow).order_by(ArtifactRow.created_at.desc(), ArtifactRow.id)
        with self.store.session() as session:
            return [ArtifactRecord.of(r) for r in session.scalars(query.limit(limit))]

    def token_names(self, ids: Iterable[str]) -> dict[str, str]:
        """Token id → name of these ids, revoked tokens included (old runs name them too)."""
        query = select(TokenRow.id, TokenRow.name).where(TokenRow.id.in_(set(ids)))
        with self.store.session() as session:
            return {row.id: row.name for row in session.execute(query)}


__all__ = ["ACTIVE", "InstanceSummary", "RunViews"]
