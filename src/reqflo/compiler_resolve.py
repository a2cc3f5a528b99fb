"""Substitution for the compiler: `variables.x` and `values.x` → what they stand for.

Owns a variable's expression by its source (`env.*`, `secrets.*`, `inputs.*`, `me.*`, or
its preset value, which may use the variables declared before it), the `Resolver` that
rewrites one step's templates and values with them (a reference to a structured value
becomes that value), and the lookup of a path below a substituted value.
"""

from __future__ import annotations

from typing import Any

from reqflo.journey.model import VariableDecl
from reqflo.values import (
    BoolOp,
    Call,
    Compare,
    Expr,
    Literal,
    Not,
    Ref,
    parse_template,
    substitute,
)

EXPRESSIONS = (Literal, Ref, Call, Compare, BoolOp, Not)


def _variable_expr(var: VariableDecl, earlier: Resolver) -> Expr | Any:
    source = var.effective_source
    key = var.key or var.name
    if source == "environment":
        return Ref("env", (key,))
    if source == "secret":
        return Ref("secrets", (var.secret or var.name,))
    if source == "input":
        return Ref("inputs", (key,))
    if source == "me":
        return Ref("me", (key,))
    return _literal_or_template(earlier.resolve(var.value))


def _literal_or_template(value: Any) -> Expr | Any:
    """A string with templates becomes an expression; anything else stays a value."""
    if isinstance(value, str) and "{{" in value:
        template = parse_template(value)
        if template.is_single_expression:
            return template.parts[0]
        return Call(
            "concat", tuple(p if not isinstance(p, str) else Literal(p) for p in template.parts)
        )
    return value


class Resolver:
    """Rewrites templates of one step: `variables.x` and `values.x` → their sources."""

    def __init__(self, variables: dict[str, Any], values: dict[str, Any]) -> None:
        self.variables = variables
        self.values: dict[str, Any] = {}
        self.values = {k: self._value(v) for k, v in values.items()}

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return _literal_or_template(self.text(value)) if "{{" in value else value
        return self.resolve(value)

    def replacement(self, ref: Ref) -> Expr | None:
        table = {"variables": self.variables, "values": self.values}.get(ref.root)
        if table is None or not ref.path or ref.path[0] not in table:
            return None
        found = table[str(ref.path[0])]
        return _extend(found, ref.path[1:])

    def text(self, text: str) -> Any:
        if "{{" not in text:
            return text
        template = substitute(parse_template(text), self.replacement)
        if template.is_single_expression and isinstance(template.parts[0], Literal):
            return template.parts[0].value
        return template.source()

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._whole(value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value

    def _whole(self, text: str) -> Any:
        """A string that is exactly one reference to a structured value becomes that value."""
        if "{{" in text:
            template = parse_template(text)
            part = template.parts[0]
            if template.is_single_expression and isinstance(part, Ref):
                found = self.replacement(part)
                if isinstance(found, Literal) and isinstance(found.value, dict | list):
                    return self.resolve(found.value)
        return self.text(text)


def _extend(found: Any, rest: tuple[str | int, ...]) -> Expr:
    if isinstance(found, Ref):
        return Ref(found.root, found.path + rest)
    if isinstance(found, EXPRESSIONS):
        return found
    return Literal(_dig(found, rest))


def _dig(value: Any, rest: tuple[str | int, ...]) -> Any:
    for seg in rest:
        if isinstance(value, dict):
            value = value.get(str(seg))
        elif isinstance(value, list) and isinstance(seg, int) and -len(value) <= seg < len(value):
            value = value[seg]
        else:
            return None
    return value
