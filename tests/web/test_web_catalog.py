"""Journeys, artifacts (compiled plans) and environments pages of the web UI, against a
real Cloud Runner: real data on every page, environment forms that succeed and fail
precisely, viewers without edit buttons, no secret value anywhere."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from reqflo.store import RunRecord
from web_support import Site, csrf_of, signed_in

SECRET_VALUE = "canary-Plan-Secret-7d1e"
SECURED = """
journey:
  name: Secured echo
  version: "3.1"
  inputs:
    - {name: word, required: true}
  variables:
    - {name: base_url, source: environment}
    - {name: api_token, source: secret, secret: ECHO_TOKEN}
  steps:
    - id: login
      name: Post a word
      request:
        method: POST
        url: "{{ variables.base_url }}/echo"
        headers: {X-Trace: catalog}
        auth: {bearer: "{{ variables.api_token }}"}
        json: {word: "{{ inputs.word }}"}
      outputs:
        echoed: {from: body, path: "$.word"}
      assertions:
        - {type: status_code, expected: 200}
        - {type: json_path, path: "$.word", operator: exists}
      retry: {attempts: 3, interval: 200ms}
    - id: again
      name: Echo again when asked
      when: "inputs.word != 'stop'"
      request:
        method: GET
        url: "{{ variables.base_url }}/echo"
      assertions:
        - {type: status_code, expected: 200}
"""


def finished_run(site: Site, artifact_id: str) -> RunRecord:
    with site.api("editor") as api:
        answer = api.post("/api/v1/runs", json={"artifact_id": artifact_id, "environment": "demo"})
    assert answer.status_code in (200, 201, 202), answer.text
    run_id = answer.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = site.store.run(run_id)
        if record is not None and record.terminal:
            return record
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def test_journeys_page_lists_every_journey_with_its_latest_artifact_and_last_run(
    site: Site,
) -> None:
    echo = site.artifacts["echo"]
    run = finished_run(site, echo.id)
    with signed_in(site, "viewer") as client:
        page = client.get("/journeys")
    assert page.status_code == 200
    row = re.search(r"<tr>\s*<td><a href=\"/journeys/Echo\">Echo</a>.*?</tr>", page.text, re.S)
    assert row, page.text
    assert f'href="/artifacts/{echo.id}"' in row.group(0) and echo.id[:12] in row.group(0)
    assert f'href="/runs/{run.id}"' in row.group(0) and f"status-{run.status}" in row.group(0)


def test_journey_page_shows_the_artifact_history_with_runs_per_artifact(site: Site) -> None:
    old = site.artifacts["echo"]
    finished_run(site, old.id)
    newer = site.add_journey("echo-v2", SECURED.replace("Secured echo", "Echo"))
    with signed_in(site, "editor") as client:
        page = client.get("/journeys/Echo")
    assert page.status_code == 200
    assert page.text.index(newer.id[:12]) < page.text.index(old.id[:12])  # newest first
    rows = dict(re.findall(r'href="/artifacts/([0-9a-f]{64})".*?<td class="num">(\d+)</td>',
                           page.text.split("Recent runs")[0], re.S))  # fmt: skip
    assert rows[newer.id] == "0" and int(rows[old.id]) >= 1
    assert f'href="/runs/new?artifact={newer.id}"' in page.text
    assert f'href="/runs/new?artifact={old.id}"' in page.text
    assert 'href="/runs?journey=Echo"' in page.text


def test_viewers_see_no_run_button_and_unknown_journeys_are_404(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        page = client.get("/journeys/Echo")
        missing = client.get("/journeys/No%20such%20journey")
    assert page.status_code == 200 and "/runs/new" not in page.text
    assert missing.status_code == 404 and "No such journey" in missing.text


def test_artifact_page_shows_the_compiled_plan_and_never_a_secret_value(site: Site) -> None:
    with site.api("admin") as api:
        put = api.put("/api/v1/secrets/demo/ECHO_TOKEN", json={"value": SECRET_VALUE})
    assert put.status_code in (200, 201), put.text
    artifact = site.add_journey("secured", SECURED)
    with signed_in(site, "viewer") as client:
        page = client.get(f"/artifacts/{artifact.id}")
        missing = client.get("/artifacts/0123456789abcdef")
    html = page.text
    assert page.status_code == 200 and artifact.id in html and "3.1" in html
    needs = html.split("What a run needs")[1].split("<h2>")[0]
    assert "<code>ECHO_TOKEN</code>" in needs and "<code>base_url</code>" in needs
    assert "<code>word</code>" in needs
    assert html.index("Post a word") < html.index("Echo again when asked")
    assert "{{ env.base_url }}/echo" in html and "X-Trace" in html
    assert "{{ secrets.ECHO_TOKEN }}" in html  # the template, not its value
    assert "status_code equals 200" in html and "json_path $.word exists" in html
    assert "3 attempts" in html and "{{ inputs.word != &#34;stop&#34; }}" in html
    assert (
        "<details" in html
        and "Canonical plan JSON" in html
        and "&#34;schema_version&#34;: 1" in html
    )
    assert SECRET_VALUE not in html
    assert missing.status_code == 404


def test_environment_pages_show_values_and_say_secrets_live_elsewhere(site: Site) -> None:
    with signed_in(site, "viewer") as viewer, signed_in(site, "admin") as admin:
        listing = viewer.get("/environments")
        detail = viewer.get("/environments/demo")
        as_admin = admin.get("/environments/demo")
        missing = viewer.get("/environments/nowhere")
    assert listing.status_code == 200 and 'href="/environments/demo"' in listing.text
    assert "base_url" in detail.text and "127.0.0.1" in detail.text
    assert "Secrets are not environment values" in detail.text
    assert "/admin/secrets" not in detail.text and 'href="/admin/secrets"' in as_admin.text
    assert '<form method="post" action="/environments' not in listing.text + detail.text
    assert missing.status_code == 404


def post_form(client: httpx.Client, page: str, action: str, **fields: str) -> httpx.Response:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": token, **fields})


def test_editors_create_and_update_environments_with_json_or_yaml(site: Site) -> None:
    with signed_in(site, "editor") as client:
        values = '{"base_url": "https://staging.example", "n": 3}'
        created = post_form(client, "/environments", "/environments", name="staging", values=values)
        assert created.status_code == 303
        assert created.headers["location"].startswith("/environments/staging?flash=")
        shown = client.get(created.headers["location"])
        assert "https://staging.example" in shown.text and "created" in shown.text
        updated = post_form(client, "/environments/staging", "/environments/staging",
                            values="base_url: https://other.example\nflag: true\n")  # fmt: skip
        assert updated.status_code == 303
    record = site.store.environment("staging")
    assert record is not None and record.values == {
        "base_url": "https://other.example",
        "flag": True,
    }


def test_environment_forms_fail_precisely_and_keep_what_was_typed(site: Site) -> None:
    cases = [
        ({"name": "bad name!", "values": "{}"}, 422, "is not a valid name"),
        ({"name": "broken", "values": '{"a": '}, 422, "not valid JSON"),
        ({"name": "listy", "values": "[1, 2]"}, 422, "give a mapping"),
        ({"name": "listy", "values": "- 1\n- 2\n"}, 422, "give a mapping"),
        ({"name": "looping", "values": "a: &x [*x]\n"}, 422, "refers to itself"),
        ({"name": "binary", "values": "b: !!binary aGk=\n"}, 422, "not JSON (quote it as text)"),
        ({"name": "yamlish", "values": "a: [1,\n"}, 422, "neither JSON nor YAML"),
        ({"name": "demo", "values": "{}"}, 409, "already exists"),
    ]
    with signed_in(site, "editor") as client:
        for fields, status, message in cases:
            answer = post_form(client, "/environments", "/environments", **fields)
            assert answer.status_code == status, (fields, answer.text)
            assert message in answer.text and 'role="alert"' in answer.text
        bad = post_form(client, "/environments/demo", "/environments/demo", values="[oops")
        assert bad.status_code == 422 and "[oops" in bad.text
    assert site.store.environment("broken") is None
    with signed_in(site, "editor") as client:  # a date is its ISO text, as in env files
        dated = post_form(client, "/environments", "/environments", name="dated",
                          values="day: 2026-01-01\n")  # fmt: skip
    assert dated.status_code == 303 and site.store.environment("dated").values == {  # type: ignore[union-attr]
        "day": "2026-01-01"
    }
    assert site.store.environment("demo").values["base_url"].startswith("http://127.0.0.1")  # type: ignore[union-attr]


def test_viewers_get_403_on_environment_forms(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        token = csrf_of(client.get("/environments").text)
        answer = client.post("/environments", data={"csrf": token, "name": "x", "values": "{}"})
        update = client.post("/environments/demo", data={"csrf": token, "values": "{}"})
    assert answer.status_code == 403 and update.status_code == 403
    assert site.store.environment("x") is None


def test_an_editor_creates_an_environment_in_the_browser(
    site: Site, page_as: Callable[[str], Page]
) -> None:
    page = page_as("editor")
    page.goto(f"{site.url}/environments")
    page.fill("#name", "browser-env")
    page.fill("#values", "base_url: https://browser.example\nretries: 2")
    page.click("text=Create environment")
    page.wait_for_url(f"{site.url}/environments/browser-env**")
    expect(page.locator("table.values")).to_contain_text("https://browser.example")
    expect(page.locator(".flash")).to_contain_text("created")
    page.goto(f"{site.url}/journeys")
    page.click("table.journeys a[href='/journeys/Echo']")
    expect(page.locator("h1")).to_have_text(re.compile("Echo"))
    page.locator("table.artifacts td.mono a").first.click()
    expect(page.locator("ol.steps > li")).not_to_have_count(0)
    page.click("text=Canonical plan JSON")
    expect(page.locator("details.plan-json pre")).to_contain_text('"steps"')
