"""Pruning: the largest valid part of a structurally broken journey, for the semantic pass.

Owns the rules that turn a document with structural errors into one that validates:
first the offending keys are deleted (most keys are optional), then the list items
or named entries still missing something required are dropped. Dropped items are
remembered (`Pruned.broken`) so references to them are not reported again, and list
renumbering is recorded (`Pruned.renumber`) so positions still point into the file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import ErrorDetails

from reqflo.journey.source import PathKey

NAMED_SECTIONS = {"templates", "cases", "outputs"}
PLACEHOLDER_STEP = {"id": "_", "request": {"url": "_"}}


@dataclass
class Pruned:
    document: Any
    broken: dict[str, set[str]] = field(default_factory=dict)
    renumber: dict[PathKey, dict[int, int]] = field(default_factory=dict)
    placeholder_steps: bool = False


def delete_offending_keys(document: Any, errors: list[ErrorDetails]) -> Any:
    """Pass 1: remove each key whose value (or presence) is wrong."""
    document = copy.deepcopy(document)
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "missing" or not loc or not isinstance(loc[-1], str):
            continue
        parent = node_at(document, loc[:-1])
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)
    return document


def drop_broken_items(document: Any, errors: list[ErrorDetails]) -> Pruned:
    """Pass 2: drop the list items / named entries that still fail, remembering them."""
    pruned = Pruned(copy.deepcopy(document))
    doomed: dict[PathKey, set[str | int]] = {}
    for error in errors:
        container, member = _owner(tuple(error["loc"]))
        if container is not None:
            doomed.setdefault(container, set()).add(member)
        else:
            _fix_top_level(pruned.document, tuple(error["loc"]))
    for container in sorted(doomed, key=len, reverse=True):
        _drop(pruned, container, doomed[container])
    journey = pruned.document.get("journey", {})
    if isinstance(journey, dict) and not journey.get("steps"):
        journey["steps"] = [PLACEHOLDER_STEP]
        pruned.placeholder_steps = True
    return pruned


def _owner(loc: PathKey) -> tuple[PathKey | None, Any]:
    """The innermost list or named section holding the failing node, and its member key."""
    for end in range(len(loc) - 1, 1, -1):
        parent, member = loc[:end], loc[end]
        if isinstance(member, int) or parent[-1] in NAMED_SECTIONS:
            return parent, member
    return None, None


def _fix_top_level(document: Any, loc: PathKey) -> None:
    journey = document.get("journey")
    if isinstance(journey, dict) and len(loc) >= 2:
        if loc[1] == "name":
            journey["name"] = "?"
        else:
            journey.pop(loc[1], None)


def _drop(pruned: Pruned, container: PathKey, members: set[Any]) -> None:
    items = node_at(pruned.document, container)
    section = str(container[-1])
    if isinstance(items, dict):
        for member in members:
            _remember(pruned, section, container, items.get(member), str(member))
            items.pop(member, None)
    elif isinstance(items, list):
        kept: list[Any] = []
        mapping: dict[int, int] = {}
        for index, item in enumerate(items):
            if index in members:
                _remember(pruned, section, container, item, None)
                continue
            mapping[len(kept)] = index
            kept.append(item)
        items[:] = kept
        pruned.renumber[container] = mapping


def _remember(
    pruned: Pruned, section: str, container: PathKey, item: Any, name: str | None
) -> None:
    if name is None and isinstance(item, dict):
        name = str(item.get("id" if section == "steps" else "name"))
    if section == "outputs" and len(container) >= 3:
        name = f"{container[2]}.{name}"
    pruned.broken.setdefault(section, set()).add(str(name))


def node_at(document: Any, path: PathKey) -> Any:
    """The node at `path`, or None when the path leads nowhere."""
    for seg in path:
        try:
            document = document[seg]
        except (KeyError, IndexError, TypeError):
            return None
    return document


def file_path(renumber: dict[PathKey, dict[int, int]], path: PathKey) -> PathKey:
    """Translate a path in the pruned document into the same node's path in the file."""
    out: list[str | int] = []
    for seg in path:
        mapping = renumber.get(tuple(out))
        out.append(mapping.get(seg, seg) if mapping and isinstance(seg, int) else seg)
    return tuple(out)


def prune(
    document: Any, errors: list[ErrorDetails], validate: Callable[[Any], list[ErrorDetails]]
) -> Pruned:
    """Both passes; `validate` returns the errors of a candidate document."""
    first = delete_offending_keys(document, errors)
    remaining = validate(first)
    if not remaining:
        return Pruned(first)
    return drop_broken_items(first, remaining)
