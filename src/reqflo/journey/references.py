"""Reference checking: every `{{ ... }}` in a journey names something that exists, in time.

Owns the rules of what a template may refer to at each place of a journey (request,
`when`, assertion, template body, preset value), with positions of the culprit
inside the YAML scalar and "did you mean" hints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reqflo.diagnostics import Diagnostic, Position, Severity, did_you_mean
from reqflo.journey.model import Journey, StepSpec
from reqflo.journey.parser import ParsedJourney
from reqflo.journey.source import PathKey
from reqflo.values import (
    FUNCTIONS,
    Call,
    Ref,
    Template,
    TemplateSyntaxError,
    parse_expression,
    parse_template,
    template_calls,
    template_refs,
)

CASCADES = frozenset({"missing-key", "missing-request"})
ROOTS = ("inputs", "variables", "env", "secrets", "values", "steps", "me", "run")
RUN_FIELDS = ("id", "instance", "key")
STEP_FIELDS = ("outputs", "status", "headers", "body", "url", "duration_ms")


@dataclass
class Place:
    """What a template at one place may see."""

    path: PathKey
    step_index: int | None = None  # steps before this one (and itself when `self_ok`) are visible
    self_ok: bool = False
    in_template: bool = False


@dataclass
class Reporter:
    parsed: ParsedJourney
    found: list[Diagnostic] = field(default_factory=list)

    def add(
        self,
        code: str,
        message: str,
        path: PathKey,
        hint: str | None = None,
        *,
        key: bool = False,
        offset: int | None = None,
        width: int = 1,
        severity: Severity = Severity.ERROR,
    ) -> None:
        if code in CASCADES and self.parsed.file_path(path) in self.parsed.typo_parents:
            return  # an unknown (likely misspelled) key here was already reported
        pos = self.parsed.position(path, key=key)
        if pos is not None and offset is not None:
            pos = self._inside(path, pos, offset)
        self.found.append(
            Diagnostic(code, message, self.parsed.source.file, pos, hint, severity, width)
        )

    def _inside(self, path: PathKey, pos: Position, offset: int) -> Position:
        lines = self.parsed.source.text.splitlines()
        if not 1 <= pos.line <= len(lines):
            return pos
        text = lines[pos.line - 1]
        quoted = text[pos.column - 1 : pos.column] in {'"', "'"}
        return Position(pos.line, pos.column + offset + (1 if quoted else 0))


def parse_at(
    report: Reporter, text: str, path: PathKey, *, expression: bool = False
) -> Template | None:
    """Parse a template (or, with `expression`, a bare expression such as a `when:`)."""
    try:
        return Template((parse_expression(text),)) if expression else parse_template(text)
    except TemplateSyntaxError as exc:
        report.add(
            "invalid-template",
            f"invalid template: {exc}",
            path,
            offset=exc.offset,
            hint="a template is {{ reference }}, e.g. {{ steps.login.outputs.token }}",
        )
        return None


class ReferenceChecker:
    def __init__(self, journey: Journey, report: Reporter) -> None:
        self.journey, self.report = journey, report
        self.inputs = {i.name for i in journey.inputs}
        self.variables = {v.name for v in journey.variables}
        self.secrets = {v.secret for v in journey.variables if v.secret}
        self.secret_variables = {v.secret: v.name for v in journey.variables if v.secret}
        self.step_index: dict[str, int] = {}
        for number, step in enumerate(journey.steps):
            self.step_index.setdefault(step.id, number)
        self.used_inputs: set[str] = set()
        self.used_variables: set[str] = set()
        self.used_values: set[str] = set()

    def check_value(self, value: Any, place: Place) -> None:
        """Check every template string inside a JSON-like value."""
        for path, text in _strings_with_paths(value, place.path):
            if "{{" not in text:
                continue
            template = parse_at(self.report, text, path)
            if template is not None:
                self.check_template(
                    template, Place(path, place.step_index, place.self_ok, place.in_template)
                )

    def check_template(self, template: Template, place: Place) -> None:
        for ref in template_refs(template):
            self._check_ref(ref, place)
        for call in template_calls(template):
            self._check_call(call, place)

    def _check_call(self, call: Call, place: Place) -> None:
        spec = FUNCTIONS.get(call.name)
        if spec is None:
            self.report.add(
                "unknown-function",
                f"unknown function '{call.name}()'",
                place.path,
                did_you_mean(call.name, FUNCTIONS)
                or f"available: {', '.join(f'{f}()' for f in FUNCTIONS)}",
                offset=call.offset,
                width=len(call.name),
            )
        elif not spec[1] <= len(call.args) <= spec[2]:
            self.report.add(
                "invalid-arguments",
                f"{call.name}() takes {_arity(spec[1], spec[2])}, got {len(call.args)}",
                place.path,
                offset=call.offset,
            )

    def _check_ref(self, ref: Ref, place: Place) -> None:
        handler = getattr(self, f"_ref_{ref.root}", None)
        if handler is None:
            self._bad(
                ref,
                place,
                f"unknown reference root '{ref.root}'",
                did_you_mean(ref.root, ROOTS) or f"use one of: {', '.join(ROOTS)}",
            )
            return
        handler(ref, place)

    def _bad(
        self,
        ref: Ref,
        place: Place,
        message: str,
        hint: str | None,
        code: str = "unknown-reference",
    ) -> None:
        self.report.add(code, message, place.path, hint, offset=ref.offset, width=len(ref.dotted))

    def _name(self, ref: Ref, place: Place, kind: str) -> str | None:
        if not ref.path or not isinstance(ref.path[0], str):
            self._bad(ref, place, f"'{ref.root}' needs a name, e.g. {ref.root}.{kind}_name", None)
            return None
        return ref.path[0]

    def _ref_inputs(self, ref: Ref, place: Place) -> None:
        name = self._name(ref, place, "input")
        if name is None:
            return
        self.used_inputs.add(name)
        if name not in self.inputs and name not in self._broken("inputs"):
            self._bad(
                ref,
                place,
                f"input '{name}' is not declared",
                did_you_mean(name, self.inputs) or f"declare it under inputs: - name: {name}",
            )

    def _ref_variables(self, ref: Ref, place: Place) -> None:
        name = self._name(ref, place, "variable")
        if name is None:
            return
        self.used_variables.add(name)
        if name not in self.variables and name not in self._broken("variables"):
            self._bad(
                ref,
                place,
                f"variable '{name}' is not declared",
                did_you_mean(name, self.variables) or f"declare it under variables: - name: {name}",
            )

    def _ref_secrets(self, ref: Ref, place: Place) -> None:
        name = self._name(ref, place, "secret")
        if name in self.secret_variables:
            self.used_variables.add(self.secret_variables[name])
        if name is not None and name not in self.secrets:
            self._bad(
                ref,
                place,
                f"secret '{name}' is not declared",
                did_you_mean(name, {s for s in self.secrets if s})
                or f"declare it: variables: - {{name: ..., source: secret, secret: {name}}}",
                code="undeclared-secret",
            )

    def _ref_env(self, ref: Ref, place: Place) -> None:
        self._name(ref, place, "environment")

    def _ref_run(self, ref: Ref, place: Place) -> None:
        name = self._name(ref, place, "run")
        if name is not None and name not in RUN_FIELDS:
            self._bad(
                ref,
                place,
                f"run has no '{name}'",
                did_you_mean(name, RUN_FIELDS) or f"use one of: {', '.join(RUN_FIELDS)}",
            )

    def _ref_me(self, ref: Ref, place: Place) -> None:
        self._name(ref, place, "user")

    def _ref_values(self, ref: Ref, place: Place) -> None:
        name = self._name(ref, place, "value")
        if name is None:
            return
        if not place.in_template:
            self._bad(
                ref,
                place,
                "'values' can only be used inside templates",
                "pass the value directly, or move this request into a template",
                code="misplaced-reference",
            )
        self.used_values.add(name)

    def _ref_steps(self, ref: Ref, place: Place) -> None:
        step_id = self._name(ref, place, "step")
        if step_id is None:
            return
        if place.in_template:
            return  # checked per step when the template is expanded
        index = self.step_index.get(step_id)
        if index is None:
            if step_id not in self._broken("steps"):
                self._bad(
                    ref,
                    place,
                    f"step '{step_id}' does not exist",
                    did_you_mean(step_id, self.step_index) or "check the step ids",
                )
            return
        if place.step_index is not None and not self._visible(index, place):
            when = "this step itself" if index == place.step_index else "a later step"
            self._bad(
                ref,
                place,
                f"step '{step_id}' is {when}; its results do not exist yet",
                "a step can only use the results of steps before it",
                code="forward-reference",
            )
            return
        self._check_step_field(ref, place, self.journey.steps[index])

    def _visible(self, index: int, place: Place) -> bool:
        assert place.step_index is not None
        return index < place.step_index or (place.self_ok and index == place.step_index)

    def _check_step_field(self, ref: Ref, place: Place, step: StepSpec) -> None:
        if len(ref.path) < 2:
            self._bad(
                ref,
                place,
                f"say what of step '{step.id}' to use",
                f"e.g. steps.{step.id}.outputs.NAME or steps.{step.id}.status",
            )
            return
        attr = ref.path[1]
        if attr not in STEP_FIELDS:
            self._bad(
                ref,
                place,
                f"steps.{step.id} has no '{attr}'",
                did_you_mean(str(attr), STEP_FIELDS) or f"use one of: {', '.join(STEP_FIELDS)}",
            )
        elif attr == "outputs" and len(ref.path) > 2 and ref.path[2] not in step.outputs:
            name = str(ref.path[2])
            self._bad(
                ref,
                place,
                f"step '{step.id}' has no output '{name}'",
                did_you_mean(name, step.outputs)
                or f"declare it under the step's outputs: {name}: ...",
            )

    def _broken(self, section: str) -> set[str]:
        return self.report.parsed.broken.get(section, set())


def _arity(low: int, high: int) -> str:
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def _strings_with_paths(value: Any, path: PathKey) -> Iterable[tuple[PathKey, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_with_paths(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings_with_paths(item, (*path, index))
