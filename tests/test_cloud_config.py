"""Server configuration precedence, the client's stored login and SSE parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from reqflo.cloud.client import CloudError, load_login, parse_sse, save_login
from reqflo.cloud.server import ServerConfig
from reqflo.store import NewRun, Store, sqlite_url


def test_flags_win_over_environment_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "home"))
    for name in ("REQFLO_DB_URL", "REQFLO_SERVER_DATA_DIR", "REQFLO_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    default = ServerConfig.resolve(executor="inprocess")
    assert default.data_dir == tmp_path / "home" / "server"
    assert default.db_url == sqlite_url(tmp_path / "home" / "server")
    assert (default.host, default.port) == ("127.0.0.1", 8787)
    monkeypatch.setenv("REQFLO_DB_URL", "postgresql://db/x")
    monkeypatch.setenv("REQFLO_SERVER_PORT", "9000")
    from_env = ServerConfig.resolve(executor="inprocess")
    assert (from_env.db_url, from_env.port) == ("postgresql://db/x", 9000)
    flags = ServerConfig.resolve(db_url="sqlite:///x.db", port=1234, executor="inprocess")
    assert (flags.db_url, flags.port) == ("sqlite:///x.db", 1234)
    with pytest.raises(ValueError, match="--executor must be one of durable, inprocess"):
        ServerConfig.resolve(executor="threads")


def test_the_config_file_sits_between_environment_and_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("REQFLO_HOME", str(home))
    for name in ("REQFLO_DB_URL", "REQFLO_SERVER_DATA_DIR", "REQFLO_SERVER_PORT",
                 "REQFLO_SERVER_HOST", "REQFLO_EXECUTOR", "REQFLO_SERVER_CONFIG"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    (home / "server.toml").write_text(
        f'data_dir = "{tmp_path / "data"}"\nport = 8800\nhost = "0.0.0.0"\nexecutor = "inprocess"\n'
    )
    from_file = ServerConfig.resolve()
    assert (from_file.data_dir, from_file.port, from_file.host) == (
        tmp_path / "data",
        8800,
        "0.0.0.0",
    )
    assert from_file.db_url == sqlite_url(tmp_path / "data")
    monkeypatch.setenv("REQFLO_SERVER_PORT", "9000")
    assert ServerConfig.resolve().port == 9000
    assert ServerConfig.resolve(port=1).port == 1
    (home / "server.toml").write_text("prot = 1\n")
    with pytest.raises(ValueError, match="unknown keys prot"):
        ServerConfig.resolve()
    monkeypatch.setenv("REQFLO_SERVER_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match="does not exist"):
        ServerConfig.resolve()


def test_login_is_private_and_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path))
    monkeypatch.delenv("REQFLO_CLOUD_URL", raising=False)
    monkeypatch.delenv("REQFLO_CLOUD_TOKEN", raising=False)
    with pytest.raises(CloudError, match="not logged in"):
        load_login()
    save_login("http://h:1/", "rqf_x")
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    assert load_login().url == "http://h:1"
    monkeypatch.setenv("REQFLO_CLOUD_TOKEN", "rqf_ci")
    assert load_login().token == "rqf_ci"


def test_sse_parsing_joins_data_and_skips_comments() -> None:
    lines = ["id: 3", "event: step_started", "data: {", "data: }", "", ": ping", "", "event: end"]
    events = list(parse_sse(iter([*lines, "data: {}", ""])))
    assert [(e.id, e.kind, e.data) for e in events] == [
        (3, "step_started", "{\n}"),
        (None, "end", "{}"),
    ]


def test_unfinished_runs_can_be_ended(tmp_path: Path) -> None:
    from test_cloud_support import compiled

    store = Store.open(sqlite_url(tmp_path))
    artifact = compiled(Path(__file__).resolve().parents[1] / "examples" / "orders.yaml")
    store.put_artifact(artifact)
    new = NewRun(artifact_id=artifact.id, journey="j", environment=None,
                 requested_by="t", instances=1, concurrency=1)  # fmt: skip
    run, _ = store.create_run(new)
    assert store.fail_unfinished("gone") == 1
    ended = store.run(run.id)
    assert ended is not None and (ended.status, ended.error) == ("error", "gone")
    store.close()


def test_run_cloud_leaves_concurrency_to_the_service_unless_given() -> None:
    from reqflo.cli_cloud import CloudRunOptions, _run_request
    from test_cloud_support import compiled

    artifact = compiled(Path(__file__).resolve().parents[1] / "examples" / "orders.yaml")
    assert _run_request(artifact, CloudRunOptions(), {})["concurrency"] is None
    assert _run_request(artifact, CloudRunOptions(concurrency=5000), {})["concurrency"] == 1000


def test_secure_cookies_come_from_flag_environment_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path))
    monkeypatch.delenv("REQFLO_SECURE_COOKIES", raising=False)
    monkeypatch.delenv("REQFLO_SERVER_CONFIG", raising=False)
    assert ServerConfig.resolve(executor="inprocess").secure_cookies is False
    (tmp_path / "server.toml").write_text("secure_cookies = true\n")
    assert ServerConfig.resolve(executor="inprocess").secure_cookies is True
    monkeypatch.setenv("REQFLO_SECURE_COOKIES", "0")
    assert ServerConfig.resolve(executor="inprocess").secure_cookies is False
    assert ServerConfig.resolve(executor="inprocess", secure_cookies=True).secure_cookies is True


def test_api_only_comes_from_flag_environment_or_file_and_needs_the_durable_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path))
    monkeypatch.delenv("REQFLO_API_ONLY", raising=False)
    monkeypatch.delenv("REQFLO_SERVER_CONFIG", raising=False)
    assert ServerConfig.resolve(executor="durable").api_only is False
    (tmp_path / "server.toml").write_text("api_only = true\n")
    assert ServerConfig.resolve(executor="durable").api_only is True
    monkeypatch.setenv("REQFLO_API_ONLY", "0")
    assert ServerConfig.resolve(executor="durable").api_only is False
    assert ServerConfig.resolve(executor="durable", api_only=True).api_only is True
    with pytest.raises(ValueError, match="--api-only needs the durable executor"):
        ServerConfig.resolve(executor="inprocess", api_only=True)
