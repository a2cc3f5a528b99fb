"""What every API route needs: the store, the executor and the metrics, per app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from reqflo.cloud.api_metrics import Metrics
from reqflo.cloud.executor import RunExecutor
from reqflo.store import Store


@dataclass(frozen=True)
class Services:
    store: Store
    executor: RunExecutor
    data_dir: Path
    metrics: Metrics = field(default_factory=lambda: Metrics())
    poll_seconds: float = 0.1


def services(request: Request) -> Services:
    found = request.app.state.services
    assert isinstance(found, Services)
    return found


Deps = Annotated[Services, Depends(services)]
