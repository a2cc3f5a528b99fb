"""Shared helpers for the engine and transport tests: real servers, artifacts, reporters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from reqflo.artifact import (
    Artifact,
    InputPlan,
    JourneyMeta,
    Needs,
    Plan,
    SourceInfo,
    StepPlan,
    seal,
)
from reqflo.http import Transport
from reqflo.runner.engine import RunContext
from reqflo.runner.events import AnyEvent, InstanceFinished


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 with an ephemeral port; yields the base URL (no slash)."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def make_artifact(
    *steps: StepPlan,
    inputs: tuple[InputPlan, ...] = (),
    needs: Needs | None = None,
    positions: Mapping[str, tuple[int, int]] | None = None,
    lines: Mapping[str, str] | None = None,
) -> Artifact:
    plan = Plan(
        journey=JourneyMeta(name="test journey"),
        inputs=inputs,
        needs=needs or Needs(),
        steps=steps,
    )
    source = SourceInfo(
        path="journeys/test.yaml",
        sha256="0" * 64,
        positions=dict(positions or {}),
        lines=dict(lines or {}),
    )
    return seal(plan, source)


class DictSecrets:
    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self.values = dict(values or {})

    def resolve(self, name: str) -> str | None:
        return self.values.get(name)


class CollectingReporter:
    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.closed = False

    def handle(self, event: AnyEvent) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed = True

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def instances(self) -> list[Any]:
        return [e.result for e in self.events if isinstance(e, InstanceFinished)]


def make_context(
    transport: Transport,
    *,
    secrets: Mapping[str, str] | None = None,
    env: Mapping[str, Any] | None = None,
    environment: str | None = "test",
    base_dir: Path | None = None,
    **options: Any,
) -> RunContext:
    return RunContext(
        transport=transport,
        secrets=DictSecrets(secrets),
        environment=environment,
        env=dict(env or {}),
        base_dir=base_dir or Path.cwd(),
        **options,
    )
