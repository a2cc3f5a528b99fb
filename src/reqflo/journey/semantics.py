"""The run check's semantic pass: rules that span keys of a structurally valid journey.

Owns the pass itself (`check_journey`: every rule, problems in source order), duplicate
names, variable wiring (sources, preset order), the type of case values and input
defaults, templates' own checks, and the warnings (unused inputs, variables and
templates; steps without assertions). A step's rules (request completeness, templates,
`when:`, retry) are `journey.step_rules`'; its outputs' and assertions' (operators per
type, JSONPath, regex, JSON Schema, `expected:`) are `journey.assertion_rules`'; every
`{{ reference }}` goes to `references`. This module re-exports `effective_operator`.
"""

from __future__ import annotations

from typing import Any

from reqflo.conversion import InputTypeError, convert_value
from reqflo.diagnostics import Diagnostic, Severity, did_you_mean
from reqflo.journey.assertion_rules import effective_operator
from reqflo.journey.model import Journey
from reqflo.journey.parser import ParsedJourney
from reqflo.journey.references import Place, ReferenceChecker, Reporter
from reqflo.journey.requests import check_request_details
from reqflo.journey.source import PathKey
from reqflo.journey.step_rules import J, _check_request_templates, _check_step, _refs_of_text
from reqflo.values import strings_in

__all__ = ["check_journey", "effective_operator"]


def check_journey(parsed: ParsedJourney) -> list[Diagnostic]:
    """Every semantic problem of a parsed journey (its structural ones are already in it)."""
    if parsed.journey is None:
        return []
    report = Reporter(parsed)
    journey = parsed.journey.journey
    refs = ReferenceChecker(journey, report)
    _check_names(journey, report)
    _check_variables(journey, report, refs)
    _check_cases(journey, report)
    for name, template in journey.templates.items():
        check_request_details(template, (*J, "templates", name), report)
        _check_request_templates(template, (*J, "templates", name), refs, None, in_template=True)
    if not parsed.placeholder_steps:
        for index, step in enumerate(journey.steps):
            _check_step(journey, index, step, report, refs)
        _warn_unused(journey, report, refs)
    return sorted(report.found, key=_order)


def _order(diag: Diagnostic) -> tuple[bool, int, int]:
    pos = diag.position
    return (not diag.is_error, pos.line if pos else 0, pos.column if pos else 0)


def _check_names(journey: Journey, report: Reporter) -> None:
    for section, items in (
        ("steps", [s.id for s in journey.steps]),
        ("inputs", [i.name for i in journey.inputs]),
        ("variables", [v.name for v in journey.variables]),
    ):
        seen: set[str] = set()
        for index, name in enumerate(items):
            if name in seen:
                key = "id" if section == "steps" else "name"
                report.add(
                    f"duplicate-{section[:-1]}",
                    f"{section[:-1]} '{name}' is declared twice",
                    (*J, section, index, key),
                    "names must be unique",
                    width=len(name),
                )
            seen.add(name)


def _check_variables(journey: Journey, report: Reporter, refs: ReferenceChecker) -> None:
    for index, var in enumerate(journey.variables):
        path = (*J, "variables", index)
        source = var.effective_source
        if source == "secret" and not var.secret:
            report.add(
                "missing-key",
                f"variable '{var.name}' comes from a secret but names none",
                path,
                f"add `secret: SECRET_NAME` to variable '{var.name}'",
            )
        if source == "preset" and "value" not in var.model_fields_set:
            report.add(
                "missing-key",
                f"variable '{var.name}' has no source and no value",
                path,
                "add `value: ...`, or `source: environment|secret|input|me`",
            )
        if source != "preset" and "value" in var.model_fields_set:
            report.add(
                "conflicting-keys",
                f"variable '{var.name}' has both a value and source '{source}'",
                (*path, "value"),
                "keep one of them",
                key=True,
            )
        if source == "input" and (var.key or var.name) not in refs.inputs:
            report.add(
                "unknown-reference",
                f"variable '{var.name}' reads input '{var.key or var.name}', which is not declared",
                path,
                did_you_mean(var.key or var.name, refs.inputs),
            )
        if source == "input":
            refs.used_inputs.add(var.key or var.name)
        refs.check_value(var.value, Place((*path, "value"), step_index=0))
        _check_preset_order(var.value, {v.name for v in journey.variables[:index]}, path, report)


def _check_preset_order(value: Any, earlier: set[str], path: PathKey, report: Reporter) -> None:
    for text in strings_in(value):
        for ref in _refs_of_text(text):
            name = ref.path[0] if ref.path else None
            if ref.root == "variables" and isinstance(name, str) and name not in earlier:
                report.add(
                    "forward-reference",
                    f"variable '{name}' must be declared before the variable that uses it",
                    (*path, "value"),
                    "move it higher in variables:",
                    offset=ref.offset,
                )


def _check_cases(journey: Journey, report: Reporter) -> None:
    declared = {i.name: i.type for i in journey.inputs}
    for case, values in journey.cases.items():
        for name, value in values.items():
            path = (*J, "cases", case, name)
            if name not in declared:
                report.add(
                    "unknown-input",
                    f"case '{case}' sets '{name}', which is not an input",
                    path,
                    did_you_mean(name, declared),
                    key=True,
                    width=len(name),
                )
            else:
                _check_type(value, declared[name], f"case '{case}': '{name}'", path, report)
    for index, decl in enumerate(journey.inputs):
        where = f"input '{decl.name}': the default"
        _check_type(decl.default, decl.type, where, (*J, "inputs", index, "default"), report)


def _check_type(value: Any, type_name: str, what: str, path: PathKey, report: Reporter) -> None:
    if value is None or any("{{" in text for text in strings_in(value)):
        return
    try:
        convert_value(value, type_name)
    except InputTypeError as exc:
        report.add("invalid-input-value", f"{what} does not fit type {type_name}: {exc}", path)


def _warn_unused(journey: Journey, report: Reporter, refs: ReferenceChecker) -> None:
    for index, decl in enumerate(journey.inputs):
        if decl.name not in refs.used_inputs:
            report.add(
                "unused-input",
                f"input '{decl.name}' is never used",
                (*J, "inputs", index),
                severity=Severity.WARNING,
            )
    for index, var in enumerate(journey.variables):
        if var.name not in refs.used_variables:
            report.add(
                "unused-variable",
                f"variable '{var.name}' is never used",
                (*J, "variables", index),
                severity=Severity.WARNING,
            )
    used_templates = {s.template for s in journey.steps}
    for name in journey.templates:
        if name not in used_templates:
            report.add(
                "unused-template",
                f"template '{name}' is never used",
                (*J, "templates", name),
                severity=Severity.WARNING,
                key=True,
            )
    for index, step in enumerate(journey.steps):
        if not step.assertions:
            report.add(
                "no-assertions",
                f"step '{step.id}' has no assertions",
                (*J, "steps", index),
                "add at least a status_code assertion",
                severity=Severity.WARNING,
            )
