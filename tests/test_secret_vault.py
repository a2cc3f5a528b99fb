"""The secret vault on SQLite and PostgreSQL: versions, compare-and-set, disable, destroy,
environment scoping with the workspace fallback, master-key rotation, and the audit chain."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text, update

from reqflo.secrets.envelope import EnvelopeError
from reqflo.store import Store, sqlite_url
from reqflo.store.secret_audit import GENESIS, VERIFY_BATCH, AuditEvent, AuditFilter, append
from reqflo.store.secret_models import AuditRow, SecretVersionRow
from reqflo.store.secret_store import SecretConflict, SecretVault
from test_cloud_support import opened_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    with opened_store(request.param, tmp_path_factory.mktemp("vault")) as opened:
        yield opened


@pytest.fixture
def vault(store: Store) -> SecretVault:
    return SecretVault(store, os.urandom(32))


def test_versions_compare_and_set_and_resolution(vault: SecretVault) -> None:
    assert vault.put("staging", "TOKEN", "one", "alice", expected_version=0).current_version == 1
    assert vault.put("staging", "TOKEN", "two", "alice").current_version == 2
    with pytest.raises(SecretConflict, match="at version 2, not 1"):
        vault.put("staging", "TOKEN", "lost update", "bob", expected_version=1)
    versions = vault.versions("staging", "TOKEN")
    assert versions is not None
    assert [(v.version, v.state) for v in versions] == [(2, "current"), (1, "previous")]
    found = vault.resolve("staging", "TOKEN", "runner", run_id="r1")
    assert (found.value, found.environment, found.version) == ("two", "staging", 2)
    assert "two" not in repr(found)
    assert vault.resolve("production", "TOKEN", "runner").value is None
    assert vault.versions("staging", "NOPE") is None


def test_workspace_secrets_are_the_fallback_of_every_environment(vault: SecretVault) -> None:
    vault.put("*", "SHARED", "workspace", "alice")
    vault.put("prod", "SHARED", "prod-only", "alice")
    assert vault.resolve("staging", "SHARED", "runner").value == "workspace"
    assert vault.resolve(None, "SHARED", "runner").value == "workspace"
    assert vault.resolve("prod", "SHARED", "runner").value == "prod-only"
    vault.disable("prod", "SHARED", "alice")
    disabled = vault.resolve("prod", "SHARED", "runner")
    assert disabled.value is None and disabled.known  # no silent fallback past a disabled one


def test_disable_then_set_enables_and_destroy_wipes_every_version(
    vault: SecretVault, store: Store
) -> None:
    vault.put("e", "K", "v1", "alice")
    vault.put("e", "K", "v2", "alice")
    assert vault.disable("e", "K", "alice").status == "disabled"  # type: ignore[union-attr]
    assert vault.resolve("e", "K", "runner").value is None
    assert vault.put("e", "K", "v3", "alice").status == "active"
    assert vault.destroy("e", "K", "alice").status == "destroyed"  # type: ignore[union-attr]
    assert vault.resolve("e", "K", "runner").value is None
    with store.session() as session:
        rows = session.query(SecretVersionRow).filter_by(environment="e", name="K").all()
        assert len(rows) == 3 and all(r.ciphertext is None and r.wrapped_key is None for r in rows)
    assert {v.state for v in vault.versions("e", "K") or []} == {"destroyed"}
    assert vault.disable("e", "missing", "alice") is None


def test_a_ciphertext_copied_to_another_environment_fails(vault: SecretVault, store: Store) -> None:
    vault.put("prod", "DB", "prod-password", "alice")
    vault.put("dev", "DB", "dev-password", "alice")
    with store.session() as session:
        prod = session.get(SecretVersionRow, ("prod", "DB", 1))
        assert prod is not None
        copy = {"ciphertext": prod.ciphertext, "wrapped_key": prod.wrapped_key}
        dev = SecretVersionRow.environment == "dev"
        session.execute(update(SecretVersionRow).where(dev).values(**copy))
    with pytest.raises(EnvelopeError):
        vault.resolve("dev", "DB", "runner")
    assert vault.resolve("prod", "DB", "runner").value == "prod-password"


def test_rotation_rewraps_and_keeps_every_secret_readable(vault: SecretVault, store: Store) -> None:
    values = {("a", "X"): "x-value", ("b", "Y"): "y-value", ("*", "Z"): "z-value"}
    for (env, name), value in values.items():
        vault.put(env, name, value + "-old", "alice")
        vault.put(env, name, value, "alice")
    with store.session() as session:
        before = {(r.environment, r.name, r.version): r.ciphertext
                  for r in session.query(SecretVersionRow)}  # fmt: skip
    new_key = os.urandom(32)
    assert vault.rotate_master_key(new_key, "ops") == 6
    rotated = SecretVault(store, new_key)
    for (env, name), value in values.items():
        assert rotated.resolve(env, name, "runner").value == value
    with store.session() as session:
        after = {(r.environment, r.name, r.version): r.ciphertext
                 for r in session.query(SecretVersionRow)}  # fmt: skip
    assert after == before  # values untouched
    with pytest.raises(EnvelopeError):
        vault.resolve("a", "X", "runner")  # the old key no longer opens anything
    assert rotated.rotate_master_key(new_key, "ops") == 0  # idempotent re-run


def test_the_audit_log_records_who_did_what_and_detects_tampering(
    vault: SecretVault, store: Store
) -> None:
    vault.put("e", "K", "hunter2-value", "token:abc (alice)")
    vault.resolve("e", "K", "runner", run_id="run-1")
    vault.disable("e", "K", "token:abc (alice)")
    vault.destroy("e", "K", "token:abc (alice)")
    log = vault.audit()
    assert [(e.action, e.version) for e in log] == [
        ("destroy", 1),
        ("disable", 1),
        ("resolve", 1),
        ("set", 1),
    ]
    assert log[1 + 1].run_id == "run-1" and log[-1].actor == "token:abc (alice)"
    assert vault.audit(AuditFilter(action="resolve"))[0].run_id == "run-1"
    check = vault.verify_audit()
    assert check.ok and check.entries == 4 and check.head == log[0].hash
    with store.session() as session:
        session.execute(update(AuditRow).where(AuditRow.seq == 2).values(run_id="run-2"))
    broken = vault.verify_audit()
    assert not broken.ok and broken.problem == "entry 2 was altered"
    with store.session() as session:
        session.execute(update(AuditRow).where(AuditRow.seq == 2).values(run_id="run-1"))
        session.execute(text("DELETE FROM secret_audit WHERE seq = 3"))
    gap = vault.verify_audit()
    assert not gap.ok and gap.problem is not None and "missing" in gap.problem


def test_verification_streams_a_long_chain_and_finds_a_break_in_a_later_batch(
    vault: SecretVault, store: Store
) -> None:
    total = 2 * VERIFY_BATCH + 100
    with store.session() as session:
        for version in range(1, total + 1):
            append(session, AuditEvent("robot", "resolve", "e", "K", version, f"run-{version}"))
    check = vault.verify_audit()
    assert check.ok and check.entries == total, check
    with store.session() as session:
        first = session.get(AuditRow, 1)
        assert first is not None  # the hashed bytes are pinned: stored chains must verify
        canonical = json.dumps([1, first.at, "robot", "resolve", "e", "K", 1, "run-1"],
                               separators=(",", ":"), ensure_ascii=True)  # fmt: skip
        assert first.hash == hashlib.sha256(f"{GENESIS}\n{canonical}".encode()).hexdigest()
        late = total - 50
        session.execute(update(AuditRow).where(AuditRow.seq == late).values(actor="mallory"))
    altered = vault.verify_audit()
    assert (altered.ok, altered.entries, altered.problem) == (
        False,
        late,
        f"entry {late} was altered",
    )
    with store.session() as session:
        session.execute(update(AuditRow).where(AuditRow.seq == late).values(actor="robot"))
        session.execute(update(AuditRow).where(AuditRow.seq == late).values(prev_hash=GENESIS))
    unlinked = vault.verify_audit()
    assert unlinked.problem == f"entry {late} does not follow its predecessor"


def test_destroyed_ciphertexts_leave_no_copy_in_the_sqlite_files(tmp_path: Path) -> None:
    store = Store.open(sqlite_url(tmp_path))
    vault = SecretVault(store, os.urandom(32))
    vault.put("e", "K", "value-" + os.urandom(8).hex(), "alice")
    with store.session() as session:
        row = session.get(SecretVersionRow, ("e", "K", 1))
        assert row is not None and row.ciphertext and row.wrapped_key
        sealed = [row.ciphertext, row.wrapped_key]

    def files() -> bytes:
        return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())

    assert all(blob in files() for blob in sealed)  # the check can fail
    vault.destroy("e", "K", "alice")
    assert not any(blob in files() for blob in sealed)
    store.close()


def test_concurrent_writers_keep_one_unbroken_chain(vault: SecretVault) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(worker: int) -> None:
        for i in range(5):
            vault.put(f"env{worker}", "K", f"v{i}", f"writer {worker}")
            vault.resolve(f"env{worker}", "K", "runner", run_id=f"run-{worker}-{i}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    check = vault.verify_audit()
    assert check.ok and check.entries == 40, check
    assert {r.current_version for r in vault.secrets()} == {5}
