"""The compiler: a checked journey → an immutable build artifact (spec §3).

Owns the run check (`check_file`, `check_text`: parse, semantic pass, compile when there
is no error), the plan of a journey (its metadata, inputs, cases and steps), the list of
names a run needs, and the source positions kept beside the hashed plan. Substitution
of `values.x` and `variables.x` by what they stand for (`env.*`, `secrets.*`, `inputs.*`,
`me.*` or the preset literal) is `reqflo.compiler_resolve`'s; each step's plan (template
merging, defaults, outputs, assertions, retry, `when:`) is `reqflo.compiler_plans`'.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reqflo import artifact as art
from reqflo.compiler_plans import _step_plan
from reqflo.compiler_resolve import Resolver, _variable_expr
from reqflo.diagnostics import Diagnostic, JourneyError, render_all
from reqflo.journey.model import Journey
from reqflo.journey.parser import ParsedJourney, parse_file, parse_text
from reqflo.journey.semantics import check_journey
from reqflo.journey.source import PathKey
from reqflo.values import parse_template, strings_in, template_refs


@dataclass
class CheckResult:
    """The run check's outcome: every diagnostic, and the artifact when there is no error."""

    parsed: ParsedJourney
    diagnostics: list[Diagnostic] = field(default_factory=list)
    artifact: art.Artifact | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def render(self) -> str:
        return render_all(self.diagnostics, {self.parsed.source.file: self.parsed.source.text})

    def raise_for_errors(self) -> art.Artifact:
        if self.artifact is None:
            raise JourneyError(
                f"{len(self.errors)} error(s) in {self.parsed.source.file}", self.diagnostics
            )
        return self.artifact


def check_file(path: Path, display: str | None = None) -> CheckResult:
    return _check(parse_file(path, display))


def check_text(text: str, file: str = "<journey>") -> CheckResult:
    return _check(parse_text(text, file))


def _check(parsed: ParsedJourney) -> CheckResult:
    found = list(parsed.diagnostics) + check_journey(parsed)
    found.sort(key=lambda d: (not d.is_error, *_line_col(d)))
    result = CheckResult(parsed, found)
    if not result.errors and parsed.journey is not None:
        result.artifact = compile_journey(parsed)
    return result


def _line_col(diag: Diagnostic) -> tuple[int, int]:
    return (diag.position.line, diag.position.column) if diag.position else (0, 0)


def compile_journey(parsed: ParsedJourney) -> art.Artifact:
    assert parsed.journey is not None
    journey = parsed.journey.journey
    variables: dict[str, Any] = {}
    for var in journey.variables:  # a preset may use the variables declared before it
        variables[var.name] = _variable_expr(var, Resolver(dict(variables), {}))
    steps = tuple(_step_plan(journey, s, variables) for s in journey.steps)
    plan = art.Plan(
        journey=art.JourneyMeta(
            name=journey.name,
            description=journey.description,
            version=journey.version,
            owner=journey.owner,
            tags=tuple(journey.tags),
        ),
        inputs=tuple(art.InputPlan(**i.model_dump()) for i in journey.inputs),
        cases=journey.cases,
        needs=_needs(journey, steps),
        steps=steps,
    )
    return art.seal(plan, _source_info(parsed))


# ------------------------------------------------------------- needs/source


def _needs(journey: Journey, steps: tuple[art.StepPlan, ...]) -> art.Needs:
    found: dict[str, set[str]] = {"inputs": set(), "env": set(), "secrets": set(), "me": set()}
    for step in steps:
        for text in strings_in(step.model_dump(mode="json", exclude={"id", "name"})):  # literal
            if "{{" in text:
                for ref in template_refs(parse_template(text)):
                    if ref.root in found and ref.path:
                        found[ref.root].add(str(ref.path[0]))
    found["inputs"] |= {i.name for i in journey.inputs if i.required}
    return art.Needs(
        inputs=tuple(sorted(found["inputs"])),
        environment=tuple(sorted(found["env"])),
        secrets=tuple(sorted(found["secrets"])),
        me=tuple(sorted(found["me"])),
    )


def _source_info(parsed: ParsedJourney) -> art.SourceInfo:
    assert parsed.journey is not None
    positions: dict[str, tuple[int, int]] = {}
    for index, step in enumerate(parsed.journey.journey.steps):
        base: PathKey = ("journey", "steps", index)
        keys: list[tuple[PathKey, str]] = [((), f"steps.{index}")]
        keys += [
            (("assertions", n), f"steps.{index}.assertions.{n}")
            for n in range(len(step.assertions))
        ]
        keys += [(("outputs", name), f"steps.{index}.outputs.{name}") for name in step.outputs]
        for suffix, name in keys:
            pos = parsed.position((*base, *suffix))
            if pos is not None:
                positions[name] = (pos.line, pos.column)
    lines = parsed.source.text.splitlines()
    texts = {k: lines[v[0] - 1].strip() for k, v in positions.items() if v[0] <= len(lines)}
    digest = hashlib.sha256(parsed.source.text.encode()).hexdigest()
    return art.SourceInfo(path=parsed.source.file, sha256=digest, positions=positions, lines=texts)
