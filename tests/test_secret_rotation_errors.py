"""`reqflo secrets rotate-master-key` when a stored data key is wrapped by another master
key (real SQLite store in a data directory): a clean error naming every version or
schedule that cannot be unwrapped, with a hint and exit code 2, no value in the output,
and nothing re-wrapped (the database, `master.key` and the audit log are unchanged)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from leakscan import find_leaks
from reqflo.cli import app
from reqflo.cloud.durable.keys import load_master_key
from reqflo.secrets.envelope import key_id
from reqflo.store import Store, sqlite_url
from reqflo.store.schedule_models import ScheduleRow
from reqflo.store.schedule_records import NewSchedule
from reqflo.store.schedule_store import ScheduleStore
from reqflo.store.secret_audit import AuditFilter
from reqflo.store.secret_models import SecretVersionRow
from reqflo.store.secret_store import RotationRefused, SecretVault

VALUES = {
    ("staging", "A"): "a-Valüe-" + os.urandom(4).hex(),
    ("*", "B"): "b-" + os.urandom(4).hex(),
}
STRAY = "stray-" + os.urandom(6).hex()
HOOK = "hook-secret-" + os.urandom(6).hex()
OTHER_KEY = os.urandom(32)


@pytest.fixture(autouse=True)
def key_from_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQFLO_MASTER_KEY", "REQFLO_NEW_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)


def rotate(data_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["secrets", "rotate-master-key", "--data-dir", str(data_dir)], catch_exceptions=False
    )
    return result.exit_code, result.stdout + result.stderr


def seeded(data_dir: Path, stray_secret: bool, stray_webhook: bool) -> None:
    store = Store.open(sqlite_url(data_dir))
    try:
        vault = SecretVault(store, load_master_key(data_dir))
        for (env, name), value in VALUES.items():
            vault.put(env, name, value, "test")
        if stray_secret:  # two versions sealed under a master key this server never had
            SecretVault(store, OTHER_KEY).put("prod", "STRAY", STRAY + "-1", "elsewhere")
            SecretVault(store, OTHER_KEY).put("prod", "STRAY", STRAY, "elsewhere")
        if stray_webhook:
            new = NewSchedule(name="nightly", cron="0 * * * *", timezone="UTC", created_by="t",
                              artifact_id="a" * 64, webhook_secret=HOOK)  # fmt: skip
            ScheduleStore(store, OTHER_KEY).create(new, datetime(2026, 2, 1, tzinfo=UTC))
    finally:
        store.close()


def snapshot(data_dir: Path) -> dict[str, Any]:
    """Every wrapped key and its key id, the audit's rotations and the key files."""
    store = Store.open(sqlite_url(data_dir))
    try:
        with store.session() as session:
            versions = session.execute(select(
                SecretVersionRow.environment, SecretVersionRow.name, SecretVersionRow.version,
                SecretVersionRow.wrapped_key, SecretVersionRow.key_id,
            )).all()  # fmt: skip
            hooks = session.execute(select(
                ScheduleRow.id, ScheduleRow.webhook_secret_wrapped_key,
                ScheduleRow.webhook_secret_key_id,
            )).all()  # fmt: skip
        rotations = SecretVault(store, OTHER_KEY).audit(AuditFilter(action="rotate-master-key"))
    finally:
        store.close()
    files = sorted(p.name for p in data_dir.iterdir() if p.name.startswith("master.key"))
    key_file = (data_dir / "master.key").read_text() if "master.key" in files else None
    return {"versions": sorted(versions), "hooks": sorted(hooks), "rotations": rotations,
            "files": files, "key": key_file}  # fmt: skip


def test_a_version_wrapped_by_another_key_is_named_and_nothing_is_rotated(
    tmp_path: Path,
) -> None:
    seeded(tmp_path, stray_secret=True, stray_webhook=False)
    before = snapshot(tmp_path)
    code, text = rotate(tmp_path)
    assert code == 2, text
    assert "Traceback" not in text and "LookupError" not in text
    assert "'STRAY' v1 in 'prod'" in text and "'STRAY' v2 in 'prod'" in text, text
    assert "'A'" not in text and "'B'" not in text  # only the versions it cannot open
    assert key_id(OTHER_KEY) in text and key_id(load_master_key(tmp_path)) in text
    assert "nothing was re-wrapped" in text and "hint:" in text and "destroy" in text
    assert not find_leaks(text, [*VALUES.values(), STRAY, STRAY + "-1"])
    assert snapshot(tmp_path) == before


def test_a_webhook_secret_wrapped_by_another_key_is_named_and_nothing_is_rotated(
    tmp_path: Path,
) -> None:
    seeded(tmp_path, stray_secret=False, stray_webhook=True)
    before = snapshot(tmp_path)
    code, text = rotate(tmp_path)
    assert code == 2, text
    assert "Traceback" not in text and "EnvelopeError" not in text
    assert "schedule 'nightly'" in text and "nothing was re-wrapped" in text, text
    assert not find_leaks(text, [*VALUES.values(), HOOK])
    assert snapshot(tmp_path) == before


def test_with_the_key_in_the_environment_the_hint_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("REQFLO_NEW_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    seeded(tmp_path, stray_secret=True, stray_webhook=True)
    before = snapshot(tmp_path)
    code, text = rotate(tmp_path)
    assert code == 2 and "3 data key(s) cannot be unwrapped" in text, text
    assert "Put that key back in REQFLO_MASTER_KEY" in text and "Traceback" not in text
    assert snapshot(tmp_path) == before


def test_a_tampered_webhook_secret_under_the_current_key_rotates_nothing(
    tmp_path: Path,
) -> None:
    seeded(tmp_path, stray_secret=False, stray_webhook=False)
    store = Store.open(sqlite_url(tmp_path))
    try:
        new = NewSchedule(name="tampered", cron="0 * * * *", timezone="UTC", created_by="t",
                          artifact_id="a" * 64, webhook_secret=HOOK)  # fmt: skip
        ScheduleStore(store, load_master_key(tmp_path)).create(
            new, datetime(2026, 2, 1, tzinfo=UTC)
        )
        with store.session() as session:  # its key id still names the current master key
            session.execute(update(ScheduleRow).values(webhook_secret_wrapped_key=os.urandom(60)))
    finally:
        store.close()
    before = snapshot(tmp_path)
    code, text = rotate(tmp_path)
    assert code == 2 and "a schedule's webhook secret (tampered or moved)" in text, text
    assert "nothing was re-wrapped" in text and "Traceback" not in text
    assert not find_leaks(text, [*VALUES.values(), HOOK])
    assert snapshot(tmp_path) == before  # no master.key.new left behind either


def test_the_vault_refuses_the_whole_rotation_in_one_transaction(tmp_path: Path) -> None:
    seeded(tmp_path, stray_secret=True, stray_webhook=False)
    before = snapshot(tmp_path)
    store = Store.open(sqlite_url(tmp_path))
    try:
        vault = SecretVault(store, load_master_key(tmp_path))
        assert [p.version for p in vault.rotation_problems(os.urandom(32))] == [1, 2]
        with pytest.raises(RotationRefused) as refused:
            vault.rotate_master_key(os.urandom(32), "ops")
        assert [(p.environment, p.name) for p in refused.value.problems] == [("prod", "STRAY")] * 2
        assert STRAY not in str(refused.value)
    finally:
        store.close()
    assert snapshot(tmp_path) == before
    store = Store.open(sqlite_url(tmp_path))
    try:  # once the stray secret is destroyed, the rotation goes through
        SecretVault(store, load_master_key(tmp_path)).destroy("prod", "STRAY", "ops")
    finally:
        store.close()
    code, text = rotate(tmp_path)
    assert code == 0 and "2 data keys re-wrapped" in text, text
