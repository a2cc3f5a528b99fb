"""Admin pages of the web UI: secrets, runners (workers + settings) and tokens.

httpx against the real `site` for the forms and their errors; headless chromium for
"a viewer (or editor) cannot reach admin pages" and the token flows. The canary crawl
("a secret's value is shown nowhere") is in test_web_leaks.py.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Dialog, Page
from pydantic import BaseModel

from reqflo.store import Store, sqlite_url
from test_cloud_api import journey_artifact
from test_cloud_support import ServerProcess
from web_support import Site, csrf_of, signed_in, slow_journey

ADMIN_PAGES = ("/admin/secrets", "/admin/runners", "/admin/tokens", "/admin/secrets/demo/X")


def post(client: httpx.Client, page: str, action: str, **fields: str) -> httpx.Response:
    """Submit a form of `page` to `action` with the page's CSRF token."""
    csrf = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": csrf, **fields})


def api(site: Site, method: str, url: str, role: str = "admin", **kw: object) -> httpx.Response:
    with site.api(role) as client:
        return client.request(method, url, **kw)  # type: ignore[arg-type]


def flash_of(answer: httpx.Response) -> str:
    found = re.search(r'class="flash flash-ok" role="status">([^<]*)<', answer.text)
    return html.unescape(found.group(1)) if found else ""


# ------------------------------------------------------------------ secrets


def test_adding_a_secret_shows_its_name_version_and_who_never_its_value(site: Site) -> None:
    value = "add-value-7f3a"
    with signed_in(site, "admin") as client:
        answer = post(client, "/admin/secrets", "/admin/secrets",
                      environment="demo", name="ADD_KEY", value=value)  # fmt: skip
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/secrets/demo/ADD_KEY?flash=")
        detail = client.get(answer.headers["location"])
        listing = client.get("/admin/secrets")
    assert detail.status_code == 200 and "created (version 1)" in flash_of(detail)
    assert "v1" in detail.text and "current" in detail.text and "admin-token" in detail.text
    row = re.search(r"<tr>\s*<td class=\"mono\">demo</td>.*?</tr>", listing.text, re.S)
    assert row and "ADD_KEY" in row.group() and "active" in row.group()
    assert "admin-token" in row.group() and "(set)" in row.group()
    for text in (answer.headers["location"], detail.text, listing.text):
        assert value not in text
    field = re.search(r'<input id="secret-value"[^>]*>', listing.text)
    assert field and 'type="password"' in field.group() and "value=" not in field.group()


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"environment": "demo", "name": "bad name!"}, 422, "is not a valid name"),
        ({"environment": "no way", "name": "OK"}, 422, "Environment 'no way' is not valid"),
        ({"environment": "demo", "name": ""}, 422, "The secret needs a name"),
        ({"environment": "*", "name": "EXISTING", "value": ""}, 422, "Type the secret"),
        ({"environment": "*", "name": "EXISTING"}, 409, "already exists in '*'"),
    ],
)
def test_add_errors_keep_the_name_but_never_the_value(
    site: Site, fields: dict[str, str], status: int, message: str
) -> None:
    value = "never-echoed-9c1d"
    api(site, "PUT", "/api/v1/secrets/*/EXISTING", json={"value": "first"})
    with signed_in(site, "admin") as client:
        answer = post(client, "/admin/secrets", "/admin/secrets", **{"value": value, **fields})
    assert answer.status_code == status, answer.text
    assert message in html.unescape(answer.text) and value not in answer.text
    if fields["name"]:
        assert f'value="{fields["name"]}"' in answer.text
    assert re.search(r'<input id="secret-value" name="value" type="password" required', answer.text)


def rotate(client: httpx.Client, page: str, value: str, seen: str) -> httpx.Response:
    fields = {"csrf": csrf_of(page), "value": value, "expected_version": seen}
    return client.post("/admin/secrets/demo/ROTATE", data=fields)


def test_rotating_is_compare_and_set_on_the_version_the_page_showed(site: Site) -> None:
    api(site, "PUT", "/api/v1/secrets/demo/ROTATE", json={"value": "v1-value"})
    with signed_in(site, "admin") as client:
        page = client.get("/admin/secrets/demo/ROTATE").text
        assert 'name="expected_version" value="1"' in page
        api(site, "PUT", "/api/v1/secrets/demo/ROTATE", json={"value": "v2-by-api"})
        stale = rotate(client, page, "lost-4e", "1")
        assert stale.status_code == 409 and "you saw version 1" in stale.text
        assert "lost-4e" not in stale.text and 'name="expected_version" value="2"' in stale.text
        empty = rotate(client, page, "", "2")
        assert empty.status_code == 422 and "Type the secret" in empty.text
        saved = rotate(client, page, "v3-4e", "2")
        assert saved.status_code == 303 and "v3-4e" not in saved.headers["location"]
        detail = client.get(saved.headers["location"])
    assert "Saved version 3" in flash_of(detail)
    versions = [v["state"] for v in api(site, "GET", "/api/v1/secrets/demo/ROTATE/versions").json()]
    assert versions == ["current", "previous", "previous"]


def test_disable_set_again_and_destroy_with_the_audit_trail(site: Site) -> None:
    api(site, "PUT", "/api/v1/secrets/demo/RETIRE", json={"value": "retire-1"})
    url = "/admin/secrets/demo/RETIRE"
    with signed_in(site, "admin") as client:
        page = client.get(url).text
        assert "data-confirm=" in page and "/disable" in page and "/destroy" in page
        assert client.post(url + "/disable", data={"csrf": csrf_of(page)}).status_code == 303
        disabled = client.get(url).text
        assert "status-secret-disabled" in disabled and "enables it again" in disabled
        assert f'action="{url}/disable"' not in disabled
        again = client.post(url, data={"csrf": csrf_of(page), "value": "retire-2",
                                       "expected_version": "1"})  # fmt: skip
        assert again.status_code == 303 and "status-secret-active" in client.get(url).text
        assert client.post(url + "/destroy", data={"csrf": csrf_of(page)}).status_code == 303
        destroyed = client.get(url).text
    assert "status-secret-destroyed" in destroyed and "Every version was destroyed" in destroyed
    trail = re.findall(r"<td>(set|disable|destroy|resolve)</td>", destroyed)
    assert trail == ["destroy", "set", "disable", "set"]
    assert "Audit chain verified" in destroyed
    assert [r["status"] for r in api(site, "GET", "/api/v1/secrets?environment=demo").json()
            if r["name"] == "RETIRE"] == ["destroyed"]  # fmt: skip


def test_a_secret_that_does_not_exist_is_a_404_page(site: Site) -> None:
    with signed_in(site, "admin") as client:
        missing = client.get("/admin/secrets/demo/NOPE")
        page = client.get("/admin/secrets").text
        posted = client.post("/admin/secrets/demo/NOPE/disable", data={"csrf": csrf_of(page)})
        bad = client.get("/admin/secrets/demo/..%2Fx")
    assert missing.status_code == 404 and "does not exist" in missing.text
    assert posted.status_code == 404 and bad.status_code == 404


def test_workspace_wide_secrets_are_listed_under_star_and_filtered(site: Site) -> None:
    api(site, "PUT", "/api/v1/secrets/*/SHARED", json={"value": "shared-1"})
    with signed_in(site, "admin") as client:
        star = client.get("/admin/secrets", params={"environment": "*"}).text
        detail = client.get("/admin/secrets/%2A/SHARED")
    assert "SHARED" in star and "ADD_KEY" not in star
    assert 'href="/admin/secrets/%2A/SHARED"' in star
    assert detail.status_code == 200 and "every environment without its own" in detail.text


# ------------------------------------------------------------------ runners


def test_runners_show_workers_from_their_heartbeats(site: Site) -> None:
    from reqflo.cloud.durable.liveness import _metadata, workers_table

    _metadata.create_all(site.store.engine)
    now = time.time()
    rows = [("w-alive", now - 2), ("w-late", now - 20), ("w-stale", now - 120)]
    with site.store.engine.begin() as connection:
        connection.execute(sa.delete(workers_table))
        for executor_id, beat in rows:
            connection.execute(workers_table.insert().values(
                executor_id=executor_id, host="box-1", pid=4242, started_at=now - 300,
                heartbeat_at=beat))  # fmt: skip
    try:
        with signed_in(site, "admin") as client:
            page = client.get("/admin/runners").text
            fragment = client.get("/admin/runners/workers", headers={"HX-Request": "true"})
        listed = api(site, "GET", "/api/v1/workers", "viewer").json()
    finally:
        with site.store.engine.begin() as connection:
            connection.execute(sa.delete(workers_table))
    assert {w["executor_id"] for w in listed} == {"w-alive", "w-late", "w-stale"}
    for text in (page, fragment.text):
        for executor_id, status in (("w-alive", "alive"), ("w-late", "late"), ("w-stale", "stale")):
            row = re.search(rf"<td class=\"mono\">{executor_id}</td>.*?</tr>", text, re.S)
            assert row and f"status-worker-{status}" in row.group() and "box-1" in row.group()
    assert 'hx-trigger="every 5s"' in page and 'hx-get="/admin/runners/workers"' in page
    assert fragment.text.lstrip().startswith('<section id="workers"')
    assert "<html" not in fragment.text


def worker_row(client: httpx.Client) -> str:
    page = client.get("/admin/runners/workers").text
    rows = re.findall(r"<tr>\s*<td class=\"mono\">.*?</tr>", page, re.S)
    assert len(rows) == 1, page
    return str(rows[0])


def test_a_durable_server_shows_its_worker_and_the_run_it_executes(
    tmp_path: Path, demo_url: str
) -> None:
    data_dir = tmp_path / "server"
    server = ServerProcess(data_dir, None, {"REQFLO_HOME": str(tmp_path / "home")}, "durable")
    store = Store.open(sqlite_url(data_dir))
    try:
        token = store.create_token("ops", "admin")[1]
        store.put_environment("demo", {"base_url": demo_url})
        artifact = journey_artifact(tmp_path, "slow", slow_journey(4000))
        store.put_artifact(artifact)
        durable = Site(server.url, store, tmp_path, {"admin": token})
        with signed_in(durable, "admin") as client:
            assert "status-worker-alive" in worker_row(client)
            run = client.post("/api/v1/runs", headers={"Authorization": f"Bearer {token}"},
                              json={"artifact_id": artifact.id, "environment": "demo"})  # fmt: skip
            assert run.status_code == 201, run.text
            deadline = time.monotonic() + 20
            while not re.search(r'<td class="num">1</td>\s*</tr>', worker_row(client)):
                assert time.monotonic() < deadline, worker_row(client)
                time.sleep(0.2)
            while store.run(run.json()["id"]).status in ("queued", "running"):  # type: ignore[union-attr]
                assert time.monotonic() < deadline + 10
                time.sleep(0.2)
            assert re.search(r'<td class="num">0</td>\s*</tr>', worker_row(client))
    finally:
        store.close()
        server.stop()


def test_without_durable_workers_the_page_says_how_to_get_some(site: Site) -> None:
    with signed_in(site, "admin") as client:
        page = client.get("/admin/runners").text
    assert "No durable workers" in page and "running" in page and "queued" in page


SETTINGS_FORM = {
    "default_concurrency": "4",
    "journey_concurrency": "echo = 2\n# a comment\n\nother: 7",
    "step_timeout_seconds": "30",
    "max_run_seconds": "",
    "transport_retries": "2",
    "transport_retry_backoff_seconds": "0.5",
    "retention_days": "14",
    "retention_max_runs": "",
}


def test_the_settings_form_saves_like_the_api(site: Site) -> None:
    before = api(site, "GET", "/api/v1/settings").json()
    try:
        with signed_in(site, "admin") as client:
            answer = post(client, "/admin/runners", "/admin/runners/settings", **SETTINGS_FORM)
            assert answer.status_code == 303
            page = client.get(answer.headers["location"]).text
        saved = api(site, "GET", "/api/v1/settings").json()
        assert saved["default_concurrency"] == 4 and saved["step_timeout_seconds"] == 30
        assert saved["journey_concurrency"] == {"echo": 2, "other": 7}
        assert saved["max_run_seconds"] is None and saved["retention_days"] == 14
        assert saved["transport_retry_backoff_seconds"] == 0.5
        assert "Runner settings saved" in page and "echo = 2\nother = 7</textarea>" in page
        assert 'name="step_timeout_seconds" value="30"' in page
    finally:
        api(site, "PUT", "/api/v1/settings", json=before)


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("default_concurrency", "0", "Input should be greater than or equal to 1"),
        ("default_concurrency", "abc", "'abc' is not a number"),
        ("default_concurrency", "2.5", "Needs a whole number"),
        ("default_concurrency", "", "Needs a value"),
        ("transport_retries", "11", "Input should be less than or equal to 10"),
        ("step_timeout_seconds", "-1", "Input should be greater than 0"),
        ("retention_days", "inf", "Needs a finite number"),
        ("journey_concurrency", "echo 2", "Line 1: write journey-name = N"),
        ("journey_concurrency", "a = 1\na = 2", "Line 2: journey 'a' is listed twice"),
        ("journey_concurrency", "echo = 0", "journey 'echo': Input should be greater than or"),
    ],
)
def test_settings_errors_are_shown_at_their_field_and_nothing_is_saved(
    site: Site, field: str, text: str, message: str
) -> None:
    before = api(site, "GET", "/api/v1/settings").json()
    with signed_in(site, "admin") as client:
        answer = post(client, "/admin/runners", "/admin/runners/settings",
                      **{**SETTINGS_FORM, field: text})  # fmt: skip
    assert answer.status_code == 422
    error = re.search(rf'id="setting-{field}-error">(.*?)</p>', html.unescape(answer.text))
    assert error and message in error.group(1), answer.text
    assert answer.text.count('class="field-error"') == 1 and "Nothing was saved" in answer.text
    assert api(site, "GET", "/api/v1/settings").json() == before
    typed = 'name="retention_days" value="14"' if field != "retention_days" else 'value="inf"'
    assert typed in answer.text  # what was typed stays


def test_every_settings_error_is_shown_at_once(site: Site) -> None:
    wrong = {"default_concurrency": "0", "journey_concurrency": "echo 3", "retention_days": "x"}
    with signed_in(site, "admin") as client:
        answer = post(client, "/admin/runners", "/admin/runners/settings",
                      **{**SETTINGS_FORM, **wrong})  # fmt: skip
    assert answer.status_code == 422 and "3 fields to fix" in answer.text
    for name in wrong:
        assert f'id="setting-{name}-error"' in answer.text


class LaterSettings(BaseModel):
    """Settings of kinds RunnerSettings does not have yet (issue 7 may add some)."""

    notify: bool = False
    mode: Literal["fast", "safe"] = "safe"
    label: str | None = None


def test_a_setting_added_later_gets_an_input_from_its_type() -> None:
    from reqflo.cloud.web.pages_runners import field_of, parse_settings

    fields = [field_of(name, info) for name, info in LaterSettings.model_fields.items()]
    kinds = [(f.kind, f.optional, f.choices) for f in fields]
    assert kinds == [("bool", False, ()), ("choice", False, ("fast", "safe")), ("text", True, ())]
    data, errors = parse_settings(fields, {"notify": "on", "mode": "fast", "label": " "})
    assert not errors and LaterSettings.model_validate(data) == LaterSettings(
        notify=True, mode="fast", label=None
    )


def test_the_settings_form_has_an_input_for_every_model_field(site: Site) -> None:
    from reqflo.store.schedule_records import RunnerSettings

    with signed_in(site, "admin") as client:
        page = client.get("/admin/runners").text
    for name in RunnerSettings.model_fields:
        assert f'name="{name}"' in page, name


# ------------------------------------------------------------------ tokens


def test_a_created_token_is_shown_once_and_works(site: Site) -> None:
    with signed_in(site, "admin") as client:
        answer = post(client, "/admin/tokens", "/admin/tokens", name="ci-bot", role="editor")
        listing = client.get("/admin/tokens").text
    assert answer.status_code == 201 and "shown only once" in answer.text
    token = re.search(r'id="new-token-value"[^>]*value="(rqf_[^"]+)"', answer.text, re.S)
    assert token, answer.text
    assert answer.headers["cache-control"] == "no-store" and "location" not in answer.headers
    assert token.group(1) not in listing and "ci-bot" in listing
    me = httpx.get(f"{site.url}/api/v1/runs", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.status_code == 200
    roles = {t["name"]: t["role"] for t in api(site, "GET", "/api/v1/tokens").json()}
    assert roles["ci-bot"] == "editor"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "role": "viewer"}, "Give the token a name"),
        ({"name": "   ", "role": "viewer"}, "Give the token a name"),
        ({"name": "x" * 201, "role": "viewer"}, "at most 200"),
        ({"name": "ok", "role": "root"}, "Pick a role"),
    ],
)
def test_token_form_errors(site: Site, fields: dict[str, str], message: str) -> None:
    count = len(site.store.tokens())
    with signed_in(site, "admin") as client:
        answer = post(client, "/admin/tokens", "/admin/tokens", **fields)
    assert answer.status_code == 422 and message in answer.text
    assert len(site.store.tokens()) == count


def test_revoking_a_token_ends_its_api_access_and_sessions(site: Site) -> None:
    record, token = site.store.create_token("to-revoke", "viewer")
    site.tokens["to-revoke"] = token
    with signed_in(site, "to-revoke") as victim, signed_in(site, "admin") as client:
        assert victim.get("/runs").status_code == 200
        answer = post(client, "/admin/tokens", f"/admin/tokens/{record.id}/revoke")
        assert answer.status_code == 303
        assert "Revoked token 'to-revoke'" in flash_of(client.get(answer.headers["location"]))
        assert victim.get("/runs").status_code == 303
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{site.url}/api/v1/runs", headers=bearer).status_code == 401
    with signed_in(site, "admin") as client:
        missing = post(client, "/admin/tokens", "/admin/tokens/nope/revoke")
    assert missing.status_code == 404


def test_revoking_your_own_token_signs_you_out(site: Site) -> None:
    record, token = site.store.create_token("self-revoker", "admin")
    site.tokens["self-revoker"] = token
    with signed_in(site, "self-revoker") as client:
        page = client.get("/admin/tokens").text
        assert "you will be signed out" in page
        answer = client.post(f"/admin/tokens/{record.id}/revoke", data={"csrf": csrf_of(page)})
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert client.get("/admin/tokens").status_code == 303


# ------------------------------------------------------------------ in the browser


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_a_viewer_or_editor_cannot_reach_admin_pages(
    page_as: Callable[[str], Page], site: Site, role: str
) -> None:
    page = page_as(role)
    assert page.locator("nav a[href^='/admin/']").count() == 0
    assert page.locator("a[href^='/admin/']").count() == 0
    for url in ADMIN_PAGES:
        answer = page.goto(site.url + url)
        assert answer is not None and answer.status == 403, url
        assert page.inner_text("h1") == "Not allowed"
        assert "needs the admin role" in page.inner_text("main")
        assert page.locator("form[action^='/admin/']").count() == 0


def test_an_admin_sees_the_admin_nav(page_as: Callable[[str], Page], site: Site) -> None:
    page = page_as("admin")
    links = page.locator("nav a[href^='/admin/']")
    assert links.all_inner_texts() == ["Secrets", "Runners", "Tokens"]
    page.click("nav >> text=Runners")
    page.wait_for_url(f"{site.url}/admin/runners")
    assert page.locator("nav a[aria-current='page']").inner_text() == "Runners"


def test_creating_and_revoking_a_token_in_the_browser(
    page_as: Callable[[str], Page], site: Site
) -> None:
    page = page_as("admin")
    page.goto(f"{site.url}/admin/tokens")
    page.fill("#token-name", "browser-made")
    page.select_option("#token-role", "viewer")
    page.click("text=Create token")
    token = page.input_value("#new-token-value")
    assert token.startswith("rqf_") and token not in page.url
    assert "shown only once" in page.inner_text("main")
    assert site.store.token_for(token) is not None
    page.click("text=Back to tokens")
    assert token not in page.content()
    row = page.locator("tr", has_text="browser-made")
    messages: list[str] = []

    def answer(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.dismiss() if len(messages) == 1 else dialog.accept()

    page.on("dialog", answer)
    row.locator("button", has_text="Revoke").click()
    assert site.store.token_for(token) is not None  # dismissed: nothing happened
    row.locator("button", has_text="Revoke").click()
    page.wait_for_url(re.compile(r".*/admin/tokens\?flash=.*"))
    assert "Revoke 'browser-made'?" in messages[0] and len(messages) == 2
    assert site.store.token_for(token) is None
    assert "Revoked token 'browser-made'" in page.inner_text("[role=status]")
