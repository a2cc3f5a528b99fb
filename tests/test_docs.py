"""docs/journey-format.md stays true to the code.

Every journey example in it (a ```yaml block whose first non-comment line is `journey:`)
passes the run check and conforms to the published JSON Schema; an example preceded by
`<!-- invalid-example -->` must instead print exactly the ```text block that follows it.
The doc names every key and allowed value of the journey models, the operators and
default operator of each assertion type, every function, reference root and step field,
and its diagnostic tables list exactly the codes the validator can emit (found in the
source with `ast`, so helpers such as `_bad(code=...)` and `_code_for()` count too).
"""

from __future__ import annotations

import ast
import json
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import jsonschema
import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML

from reqflo.checks import OPERATORS_BY_TYPE
from reqflo.compiler import check_text
from reqflo.journey import model
from reqflo.journey.model import AssertionSpec
from reqflo.journey.references import ROOTS, STEP_FIELDS
from reqflo.journey.semantics import effective_operator
from reqflo.values import FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "journey-format.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
SCHEMA = json.loads((ROOT / "docs" / "journey.schema.json").read_text(encoding="utf-8"))
CODE_SOURCES = (
    *sorted((ROOT / "src" / "reqflo" / "journey").glob("*.py")),
    ROOT / "src" / "reqflo" / "compiler.py",
)
INVALID_MARK = "<!-- invalid-example -->"
CODE_SHAPE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


# ------------------------------------------------------------------ doc blocks


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # line of the opening fence
    invalid: bool  # preceded by INVALID_MARK


def _blocks() -> list[Block]:
    found = []
    for match in FENCE.finditer(DOC):
        before = DOC[: match.start()].rstrip().splitlines()
        invalid = bool(before) and before[-1].strip() == INVALID_MARK
        line = DOC.count("\n", 0, match.start()) + 1
        found.append(Block(match.group(1), match.group(2), line, invalid))
    return found


def _is_journey(block: Block) -> bool:
    """A yaml block whose first line that is not blank or a comment is `journey:`."""
    if block.lang not in {"yaml", "yml"}:
        return False
    for line in block.text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.startswith("journey:")
    return False


JOURNEYS = [b for b in _blocks() if _is_journey(b)]
VALID = [b for b in JOURNEYS if not b.invalid]
INVALID = [b for b in JOURNEYS if b.invalid]


def test_doc_has_examples_for_many_features() -> None:
    assert len(VALID) >= 20
    assert len(INVALID) >= 1


@pytest.mark.parametrize("block", VALID, ids=lambda b: f"line{b.line}")
def test_journey_example_passes_the_run_check(block: Block) -> None:
    result = check_text(block.text, f"journey-format.md:{block.line}")
    assert result.errors == [], result.render()
    assert result.artifact is not None


@pytest.mark.parametrize("block", VALID, ids=lambda b: f"line{b.line}")
def test_journey_example_conforms_to_the_published_schema(block: Block) -> None:
    document = json.loads(json.dumps(YAML(typ="safe").load(block.text)))
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


@pytest.mark.parametrize("block", INVALID, ids=lambda b: f"line{b.line}")
def test_invalid_example_prints_the_output_shown(block: Block) -> None:
    blocks = _blocks()
    after = [b for b in blocks if b.line > block.line and b.lang == "text"]
    assert after, f"an invalid example (line {block.line}) needs a ```text block after it"
    result = check_text(block.text, "orders.yaml")
    assert result.errors, "an example marked invalid must have errors"
    assert result.render().strip() == after[0].text.strip()


# ------------------------------------------------------------------ keys and values


def _documented(word: str) -> bool:
    """`word` appears as inline code: `word`, `word:` or `word: ...`."""
    return re.search(rf"`{re.escape(word)}(?::[^`\n]*)?`", DOC) is not None


def _models() -> list[type[BaseModel]]:
    return [
        obj
        for obj in vars(model).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == model.__name__
    ]


def _literal_values(annotation: Any) -> Iterator[str]:
    origin = get_origin(annotation)
    if origin is Literal:
        yield from (str(v) for v in get_args(annotation))
    elif origin in (Annotated, Union, types.UnionType, list, dict):
        for arg in get_args(annotation):
            yield from _literal_values(arg)


def test_models_are_found() -> None:
    names = {m.__name__ for m in _models()}
    assert {"Journey", "StepSpec", "RequestSpec", "AssertionSpec", "OutputSpec"} <= names


def test_every_model_key_is_documented() -> None:
    missing = sorted(
        f"{m.__name__}.{info.alias or name}"
        for m in _models()
        for name, info in m.model_fields.items()
        if not _documented(info.alias or name)
    )
    assert missing == [], f"keys missing from {DOC_PATH.name}: {missing}"


def test_every_allowed_value_is_documented() -> None:
    values = {
        value
        for m in _models()
        for info in m.model_fields.values()
        for value in _literal_values(info.annotation)
    }
    assert {"exponential", "status_ok", "is_type", "json_schema", "me"} <= values
    assert sorted(v for v in values if not _documented(v)) == []


# ------------------------------------------------------------------ assertions


def _table(header: str) -> dict[str, list[str]]:
    """The rows of the markdown table whose header line starts with `header`, by first
    cell (backticks stripped)."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return rows


ASSERTION_TABLE = "| `type` | Checks | Default operator | Allowed operators |"


def _code_words(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def test_operator_table_matches_operators_by_type() -> None:
    rows = _table(ASSERTION_TABLE)
    assert set(rows) == set(OPERATORS_BY_TYPE)
    for kind, cells in rows.items():
        assert _code_words(cells[-1]) == set(OPERATORS_BY_TYPE[kind]), kind


def test_default_operators_are_documented() -> None:
    rows = _table(ASSERTION_TABLE)
    for kind, cells in rows.items():
        defaults = {
            effective_operator(AssertionSpec.model_validate({"type": kind})),
            effective_operator(AssertionSpec.model_validate({"type": kind, "expected": 1})),
        }
        assert defaults <= _code_words(cells[2]), kind


# ------------------------------------------------------------------ template language


def test_every_function_is_documented() -> None:
    assert sorted(f for f in FUNCTIONS if f"`{f}(" not in DOC) == []


def test_every_reference_root_and_step_field_is_documented() -> None:
    assert sorted(r for r in ROOTS if "{{ " + r + "." not in DOC) == []
    assert sorted(f for f in STEP_FIELDS if "{{ steps.ID." + f not in DOC) == []


# ------------------------------------------------------------------ diagnostic codes


@dataclass(frozen=True)
class Emitted:
    codes: frozenset[str]
    patterns: frozenset[str]  # regexes for codes built with f-strings


def _code_params(trees: list[ast.Module]) -> dict[str, int]:
    """Functions with a `code` parameter → its positional index (`self` not counted)."""
    found = {"Diagnostic": 0}  # reqflo.diagnostics.Diagnostic(code, message, ...)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                names = [a.arg for a in node.args.args if a.arg != "self"]
                if "code" in names:
                    found[node.name] = names.index("code")
    return found


def _returned_strings(trees: list[ast.Module]) -> dict[str, list[ast.expr]]:
    """Function name → the expressions it returns (to follow `Diagnostic(_code_for(...))`)."""
    found: dict[str, list[ast.expr]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                found[node.name] = [
                    r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value
                ]
    return found


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _code_args(call: ast.Call, params: dict[str, int]) -> list[ast.expr]:
    args = [k.value for k in call.keywords if k.arg == "code"]
    index = params.get(_callee(call) or "")
    if index is not None and index < len(call.args):
        args.append(call.args[index])
    return args


def _values(expr: ast.expr, returns: dict[str, list[ast.expr]]) -> Iterator[str | re.Pattern[str]]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        yield expr.value
    elif isinstance(expr, ast.JoinedStr):
        yield re.compile(
            "".join(
                re.escape(str(p.value)) if isinstance(p, ast.Constant) else "[a-z0-9_-]+"
                for p in expr.values
            )
        )
    elif isinstance(expr, ast.IfExp):
        yield from _values(expr.body, returns)
        yield from _values(expr.orelse, returns)
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        for returned in returns.get(expr.func.id, []):
            yield from _values(returned, returns)


def emitted_codes() -> Emitted:
    """Every diagnostic code the run check can emit, read from the source: the `code`
    argument of every call to a function taking `code` (Reporter.add, Diagnostic, _bad,
    _failed...), `code=` keywords, defaults of `code` parameters, and the string returns
    of helpers passed as a code (`_code_for`)."""
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in CODE_SOURCES]
    params, returns = _code_params(trees), _returned_strings(trees)
    exprs: list[ast.expr] = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                exprs.extend(_code_args(node, params))
            elif isinstance(node, ast.FunctionDef):
                pairs = zip(reversed(node.args.args), reversed(node.args.defaults), strict=False)
                exprs.extend(d for a, d in pairs if a.arg == "code")
                exprs.extend(
                    d
                    for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
                    if a.arg == "code" and d is not None
                )
    codes: set[str] = set()
    patterns: set[str] = set()
    for expr in exprs:
        for value in _values(expr, returns):
            if isinstance(value, str) and CODE_SHAPE.fullmatch(value):
                codes.add(value)
            elif isinstance(value, re.Pattern):
                patterns.add(value.pattern)
    return Emitted(frozenset(codes), frozenset(patterns))


def _documented_codes() -> set[str]:
    """First-column codes of the tables under `### Diagnostic codes`."""
    section = DOC.split("### Diagnostic codes", 1)[1].split("\n### ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([a-z0-9-]+)` \|", section, re.MULTILINE)}


def test_code_extraction_finds_every_kind_of_emitter() -> None:
    emitted = emitted_codes()
    expected = {
        "unknown-key",  # Diagnostic("unknown-key", ...) in the parser
        "invalid-identifier",  # returned by _code_for
        "duplicate-key",  # _failed(text, file, "duplicate-key", ...)
        "unknown-reference",  # default of _bad(code=...)
        "undeclared-secret",  # code= keyword
        "no-assertions",  # report.add(...)
        "encoding",
    }
    assert expected <= emitted.codes
    assert any(re.fullmatch(p, "duplicate-step") for p in emitted.patterns)
    simple = re.compile(r"(?:report\.add|Diagnostic)\(\s*\"([a-z0-9-]+)\"")
    by_regex = {c for p in CODE_SOURCES for c in simple.findall(p.read_text(encoding="utf-8"))}
    assert by_regex <= emitted.codes


def test_every_emitted_code_is_documented() -> None:
    emitted, documented = emitted_codes(), _documented_codes()
    assert sorted(emitted.codes - documented) == []
    for pattern in emitted.patterns:
        assert any(re.fullmatch(pattern, code) for code in documented), pattern


def test_every_documented_code_is_emitted() -> None:
    emitted = emitted_codes()
    stale = [
        code
        for code in _documented_codes()
        if code not in emitted.codes and not any(re.fullmatch(p, code) for p in emitted.patterns)
    ]
    assert sorted(stale) == []
