"""Failure notifications to a real aiohttp receiver on 127.0.0.1: HMAC-SHA256 signature,
retries with backoff when the receiver first answers 500, no secret in the payload, and
the scheduler sending once per failed scheduled run."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.cloud.scheduler import Scheduler
from reqflo.cloud.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, deliver
from reqflo.store import Store, StoreSink, sqlite_url
from reqflo.store.schedule_records import NewSchedule
from reqflo.store.schedule_store import ScheduleStore
from test_cloud_support import compiled

SECRET = "whsec-canary-7f3a9c"
KEY = bytes(range(32))  # the server's master key in these tests
ENV_CANARY = "env-canary-51d2"
FAILING = """
journey:
  name: Broken
  variables:
    - {name: base_url, source: environment}
  steps:
    - id: echo
      name: Expect the impossible
      request:
        method: GET
        url: "{{ variables.base_url }}/echo"
        query: {word: x}
      assertions:
        - {type: status_code, expected: 418}
"""


@dataclass
class Receiver:
    url: str = ""
    failures_left: int = 0
    final_status: int = 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        if self.failures_left > 0:
            self.failures_left -= 1
            return web.Response(status=500, text="try later")
        return web.Response(status=self.final_status, text="ok")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving_receiver() as found:
        yield found


@contextmanager
def serving_receiver() -> Iterator[Receiver]:
    """A Receiver served by aiohttp on 127.0.0.1 in a thread of its own."""
    found = Receiver()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook", found.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        found.url = f"http://127.0.0.1:{port}/hook"
        return runner

    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield found
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def verified(headers: dict[str, str], body: bytes, secret: str = SECRET) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers[SIGNATURE_HEADER], expected)


def test_delivery_retries_on_500_and_signs_the_body(receiver: Receiver) -> None:
    receiver.failures_left = 2
    waits: list[float] = []
    result = deliver(receiver.url, {"run": {"id": "r1"}}, SECRET, backoff=0.5,
                     sleep=waits.append, allow_private=True)  # fmt: skip
    assert result.delivered and result.attempts == 3
    assert waits == [0.5, 1.0]
    assert len(receiver.received) == 3
    for headers, body in receiver.received:
        assert verified(headers, body)
        assert SECRET not in body.decode() and json.loads(body) == {"run": {"id": "r1"}}


def test_delivery_gives_up_on_a_client_error_and_after_the_last_attempt(
    receiver: Receiver,
) -> None:
    receiver.final_status = 410
    gone = deliver(receiver.url, {}, SECRET, sleep=lambda _: None, allow_private=True)
    assert not gone.delivered and gone.attempts == 1 and gone.detail == "HTTP 410"
    receiver.failures_left = 10
    down = deliver(receiver.url, {}, SECRET, attempts=3, sleep=lambda _: None, allow_private=True)
    assert not down.delivered and down.attempts == 3 and down.detail == "HTTP 500"
    refused = deliver("http://127.0.0.1:9/hook", {}, None, attempts=2, sleep=lambda _: None,
                      allow_private=True)  # fmt: skip
    assert not refused.delivered and "ConnectError" in refused.detail


def test_a_failed_scheduled_run_is_notified_once(
    receiver: Receiver, tmp_path: Path, demo_url: str
) -> None:
    store = Store.open(sqlite_url(tmp_path))
    executor = InProcessExecutor(StoreSink(store), tmp_path)
    try:
        (tmp_path / "broken.yaml").write_text(FAILING, encoding="utf-8")
        store.put_artifact(compiled(tmp_path / "broken.yaml"))
        store.put_environment("demo", {"base_url": demo_url, "token": ENV_CANARY})
        schedules = ScheduleStore(store, KEY)
        clock = [datetime(2026, 2, 1, 9, 0, 30, tzinfo=UTC)]
        new = NewSchedule(name="nightly-broken", cron="0 * * * *", timezone="UTC",
                          created_by="tok", journey="Broken", environment="demo",
                          webhook_url=receiver.url, webhook_secret=SECRET)  # fmt: skip
        schedule = schedules.create(new, clock[0])
        receiver.failures_left = 1
        scheduler = Scheduler(store, executor, "https://reqflo.example", clock=lambda: clock[0],
                              webhook_backoff=0.01, master_key=KEY, allow_private=True)  # fmt: skip
        clock[0] += timedelta(hours=1)
        (run,) = scheduler.run_pass()
        executor.wait(run.id, 20)
        scheduler.run_pass(wait_notifications=True)
        scheduler.run_pass(wait_notifications=True)  # already notified: nothing more
        (tick,) = schedules.ticks(schedule.id)
    finally:
        executor.close()
        store.close()
    assert len(receiver.received) == 2  # a 500, then delivered
    headers, body = receiver.received[-1]
    assert verified(headers, body)
    payload = json.loads(body)
    assert payload["event"] == "run.failed" and payload["run"]["status"] == "failed"
    assert payload["run"]["id"] == run.id and payload["run"]["failed"] == 1
    assert payload["link"] == f"https://reqflo.example/api/v1/runs/{run.id}"
    assert payload["schedule"]["id"] == schedule.id
    for text in (SECRET, ENV_CANARY):
        assert text not in body.decode()
    assert tick.notify_state == "sent" and tick.notify_detail == "delivered on attempt 2"
    assert payload["delivery_id"] == tick.delivery_id
    assert {h[DELIVERY_HEADER] for h, _ in receiver.received} == {tick.delivery_id}


def test_retry_logs_show_the_webhook_url_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "http://hook-user:hook-pass@127.0.0.1:9/hook?token=hook-token"
    with caplog.at_level(logging.INFO, logger="reqflo.cloud.webhooks"):
        deliver(url, {}, None, attempts=2, sleep=lambda _: None, allow_private=True)
    assert "retrying" in caplog.text and "127.0.0.1:9/hook?…" in caplog.text
    assert not any(word in caplog.text for word in ("hook-user", "hook-pass", "hook-token"))
