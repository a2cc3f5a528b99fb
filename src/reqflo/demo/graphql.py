"""A tiny GraphQL-like endpoint for the demo API: `POST /graphql`.

Owns a small parser (one operation, fields with aliases, arguments with string, number,
boolean, null literals and `$variables`, nested selection sets) and an executor over
the demo orders. It is not a GraphQL implementation; it answers these shapes:

    { order(id: "ord-000001") { id status quantity } }
    query Q($id: ID!) { order(id: $id) { id status } }       + {"variables": {"id": ...}}
    { orders(status: "created") { id } }   { me { username } }   { __typename }
    mutation { createOrder(customer_id: "c-1", quantity: 2) { id status } }

Answers `{"data": ...}` with `"errors"` for fields that failed (HTTP 200) and a 400 with
`{"errors": [...]}` when the request or the query text is malformed. Fields other than
`__typename` need the bearer token or session cookie.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from reqflo.demo.common import current_user, read_json_object, state_of
from reqflo.demo.orders import field_problem
from reqflo.demo.state import DemoState, Order

_TOKEN = re.compile(
    r"""(?P<skip>[\s,]+|\#[^\n]*)
      |(?P<string>"(?:[^"\\\n]|\\.)*")
      |(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      |(?P<name>[_A-Za-z][_0-9A-Za-z]*)
      |(?P<punct>[{}():$=!\[\]@])""",
    re.VERBOSE,
)
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
OBJECT_FIELDS = {
    "Order": ("__typename", "id", "customer_id", "quantity", "status"),
    "User": ("__typename", "username"),
}
ROOT_FIELDS = {
    "Query": {"__typename": None, "order": "Order", "orders": "Order", "me": "User"},
    "Mutation": {"__typename": None, "createOrder": "Order"},
}


class GraphQLError(Exception):
    """A query that cannot be parsed or a field that cannot be resolved."""


@dataclass(frozen=True)
class Selection:
    name: str
    alias: str | None
    args: dict[str, Any]
    children: tuple[Selection, ...]

    @property
    def key(self) -> str:
        return self.alias or self.name


def _tokenize(source: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise GraphQLError(f"Syntax Error: unexpected character {source[pos]!r} at {pos}")
        kind = match.lastgroup or "skip"
        if kind != "skip":
            tokens.append((kind, match.group()))
        pos = match.end()
    tokens.append(("end", ""))
    return tokens


class _Parser:
    def __init__(self, source: str, variables: dict[str, Any]) -> None:
        self.tokens = _tokenize(source)
        self.index = 0
        self.variables = variables

    def peek(self) -> str:
        return self.tokens[self.index][1]

    def take(self, expected: str | None = None, kind: str | None = None) -> str:
        token_kind, text = self.tokens[self.index]
        if (expected is not None and text != expected) or (kind and token_kind != kind):
            wanted = expected or kind
            found = text or "end of query"
            raise GraphQLError(f"Syntax Error: expected {wanted}, found {found!r}")
        self.index += 1
        return text

    def document(self) -> tuple[str, tuple[Selection, ...]]:
        operation = "query"
        if self.peek() in ("query", "mutation"):
            operation = self.take()
            if self.tokens[self.index][0] == "name":
                self.take()
            if self.peek() == "(":
                self.skip_variable_definitions()
        selections = self.selection_set()
        self.take(kind="end")
        return operation, selections

    def skip_variable_definitions(self) -> None:
        depth = 0
        while True:
            text = self.take()
            depth += {"(": 1, ")": -1}.get(text, 0)
            if depth == 0:
                return
            if self.tokens[self.index][0] == "end":
                raise GraphQLError("Syntax Error: unclosed variable definitions")

    def selection_set(self) -> tuple[Selection, ...]:
        self.take("{")
        fields = []
        while self.peek() != "}":
            if self.tokens[self.index][0] == "end":
                raise GraphQLError("Syntax Error: expected '}', found end of query")
            fields.append(self.field())
        self.take("}")
        if not fields:
            raise GraphQLError("Syntax Error: a selection set needs at least one field")
        return tuple(fields)

    def field(self) -> Selection:
        name, alias = self.take(kind="name"), None
        if self.peek() == ":":
            self.take()
            alias, name = name, self.take(kind="name")
        args = self.arguments() if self.peek() == "(" else {}
        children = self.selection_set() if self.peek() == "{" else ()
        return Selection(name, alias, args, children)

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        args: dict[str, Any] = {}
        while self.peek() != ")":
            name = self.take(kind="name")
            self.take(":")
            args[name] = self.value()
        self.take(")")
        return args

    def value(self) -> Any:
        kind, text = self.tokens[self.index]
        self.index += 1
        if text == "$":
            name = self.take(kind="name")
            if name not in self.variables:
                raise GraphQLError(f"Variable '${name}' was not provided")
            return self.variables[name]
        if kind in ("string", "number"):
            return json.loads(text)
        if text in _LITERALS:
            return _LITERALS[text]
        raise GraphQLError(f"Syntax Error: unexpected {text or 'end of query'!r} as a value")


def parse(source: str, variables: dict[str, Any]) -> tuple[str, tuple[Selection, ...]]:
    """(operation, root selections) of a query; GraphQLError when it is malformed."""
    return _Parser(source, variables).document()


def execute(
    operation: str, selections: tuple[Selection, ...], state: DemoState, user: str | None
) -> dict[str, Any]:
    """The response document: data for every root field, errors for those that failed."""
    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for selection in selections:
        try:
            data[selection.key] = _resolve_root(operation, selection, state, user)
        except GraphQLError as exc:
            data[selection.key] = None
            errors.append({"message": str(exc), "path": [selection.key]})
    return {"data": data, "errors": errors} if errors else {"data": data}


def _resolve_root(operation: str, field: Selection, state: DemoState, user: str | None) -> Any:
    type_name = "Mutation" if operation == "mutation" else "Query"
    _check_field(field, type_name, ROOT_FIELDS[type_name])
    if field.name == "__typename":
        return type_name
    if user is None:
        raise GraphQLError("authentication required")
    if field.name == "me":
        return _project({"username": user}, field, "User")
    if field.name == "orders":
        orders = [o for o in state.orders_of(user) if _status_matches(o, field.args)]
        return [_project(o.public(), field, "Order") for o in orders]
    if field.name == "createOrder":
        return _project(_create_order(field.args, state, user).public(), field, "Order")
    return _project(_find_order(field.args, state, user).public(), field, "Order")


def _find_order(args: dict[str, Any], state: DemoState, user: str) -> Order:
    if "id" not in args:
        raise GraphQLError("argument 'id' is required")
    order = state.orders.get(str(args["id"]))
    if order is None or order.owner != user:
        raise GraphQLError(f"order {args['id']!r} not found")
    return order


def _check_field(field: Selection, parent: str, fields: dict[str, str | None]) -> None:
    """Reject unknown fields and missing or unexpected selections, before resolving."""
    if field.name not in fields:
        raise GraphQLError(f"Cannot query field '{field.name}' on type '{parent}'")
    type_name = fields[field.name]
    if type_name is None:
        if field.children:
            raise GraphQLError(f"field '{field.name}' is a scalar and takes no selection")
        return
    if not field.children:
        raise GraphQLError(f"field '{field.name}' of type '{type_name}' needs a selection")
    scalars: dict[str, str | None] = dict.fromkeys(OBJECT_FIELDS[type_name])
    for child in field.children:
        _check_field(child, type_name, scalars)


def _status_matches(order: Order, args: dict[str, Any]) -> bool:
    return "status" not in args or order.status == args["status"]


def _create_order(args: dict[str, Any], state: DemoState, user: str) -> Order:
    for name in ("customer_id", "quantity"):
        problem = "is required" if name not in args else field_problem(name, args[name])
        if problem:
            raise GraphQLError(f"argument '{name}' {problem}")
    return state.add_order(user, args["customer_id"], args["quantity"])


def _project(obj: dict[str, Any], field: Selection, type_name: str) -> dict[str, Any]:
    """The selected fields of an object (already checked by `_check_field`)."""
    return {
        child.key: type_name if child.name == "__typename" else obj[child.name]
        for child in field.children
    }


async def graphql(request: web.Request) -> web.Response:
    payload = await read_json_object(request)
    query, variables = payload.get("query"), payload.get("variables") or {}
    if not isinstance(query, str) or not isinstance(variables, dict):
        return _bad_request("'query' must be a string and 'variables' an object")
    try:
        operation, selections = parse(query, variables)
    except GraphQLError as exc:
        return _bad_request(str(exc))
    document = execute(operation, selections, state_of(request), current_user(request))
    return web.json_response(document)


def _bad_request(message: str) -> web.Response:
    return web.json_response({"errors": [{"message": message}]}, status=400)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/graphql", graphql)
