"""Problems found in a journey: stable code, position, message and hint, as data.

Owns the Diagnostic model, the exception that carries a list of them, and the
text rendering with the source line and a caret under the culprit (Hurl style).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Position:
    """1-based line and column in a source file."""

    line: int
    column: int


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    file: str
    position: Position | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR
    width: int = 1

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def location(self) -> str:
        if self.position is None:
            return self.file
        return f"{self.file}:{self.position.line}:{self.position.column}"

    def render(self, source: str | None = None) -> str:
        """Render as `error[code]: message`, the location, source line, caret and hint."""
        lines = [f"{self.severity.value}[{self.code}]: {self.message}", f"  --> {self.location()}"]
        snippet = _snippet(source, self.position, self.width)
        lines.extend(snippet)
        if self.hint:
            lines.append(f"   = hint: {self.hint}")
        return "\n".join(lines)


class ReqfloError(Exception):
    """Base of every Reqflo exception (see the tree in the package docstring)."""


class JourneyError(ReqfloError):
    """A journey has errors; `diagnostics` lists every problem found in one pass."""

    def __init__(self, message: str, diagnostics: Iterable[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)


class ArtifactError(ReqfloError):
    """An artifact is malformed, tampered with, or not in the cache."""


class RunSetupError(ReqfloError):
    """A run cannot start: a required input, secret or environment value is missing."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class DataFileError(ReqfloError):
    """A --data file is malformed; the message names the row and column."""


class SecretsFileError(ReqfloError):
    """The local secrets file is unsafe (readable by others) or unreadable."""


def _snippet(source: str | None, position: Position | None, width: int) -> list[str]:
    if source is None or position is None:
        return []
    source_lines = source.splitlines()
    if not 1 <= position.line <= len(source_lines):
        return []
    text = source_lines[position.line - 1]
    gutter = str(position.line)
    pad = " " * len(gutter)
    caret = " " * (position.column - 1) + "^" * max(1, width)
    return [f" {pad} |", f" {gutter} | {text}", f" {pad} | {caret}"]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint naming the closest choice, or None."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    return "\n\n".join(d.render(sources.get(d.file)) for d in diagnostics)
