"""Values as results and messages show them: JSON text, shortened, secrets redacted first.

Owns `MAX_VALUE_CHARS` (the longest value kept in a `Check`), the redaction hook that
`evaluate_assertion` sets for the duration of one evaluation (`_REDACT`), and the helpers
every other module of `reqflo.checks` uses to put a value into a message (`_show`,
`_json`) or a result (`_clip`, `_clip_text`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

MAX_VALUE_CHARS = 2_000
_MESSAGE_VALUE_CHARS = 200
_CONTAINERS = (dict, list, tuple)


def _identity(text: str) -> str:
    return text


_REDACT: ContextVar[Callable[[str], str]] = ContextVar("checks_redact", default=_identity)


def _clip_text(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Shorten text to `limit`; redacted first, so a cut never splits a secret."""
    if len(text) <= limit:
        return text
    text = _REDACT.get()(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit} chars]"


def _clip(value: Any) -> Any:
    """Values kept in results: text over MAX_VALUE_CHARS (or its JSON) is truncated."""
    if isinstance(value, str):
        return _clip_text(value)
    if isinstance(value, _CONTAINERS):
        text = _json(value)
        return value if len(text) <= MAX_VALUE_CHARS else _clip_text(text)
    return value


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return f"<{type(value).__name__}>"


def _show(value: Any) -> str:
    """A value as it appears in a message: JSON, shortened."""
    return _clip_text(_json(value), _MESSAGE_VALUE_CHARS)
