"""Local runs: `reqflo run` without `--cloud`, from an artifact to reports and a summary.

Owns the wiring of one local run: the environment's values, local secrets, the local
identity, run values (case, `--set`, data rows), the aiohttp transport sized to the
concurrency, and the reporters. The engine does the work; this module only assembles it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reqflo.artifact import Artifact
from reqflo.diagnostics import did_you_mean
from reqflo.http import AiohttpTransport, Transport
from reqflo.project import Project, base_values, local_identity
from reqflo.runner.data import DataRow, count_rows, iter_rows
from reqflo.runner.engine import InstanceSpec, RunContext, run_group
from reqflo.runner.events import Reporter, RunStarted
from reqflo.runner.results import RunSummary
from reqflo.secrets.local import LocalSecrets

DEFAULT_CONCURRENCY = 20


@dataclass(frozen=True)
class LocalRunOptions:
    environment: str | None = None
    case: str | None = None
    assignments: Mapping[str, Any] = field(default_factory=dict)
    data: Path | None = None
    data_key: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    fail_fast: bool = False
    secrets_file: Path | None = None
    http2: bool = False
    workers: int = 1


class CountedRows:
    """Data rows streamed from disk, with a cheap up-front count for the progress bar."""

    def __init__(self, path: Path, base: Mapping[str, Any], data_key: str | None) -> None:
        self.path, self.base, self.data_key = path, base, data_key
        self.count = count_rows(path)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[InstanceSpec]:
        for row in iter_rows(self.path, self.data_key):
            yield _instance(row, self.base, self.path)


def unknown_columns(artifact: Artifact, path: Path) -> list[str]:
    """Warnings for data columns that name no input (a typo would silently use a default)."""
    first = next(iter_rows(path), None)
    if first is None:
        return []
    declared = [i.name for i in artifact.plan.inputs]
    warnings = []
    for column in first.values:
        if column not in declared:
            hint = did_you_mean(column, declared)
            warnings.append(
                f"data column '{column}' is not an input of the journey"
                + (f"; {hint}" if hint else " and is ignored")
            )
    return warnings


def _instance(row: DataRow, base: Mapping[str, Any], path: Path) -> InstanceSpec:
    return InstanceSpec(values={**base, **row.values}, key=row.key, where=f"{path}:{row.line}")


def run_local(
    artifact: Artifact, project: Project, options: LocalRunOptions, reporter: Reporter
) -> RunSummary:
    """Run the artifact locally and return the summary (instances went to `reporter`)."""
    env = project.environment(options.environment) if options.environment else {}
    secrets = LocalSecrets(project.root, options.environment, secrets_file=options.secrets_file)
    values = base_values(artifact, env, options.case, options.assignments)
    setup = _Setup(artifact, project, options, env, secrets, uuid.uuid4().hex)
    if options.data is not None and options.workers > 1:
        return _run_on_workers(setup, options.data, values, reporter)
    rows: CountedRows | list[InstanceSpec]
    if options.data is not None:
        rows = CountedRows(options.data, values, options.data_key)
    else:
        rows = [InstanceSpec(values=values, key=options.case or "default")]
    return asyncio.run(_run(setup, rows, reporter))


@dataclass(frozen=True)
class _Setup:
    artifact: Artifact
    project: Project
    options: LocalRunOptions
    env: Mapping[str, Any]
    secrets: LocalSecrets
    run_id: str


def _run_on_workers(
    setup: _Setup, data: Path, values: Mapping[str, Any], reporter: Reporter
) -> RunSummary:
    from reqflo.parallel import run_parallel  # multiprocessing: only for --workers runs

    options = setup.options
    per_worker = replace(options, concurrency=max(1, options.concurrency // options.workers))
    child = replace(setup, options=per_worker)

    def share(worker: int, workers: int) -> Iterator[InstanceSpec]:
        for row in iter_rows(data, options.data_key):
            if row.index % workers == worker:
                yield replace(_instance(row, values, data), index=row.index)

    def run(rows: Iterator[InstanceSpec], events: Reporter) -> RunSummary:
        return asyncio.run(_run(child, rows, events))

    meta = setup.artifact.plan.journey
    started = RunStarted(run_id=setup.run_id, artifact_id=setup.artifact.id, journey=meta.name,
                         environment=options.environment, total=count_rows(data),
                         started_at=time.time())  # fmt: skip
    return run_parallel(options.workers, share, started.total or 0, run, reporter, started)


async def _run(
    setup: _Setup,
    rows: CountedRows | list[InstanceSpec] | Iterator[InstanceSpec],
    reporter: Reporter,
) -> RunSummary:
    options = setup.options
    transport = _transport(options)
    ctx = RunContext(
        transport=transport,
        secrets=setup.secrets,
        environment=options.environment,
        env=setup.env,
        me=local_identity(),
        concurrency=options.concurrency,
        fail_fast=options.fail_fast,
        run_id=setup.run_id,
        base_dir=_journey_dir(setup.artifact, setup.project),
    )
    try:
        return await run_group(setup.artifact, rows, ctx, reporter)
    finally:
        await transport.close()


def _transport(options: LocalRunOptions) -> Transport:
    if options.http2:  # imported only when asked for: httpx adds start-up time
        from reqflo.http2 import Http2Transport

        return Http2Transport(concurrency=options.concurrency)
    return AiohttpTransport(concurrency=options.concurrency)


def _journey_dir(artifact: Artifact, project: Project) -> Path:
    source = Path(artifact.source.path)
    candidate = source if source.is_absolute() else Path.cwd() / source
    return candidate.parent if candidate.exists() else project.root
