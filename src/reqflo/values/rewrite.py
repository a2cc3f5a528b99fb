"""Work on parsed templates without a scope: normalising, rewriting and walking them.

Owns `make_template` (a top-level concat() spliced into the text, adjacent text merged),
`substitute` (the compiler's rewrite of references), `walk`, `template_refs` and
`template_calls` (what the validator checks), and `strings_in` (every string inside a
JSON-like value, to find the templates in it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from reqflo.values.rendering import to_text
from reqflo.values.syntax import (
    BoolOp,
    Call,
    Compare,
    Expr,
    Literal,
    Not,
    Ref,
    Template,
    _merge_text,
)


def make_template(parts: tuple[str | Expr, ...]) -> Template:
    """A normalized Template: a top-level concat() is spliced into the text, literals in
    text become text, and adjacent text merges."""
    spliced: list[str | Expr] = []
    for part in parts:
        is_concat = isinstance(part, Call) and part.name == "concat"
        spliced.extend(part.args if is_concat else (part,))  # type: ignore[union-attr]
    parts = tuple(spliced)
    if len(parts) > 1:
        parts = tuple(to_text(p.value) if isinstance(p, Literal) else p for p in parts)
    return Template(_merge_text(list(parts)))


def substitute(template: Template, replace: Callable[[Ref], Expr | None]) -> Template:
    """Replace references for which `replace` returns an expression (the compiler's rewrite)."""
    return make_template(
        tuple(p if isinstance(p, str) else _substitute(p, replace) for p in template.parts)
    )


def _substitute(expr: Expr, replace: Callable[[Ref], Expr | None]) -> Expr:
    if isinstance(expr, Ref):
        return replace(expr) or expr
    if isinstance(expr, Call):
        return Call(expr.name, tuple(_substitute(a, replace) for a in expr.args), expr.offset)
    if isinstance(expr, Compare):
        return Compare(
            expr.op, _substitute(expr.left, replace), _substitute(expr.right, replace), expr.offset
        )
    if isinstance(expr, BoolOp):
        return BoolOp(expr.op, tuple(_substitute(v, replace) for v in expr.values), expr.offset)
    if isinstance(expr, Not):
        return Not(_substitute(expr.operand, replace), expr.offset)
    return expr


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression, depth first."""
    yield expr
    children: tuple[Expr, ...] = ()
    if isinstance(expr, Call):
        children = expr.args
    elif isinstance(expr, Compare):
        children = (expr.left, expr.right)
    elif isinstance(expr, BoolOp):
        children = expr.values
    elif isinstance(expr, Not):
        children = (expr.operand,)
    for child in children:
        yield from walk(child)


def template_refs(template: Template) -> Iterator[Ref]:
    for part in template.parts:
        if not isinstance(part, str):
            yield from (n for n in walk(part) if isinstance(n, Ref))


def template_calls(template: Template) -> Iterator[Call]:
    for part in template.parts:
        if not isinstance(part, str):
            yield from (n for n in walk(part) if isinstance(n, Call))


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (dict keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)
