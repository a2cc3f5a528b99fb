"""The `{{ ... }}` expression language: its syntax tree and its parser.

Owns the template AST (`Template` of text parts and expressions; `Literal`, `Ref`, `Call`,
`Compare`, `BoolOp`, `Not`; `Expr`), each node's `source()` for the compiler's rewriting,
the tokenizer and recursive-descent parser (`parse_expression`, the cached
`parse_template`), and `TemplateSyntaxError` with the character offset of the problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union


class TemplateSyntaxError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


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
