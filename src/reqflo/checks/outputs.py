"""Outputs: values read out of a received response, and the response access they share
with assertions.

Owns `OutputValue`, `extract_output` (status, url, header, cookie, body, JSONPath and regex
group; the output's default on a miss), `ABSENT` (a header, cookie or match that is not
there) and reading a response's headers (`_header`) and JSON body (`_parse_json`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reqflo.artifact import OutputPlan
from reqflo.checks.display import _clip_text, _json
from reqflo.checks.patterns import _compiled_regex, _find, _group_of
from reqflo.http import HttpResponse
from reqflo.values import to_text


@dataclass(frozen=True, slots=True)
class OutputValue:
    """One extracted output. `reason` says why nothing was found (kept when defaulted)."""

    name: str
    value: Any = None
    found: bool = True
    defaulted: bool = False
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.found or self.defaulted


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()


def extract_output(output: OutputPlan, response: HttpResponse) -> OutputValue:
    """Extract one output; on a miss use the output's default when it has one."""
    value, reason = _output_source(output, response)
    if reason is None and output.regex is not None:
        text = response.text if _whole_body(output) else _text_form(value)
        value, reason = _regex_extract(output.regex, output.group, text)
    if reason is None:
        return OutputValue(output.name, value)
    if output.has_default:
        return OutputValue(output.name, output.default, False, True, reason)
    return OutputValue(output.name, None, False, False, reason)


def _whole_body(output: OutputPlan) -> bool:
    return output.source == "body" and output.path is None


def _output_source(output: OutputPlan, response: HttpResponse) -> tuple[Any, str | None]:
    source = output.source
    if source == "status":
        return response.status, None
    if source == "url":
        return response.url, None
    if source == "body":
        return _body_value(output, response)
    value = (
        _header(response, output.key or "")
        if source == "header"
        else _cookie(response, output.key or "")
    )
    if value is ABSENT:
        return None, f"no {source} '{output.key}' in the response"
    return value, None


def _body_value(output: OutputPlan, response: HttpResponse) -> tuple[Any, str | None]:
    if output.path is None:
        return (None if output.regex else _body_document(response)), None
    data, error = _parse_json(response)
    if error:
        return None, error
    matches, error = _find(output.path, data)
    if error:
        return None, error
    if not matches:
        return None, f"{output.path} matched nothing in the response body"
    return (matches[0] if len(matches) == 1 else matches), None


def _body_document(response: HttpResponse) -> Any:
    data, error = _parse_json(response)
    return response.text if error else data


def _regex_extract(pattern: str, group: int | str, text: str) -> tuple[Any, str | None]:
    try:
        rx = _compiled_regex(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return None, f"invalid regular expression {_json(pattern)}: {exc}"
    chosen = _group_of(rx, group)
    if chosen is None:
        return None, f"regular expression {_json(pattern)} has no group {_json(group)}"
    match = rx.search(text)
    if match is None:
        return None, f"regular expression {_json(pattern)} found no match"
    value = match.group(chosen)
    if value is None:
        return None, f"group {_json(group)} of {_json(pattern)} took no part in the match"
    return value, None


def _cookie(response: HttpResponse, name: str) -> Any:
    if name in response.cookies:
        return response.cookies[name]
    for header in response.header_values("set-cookie"):
        key, sep, value = header.split(";", 1)[0].partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return ABSENT


def _header(response: HttpResponse, name: str) -> Any:
    values = response.header_values(name)
    return ", ".join(values) if values else ABSENT


def _parse_json(response: HttpResponse) -> tuple[Any, str | None]:
    try:
        return response.json, None
    except (ValueError, RecursionError) as exc:
        return None, f"response body is not JSON ({_clip_text(str(exc), 120)})"


def _text_form(value: Any) -> str:
    return value if isinstance(value, str) else to_text(value)
