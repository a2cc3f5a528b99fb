"""Showing a run's evidence: typed instance results and the helpers their templates use.

Owns `instance_result` (a stored instance's result dict validated back into the
engine's `InstanceResult`, so templates read typed steps, attempts and assertions) and
`evidence_helpers()`: `show` (an expected/actual value as text: strings as they are,
anything else as JSON), `nbytes` (a body's size in UTF-8 bytes) and `attempt_ms` (an
attempt's response time). Everything shown was redacted by the engine before it was
stored; nothing here is marked safe.
"""

from __future__ import annotations

import json
from typing import Any

from reqflo.runner.results import Attempt, InstanceResult
from reqflo.store import InstanceRecord


def instance_result(record: InstanceRecord | None) -> InstanceResult | None:
    return InstanceResult.model_validate(record.result) if record else None


def show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def nbytes(text: str | None) -> int:
    return len(text.encode("utf-8")) if text else 0


def attempt_ms(attempt: Attempt) -> float | None:
    return attempt.response.timings.total_ms if attempt.response else None


def evidence_helpers() -> dict[str, Any]:
    return {"show": show, "nbytes": nbytes, "attempt_ms": attempt_ms}


__all__ = ["evidence_helpers", "instance_result"]
