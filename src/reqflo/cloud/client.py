"""The Cloud Runner client the CLI uses (httpx), and the user's stored login.

Owns `Login` (server URL + token in `$REQFLO_HOME/config.json`, written with mode 0600;
`REQFLO_CLOUD_URL` / `REQFLO_CLOUD_TOKEN` override it, e.g. in CI), `CloudClient` (one
method per API call; a non-2xx answer raises `CloudError` with the server's message)
and `SseEvent` parsing for live progress, resuming with `Last-Event-ID` when the
connection drops.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reqflo.artifact import reqflo_home
from reqflo.diagnostics import ReqfloError

CONFIG_FILE = "config.json"
RECONNECTS = 5


class CloudError(ReqfloError):
    """The Cloud Runner refused a call or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Login:
    url: str
    token: str


def config_path() -> Path:
    return reqflo_home() / CONFIG_FILE


def save_login(url: str, token: str) -> None:
    """Store the server URL and token in the user's config (owner-only file)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    config = _read_config()
    config["cloud"] = {"url": url.rstrip("/"), "token": token}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_login() -> Login:
    cloud = _read_config().get("cloud") or {}
    url = os.environ.get("REQFLO_CLOUD_URL") or cloud.get("url")
    token = os.environ.get("REQFLO_CLOUD_TOKEN") or cloud.get("token")
    if not url or not token:
        raise CloudError("not logged in to a Cloud Runner; run: reqflo login URL --token TOKEN")
    return Login(str(url).rstrip("/"), str(token))


def _read_config() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CloudError(f"{path}: cannot read the config file: {exc}") from exc
    return found if isinstance(found, dict) else {}


@dataclass(frozen=True)
class SseEvent:
    id: int | None
    kind: str
    data: str


class CloudClient:
    def __init__(self, login: Login, timeout: float = 30.0) -> None:
        self.login = login
        self.http = httpx.Client(
            base_url=login.url,
            headers={"Authorization": f"Bearer {login.token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CloudError(f"cannot reach the Cloud Runner at {self.login.url}: {exc}") from exc
        if response.status_code >= 400:
            raise CloudError(_detail(response), response.status_code)
        return response

    def upload_artifact(self, document: str) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        response = self.call("POST", "/api/v1/artifacts", content=document, headers=headers)
        return dict(response.json())

    def submit_run(self, request: dict[str, Any], attempts: int = 3) -> dict[str, Any]:
        """Submit a run; connection failures are retried with the same idempotency key."""
        for attempt in range(1, attempts + 1):
            try:
                return dict(self.call("POST", "/api/v1/runs", json=request).json())
            except CloudError as exc:
                if exc.status is not None or attempt == attempts:
                    raise
                time.sleep(0.5 * attempt)
        raise AssertionError("unreachable")

    def runs(self, **filters: Any) -> dict[str, Any]:
        params = {k: v for k, v in filters.items() if v is not None}
        return dict(self.call("GET", "/api/v1/runs", params=params).json())

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v1/runs/{run_id}").json())

    def cancel(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/v1/runs/{run_id}/cancel").json())

    def rerun(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/v1/runs/{run_id}/rerun").json())

    def put_environment(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        body = {"values": values}
        return dict(self.call("PUT", f"/api/v1/environments/{name}", json=body).json())

    def environments(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/v1/environments").json())

    def events(self, run_id: str) -> Iterator[SseEvent]:
        """The run's events until the server's final `end` event; resumes after drops."""
        last, drops = 0, 0
        while True:
            try:
                for event in self._stream(run_id, last):
                    if event.id is not None:
                        last, drops = event.id, 0
                    yield event
                    if event.kind == "end":
                        return
            except httpx.TransportError as exc:
                drops += 1
                if drops > RECONNECTS:
                    raise CloudError(f"lost the event stream of run {run_id}: {exc}") from exc
                time.sleep(0.2 * drops)

    def _stream(self, run_id: str, after: int) -> Iterator[SseEvent]:
        headers = {"Last-Event-ID": str(after), "Accept": "text/event-stream"}
        timeout = httpx.Timeout(30.0, read=60.0)
        path = f"/api/v1/runs/{run_id}/events"
        with self.http.stream("GET", path, headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise CloudError(_detail(response), response.status_code)
            yield from parse_sse(response.iter_lines())


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Server-sent events from text lines (comments ignored, multi-line data joined)."""
    event_id: int | None = None
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield SseEvent(event_id, kind, "\n".join(data))
            event_id, kind, data = None, "message", list[str]()
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id" and value.isdigit():
            event_id = int(value)
        elif field == "event":
            kind = value
        elif field == "data":
            data.append(value)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:500]
    return f"{response.status_code} {response.reason_phrase}: {detail}"
