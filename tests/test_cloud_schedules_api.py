"""Schedule and runner-settings routes served by uvicorn (SQLite store): create with
validation, next-fire preview, update, pause/resume, delete; the webhook secret is
write-only and sealed (never in the database file); webhook URLs to private, loopback
and metadata addresses are refused unless the server allows private ones; settings are
admin-written and validated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.store import Store, StoreSink, sqlite_url
from reqflo.store.schedule_store import ScheduleStore
from test_cloud_api import ECHO, journey_artifact, served

SECRET = "whsec-never-returned-42"


class Client:
    def __init__(
        self, http: httpx.Client, tokens: dict[str, str], url: str, app: FastAPI, folder: Path
    ) -> None:
        self.http, self.tokens, self.url = http, tokens, url
        self.app, self.folder = app, folder

    def __call__(self, method: str, path: str, role: str = "editor", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return self.http.request(method, f"/api/v1{path}", headers=headers, **kw)


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    folder: Path = tmp_path_factory.mktemp("schedules-api")
    store = Store.open(sqlite_url(folder))
    executor = InProcessExecutor(StoreSink(store), folder)
    tokens = {role: store.create_token(role, role)[1] for role in ("viewer", "editor", "admin")}
    store.put_environment("demo", {"base_url": "http://127.0.0.1:9"})
    store.put_artifact(journey_artifact(folder, "echo", ECHO))
    app = create_app(Services(store=store, executor=executor, data_dir=folder))
    with served(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Client(http, tokens, url, app, folder)
    executor.close()
    store.close()


def body(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Paris",
        "journey": "Echo", "environment": "demo", "case": "loud", "missed": "run_once",
        "webhook_url": "https://hooks.example/reqflo", "webhook_secret": SECRET,
    }  # fmt: skip
    fields.update(changes)
    return fields


def test_schedule_lifecycle(call: Client) -> None:
    created = call("POST", "/schedules", json=body(name="life"))
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["has_webhook_secret"] is True and SECRET not in created.text
    assert len(schedule["next_fires"]) == 5 and schedule["missed"] == "run_once"
    assert all(f.endswith(("00:30:00Z", "01:30:00Z")) for f in schedule["next_fires"])
    sid = schedule["id"]
    got = call("GET", f"/schedules/{sid}?next=12", "viewer").json()
    assert len(got["next_fires"]) == 12 and SECRET not in str(got)
    assert call("GET", "/schedules/life", "viewer").json()["id"] == sid  # by name too
    listed = call("GET", "/schedules", "viewer").json()
    assert sid in [s["id"] for s in listed] and SECRET not in str(listed)
    patched = call("PATCH", f"/schedules/{sid}", json={"cron": "0 6 * * 1", "timezone": "UTC"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["next_fires"][0].endswith("06:00:00Z")
    paused = call("POST", f"/schedules/{sid}/pause").json()
    assert paused["enabled"] is False and paused["next_fires"] == []
    resumed = call("POST", f"/schedules/{sid}/resume").json()
    assert resumed["enabled"] is True and len(resumed["next_fires"]) == 5
    assert call("DELETE", f"/schedules/{sid}").status_code == 200
    assert call("GET", f"/schedules/{sid}", "viewer").status_code == 404


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"cron": "every day"}, 422, "5 fields"),
        ({"timezone": "Paris"}, 422, "IANA timezone"),
        ({"cron": "0 0 30 2 *"}, 422, "never fires"),
        ({"journey": "Nope"}, 404, "no uploaded artifact"),
        ({"journey": "Ecko"}, 404, "did you mean 'Echo'?"),
        ({"journey": None, "artifact_id": "0" * 64}, 404, "is not uploaded"),
        ({"artifact_id": "0" * 64}, 422, "exactly one of journey"),
        ({"environment": "prod"}, 404, "environment 'prod' does not exist"),
        ({"case": "quiet"}, 422, "case 'quiet' is not defined"),
        ({"inputs": {"wrod": "x"}}, 422, "declares no input 'wrod'"),
        ({"missed": "catch_up"}, 422, "body.missed"),
        ({"webhook_url": "ftp://x"}, 422, "body.webhook_url"),
    ],
)
def test_bad_schedules_get_precise_answers(
    call: Client, changes: dict[str, Any], status: int, message: str
) -> None:
    answer = call("POST", "/schedules", json=body(name="bad", **changes))
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]


def test_duplicate_names_conflict_and_unknown_ids_are_404(call: Client) -> None:
    assert call("POST", "/schedules", json=body(name="twice")).status_code == 201
    again = call("POST", "/schedules", json=body(name="twice"))
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    for method, path in (("GET", ""), ("PATCH", ""), ("POST", "/pause"), ("DELETE", "")):
        kw = {"json": {}} if method == "PATCH" else {}
        assert call(method, f"/schedules/missing{path}", **kw).status_code == 404


def test_runner_settings_round_trip(call: Client) -> None:
    defaults = call("GET", "/settings", "viewer").json()
    assert defaults["default_concurrency"] == 10 and defaults["retention_days"] is None
    wanted = {"default_concurrency": 4, "journey_concurrency": {"Echo": 2},
              "retention_max_runs": 1000, "transport_retries": 2}  # fmt: skip
    assert call("PUT", "/settings", "admin", json=wanted).status_code == 200
    stored = call("GET", "/settings", "viewer").json()
    assert {k: stored[k] for k in wanted} == wanted
    bad = call("PUT", "/settings", "admin", json={"journey_concurrency": {"Echo": 0}})
    assert bad.status_code == 422 and "journey_concurrency.Echo" in bad.json()["detail"]
    assert call("PUT", "/settings", "editor", json={}).status_code == 403


def test_the_schedules_cli(
    call: Client, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQFLO_CLOUD_URL", call.url)
    monkeypatch.setenv("REQFLO_CLOUD_TOKEN", call.tokens["editor"])
    monkeypatch.setenv("HOOK_KEY", SECRET)
    rows = tmp_path / "words.csv"
    rows.write_text("word\nalpha\nbeta\n", encoding="utf-8")
    hook = ("--webhook-url", "https://hooks.example/x", "--webhook-secret-env", "HOOK_KEY")
    added = cli("schedules", "add", "cli-nightly", "--cron", "0 3 * * *", "--tz", "Asia/Tokyo",
                "--journey", "Echo", "--env", "demo", "--data", rows, "--missed", "run_once",
                *hook)  # fmt: skip
    assert added.exit_code == 0, added.text
    assert "created" in added.stdout and "next: " in added.stdout and SECRET not in added.text
    stored = call("GET", "/schedules/cli-nightly", "viewer").json()
    assert stored["rows"] == 2 and stored["has_webhook_secret"] and stored["missed"] == "run_once"
    listed = cli("schedules", "list")
    assert "cli-nightly" in listed.stdout and "Asia/Tokyo" in listed.stdout
    upcoming = cli("schedules", "next", "cli-nightly", "--count", "3")
    assert upcoming.stdout.count("T18:00:00Z") == 3  # 03:00 in Tokyo
    assert "paused" in cli("schedules", "pause", "cli-nightly").stdout
    assert call("GET", "/schedules/cli-nightly", "viewer").json()["enabled"] is False
    assert "next: " in cli("schedules", "resume", "cli-nightly").stdout
    assert cli("schedules", "remove", "cli-nightly").exit_code == 0
    gone = cli("schedules", "next", "cli-nightly")
    assert gone.exit_code == 2 and "no schedule" in gone.text
    bad = cli("schedules", "add", "x", "--cron", "nope", "--journey", "Echo")
    assert bad.exit_code == 2 and "5 fields" in bad.text


def test_webhook_secrets_never_reach_the_database_file_in_clear(call: Client) -> None:
    created = call("POST", "/schedules", json=body(name="sealed"))
    assert created.status_code == 201 and SECRET not in created.text
    patched = call("PATCH", "/schedules/sealed", json={"webhook_secret": SECRET + "-v2"})
    assert patched.status_code == 200 and patched.json()["has_webhook_secret"] is True
    for path in call.folder.glob("reqflo.db*"):
        assert SECRET.encode() not in path.read_bytes(), path.name


@pytest.mark.parametrize("secret", ["whsec42", ["whsec-in-a-list-42"], "whsec-" + "9" * 600])
def test_a_rejected_webhook_secret_is_not_echoed_in_the_answer(call: Client, secret: Any) -> None:
    for method, path, payload in (
        ("POST", "/schedules", body(name="echo-secret", webhook_secret=secret)),
        ("PATCH", "/schedules/sealed", {"webhook_secret": secret}),
    ):
        answer = call(method, path, json=payload)
        assert answer.status_code == 422 and "body.webhook_secret" in answer.text, answer.text
        assert "whsec" not in answer.text


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/hook", "webhook host '127.0.0.1' is a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "is a cloud metadata endpoint"),
        ("http://localhost:9/hook", "webhook host 'localhost' resolves to"),
        ("http://10.1.2.3/hook", "is a private address"),
    ],
)
def test_webhooks_to_private_addresses_are_refused_by_default(
    call: Client, url: str, why: str
) -> None:
    answer = call("POST", "/schedules", json=body(name="ssrf", webhook_url=url))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("webhook_url: ") and why in detail
    assert "REQFLO_WEBHOOK_ALLOW_PRIVATE" in detail
    assert call("POST", "/schedules", json=body(name="ssrf-ok")).status_code in (201, 409)
    patched = call("PATCH", "/schedules/ssrf-ok", json={"webhook_url": url})
    assert patched.status_code == 422 and why in patched.json()["detail"]


def test_the_server_option_allows_private_webhooks_but_never_metadata(call: Client) -> None:
    call.app.state.webhook_allow_private = True
    try:
        local = call(
            "POST",
            "/schedules",
            json=body(name="local-hook", webhook_url="http://127.0.0.1:8080/h"),
        )
        assert local.status_code == 201, local.text
        metadata = call(
            "PATCH", "/schedules/local-hook", json={"webhook_url": "http://169.254.169.254/"}
        )
        assert metadata.status_code == 422
        assert "cloud metadata endpoint" in metadata.json()["detail"]
    finally:
        call.app.state.webhook_allow_private = False


@pytest.mark.parametrize("url", ["http://hooks.example:abc/h", "http://hooks.example/h\x00"])
def test_a_malformed_webhook_url_is_a_422_not_a_server_error(call: Client, url: str) -> None:
    answer = call("POST", "/schedules", json=body(name="malformed-hook", webhook_url=url))
    assert answer.status_code == 422 and "webhook_url" in answer.text, answer.text


def test_a_malformed_webhook_url_is_never_echoed(call: Client) -> None:
    """httpx's own message quoted part of it: `Invalid port: 's3cr'` for a password with
    a slash (found by review)."""
    url = "https://user:s3cr/et-pw@hooks.example/h"
    answer = call("POST", "/schedules", json=body(name="echoed-hook", webhook_url=url))
    assert answer.status_code == 422, answer.text
    assert "s3cr" not in answer.text and "et-pw" not in answer.text


@pytest.mark.parametrize("field", ["name", "cron", "timezone", "missed", "inputs"])
def test_a_patch_cannot_null_a_field_every_schedule_has(call: Client, field: str) -> None:
    assert call("POST", "/schedules", json=body(name=f"keep-{field}")).status_code == 201
    answer = call("PATCH", f"/schedules/keep-{field}", json={field: None})  # was a 500
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == f"{field}: cannot be null; leave it out to keep it"


def test_a_patch_may_pin_an_artifact_and_clear_optional_fields(call: Client) -> None:
    assert call("POST", "/schedules", json=body(name="pinned")).status_code == 201
    artifact_id = ScheduleStore(call.app.state.services.store).latest_artifact_id("Echo")
    answer = call("PATCH", "/schedules/pinned", json={"artifact_id": artifact_id})
    assert answer.status_code == 200, answer.text  # was a 500
    assert (answer.json()["artifact_id"], answer.json()["journey"]) == (artifact_id, None)
    cleared = call("PATCH", "/schedules/pinned", json={"case": None, "webhook_url": None})
    assert cleared.status_code == 200, cleared.text  # was a 500
    assert cleared.json()["case"] is None and cleared.json()["webhook_url"] is None
