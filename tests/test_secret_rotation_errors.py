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
from reqflo.store.schedule_secrets import rewrap_all
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


# ------------------------------------------------------------ an interrupted rotation


def interrupted(data_dir: Path, vault_too: bool = False, tampered: bool = False) -> bytes:
    """A rotation that died after staging its new key in master.key.new and re-wrapping the
    webhook secrets (and, with `vault_too`, the vault) but before replacing master.key; with
    `tampered`, a schedule created afterwards under the current key whose data key is
    damaged. The staged key."""
    seeded(data_dir, stray_secret=False, stray_webhook=False)
    store, old, new = Store.open(sqlite_url(data_dir)), load_master_key(data_dir), os.urandom(32)
    try:
        hooked = NewSchedule(name="hooked", cron="0 * * * *", timezone="UTC", created_by="t",
                             artifact_id="a" * 64, webhook_secret=HOOK)  # fmt: skip
        ScheduleStore(store, old).create(hooked, datetime(2026, 2, 1, tzinfo=UTC))
        (data_dir / "master.key.new").write_text(base64.b64encode(new).decode() + "\n")
        (data_dir / "master.key.new").chmod(0o600)  # as the command stages it
        assert rewrap_all(store, old, new) == 1
        if vault_too:
            assert SecretVault(store, old).rotate_master_key(new, "cli rotate-master-key") == 2
        if tampered:
            bad = NewSchedule(name="tampered", cron="0 * * * *", timezone="UTC", created_by="t",
                              artifact_id="a" * 64, webhook_secret=HOOK)  # fmt: skip
            ScheduleStore(store, old).create(bad, datetime(2026, 2, 1, tzinfo=UTC))
            with store.session() as session:
                session.execute(update(ScheduleRow).where(ScheduleRow.name == "tampered")
                                .values(webhook_secret_wrapped_key=os.urandom(60)))  # fmt: skip
    finally:
        store.close()
    return new


def rotate_with(data_dir: Path, *options: str) -> tuple[int, str]:
    args = ["secrets", "rotate-master-key", "--data-dir", str(data_dir), *options]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def readable_with(data_dir: Path, key: bytes) -> None:
    """Every secret value and the webhook secret open with `key` (the master key now)."""
    assert load_master_key(data_dir) == key
    assert not (data_dir / "master.key.new").exists()
    store = Store.open(sqlite_url(data_dir))
    try:
        vault = SecretVault(store, key)
        for (env, name), value in VALUES.items():
            assert vault.resolve(env, name, "test").value == value
        schedules = ScheduleStore(store, key)
        [hooked] = [s for s in schedules.all() if s.name == "hooked"]
        assert schedules.webhook_secret(hooked.id) == HOOK
    finally:
        store.close()


@pytest.mark.parametrize("vault_too", [False, True])
def test_a_plain_rerun_resumes_an_interrupted_rotation_with_the_staged_key(
    tmp_path: Path, vault_too: bool
) -> None:
    staged = interrupted(tmp_path, vault_too=vault_too)
    code, text = rotate(tmp_path)
    assert code == 0, text
    assert "interrupted" in text and str(tmp_path / "master.key.new") in text, text
    assert key_id(staged) in text and "Put that key back" not in text
    assert f"{0 if vault_too else 2} data keys re-wrapped" in text, text
    assert not find_leaks(text, [*VALUES.values(), HOOK])
    readable_with(tmp_path, staged)


def test_an_interrupted_rotation_and_another_new_key_is_refused_with_the_exact_command(
    tmp_path: Path,
) -> None:
    staged = interrupted(tmp_path)
    other = tmp_path.parent / f"{tmp_path.name}-other.key"
    other.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    before = snapshot(tmp_path)
    code, text = rotate_with(tmp_path, "--new-key-file", str(other))
    assert code == 2 and "interrupted" in text, text
    command = (f"reqflo secrets rotate-master-key --data-dir {tmp_path} "
               f"--new-key-file {tmp_path / 'master.key.new'}")  # fmt: skip
    assert command in " ".join(text.split()), text
    assert "Put that key back" not in text and "do not copy" in text.lower()
    assert not find_leaks(text, [*VALUES.values(), HOOK])
    assert snapshot(tmp_path) == before  # master.key.new still holds the staged key
    code, text = rotate_with(tmp_path, "--new-key-file", str(tmp_path / "master.key.new"))
    assert code == 0, text
    readable_with(tmp_path, staged)


def test_an_interrupted_rotation_beside_a_stray_key_names_both_and_changes_nothing(
    tmp_path: Path,
) -> None:
    interrupted(tmp_path)
    store = Store.open(sqlite_url(tmp_path))
    try:
        SecretVault(store, OTHER_KEY).put("prod", "STRAY", STRAY, "elsewhere")
    finally:
        store.close()
    before = snapshot(tmp_path)
    code, text = rotate(tmp_path)
    assert code == 2 and "2 data key(s) cannot be unwrapped" in text, text
    assert "schedule 'hooked'" in text and "'STRAY' v1 in 'prod'" in text
    assert "interrupted" in text and f"--new-key-file {tmp_path / 'master.key.new'}" in text
    assert "sealed under another master key" in text and "do not copy" in text.lower()
    assert not find_leaks(text, [*VALUES.values(), HOOK, STRAY])
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("options", [(), ("--new-key-file", "{dir}/master.key.new")])
def test_a_tampered_webhook_secret_while_resuming_keeps_the_staged_key(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    staged = interrupted(tmp_path, tampered=True)
    before = snapshot(tmp_path)
    code, text = rotate_with(tmp_path, *(o.format(dir=tmp_path) for o in options))
    assert code == 2 and "(tampered or moved)" in text, text
    assert "wrapped by the current key, which cannot open it" in text
    assert "Keep that file" in text and "Put that key back" not in text
    assert snapshot(tmp_path) == before
    staged_file = (tmp_path / "master.key.new").read_text()
    assert base64.b64decode(staged_file) == staged  # still there: it wraps 'hooked'
