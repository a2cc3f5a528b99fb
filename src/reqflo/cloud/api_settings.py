"""Runner settings routes: read (viewer) and replace (admin).

Which settings are enforced today is documented in README "Runner settings"; the
others are stored and returned as given.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends

from reqflo.cloud.api_deps import Deps
from reqflo.cloud.auth import require
from reqflo.store.schedule_records import RunnerSettings
from reqflo.store.schedule_store import ScheduleStore

router = APIRouter(prefix="/api/v1/settings", tags=["settings"])


@router.get("", response_model=RunnerSettings, dependencies=[Depends(require("viewer"))])
def get_settings(deps: Deps) -> RunnerSettings:
    return ScheduleStore(deps.store).settings()


@router.put("", response_model=RunnerSettings, dependencies=[Depends(require("admin"))])
def put_settings(body: RunnerSettings, deps: Deps) -> RunnerSettings:
    """Replace every setting (fields left out take their defaults)."""
    return ScheduleStore(deps.store).put_settings(body, datetime.now(UTC))
