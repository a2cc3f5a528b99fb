"""Journey parsing: YAML text → a typed `Journey`, with every structural problem reported.

Owns the translation of Pydantic validation errors into Diagnostics (stable code,
position of the culprit, "did you mean" hints) and the pruning that keeps a partial
journey for the semantic pass, so one run of `reqflo validate` reports all problems.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reqflo.diagnostics import Diagnostic, Position, did_you_mean
from reqflo.journey.model import JourneyFile
from reqflo.journey.prune import file_path, node_at, prune
from reqflo.journey.source import LoadedSource, PathKey, load_yaml


@dataclass
class ParsedJourney:
    """A parse outcome. `journey` is None when the structure is too broken to check further.

    `renumber` maps the pruned journey's list indices back to the file's, and
    `broken` names items dropped for structural errors, so later checks neither lose
    positions nor report them again.
    """

    source: LoadedSource
    journey: JourneyFile | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    renumber: dict[PathKey, dict[int, int]] = field(default_factory=dict)
    broken: dict[str, set[str]] = field(default_factory=dict)
    placeholder_steps: bool = False
    typo_parents: set[PathKey] = field(default_factory=set)

    def position(self, path: PathKey, *, key: bool = False) -> Position | None:
        real = self.file_path(path)
        return self.source.positions.key(real) if key else self.source.positions.value(real)

    def file_path(self, path: PathKey) -> PathKey:
        return file_path(self.renumber, path)


def parse_file(path: Path, display: str | None = None) -> ParsedJourney:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        diag = Diagnostic("encoding", f"not UTF-8 text: {exc.reason}", display or str(path))
        return ParsedJourney(load_yaml("", display or str(path)), None, [diag])
    return parse_text(text, display or str(path))


def parse_text(text: str, file: str) -> ParsedJourney:
    source = load_yaml(text, file)
    if source.problems:
        return ParsedJourney(source, None, list(source.problems))
    shape = _top_level_problem(source)
    if shape:
        return ParsedJourney(source, None, [shape])
    parsed = ParsedJourney(source, None)
    _validate(parsed, source.data)
    return parsed


def _top_level_problem(source: LoadedSource) -> Diagnostic | None:
    data = source.data
    if isinstance(data, dict) and isinstance(data.get("journey"), dict):
        return None
    hint = "a journey file starts with `journey:` holding name and steps"
    if isinstance(data, dict) and "steps" in data:
        hint = "indent name, steps and the rest under a top-level `journey:` key"
    message = "the file does not contain a journey"
    if isinstance(data, dict) and "journey" in data:
        message = "`journey:` must be a mapping with name and steps"
    pos = source.positions.value(("journey",)) or Position(1, 1)
    return Diagnostic("not-a-journey", message, source.file, pos, hint)


def _validate(parsed: ParsedJourney, data: dict[str, Any]) -> None:
    try:
        parsed.journey = JourneyFile.model_validate(data)
        return
    except ValidationError as exc:
        errors = _dedupe(exc.errors(include_url=False), data)
    found = [_diagnostic(parsed, e, data) for e in errors]
    parsed.diagnostics.extend(sorted(found, key=_position_order))
    parsed.typo_parents = {tuple(e["loc"][:-1]) for e in errors if e["type"] == "extra_forbidden"}
    pruned = prune(data, errors, _errors_of)
    parsed.renumber, parsed.broken = pruned.renumber, pruned.broken
    parsed.placeholder_steps = pruned.placeholder_steps
    try:
        parsed.journey = JourneyFile.model_validate(pruned.document)
    except ValidationError:
        parsed.journey = None


def _errors_of(document: Any) -> list[ErrorDetails]:
    try:
        JourneyFile.model_validate(document)
    except ValidationError as exc:
        return exc.errors(include_url=False)
    return []


def _position_order(diag: Diagnostic) -> tuple[int, int]:
    pos = diag.position
    return (pos.line, pos.column) if pos else (0, 0)


def _data_loc(loc: tuple[Any, ...], data: Any) -> PathKey:
    """The part of an error location that names real nodes of the document."""
    out: list[str | int] = []
    current = data
    for seg in loc:
        if (isinstance(current, dict) and seg in current) or (
            isinstance(current, list) and isinstance(seg, int) and seg < len(current)
        ):
            current = current[seg]
        else:
            if isinstance(current, dict) and isinstance(seg, str) and out[-1:] != [seg]:
                out.append(seg)  # a missing or unknown key under a real mapping
            break
        out.append(seg)
    return tuple(out)


def _dedupe(errors: list[ErrorDetails], data: Any) -> list[ErrorDetails]:
    seen: dict[PathKey, ErrorDetails] = {}
    for error in errors:
        loc = _data_loc(error["loc"], data)
        if loc not in seen or error["type"] == "extra_forbidden":
            seen[loc] = {**error, "loc": loc}
    return list(seen.values())


def _diagnostic(parsed: ParsedJourney, error: ErrorDetails, data: Any) -> Diagnostic:
    loc = tuple(error["loc"])
    kind = error["type"]
    name = str(loc[-1]) if loc else "journey"
    file = parsed.source.file
    if kind == "extra_forbidden":
        hint = did_you_mean(name, _allowed_keys(loc[:-1])) or _keys_hint(loc[:-1])
        pos = parsed.source.positions.key(loc)
        return Diagnostic(
            "unknown-key", f"unknown key '{name}'{_where(loc)}", file, pos, hint, width=len(name)
        )
    if kind == "missing":
        pos = parsed.source.positions.key(loc[:-1]) if len(loc) > 1 else Position(1, 1)
        return Diagnostic(
            "missing-key",
            f"missing required key '{name}'{_where(loc)}",
            file,
            pos,
            f"add `{name}:` here",
        )
    pos = parsed.source.positions.value(loc)
    message, hint = _value_problem(error, name, node_at(data, loc))
    return Diagnostic(_code_for(kind), message + _where(loc), file, pos, hint)


def _code_for(kind: str) -> str:
    if kind in {"literal_error", "enum"}:
        return "invalid-value"
    if kind == "string_pattern_mismatch":
        return "invalid-identifier"
    if kind in {"value_error", "greater_than_equal", "less_than_equal"}:
        return "invalid-value"
    if kind in {"too_short", "string_too_short"}:
        return "empty"
    return "invalid-type"


def _value_problem(error: ErrorDetails, name: str, value: Any) -> tuple[str, str | None]:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(str(value), choices) or f"use one of: {', '.join(choices)}"
        return f"'{value}' is not a valid {name}", hint
    if kind == "string_pattern_mismatch":
        return (
            f"'{value}' is not a valid {name}",
            "use letters, digits and _ (not starting with a digit), e.g. create_order",
        )
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, "), None
    if kind == "too_short":
        return f"'{name}' must not be empty", "a journey needs at least one step"
    if kind == "string_too_short":
        return f"'{name}' must not be empty", None
    if kind in {"greater_than_equal", "less_than_equal"}:
        bound = ctx.get("ge", ctx.get("le"))
        word = "at least" if kind == "greater_than_equal" else "at most"
        return f"'{name}' must be {word} {bound}, not {value}", None
    return f"'{name}' {_type_message(error, value)}", None


def _type_message(error: ErrorDetails, value: Any) -> str:
    wanted = {
        "string_type": "text",
        "int_type": "a whole number",
        "int_parsing": "a whole number",
        "int_from_float": "a whole number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "dict_type": "a mapping",
        "list_type": "a list",
        "model_type": "a mapping",
        "float_type": "a number",
        "float_parsing": "a number",
    }.get(error["type"])
    if wanted is None:
        return str(error["msg"]).lower()
    return f"must be {wanted}, not {_describe(value)}"


def _describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"'{value}'"


def _where(loc: PathKey) -> str:
    inner = loc[1:-1]
    return f" (in {dotted(inner)})" if inner else ""


def dotted(path: PathKey) -> str:
    """('steps', 0, 'assertions', 1) → 'steps[0].assertions[1]'."""
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out


# ------------------------------------------------------------- allowed keys


def _allowed_keys(loc: PathKey) -> list[str]:
    current: Any = JourneyFile
    for seg in loc:
        current = _child_type(current, seg)
        if current is None:
            return []
    model = _model_of(current)
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _keys_hint(loc: PathKey) -> str | None:
    keys = _allowed_keys(loc)
    return f"allowed keys here: {', '.join(keys)}" if keys else None


def _child_type(current: Any, seg: str | int) -> Any:
    model = _model_of(current)
    if model is not None:
        for name, info in model.model_fields.items():
            if seg in (name, info.alias):
                return info.annotation
        return None
    container = _container_of(current)
    if container is None:
        return None
    return get_args(container)[-1]


def _candidates(tp: Any) -> list[Any]:
    if get_origin(tp) is Annotated:
        return _candidates(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return [c for arg in get_args(tp) for c in _candidates(arg)]
    return [tp]


def _model_of(tp: Any) -> type[BaseModel] | None:
    for cand in _candidates(tp):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return cand
    return None


def _container_of(tp: Any) -> Any:
    for cand in _candidates(tp):
        if get_origin(cand) in (list, dict):
            return cand
    return None
