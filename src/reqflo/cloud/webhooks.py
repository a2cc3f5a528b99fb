"""Failure notifications of scheduled runs: a signed JSON POST to the schedule's webhook.

Owns `failure_payload` (run summary + a link to the run + the delivery id; never a
secret: only the stored, already-redacted run fields), `sign` (HMAC-SHA256 of the exact
body bytes with the schedule's secret, sent as `X-Reqflo-Signature: sha256=<hex>`) and
`deliver` (POST with retries and exponential backoff on connection errors and 5xx/429
answers; any other 4xx is final). Receivers verify with `hmac.compare_digest`.

Delivery is at-least-once: a delivery interrupted by a crash is sent again by another
scheduler (reqflo.store.schedule_claims), and a retry may follow an answer that was
lost. Every attempt of one notification carries the same `X-Reqflo-Delivery` header
(also `delivery_id` in the signed body): receivers dedupe on it.
Every attempt first passes the SSRF guard (reqflo.cloud.webhook_guard) with the host
resolved at that moment and is sent to the address that was checked; proxies from the
environment are not used, redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from reqflo import __version__
from reqflo.cloud.webhook_guard import (
    Pinned,
    Resolver,
    Unresolvable,
    UnsafeWebhook,
    check_url,
    shown_url,
)
from reqflo.cloud.webhook_guard import system_resolver as _system
from reqflo.store import RunRecord
from reqflo.store.schedule_records import ScheduleRecord

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Reqflo-Signature"
DELIVERY_HEADER = "X-Reqflo-Delivery"


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    detail: str  # the last answer or error, for the tick's record


def failure_payload(
    schedule: ScheduleRecord, run: RunRecord, base_url: str, delivery_id: str | None = None
) -> dict[str, Any]:
    def when(moment: Any) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "event": "run.failed", "delivery_id": delivery_id,
        "schedule": {"id": schedule.id, "name": schedule.name, "cron": schedule.cron,
                     "timezone": schedule.timezone},
        "run": {
            "id": run.id, "status": run.status, "journey": run.journey,
            "artifact_id": run.artifact_id, "environment": run.environment,
            "total": run.total, "passed": run.passed, "failed": run.failed,
            "errored": run.errored, "error": run.error, "created_at": when(run.created_at),
            "started_at": when(run.started_at), "finished_at": when(run.finished_at),
        },
        "link": f"{base_url.rstrip('/')}/api/v1/runs/{run.id}",
    }  # fmt: skip


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def deliver(
    url: str,
    payload: dict[str, Any],
    secret: str | None,
    attempts: int = 5,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 10.0,
    *,
    delivery_id: str | None = None,
    allow_private: bool = False,
    resolver: Resolver = _system,
) -> Delivery:
    """POST the payload; retry (backoff, 2×backoff, 4×backoff, ...) while it may help.
    A URL the SSRF guard refuses is not sent (final); a host that does not resolve is
    retried like a connection error."""
    body = encode(payload)
    headers = _headers(body, secret, delivery_id)
    detail = "not sent"
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for attempt in range(1, attempts + 1):
            try:
                pinned = check_url(url, allow_private, resolver, must_resolve=True)
            except Unresolvable as exc:
                retryable, detail = True, str(exc)
            except UnsafeWebhook as exc:  # nothing was sent
                return Delivery(False, attempt - 1, f"refused: {exc}")
            else:
                assert pinned is not None
                retryable, detail = _attempt(client, pinned, body, headers)
            if detail == "ok":
                return Delivery(True, attempt, f"delivered on attempt {attempt}")
            if not retryable or attempt == attempts:
                return Delivery(False, attempt, detail)
            log.info("webhook %s: %s; retrying", shown_url(url), detail)
            sleep(backoff * 2 ** (attempt - 1))
    return Delivery(False, attempts, detail)


def _headers(body: bytes, secret: str | None, delivery_id: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": f"reqflo/{__version__}"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    if delivery_id:
        headers[DELIVERY_HEADER] = delivery_id
    return headers


def _attempt(
    client: httpx.Client, target: Pinned, body: bytes, headers: dict[str, str]
) -> tuple[bool, str]:
    """(worth retrying, "ok" or what went wrong)."""
    options = target.request_options()
    try:
        answer = client.post(target.url, content=body, headers={**headers, **options["headers"]},
                             extensions=options["extensions"])  # fmt: skip
    except httpx.HTTPError as exc:
        return True, f"{type(exc).__name__}: {exc}"
    if answer.is_success:
        return False, "ok"
    return answer.status_code >= 500 or answer.status_code == 429, f"HTTP {answer.status_code}"


__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "Delivery",
    "deliver",
    "encode",
    "failure_payload",
    "sign",
]
