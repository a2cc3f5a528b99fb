"""`reqflo secrets ...`: the admin commands against a served API (uvicorn in a thread),
and `rotate-master-key` against a data directory, read back by the runner's source."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leakscan import find_leaks
from reqflo.cli import app
from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.durable.keys import load_master_key
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.cloud.secret_source import CloudSecrets, VaultOpener
from reqflo.store import Store, StoreSink, sqlite_url
from reqflo.store.secret_store import SecretVault
from test_cloud_api import served

VALUE = "cli-Secret-valüe/+=&" + os.urandom(6).hex()


def cli(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("cli-secrets")
    store = Store.open(sqlite_url(folder))
    executor = InProcessExecutor(StoreSink(store), folder)
    services = Services(store=store, executor=executor, data_dir=folder)
    found = {role: store.create_token(role, role)[1] for role in ("editor", "admin")}
    with served(create_app(services)) as url:
        yield {"url": url, **found}
    executor.close()
    store.close()


@pytest.fixture
def as_admin(tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("REQFLO_CLOUD_URL", tokens["url"])
    monkeypatch.setenv("REQFLO_CLOUD_TOKEN", tokens["admin"])
    return tokens


def test_admin_commands_never_print_a_value(as_admin: dict[str, str]) -> None:
    outputs = [cli("secrets", "set", "API_KEY", "--env", "staging", stdin=VALUE + "\n")]
    assert outputs[-1][0] == 0 and "now version 1" in outputs[-1][1]
    outputs.append(cli("secrets", "set", "API_KEY", "--env", "staging", "--expected-version",
                       "0", stdin=VALUE))  # fmt: skip
    assert outputs[-1][0] == 2 and "409" in outputs[-1][1] and "at version 1" in outputs[-1][1]
    outputs.append(cli("secrets", "set", "API_KEY", "--env", "staging", stdin=VALUE + "2"))
    for args in (("list",), ("versions", "API_KEY", "--env", "staging"),
                 ("disable", "API_KEY", "--env", "staging"),
                 ("destroy", "API_KEY", "--env", "staging", "--yes"),
                 ("audit",), ("audit", "--verify")):  # fmt: skip
        outputs.append(cli("secrets", *args))
        assert outputs[-1][0] == 0, (args, outputs[-1][1])
    text = "\n".join(o[1] for o in outputs)
    assert "v2    current" in text and "v1    previous" in text
    assert "staging          API_KEY" in text
    assert "destroy" in text and "audit log intact" in text
    assert not find_leaks(text, [VALUE, VALUE + "2"])


def test_an_empty_value_and_a_weak_token_are_refused(
    as_admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, text = cli("secrets", "set", "EMPTY", "--env", "staging", stdin="")
    assert code == 2 and "empty" in text
    monkeypatch.setenv("REQFLO_CLOUD_TOKEN", as_admin["editor"])
    code, text = cli("secrets", "set", "X", "--env", "staging", stdin=VALUE)
    assert code == 2 and "403" in text and "needs the admin role" in text
    assert cli("secrets", "list")[0] == 2


def test_the_value_is_not_an_argument() -> None:
    code, text = cli("secrets", "set", "X", VALUE, "--env", "staging")
    assert code == 2 and "unexpected extra argument" in text.lower()


def seeded(data_dir: Path) -> dict[tuple[str, str], str]:
    values = {("staging", "A"): "a-" + VALUE, ("*", "B"): "b-" + VALUE, ("prod", "A"): "c"}
    store = Store.open(sqlite_url(data_dir))
    vault = SecretVault(store, load_master_key(data_dir))
    for (env, name), value in values.items():
        vault.put(env, name, "old-" + value, "test")
        vault.put(env, name, value, "test")
    store.close()
    return values


def runner_reads(data_dir: Path, values: dict[tuple[str, str], str]) -> None:
    opener = VaultOpener(data_dir, database_url=sqlite_url(data_dir))
    try:
        for (env, name), value in values.items():
            source = CloudSecrets(opener, env, "run-after-rotation", actor="test")
            assert source.resolve(name) == value
    finally:
        opener.close()


def test_rotation_with_the_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQFLO_MASTER_KEY", raising=False)
    values = seeded(tmp_path)
    old = (tmp_path / "master.key").read_text()
    code, text = cli("secrets", "rotate-master-key", "--data-dir", str(tmp_path))
    assert code == 0 and "6 data keys re-wrapped" in text, text
    assert (tmp_path / "master.key").read_text() != old
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "master.key.new").exists()
    runner_reads(tmp_path, values)
    given = tmp_path / "given.key"
    given.write_text(base64.b64encode(os.urandom(32)).decode())
    code, text = cli("secrets", "rotate-master-key", "--new-key-file", str(given),
                     "--data-dir", str(tmp_path))  # fmt: skip
    assert code == 0, text
    assert (tmp_path / "master.key").read_text().strip() == given.read_text().strip()
    runner_reads(tmp_path, values)


def test_rotation_with_the_key_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    monkeypatch.setenv("REQFLO_MASTER_KEY", old)
    values = seeded(tmp_path)
    code, text = cli("secrets", "rotate-master-key", "--data-dir", str(tmp_path))
    assert code == 2 and "--new-key-file" in text
    monkeypatch.setenv("REQFLO_NEW_MASTER_KEY", new)
    code, text = cli("secrets", "rotate-master-key", "--data-dir", str(tmp_path))
    assert code == 0 and "set REQFLO_MASTER_KEY" in text, text
    monkeypatch.setenv("REQFLO_MASTER_KEY", new)
    runner_reads(tmp_path, values)
