"""Templating: the `{{ ... }}` expression language, its parser, rewriting and rendering.

Owns the template AST (text parts and expressions), parsing with offsets for error
positions, `to_source` for the compiler's rewriting, static reference walking for the
validator, the pure functions (`uuid()`, `now()`, `random_int(a,b)`, `base64(x)`,
`urlencode(x)`, `concat(...)`) and typed rendering against a Scope.

A template that is exactly one expression keeps the value's type; otherwise the parts
render to text. Expressions have references (`steps.login.outputs.token`,
`steps.x.body.items[0]`), literals, function calls, comparisons and `and`/`or`/`not`.
No arbitrary code runs.
"""

from __future__ import annotations

import base64 as _b64
import json
import random
import re
import uuid as _uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Union
from urllib.parse import quote


class TemplateSyntaxError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class UnresolvedReference(LookupError):
    """A reference that names nothing at run time (step output missing, key absent...)."""

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"{{{{ {reference} }}}}: {reason}")
        self.reference = reference


@dataclass(frozen=True)
class Literal:
    value: Any
    offset: int = 0

    def source(self) -> str:
        return json.dumps(self.value, ensure_ascii=False)


@dataclass(frozen=True)
class Ref:
    root: str
    path: tuple[str | int, ...]
    offset: int = 0

    def source(self) -> str:
        out = self.root
        for seg in self.path:
            if isinstance(seg, int):
                out += f"[{seg}]"
            elif _SEGMENT.fullmatch(seg):
                out += f".{seg}"
            else:
                out += f"[{json.dumps(seg)}]"
        return out

    @property
    def dotted(self) -> str:
        return self.source()


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    offset: int = 0

    def source(self) -> str:
        return f"{self.name}({', '.join(a.source() for a in self.args)})"


@dataclass(frozen=True)
class Compare:
    op: str
    left: Expr
    right: Expr
    offset: int = 0

    def source(self) -> str:
        return f"{self.left.source()} {self.op} {self.right.source()}"


@dataclass(frozen=True)
class BoolOp:
    op: str
    values: tuple[Expr, ...]
    offset: int = 0

    def source(self) -> str:
        return "(" + f" {self.op} ".join(v.source() for v in self.values) + ")"


@dataclass(frozen=True)
class Not:
    operand: Expr
    offset: int = 0

    def source(self) -> str:
        return f"not {self.operand.source()}"


Expr = Union[Literal, Ref, Call, Compare, BoolOp, Not]  # noqa: UP007 (runtime alias)


@dataclass(frozen=True)
class Template:
    """Text parts and expressions; `parts` alternate freely."""

    parts: tuple[str | Expr, ...]

    @property
    def is_single_expression(self) -> bool:
        return len(self.parts) == 1 and not isinstance(self.parts[0], str)

    @property
    def is_static(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def source(self) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part if "{{" not in part else _escape_text(part))
            else:
                out.append("{{ " + part.source() + " }}")
        return "".join(out)


def _escape_text(text: str) -> str:
    chunks = text.split("{{")
    return ("{{ " + json.dumps("{{") + " }}").join(chunks)


_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
     |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
     |(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.)
     |(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "true", "false", "null"}


def _tokenize(text: str, base: int) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise TemplateSyntaxError(
                f"unexpected character {text[pos:].lstrip()[:1]!r}", base + pos
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), base + match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]], end: int) -> None:
        self.tokens, self.i, self.end = tokens, 0, end

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "", self.end)

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok[0] == "eof" or (value is not None and tok[1] != value):
            want = f"'{value}'" if value else "an expression"
            raise TemplateSyntaxError(f"expected {want}, found {tok[1] or 'end'}", tok[2])
        self.i += 1
        return tok

    def expression(self) -> Expr:
        return self.boolean("or", lambda: self.boolean("and", self.negation))

    def boolean(self, op: str, operand: Callable[[], Expr]) -> Expr:
        first = operand()
        values = [first]
        while self.peek() == ("name", op, self.peek()[2]):
            self.take()
            values.append(operand())
        return first if len(values) == 1 else BoolOp(op, tuple(values), _offset(first))

    def negation(self) -> Expr:
        kind, value, offset = self.peek()
        if kind == "name" and value == "not":
            self.take()
            return Not(self.negation(), offset)
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.primary()
        kind, value, _ = self.peek()
        if kind == "op" and value in {"==", "!=", "<", "<=", ">", ">="}:
            self.take()
            return Compare(value, left, self.primary(), _offset(left))
        return left

    def primary(self) -> Expr:
        kind, value, offset = self.take()
        if kind == "num":
            return Literal(json.loads(value), offset)
        if kind == "str":
            return Literal(_unquote(value, offset), offset)
        if kind == "op" and value == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if kind == "name" and value in {"true", "false", "null"}:
            return Literal({"true": True, "false": False, "null": None}[value], offset)
        if kind == "name" and value not in KEYWORDS:
            if self.peek()[1] == "(":
                return self.call(value, offset)
            return self.reference(value, offset)
        raise TemplateSyntaxError(f"unexpected '{value}'", offset)

    def call(self, name: str, offset: int) -> Call:
        self.take("(")
        args: list[Expr] = []
        while self.peek()[1] != ")":
            args.append(self.expression())
            if self.peek()[1] != ")":
                self.take(",")
        self.take(")")
        return Call(name, tuple(args), offset)

    def reference(self, root: str, offset: int) -> Ref:
        path: list[str | int] = []
        while self.peek()[1] in {".", "["}:
            if self.take()[1] == ".":
                kind, value, pos = self.take()
                if kind != "name":
                    raise TemplateSyntaxError(f"expected a name after '.', found {value}", pos)
                path.append(value)
            else:
                kind, value, pos = self.take()
                if kind not in {"num", "str"}:
                    raise TemplateSyntaxError("expected an index or a quoted key in [ ]", pos)
                path.append(int(value) if kind == "num" else _unquote(value, pos))
                self.take("]")
        return Ref(root, tuple(path), offset)


def _offset(expr: Expr) -> int:
    return expr.offset


def _unquote(token: str, offset: int) -> str:
    if token.startswith("'"):
        token = '"' + token[1:-1].replace('\\"', '"').replace('"', '\\"') + '"'
    try:
        return str(json.loads(token))
    except json.JSONDecodeError as exc:
        raise TemplateSyntaxError(f"bad string literal: {exc.msg}", offset) from exc


def parse_expression(text: str, base: int = 0) -> Expr:
    parser = _Parser(_tokenize(text, base), base + len(text))
    expr = parser.expression()
    kind, value, offset = parser.peek()
    if kind != "eof":
        raise TemplateSyntaxError(f"unexpected '{value}' after the expression", offset)
    return expr


@lru_cache(maxsize=4096)
def parse_template(text: str) -> Template:
    """Parse `text` into a Template; raises TemplateSyntaxError with a character offset."""
    parts: list[str | Expr] = []
    pos = 0
    while (start := text.find("{{", pos)) != -1:
        end = text.find("}}", start + 2)
        if end == -1:
            raise TemplateSyntaxError("'{{' is never closed with '}}'", start)
        if start > pos:
            parts.append(text[pos:start])
        inner = text[start + 2 : end]
        if not inner.strip():
            raise TemplateSyntaxError("empty expression '{{ }}'", start)
        parts.append(parse_expression(inner, start + 2))
        pos = end + 2
    if pos < len(text) or not parts:
        parts.append(text[pos:])
    return Template(_merge_text(parts))


def _merge_text(parts: list[str | Expr]) -> tuple[str | Expr, ...]:
    merged: list[str | Expr] = []
    for part in parts:
        if isinstance(part, Literal) and isinstance(part.value, str) and len(parts) > 1:
            part = part.value
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif not (isinstance(part, str) and part == "" and len(parts) > 1):
            merged.append(part)
    return tuple(merged) or ("",)


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


# ---------------------------------------------------------------- functions


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


# ---------------------------------------------------------------- rendering


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
