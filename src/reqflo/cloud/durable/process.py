"""What one durable worker process shares between its workflows.

Owns the process's `WorkerRuntime` (installed by `DbosEngine.start`, read by every step
through `rt()`), the `SpecCache` of run specs (`specs`; a run's spec is its run
workflow's input, read from the engine on a miss) and the "about to send" marker tokens
written by this process (`new_mark`, `written_here`): a marker replayed from the
database that this process did not write means an earlier execution died with that
step in flight.
"""

from __future__ import annotations

import contextvars
import threading
import uuid

from dbos import DBOS

from reqflo.cloud.durable.jobs import RunSpec
from reqflo.cloud.durable.runtime import WorkerRuntime
from reqflo.cloud.durable.specs import SpecCache

_runtime: WorkerRuntime | None = None
_fresh_marks: set[str] = set()
_marks_lock = threading.Lock()


def install(runtime: WorkerRuntime | None) -> None:
    global _runtime
    _runtime = runtime


def rt() -> WorkerRuntime:
    if _runtime is None:
        raise RuntimeError("the durable engine is not started in this process")
    return _runtime


def load_spec(run_id: str) -> RunSpec | None:
    """The run workflow's input. Read in an empty context (DBOS keeps the workflow it
    runs in a ContextVar): called from a workflow body (the instance's report, on a
    cache miss), DBOS would otherwise record the read as a step of that workflow, whose
    output (WorkflowStatus objects) cannot be serialised, failing the instance."""
    found = contextvars.Context().run(DBOS.list_workflows, workflow_ids=[run_id], load_output=False)
    if not found or found[0].input is None:
        return None
    return RunSpec.model_validate(found[0].input["args"][0])


specs = SpecCache(load_spec)


def new_mark(step_index: int) -> str:
    token = f"{step_index}:{uuid.uuid4().hex}"
    with _marks_lock:
        _fresh_marks.add(token)
    return token


def written_here(token: str) -> bool:
    with _marks_lock:
        if token in _fresh_marks:
            _fresh_marks.discard(token)
            return True
        return False
