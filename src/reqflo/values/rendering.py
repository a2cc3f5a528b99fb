"""Rendering templates against a Scope, and the pure functions expressions may call.

Owns `to_text` and `compact_json` (how a value becomes text), `Scope`, reference lookup
(`UnresolvedReference` when a reference names nothing at run time), `evaluate`,
`render` (a single-expression template keeps its value's type), `render_value` (every
template string inside a JSON-like value) and `FUNCTIONS` (`uuid()`, `now()`,
`random_int(a,b)`, `base64(x)`, `urlencode(x)`, `concat(...)`).
"""

from __future__ import annotations

import base64 as _b64
import json
import random
import uuid as _uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from reqflo.values.syntax import BoolOp, Call, Expr, Literal, Not, Ref, Template, parse_template


class UnresolvedReference(LookupError):
    """A reference that names nothing at run time (step output missing, key absent...)."""

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"{{{{ {reference} }}}}: {reason}")
        self.reference = reference


def _now(fmt: str | None = None) -> str:
    moment = datetime.now(UTC)
    return moment.strftime(fmt) if fmt else moment.isoformat(timespec="milliseconds")


def _base64(value: Any) -> str:
    return _b64.b64encode(to_text(value).encode()).decode()


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "uuid": (lambda: str(_uuid.uuid4()), 0, 0),
    "now": (_now, 0, 1),
    "random_int": (lambda a, b: random.randint(int(a), int(b)), 2, 2),
    "base64": (_base64, 1, 1),
    "urlencode": (lambda v: quote(to_text(v), safe=""), 1, 1),
    "concat": (lambda *parts: "".join(to_text(p) for p in parts), 0, 64),
}


_SEQUENCES = (list, tuple)  # isinstance with a tuple: no union object built per call
_CONTAINERS = (dict, list, tuple)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def compact_json(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, one encoder reused."""
    return _COMPACT.encode(value)


def to_text(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _CONTAINERS):
        return _COMPACT.encode(value)
    return str(value)


Scope = Mapping[str, Any]


def lookup(ref: Ref, scope: Scope) -> Any:
    try:  # one lookup, not `in` and then `[]`
        current = scope[ref.root]
    except KeyError:
        raise UnresolvedReference(ref.dotted, f"'{ref.root}' is not available here") from None
    for depth, seg in enumerate(ref.path):
        current = _step_into(current, seg, ref, depth)
    return current


def _step_into(current: Any, seg: str | int, ref: Ref, depth: int) -> Any:
    if type(current) is dict and seg in current:  # the common case, before any ABC check
        return current[seg]
    if isinstance(current, Mapping):
        if seg in current:
            return current[seg]
        if isinstance(seg, int) and str(seg) in current:
            return current[str(seg)]
        raise UnresolvedReference(ref.dotted, f"{_where(ref, depth)} has no '{seg}'")
    if isinstance(current, _SEQUENCES) and isinstance(seg, int):
        if -len(current) <= seg < len(current):
            return current[seg]
        where = _where(ref, depth)
        raise UnresolvedReference(ref.dotted, f"{where} has {len(current)} items, no [{seg}]")
    where = _where(ref, depth)
    raise UnresolvedReference(ref.dotted, f"{where} is {type(current).__name__}, not a container")


def _where(ref: Ref, depth: int) -> str:
    """The part of `ref` before segment `depth` (for error messages only)."""
    return Ref(ref.root, ref.path[:depth]).dotted


def evaluate(expr: Expr, scope: Scope) -> Any:
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Ref):
        return lookup(expr, scope)
    if isinstance(expr, Call):
        func = FUNCTIONS[expr.name][0]
        return func(*(evaluate(a, scope) for a in expr.args))
    if isinstance(expr, Not):
        return not evaluate(expr.operand, scope)
    if isinstance(expr, BoolOp):
        results = (bool(evaluate(v, scope)) for v in expr.values)
        return all(results) if expr.op == "and" else any(results)
    return _compare(expr.op, evaluate(expr.left, scope), evaluate(expr.right, scope))


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in {"==", "!="}:
        same = left == right or (
            isinstance(left, str) != isinstance(right, str) and to_text(left) == to_text(right)
        )
        return same if op == "==" else not same
    try:
        return bool(
            {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
        )
    except TypeError:
        return False


def render(template: Template, scope: Scope) -> Any:
    """Render; a single-expression template keeps its value's type."""
    if template.is_single_expression:
        part = template.parts[0]
        assert not isinstance(part, str)
        return evaluate(part, scope)
    return "".join(p if isinstance(p, str) else to_text(evaluate(p, scope)) for p in template.parts)


def render_value(value: Any, scope: Scope) -> Any:
    """Render every template string inside a JSON-like value."""
    if isinstance(value, str):
        return render(parse_template(value), scope) if "{{" in value else value
    if isinstance(value, dict):
        return {key: render_value(item, scope) for key, item in value.items()}
    if isinstance(value, _SEQUENCES):
        return [render_value(item, scope) for item in value]
    return value
