"""Webhook safety against a real receiver on 127.0.0.1: a delivery left `sending` by a
server that died is sent again once its lease expires (same delivery id and a valid
signature, so the receiver can dedupe), abandoned after too many interruptions; the SSRF
guard refuses loopback and metadata addresses by default and checks the address at send
time (DNS rebinding); webhook secrets are sealed at rest, never stored in clear."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from reqflo.cli import app
from reqflo.cloud.durable.keys import load_master_key
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.cloud.scheduler import Leases, Scheduler
from reqflo.cloud.server import ServerConfig
from reqflo.cloud.webhook_guard import HINT, UnsafeWebhook, check_url
from reqflo.cloud.webhooks import DELIVERY_HEADER, deliver
from reqflo.store import RunRecord, Store, StoreSink, sqlite_url
from reqflo.store.schedule_records import NewSchedule, TickRecord
from reqflo.store.schedule_secrets import rewrap_all
from reqflo.store.schedule_store import ScheduleStore
from test_cloud_support import compiled
from test_cloud_webhooks import FAILING, KEY, SECRET, Receiver, serving_receiver, verified

START = datetime(2026, 2, 1, 9, 0, 30, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving_receiver() as found:
        yield found


@dataclass
class Failed:
    """A scheduled run that failed, its tick, and a clock the schedulers share."""

    store: Store
    schedules: ScheduleStore
    executor: InProcessExecutor
    receiver: Receiver
    run: RunRecord
    schedule_id: str
    now: list[datetime]

    def scheduler(self, **leases: object) -> Scheduler:
        return Scheduler(self.store, self.executor, "https://reqflo.example",
                         clock=lambda: self.now[0], webhook_backoff=0.01, master_key=KEY,
                         allow_private=True, leases=Leases(**leases))  # type: ignore[arg-type]  # fmt: skip

    def tick(self) -> TickRecord:
        (tick,) = self.schedules.ticks(self.schedule_id)
        return tick


@pytest.fixture
def failed(tmp_path: Path, demo_url: str) -> Iterator[Failed]:
    store = Store.open(sqlite_url(tmp_path))
    executor = InProcessExecutor(StoreSink(store), tmp_path)
    with serving_receiver() as receiver:
        try:
            (tmp_path / "broken.yaml").write_text(FAILING, encoding="utf-8")
            store.put_artifact(compiled(tmp_path / "broken.yaml"))
            store.put_environment("demo", {"base_url": demo_url})
            schedules = ScheduleStore(store, KEY)
            new = NewSchedule(name="broken", cron="0 * * * *", timezone="UTC", created_by="tok",
                              journey="Broken", environment="demo", webhook_url=receiver.url,
                              webhook_secret=SECRET)  # fmt: skip
            schedule = schedules.create(new, START)
            now = [START + timedelta(hours=1)]
            firing = Scheduler(store, executor, "x", clock=lambda: now[0])
            (run,) = firing.fire_due(schedule, now[0], schedules.settings())
            executor.wait(run.id, 20)
            yield Failed(store, schedules, executor, receiver, run, schedule.id, now)
        finally:
            executor.close()
            store.close()


def test_a_delivery_interrupted_by_a_crash_is_sent_again_after_its_lease(failed: Failed) -> None:
    # what a server leaves when it dies right after claiming the delivery
    tick = failed.tick()
    assert failed.schedules.claim_notification(tick, "sending", "dead-server", failed.now[0])
    survivor = failed.scheduler()
    failed.now[0] += timedelta(minutes=4)
    survivor.run_pass(wait_notifications=True)
    assert failed.receiver.received == [] and failed.tick().notify_state == "sending"
    failed.now[0] += timedelta(minutes=2)  # past the 5 min lease
    survivor.run_pass(wait_notifications=True)
    survivor.run_pass(wait_notifications=True)  # sent: nothing more
    done = failed.tick()
    assert done.notify_state == "sent" and done.notify_claims == 2
    assert done.notify_claimed_by == survivor.owner
    ((headers, body),) = failed.receiver.received
    assert verified(headers, body) and headers[DELIVERY_HEADER] == tick.delivery_id
    assert json.loads(body)["delivery_id"] == tick.delivery_id
    assert SECRET not in body.decode()


def test_a_resent_delivery_carries_the_same_id_so_receivers_dedupe(failed: Failed) -> None:
    tick = failed.tick()
    payload = {"event": "run.failed", "delivery_id": tick.delivery_id}
    # the dead server had sent it before dying, but never recorded it
    first = deliver(failed.receiver.url, payload, SECRET, delivery_id=tick.delivery_id,
                    allow_private=True)  # fmt: skip
    assert first.delivered
    failed.schedules.claim_notification(tick, "sending", "dead-server", failed.now[0])
    failed.now[0] += timedelta(minutes=6)
    failed.scheduler().run_pass(wait_notifications=True)
    ids = [headers[DELIVERY_HEADER] for headers, _ in failed.receiver.received]
    assert ids == [tick.delivery_id, tick.delivery_id]  # at least once: dedupe on the id
    assert all(verified(h, b) for h, b in failed.receiver.received)


def test_a_delivery_interrupted_too_often_is_abandoned(failed: Failed) -> None:
    scheduler = failed.scheduler(max_claims=2)
    failed.schedules.claim_notification(failed.tick(), "sending", "dead-1", failed.now[0])
    failed.now[0] += timedelta(minutes=6)
    # a second sender took it over, and died too
    assert scheduler.claims.take_over_notification(failed.tick(), "dead-2", failed.now[0])
    assert not scheduler.claims.take_over_notification(  # a stale view loses
        replace(failed.tick(), notify_claims=1), "late", failed.now[0]
    )
    failed.now[0] += timedelta(minutes=6)
    scheduler.run_pass(wait_notifications=True)
    tick = failed.tick()
    assert tick.notify_state == "failed" and "2 deliveries were interrupted" in (
        tick.notify_detail or ""
    )
    assert failed.receiver.received == []


def test_the_ssrf_guard_refuses_loopback_and_metadata_by_default(receiver: Receiver) -> None:
    for url in (receiver.url, "http://169.254.169.254/latest/meta-data/"):
        refused = deliver(url, {}, SECRET, sleep=lambda _: None)
        assert not refused.delivered and refused.attempts == 0
        assert refused.detail.startswith("refused: webhook host")
        assert "REQFLO_WEBHOOK_ALLOW_PRIVATE" in refused.detail
    metadata = deliver("http://169.254.169.254/", {}, None, allow_private=True)
    assert "cloud metadata endpoint" in metadata.detail  # even when private ones are allowed
    assert receiver.received == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("::ffff:127.0.0.1", "a loopback address"),
        ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "a cloud metadata endpoint"),  # NAT64 of 169.254.169.254
        ("2002:a00:1::", "a private address"),  # 6to4 of 10.0.0.1
    ],
)
def test_an_ipv6_address_carrying_an_ipv4_one_is_judged_as_it(address: str, why: str) -> None:
    with pytest.raises(UnsafeWebhook, match=f"resolves to [0-9a-f:.]+, which is {why}"):
        check_url("https://hooks.reqflo.test/h", False, lambda *_: [address], must_resolve=True)
    assert check_url("https://hooks.reqflo.test/h", False, lambda *_: ["64:ff9b::808:808"],
                     must_resolve=True) is not None  # fmt: skip


def test_the_address_is_checked_and_pinned_at_send_time(receiver: Receiver) -> None:
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    url = f"http://hooks.reqflo.test:{port}/hook"
    answers = {"now": ["93.184.215.14"]}

    def dns(host: str, _port: int) -> list[str]:
        assert host == "hooks.reqflo.test"
        return answers["now"]

    assert check_url(url, False, dns, must_resolve=True) is not None  # public at creation
    answers["now"] = ["93.184.215.14", "127.0.0.1"]  # rebinding: now (also) loopback
    refused = deliver(url, {}, None, resolver=dns, sleep=lambda _: None)
    assert refused.detail == (
        "refused: webhook host 'hooks.reqflo.test' resolves to 127.0.0.1, which is a loopback "
        f"address; {HINT}"
    )
    answers["now"] = ["127.0.0.1"]
    sent = deliver(url, {"n": 1}, SECRET, resolver=dns, allow_private=True)
    assert sent.delivered  # connected to the checked address, Host kept
    ((headers, _),) = receiver.received
    assert headers["Host"] == f"hooks.reqflo.test:{port}"


def test_webhook_secrets_are_sealed_at_rest(failed: Failed) -> None:
    with failed.store.engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM schedules")).mappings().one()
    assert row["webhook_secret"] is None and row["webhook_secret_version"] == 1
    assert SECRET.encode() not in bytes(row["webhook_secret_ciphertext"])
    assert failed.schedules.webhook_secret(failed.schedule_id) == SECRET
    assert "has_webhook_secret=True" in repr(failed.schedules.get(failed.schedule_id))
    new_key = bytes(reversed(range(32)))
    assert rewrap_all(failed.store, KEY, new_key) == 1
    assert rewrap_all(failed.store, KEY, new_key) == 0  # an interrupted rotation re-runs
    assert ScheduleStore(failed.store, new_key).webhook_secret(failed.schedule_id) == SECRET


def test_plaintext_secrets_of_older_servers_are_sealed_on_start(failed: Failed) -> None:
    with failed.store.engine.begin() as connection:
        connection.execute(sa.text(
            "UPDATE schedules SET webhook_secret = :s, webhook_secret_ciphertext = NULL,"
            " webhook_secret_wrapped_key = NULL, webhook_secret_version = NULL"
        ), {"s": SECRET})  # fmt: skip
    assert failed.schedules.webhook_secret(failed.schedule_id) == SECRET  # still readable
    failed.scheduler().run_pass(wait_notifications=True)
    with failed.store.engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM schedules")).mappings().one()
    assert row["webhook_secret"] is None and row["webhook_secret_ciphertext"] is not None
    assert failed.schedules.webhook_secret(failed.schedule_id) == SECRET


def test_the_server_option_comes_from_flag_env_or_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQFLO_WEBHOOK_ALLOW_PRIVATE", raising=False)
    config_file = tmp_path / "server.toml"
    config_file.write_text("", encoding="utf-8")
    monkeypatch.setenv("REQFLO_SERVER_CONFIG", str(config_file))
    assert ServerConfig.resolve(tmp_path).webhook_allow_private is False
    config_file.write_text("webhook_allow_private = true\n", encoding="utf-8")
    assert ServerConfig.resolve(tmp_path).webhook_allow_private is True
    monkeypatch.setenv("REQFLO_WEBHOOK_ALLOW_PRIVATE", "0")
    assert ServerConfig.resolve(tmp_path).webhook_allow_private is False
    monkeypatch.setenv("REQFLO_WEBHOOK_ALLOW_PRIVATE", "1")
    assert (
        ServerConfig.resolve(tmp_path, webhook_allow_private=False).webhook_allow_private is False
    )
    assert ServerConfig.resolve(tmp_path).webhook_allow_private is True


def test_master_key_rotation_rewraps_webhook_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQFLO_MASTER_KEY", raising=False)
    monkeypatch.delenv("REQFLO_NEW_MASTER_KEY", raising=False)
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "home"))
    store = Store.open(sqlite_url(tmp_path))
    try:
        new = NewSchedule(name="keyed", cron="0 * * * *", timezone="UTC", created_by="tok",
                          artifact_id="a" * 64, webhook_secret=SECRET)  # fmt: skip
        schedule_id = ScheduleStore(store, load_master_key(tmp_path)).create(new, START).id
    finally:
        store.close()
    result = CliRunner().invoke(app, ["secrets", "rotate-master-key", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "1 data keys re-wrapped" in result.output, result.output
    store = Store.open(sqlite_url(tmp_path))
    try:
        rotated = ScheduleStore(store, load_master_key(tmp_path))
        assert rotated.webhook_secret(schedule_id) == SECRET
    finally:
        store.close()


def test_a_refused_url_without_a_host_is_not_echoed_with_its_credentials() -> None:
    with pytest.raises(UnsafeWebhook, match="not an http") as refused:
        check_url("http://hook-user:hook-pass@/h?token=hook-token", False, must_resolve=False)
    assert not any(word in str(refused.value) for word in ("hook-user", "hook-pass", "hook-token"))
