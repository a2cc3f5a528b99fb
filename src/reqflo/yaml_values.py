"""YAML (or JSON) text read as plain JSON values: environment files (`--env`, `env push`)
and the values and `inputs` fields of web forms (a local secrets file keeps its own reader,
reqflo.secrets.local, whose messages never quote the file).

Owns `load_values(text)`, which returns dicts, lists, strings, numbers, booleans and None
only: dates and timestamps become their ISO text (as journeys do), and whatever JSON cannot
carry (binary, sets, NaN, a value nesting deeper than `MAX_VALUE_DEPTH` levels or referring to
itself through an alias) is refused with `YamlValuesError`, never passed on to break a
template, a JSON body or the service later. ruamel.yaml is imported only when called.

`YamlValuesError.problem` never quotes the text (a secrets file's values must not reach a
message); `.detail` adds the parser's own words, which may.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from reqflo.conversion import MAX_VALUE_DEPTH


class YamlValuesError(ValueError):
    def __init__(self, problem: str, line: int | None = None, detail: str = "") -> None:
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{problem}" + (f" ({detail})" if detail else ""))
        self.problem = f"{where}{problem}"
        self.line = line
        self.detail = detail


def load_values(text: str) -> Any:
    """The document in `text` as JSON values (None for an empty one)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        document = YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlValuesError("invalid YAML", line, " ".join(str(exc).split())) from None
    except YAMLError as exc:
        raise YamlValuesError("invalid YAML", None, " ".join(str(exc).split())) from None
    except RecursionError:
        raise YamlValuesError(f"it nests deeper than {MAX_VALUE_DEPTH} levels") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2026-13-45
        raise YamlValuesError("a value cannot be read", None, str(exc)) from None
    return _plain(document, 0)


def _plain(value: Any, depth: int) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise YamlValuesError(f"it nests deeper than {MAX_VALUE_DEPTH} levels or refers to itself")
    if isinstance(value, dict):
        return {_key(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise YamlValuesError(f"{value} is not a JSON number")
    if isinstance(value, dt.date):  # datetime too
        return value.isoformat()
    raise YamlValuesError(f"a {type(value).__name__} value is not JSON (quote it as text)")


def _key(key: Any) -> Any:
    """Keys as they are (callers that need names check them), but JSON-able."""
    if isinstance(key, dt.date):
        return key.isoformat()
    return _plain(key, MAX_VALUE_DEPTH) if isinstance(key, float) else key
