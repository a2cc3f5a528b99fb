"""Form input of the web UI's catalog and schedule pages, checked like the API checks it.

Owns `FormError` (a message and the 4xx status to re-render the form with; every web
form raises it, the start-a-run form too),
`parse_mapping` (a JSON or YAML mapping typed into a textarea), `schedule_fields`
(a schedule form → the fields of `ScheduleRequest` / `ScheduleUpdate`, validated by
those same pydantic models), `check_schedule` (the checks of `POST /api/v1/schedules`:
cron, timezone, webhook URL (SSRF guard), journey or artifact, environment, case,
inputs) and `fire_times` (the next fire instants of a cron + timezone, in UTC and local
time). A webhook secret typed into a form is only passed on to the store, which seals
it; it is never echoed back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, ValidationError

from reqflo.cloud.api_schedules import validate_schedule
from reqflo.cloud.cron import CronSpec, zone
from reqflo.store import Store
from reqflo.yaml_values import YamlValuesError, load_values

TEXT_FIELDS = ("name", "cron", "timezone", "journey", "artifact_id", "environment", "case",
               "missed", "webhook_url")  # fmt: skip


class FormError(ValueError):
    """Bad form input: the message to show and the status of the re-rendered form."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FireTime:
    utc: datetime
    local: str  # the wall-clock time in the schedule's timezone, with its offset


def parse_mapping(text: str, what: str) -> dict[str, Any]:
    """A mapping written as JSON or YAML (empty: {}); FormError says what is wrong."""
    if not text.strip():
        return {}
    try:
        found = json.loads(text)
    except ValueError as json_error:
        if text.lstrip().startswith(("{", "[")):
            raise FormError(f"{what}: not valid JSON: {json_error}") from json_error
        found = _yaml(text, what)
    if not isinstance(found, dict):
        raise FormError(f'{what}: give a mapping of names to values, e.g. {{"base_url": "..."}}')
    try:
        json.dumps(found, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FormError(f"{what}: only JSON values are allowed ({exc})") from exc
    return {str(key): value for key, value in found.items()}


def _yaml(text: str, what: str) -> Any:
    try:
        return load_values(text)
    except YamlValuesError as exc:
        raise FormError(f"{what}: neither JSON nor YAML: {exc}") from exc


def form_text(fields: Mapping[str, Any]) -> dict[str, str]:
    """The schedule form's text fields as typed (for re-rendering; never the secret)."""
    shown = {name: str(fields.get(name) or "").strip() for name in TEXT_FIELDS}
    shown["inputs"] = str(fields.get("inputs") or "")
    shown["paused"] = "on" if fields.get("paused") else ""
    shown["clear_webhook_secret"] = "on" if fields.get("clear_webhook_secret") else ""
    return shown


def schedule_fields(fields: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The form as the API's request model (`model`) validates it; FormError if it does not."""
    text = form_text(fields)
    values: dict[str, Any] = {name: text[name] or None for name in TEXT_FIELDS}
    values["timezone"] = values["timezone"] or "UTC"
    values["missed"] = values["missed"] or "skip"
    values["inputs"] = parse_mapping(text["inputs"], "inputs")
    secret = str(fields.get("webhook_secret") or "")
    if secret:
        values["webhook_secret"] = secret
    if "enabled" in model.model_fields:
        values["enabled"] = not text["paused"]
    try:
        return model.model_validate(values).model_dump(exclude_unset=False)
    except ValidationError as exc:
        raise FormError(_first_problem(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    problem = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in problem["loc"])
    message = str(problem["msg"]).removeprefix("Value error, ")
    if "pattern" in message and where in ("name", "environment"):
        message = "use 1 to 100 letters, digits, '_', '.', '-'"
    if "pattern" in message and where == "webhook_url":
        message = "give an http:// or https:// URL"
    return f"{where}: {message}" if where else message


def check_schedule(
    store: Store, fields: Mapping[str, Any], now: datetime, private_ok: bool = False
) -> None:
    """The API's checks of a schedule's fields (status and message as the API gives them);
    `private_ok`: the server allows webhooks to private addresses."""
    try:
        validate_schedule(store, fields, now, private_ok)
    except HTTPException as exc:
        raise FormError(str(exc.detail), exc.status_code) from None


def fire_times(
    cron: str, timezone: str, count: int, after: datetime | None = None
) -> list[FireTime]:
    """The next `count` fire instants; CronError for a bad expression or timezone."""
    spec = CronSpec(cron, timezone)
    tz = zone(timezone)
    fires = spec.next_fires(after or datetime.now(UTC), count)
    return [FireTime(at, at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")) for at in fires]


__all__ = [
    "FireTime",
    "FormError",
    "check_schedule",
    "fire_times",
    "form_text",
    "parse_mapping",
    "schedule_fields",
]
