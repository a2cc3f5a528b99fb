"""`ClaimStore`: recovery of tick claims whose owner died (crash between claim and work).

A scheduler that fires a tick claims it (ScheduleStore.fire: tick row + queued run in
one transaction, `claimed_by` = the scheduler, `claimed_at`, `claims` = 1), submits the
run to its executor, then records `submitted_at` here. A crash in between leaves the run
`queued` with nobody to submit it: `stale_submissions` finds such ticks once their claim
is older than a lease, and `take_over` lets exactly one scheduler claim it again (a
compare-and-set on the `claims` counter), which then submits the same run (same run id:
the durable executor's submit is idempotent by run id, so even a slow first owner that
submits late cannot start a second run).

Failure notifications work the same way: the state `sending` carries
`notify_claimed_by` / `notify_claimed_at` / `notify_claims`; `stale_sendings` finds
deliveries interrupted by a crash and `take_over_notification` hands each to one
scheduler, which sends it again (at-least-once; receivers dedupe by delivery id).
After `max_claims` claims the work is abandoned: the run ends `error`, the notification
`failed`, so nothing stays pending forever.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from reqflo.store.models import RunRow
from reqflo.store.records import RunRecord, now
from reqflo.store.schedule_models import TickRow
from reqflo.store.schedule_records import TickRecord
from reqflo.store.store import Store


class ClaimStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------ run submission

    def submitted(self, schedule_id: str, tick_at: datetime, at: datetime) -> None:
        """The tick's run was handed to an executor."""
        with self.store.session() as session:
            session.execute(
                update(TickRow)
                .where(TickRow.schedule_id == schedule_id, TickRow.tick_at == tick_at,
                       TickRow.submitted_at.is_(None))
                .values(submitted_at=at)
            )  # fmt: skip

    def stale_submissions(
        self, cutoff: datetime, limit: int = 100
    ) -> list[tuple[TickRecord, RunRecord]]:
        """Ticks with a run never recorded as submitted, claimed before `cutoff` (every
        tick is claimed when fired; migration 0005 set `claimed_at` of older ones)."""
        return self._with_runs(limit, TickRow.submitted_at.is_(None), TickRow.claimed_at < cutoff)

    def take_over(self, tick: TickRecord, owner: str, at: datetime) -> bool:
        """Claim the submission again; True for the one scheduler that did."""
        values = {"claimed_by": owner, "claimed_at": at, "claims": tick.claims + 1}
        return self._swap(tick, _unsubmitted(tick), values)

    def abandon(self, tick: TickRecord, reason: str, at: datetime) -> bool:
        """Give up submitting: the run (if still queued) ends `error` with `reason`."""
        values = {"submitted_at": at, "error": reason}
        with self.store.session() as session:
            won = _update(session, tick, _unsubmitted(tick), values)
            if won and tick.run_id:
                session.execute(
                    update(RunRow).where(RunRow.id == tick.run_id, RunRow.status == "queued")
                    .values(status="error", error=reason, finished_at=now())
                )  # fmt: skip
            return won

    # ------------------------------------------------------------ notifications

    def stale_sendings(
        self, cutoff: datetime, limit: int = 100
    ) -> list[tuple[TickRecord, RunRecord]]:
        """Deliveries in state `sending` claimed before `cutoff` (their sender died)."""
        stale = or_(TickRow.notify_claimed_at.is_(None), TickRow.notify_claimed_at < cutoff)
        return self._with_runs(limit, TickRow.notify_state == "sending", stale)

    def take_over_notification(self, tick: TickRecord, owner: str, at: datetime) -> bool:
        values = {"notify_claimed_by": owner, "notify_claimed_at": at,
                  "notify_claims": tick.notify_claims + 1}  # fmt: skip
        return self._swap(tick, _sending(tick), values)

    def abandon_notification(self, tick: TickRecord, reason: str) -> bool:
        values = {"notify_state": "failed", "notify_detail": reason[:2000]}
        return self._swap(tick, _sending(tick), values)

    # ------------------------------------------------------------ helpers

    def _with_runs(self, limit: int, *where: Any) -> list[tuple[TickRecord, RunRecord]]:
        query = (
            select(TickRow, RunRow).join(RunRow, RunRow.id == TickRow.run_id)
            .where(*where).limit(limit)
        )  # fmt: skip
        with self.store.session() as session:
            return [(TickRecord.of(t), RunRecord.of(r)) for t, r in session.execute(query)]

    def _swap(self, tick: TickRecord, expected: Any, values: dict[str, Any]) -> bool:
        with self.store.session() as session:
            return _update(session, tick, expected, values)


def _key(tick: TickRecord) -> tuple[Any, Any]:
    return TickRow.schedule_id == tick.schedule_id, TickRow.tick_at == tick.tick_at


def _unsubmitted(tick: TickRecord) -> Any:
    return (TickRow.claims == tick.claims) & TickRow.submitted_at.is_(None)


def _sending(tick: TickRecord) -> Any:
    return (TickRow.notify_state == "sending") & (TickRow.notify_claims == tick.notify_claims)


def _update(session: Session, tick: TickRecord, expected: Any, values: dict[str, Any]) -> bool:
    """A compare-and-set UPDATE of one tick; True when `expected` still held."""
    result = session.execute(update(TickRow).where(*_key(tick), expected).values(**values))
    return bool(getattr(result, "rowcount", 0))


__all__ = ["ClaimStore"]
