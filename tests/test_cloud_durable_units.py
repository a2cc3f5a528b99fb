"""Durable runner pieces without a database: sealing, master key, cookies, re-send policy,
step shapes and the per-process run spec cache."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import pytest

from engine_helpers import make_artifact
from reqflo.artifact import RequestPlan, StepPlan
from reqflo.cloud.durable.dbos_engine import DurableStepError, SealingSerializer
from reqflo.cloud.durable.instance import indeterminate_result, repeatable, shapes_of
from reqflo.cloud.durable.jobs import RunSpec
from reqflo.cloud.durable.keys import KEY_ENV, Sealer, SealError, load_master_key
from reqflo.cloud.durable.specs import SpecCache, SpecMissingError
from reqflo.cloud.durable.state import dump_cookies, load_cookies
from reqflo.http import AiohttpCookieStore


def test_sealed_values_round_trip_and_hide_the_plaintext() -> None:
    sealer = Sealer(b"k" * 32)
    token = sealer.seal({"secret": "hunter2-canary", "n": [1, 2]})
    assert "hunter2" not in token and "aHVudGVy" not in token
    assert sealer.open(token) == {"secret": "hunter2-canary", "n": [1, 2]}
    assert sealer.seal("x") != sealer.seal("x")  # random nonce


def test_a_tampered_or_foreign_token_is_refused() -> None:
    token = Sealer(b"k" * 32).seal("value")
    with pytest.raises(SealError):
        Sealer(b"j" * 32).open(token)
    middle = len(token) // 2  # every bit of a middle base64 character is data
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    with pytest.raises(SealError):
        Sealer(b"k" * 32).open(flipped)
    with pytest.raises(SealError):
        Sealer(b"k" * 32).open("gAAAA-pickle")


def test_master_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    key = load_master_key(tmp_path, environ={})
    assert len(key) == 32
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    assert load_master_key(tmp_path, environ={}) == key
    env_key = base64.b64encode(b"e" * 32).decode()
    assert load_master_key(tmp_path, environ={KEY_ENV: env_key}) == b"e" * 32
    (tmp_path / "master.key").chmod(0o644)
    with pytest.raises(SealError, match="chmod 600"):
        load_master_key(tmp_path, environ={})
    with pytest.raises(SealError, match="32 bytes"):
        load_master_key(tmp_path, environ={KEY_ENV: base64.b64encode(b"short").decode()})


def test_serializer_stores_exceptions_as_type_and_message_only() -> None:
    serializer = SealingSerializer(Sealer(b"k" * 32))
    restored = serializer.deserialize(serializer.serialize(ValueError("boom")))
    assert isinstance(restored, DurableStepError)
    assert str(restored) == "ValueError: boom"
    assert serializer.deserialize(serializer.serialize({"args": [1], "kwargs": {}})) == {
        "args": [1],
        "kwargs": {},
    }


async def test_cookie_jar_survives_a_dump_and_load() -> None:
    from http.cookies import SimpleCookie

    from yarl import URL

    store = AiohttpCookieStore()
    cookies: SimpleCookie = SimpleCookie()
    cookies["sid"] = "abc"
    cookies["sid"]["path"] = "/api"
    cookies["pref"] = "dark"
    cookies["pref"]["domain"] = "example.com"
    store.update(cookies, URL("http://127.0.0.1/api/login"))
    store.update(SimpleCookie("pref=dark; Domain=example.com"), URL("http://www.example.com/"))
    saved = dump_cookies(store)
    fresh = AiohttpCookieStore()
    load_cookies(fresh, saved)
    assert fresh.header_for(URL("http://127.0.0.1/api/x")) == "sid=abc"
    assert fresh.header_for(URL("http://127.0.0.1/other")) is None
    assert fresh.header_for(URL("http://shop.example.com/")) == "pref=dark"
    assert dump_cookies(fresh) == saved


def step(method: str, headers: dict[str, str] | None = None, idempotent: bool = False) -> StepPlan:
    request = RequestPlan(method=method, url="http://x/", headers=headers or {})
    return StepPlan(id="s", name="s", request=request, idempotent=idempotent)


def test_resend_policy() -> None:
    for method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE"):
        assert repeatable(step(method))
    assert not repeatable(step("POST"))
    assert not repeatable(step("PATCH"))
    assert repeatable(step("POST", idempotent=True))
    assert repeatable(step("POST", {"idempotency-KEY": "{{ inputs.k }}"}))
    result = indeterminate_result(step("POST"), 3)
    assert result.status == "indeterminate"
    assert result.error is not None and result.error.code == "indeterminate"


def run_spec(run_id: str) -> RunSpec:
    artifact = make_artifact(step("GET"), step("POST"))
    return RunSpec(run_id=run_id, artifact=artifact, env={}, rows=())


def test_step_shapes_mark_only_steps_not_safe_to_repeat() -> None:
    shapes = shapes_of(make_artifact(step("GET"), step("POST"), step("POST", idempotent=True)))
    assert [s.repeatable for s in shapes] == [True, False, True]


def test_spec_cache_reads_each_run_once_and_evicts_the_least_recently_used() -> None:
    reads: list[str] = []

    def load(run_id: str) -> RunSpec | None:
        reads.append(run_id)
        return run_spec(run_id) if run_id != "gone" else None

    cache = SpecCache(load, capacity=2)
    cache.remember(run_spec("a"))
    assert cache.get("a").run_id == "a" and reads == []  # remembered: no read
    assert cache.get("b").run_id == "b" and cache.get("b").run_id == "b"
    assert reads == ["b"]  # read once, then cached (a run's spec never changes)
    cache.get("a")  # a is now the most recently used
    cache.get("c")  # evicts b
    assert "b" not in cache and "a" in cache and "c" in cache
    cache.get("b")
    assert reads == ["b", "c", "b"]
    with pytest.raises(SpecMissingError):
        cache.get("gone")
    assert "gone" not in cache


def test_spec_cache_reads_a_run_once_when_many_threads_miss_at_once() -> None:
    """After a restart every instance thread of a run misses together: one read (a run's
    spec holds all its rows), the others wait for it."""
    reads: list[str] = []

    def load(run_id: str) -> RunSpec | None:
        reads.append(run_id)
        time.sleep(0.2)  # a database read and parse of a large spec
        return run_spec(run_id)

    cache = SpecCache(load)
    threads = [threading.Thread(target=cache.get, args=("r",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads == ["r"]


def test_the_process_spec_cache_holds_every_run_a_worker_coordinates() -> None:
    """A worker coordinates up to `run_concurrency` runs at once; a smaller cache would
    read a spec back (all its rows) for nearly every instance when they interleave."""
    from reqflo.cloud.durable import process
    from reqflo.cloud.durable.engine import EngineConfig

    config = EngineConfig(database_url="sqlite://", data_dir=Path("."), executor_id="x")
    assert process.specs.capacity >= config.run_concurrency
