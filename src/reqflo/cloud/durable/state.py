"""The serialisable state of one run instance between two checkpointed steps.

Owns `SavedStep` (what `steps.ID` exposes: outputs, raw response, duration),
`SavedCookie`, `InstanceSnapshot` (typed inputs, the saved steps, the cookie jar and the
log lines) and the conversions to and from the runner's live `InstanceState`. Secret
values are never part of a snapshot: `restore` takes them from the worker's secret
source, and re-adds every `secret: true` output to the redactor from the plan.
Snapshots do hold raw responses (later steps may reference `steps.ID.body`); they are
only ever stored sealed (reqflo.cloud.durable.keys).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from yarl import URL

from reqflo.artifact import Plan
from reqflo.http import AiohttpCookieStore, CookieStore, HttpResponse
from reqflo.runner.evidence import Redacts
from reqflo.runner.scope import InstanceScope, StepView
from reqflo.runner.step import InstanceState
from reqflo.values import strings_in

_COOKIE_ATTRS = ("expires", "path", "comment", "domain", "secure", "httponly", "samesite")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class SavedResponse(_Model):
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body_b64: str
    url: str
    elapsed_ms: float
    http_version: str = "1.1"

    @classmethod
    def of(cls, response: HttpResponse) -> SavedResponse:
        return cls(
            status=response.status,
            reason=response.reason,
            headers=response.headers,
            body_b64=base64.b64encode(response.body).decode("ascii"),
            url=response.url,
            elapsed_ms=response.elapsed_ms,
            http_version=response.http_version,
        )

    def response(self) -> HttpResponse:
        return HttpResponse(
            status=self.status,
            reason=self.reason,
            headers=self.headers,
            body=base64.b64decode(self.body_b64),
            url=self.url,
            elapsed_ms=self.elapsed_ms,
            http_version=self.http_version,
        )


class SavedStep(_Model):
    id: str
    outputs: dict[str, Any] = Field(default_factory=dict)
    response: SavedResponse | None = None
    duration_ms: float = 0.0


class SavedCookie(_Model):
    name: str
    value: str
    domain: str
    path: str
    host_only: bool
    attrs: dict[str, str] = Field(default_factory=dict)


class InstanceSnapshot(_Model):
    inputs: dict[str, Any]
    steps: tuple[SavedStep, ...] = ()
    cookies: tuple[SavedCookie, ...] = ()
    logs: tuple[str, ...] = ()


def save_step(step_id: str, scope: InstanceScope) -> SavedStep:
    view = scope.steps.get(step_id)
    if view is None:
        return SavedStep(id=step_id)
    response = view.response
    return SavedStep(
        id=step_id,
        outputs=dict(view["outputs"]),
        response=SavedResponse.of(response) if response is not None else None,
        duration_ms=float(view["duration_ms"]),
    )


def restore(
    snapshot: InstanceSnapshot,
    plan: Plan,
    env: Mapping[str, Any],
    secrets: Mapping[str, str],
    redactor: Redacts,
    cookies: CookieStore,
    me: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
) -> InstanceState:
    """A live InstanceState equal to the one the snapshot was taken from."""
    scope = InstanceScope(snapshot.inputs, env, secrets, me or {}, run)
    for saved in snapshot.steps:
        response = saved.response.response() if saved.response else None
        scope.record(saved.id, StepView(saved.outputs, response, saved.duration_ms))
    _readd_secret_outputs(snapshot, plan, redactor)
    load_cookies(cookies, snapshot.cookies)
    return InstanceState(scope, redactor, cookies, list(snapshot.logs))


def _readd_secret_outputs(snapshot: InstanceSnapshot, plan: Plan, redactor: Redacts) -> None:
    secret_outputs = {
        (step.id, output.name) for step in plan.steps for output in step.outputs if output.secret
    }
    for saved in snapshot.steps:
        for name, value in saved.outputs.items():
            if (saved.id, name) in secret_outputs and value is not None:
                texts = strings_in(value) if isinstance(value, dict | list) else [str(value)]
                for text in texts:
                    redactor.add(text)


def dump_cookies(store: CookieStore) -> tuple[SavedCookie, ...]:
    """The cookie jar's contents (only the default aiohttp store is serialisable)."""
    if not isinstance(store, AiohttpCookieStore):
        return ()
    jar = store.jar
    host_only = jar.host_only_cookies
    saved = []
    for (domain, path), cookie in jar.cookies.items():
        for name, morsel in cookie.items():
            attrs = {a: str(morsel[a]) for a in _COOKIE_ATTRS if morsel[a]}
            saved.append(
                SavedCookie(
                    name=name,
                    value=morsel.value,
                    domain=domain,
                    path=path,
                    host_only=(domain, path, name) in host_only,
                    attrs=attrs,
                )
            )
    return tuple(saved)


def load_cookies(store: CookieStore, cookies: tuple[SavedCookie, ...]) -> None:
    if not isinstance(store, AiohttpCookieStore):
        return
    for saved in cookies:
        morsel_set: SimpleCookie = SimpleCookie()
        morsel_set[saved.name] = saved.value
        morsel = morsel_set[saved.name]
        for attr, value in saved.attrs.items():
            if attr in {"secure", "httponly"}:
                morsel[attr] = True
            elif attr != "domain":
                morsel[attr] = value
        morsel["path"] = saved.path or "/"
        if not saved.host_only:
            morsel["domain"] = saved.domain
        store.jar.update_cookies(morsel_set, URL.build(scheme="http", host=saved.domain))
