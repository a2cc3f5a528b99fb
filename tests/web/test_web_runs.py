"""Runs pages of the web UI against a real Cloud Runner and the demo API.

Covers the list (filters, counts, live table), run detail with the full evidence of a
passing and a failing run, data runs (instances table, failed filter, instance page),
rerun and cancel by role, the "Start a run" form's errors, that a cloud secret's value
(and its base64 form) appears on no runs page, and in headless chromium: an editor
starts a run from the form, watches it finish live and opens its evidence.
"""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from web_support import Site, csrf_of, signed_in, slow_journey

CHECKED = """
journey:
  name: Checked
  inputs:
    - {name: word, default: a}
  variables:
    - {name: base_url, source: environment}
  steps:
    - id: never
      when: false
      request: {method: GET, url: "{{ variables.base_url }}/echo?never=1"}
      assertions:
        - {type: status_code, expected: 200}
    - id: say
      name: Say the word
      continue_on_failure: true
      request:
        method: POST
        url: "{{ variables.base_url }}/echo"
        headers: {X-Probe: probe-header-value}
        json: {word: "{{ inputs.word }}", nested: {n: 1}}
      outputs:
        said: {from: body, path: "$.json.word"}
      assertions:
        - {type: status_code, expected: 200}
        - {type: json_path, path: "$.json.word", expected: a}
    - id: after
      name: After saying
      request: {method: GET, url: "{{ variables.base_url }}/echo?after=1"}
      outputs:
        missing: {from: body, path: "$.nope"}
      assertions:
        - {type: status_code, expected: 200}
"""
UNSET = """
journey:
  name: Unset
  variables:
    - {name: base_url, source: environment}
    - {name: token, source: secret, secret: WEB_NEVER_SET}
  steps:
    - id: use
      request: {method: GET, url: "{{ variables.base_url }}/echo?t={{ variables.token }}"}
      assertions:
        - {type: status_code, expected: 200}
"""
SECRET = """
journey:
  name: Secretive
  variables:
    - {name: base_url, source: environment}
    - {name: token, source: secret, secret: WEB_CANARY}
  steps:
    - id: leak
      request:
        method: POST
        url: "{{ variables.base_url }}/echo?t={{ variables.token }}"
        headers: {X-Token: "{{ variables.token }}"}
        json: {token: "{{ variables.token }}"}
      outputs:
        echoed: {from: body, path: "$.json.token"}
      assertions:
        - {type: json_path, path: "$.json.token", expected: not-the-token}
"""


def start(site: Site, journey: str, **body: Any) -> str:
    payload = {"artifact_id": site.artifacts[journey].id, "environment": "demo", **body}
    with site.api("editor") as api:
        answer = api.post("/api/v1/runs", json=payload)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def finished(site: Site, run_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with site.api("viewer") as api:
        while time.monotonic() < deadline:
            run: dict[str, Any] = api.get(f"/api/v1/runs/{run_id}").json()
            if run["status"] not in ("queued", "running"):
                return run
            time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def text_of(answer: httpx.Response) -> str:
    return html.unescape(answer.text)


@pytest.fixture(scope="module")
def runs(site: Site) -> dict[str, str]:
    """A passing run, a failing run (inputs word=b) and a data run with three rows."""
    site.add_journey("checked", CHECKED)
    site.add_journey("slow", slow_journey(2500))
    found = {
        "passing": start(site, "checked"),
        "failing": start(site, "checked", inputs={"word": "b"}),
        "data": start(site, "checked", rows=[{"word": "a"}, {"word": "b"}, {"word": "c"}],
                      data_key="word"),
    }  # fmt: skip
    for run_id in found.values():
        finished(site, run_id)
    return found


def test_the_list_shows_runs_with_counts_and_filters(site: Site, runs: dict[str, str]) -> None:
    with signed_in(site, "viewer") as client:
        page = text_of(client.get("/runs"))
        assert all(run_id[:12] in page for run_id in runs.values())
        assert 'class="bar"' in page and "1 passed, 2 failed, 0 error, 0 pending of 3" in page
        assert 'hx-trigger="every 1s"' not in page  # nothing is running: no polling
        assert '<div class="muted small">editor-token</div>' in page  # who started it, by name
        failed = text_of(client.get("/runs", params={"status": "failed", "journey": "Checked"}))
        assert runs["failing"][:12] in failed and runs["data"][:12] in failed
        assert runs["passing"][:12] not in failed
        assert runs["passing"][:12] in text_of(client.get("/runs?environment=demo&trigger=api"))
        assert "No run matches" in client.get("/runs?trigger=schedule").text
        assert "No run matches" in client.get("/runs?from=2999-01-01").text
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert runs["passing"][:12] in client.get(f"/runs?from={today}&to={today}").text
        bad = client.get("/runs?from=yesterday")
        assert bad.status_code == 400 and "expected a date like" in bad.text


def test_the_list_pages_and_polls_while_a_run_is_active(site: Site, runs: dict[str, str]) -> None:
    run_id = start(site, "slow")
    with signed_in(site, "viewer") as client:
        page = client.get("/runs?journey=Slow").text
        assert 'hx-get="/runs/table?journey=Slow"' in page and 'hx-trigger="every 1s"' in page
        finished(site, run_id)
        table = client.get("/runs/table?journey=Slow").text
        assert run_id[:12] in table and "hx-trigger" not in table and "<html" not in table
    with signed_in(site, "viewer") as client:
        newest = client.get("/runs?journey=Slow").text
        older = client.get("/runs?journey=Slow&offset=1").text
    assert run_id[:12] in newest and run_id[:12] not in older


def test_a_running_data_run_polls_its_instances_table(site: Site, runs: dict[str, str]) -> None:
    run_id = start(site, "slow", rows=[{"n": 1}, {"n": 2}], concurrency=1)
    with signed_in(site, "viewer") as client:
        page = client.get(f"/runs/{run_id}").text
        assert f'hx-get="/runs/{run_id}/instances"' in page and 'hx-trigger="every 2s"' in page
        assert 'hx-trigger="every 2s"' not in client.get(f"/runs/{run_id}?offset=50").text
        finished(site, run_id)
        table = client.get(f"/runs/{run_id}/instances").text
        failed = client.get(f"/runs/{run_id}/instances?failed=1").text
    assert "<html" not in table and "hx-trigger" not in table
    assert table.count(f'href="/runs/{run_id}/instances/') == 2
    assert "No failed instance." in failed


def test_a_passing_run_shows_its_evidence(site: Site, runs: dict[str, str]) -> None:
    run_id = runs["passing"]
    with signed_in(site, "viewer") as client:
        page = text_of(client.get(f"/runs/{run_id}"))
    artifact = site.artifacts["checked"].id
    assert f'href="/artifacts/{artifact}"' in page
    assert "editor-token" in page  # requested by (the token's name)
    for fact in ("demo", "api", "Concurrency", "Created", "Finished", "status-passed"):
        assert fact in page
    assert f"POST {site.store.environment('demo').values['base_url']}/echo" in page.replace(
        "<strong>POST</strong>", "POST"
    )  # fmt: skip
    assert "x-probe" in page.lower() and "probe-header-value" in page  # request header
    assert '"nested": {\n    "n": 1\n  }' in page  # the request body, pretty-printed
    assert "HTTP/1.1 200" in page and "content-type" in page.lower()  # response + headers
    assert re.search(r"Body · \d+ B", page)  # sizes
    assert "said" in page  # derived value


def test_a_failing_run_highlights_the_failed_assertion(site: Site, runs: dict[str, str]) -> None:
    with signed_in(site, "viewer") as client:
        page = text_of(client.get(f"/runs/{runs['failing']}"))
    assert "status-failed" in page and 'class="assert-failed"' in page
    row = page[page.index('class="assert-failed"') :].split("</tr>")[0]
    assert "<code>a</code>" in row and "<code>b</code>" in row  # expected / actual
    assert "Skipped:" in page  # the step whose `when` is false, with its reason
    assert "step after: output 'missing' not found" in page  # the instance's logs
    assert 'details class="step step-failed" open' in page


def test_an_error_shows_its_code_and_message(site: Site) -> None:
    site.add_journey("unset", UNSET)
    run_id = start(site, "unset")
    assert finished(site, run_id)["status"] == "error"
    with signed_in(site, "viewer") as client:
        page = text_of(client.get(f"/runs/{run_id}"))
        diff = text_of(client.get(f"/runs/{run_id}/diff"))
    assert "status-error" in page and "<code>missing-secret</code>" in page
    assert "WEB_NEVER_SET" in page
    assert "no earlier run of Unset in environment demo" in diff


def test_a_data_run_lists_instances_and_filters_failed_ones(
    site: Site, runs: dict[str, str]
) -> None:
    run_id = runs["data"]
    with signed_in(site, "viewer") as client:
        page = text_of(client.get(f"/runs/{run_id}"))
        assert "Instances" in page and "Data rows" in page and "keyed by word" in page
        keys = re.findall(rf'href="/runs/{run_id}/instances/(\d+)">(\w+)<', page)
        assert keys == [("0", "a"), ("1", "b"), ("2", "c")]
        failed = text_of(client.get(f"/runs/{run_id}?failed=1"))
        assert re.findall(rf'/runs/{run_id}/instances/\d+">(\w+)<', failed) == ["b", "c"]
        one = text_of(client.get(f"/runs/{run_id}/instances/2"))
        assert "Checked · c" in one and "assert-failed" in one and "word=c" in one
        assert f'href="/runs/{run_id}/instances/1"' in one  # ← previous instance
        assert f'href="/runs/{run_id}/instances/3"' not in one  # the last has no next
        assert client.get(f"/runs/{run_id}/instances/9").status_code == 404
        assert client.get("/runs/no-such-run").status_code == 404


def test_a_large_data_run_pages_its_instances(site: Site, runs: dict[str, str]) -> None:
    rows = [{"word": "a" if n % 2 else f"w{n}"} for n in range(60)]
    run_id = start(site, "checked", rows=rows, concurrency=20)
    assert finished(site, run_id, timeout=60)["total"] == 60
    link = re.compile(rf'href="/runs/{run_id}/instances/(\d+)"')
    with signed_in(site, "viewer") as client:
        first = text_of(client.get(f"/runs/{run_id}"))
        second = text_of(client.get(f"/runs/{run_id}?offset=50"))
        failed = text_of(client.get(f"/runs/{run_id}?failed=1"))
    assert len(link.findall(first)) == 50 and "1–50 of 60" in first
    assert f'href="/runs/{run_id}?offset=50"' in first
    assert link.findall(second) == [str(n) for n in range(50, 60)]
    assert link.findall(failed) == [str(n) for n in range(0, 60, 2)]  # rows w0, w2, ...
    assert "30 passed, 30 failed, 0 error, 0 pending of 60" in first


def test_the_diff_shows_what_changed_since_the_previous_run(
    site: Site, runs: dict[str, str]
) -> None:
    before = start(site, "checked", inputs={"word": "a"})
    finished(site, before)
    after = start(site, "checked", inputs={"word": "z"})
    finished(site, after)
    with signed_in(site, "viewer") as client:
        assert f'href="/runs/{after}/diff"' in client.get(f"/runs/{after}").text
        page = text_of(client.get(f"/runs/{after}/diff"))
    assert before[:12] in page and after[:12] in page
    instances = page[page.index("<h2>Instances") : page.index("<h2>Steps")]
    assert "status-passed" in instances and "status-failed" in instances
    steps = page[page.index("<h2>Steps") : page.index("<h2>Timings")]
    assert "say" in steps and "$.json.word" in steps and "after" not in steps
    assert "Timings" in page and re.search(r"[+−][\d.]+ (ms|s)", page)


def test_rerun_and_cancel_need_an_editor(site: Site, runs: dict[str, str]) -> None:
    run_id = runs["passing"]
    with signed_in(site, "viewer") as client:
        page = client.get(f"/runs/{run_id}").text
        assert "/rerun" not in page and "/cancel" not in page
        refused = client.post(f"/runs/{run_id}/rerun", data={"csrf": csrf_of(page)})
        assert refused.status_code == 403
    with signed_in(site, "editor") as client:
        page = client.get(f"/runs/{run_id}").text
        assert f'action="/runs/{run_id}/rerun"' in page and "/cancel" not in page
        again = client.post(f"/runs/{run_id}/rerun", data={"csrf": csrf_of(page)})
        assert again.status_code == 303
        new_id = again.headers["location"].split("?")[0].rsplit("/", 1)[1]
        assert finished(site, new_id)["trigger"] == "rerun"
        shown = text_of(client.get(again.headers["location"]))
        assert "Rerun started." in shown and f'href="/runs/{run_id}"' in shown


def test_cancel_stops_a_running_run(site: Site, runs: dict[str, str]) -> None:
    run_id = start(site, "slow")
    with signed_in(site, "editor") as client:
        page = client.get(f"/runs/{run_id}").text
        assert f'action="/runs/{run_id}/cancel"' in page
        assert f'hx-get="/runs/{run_id}/progress"' in page
        done = client.post(f"/runs/{run_id}/cancel", data={"csrf": csrf_of(page)})
        assert done.status_code == 303 and "flash=Run+cancelled." in done.headers["location"]
        assert "Run cancelled." in client.get(done.headers["location"]).text
        assert finished(site, run_id)["status"] == "cancelled"
        late = client.post(f"/runs/{run_id}/cancel", data={"csrf": csrf_of(page)})
        assert late.status_code == 409 and "already finished (cancelled)" in late.text
        assert "Whatever" not in client.get(f"/runs/{run_id}?flash=Whatever").text
        progress = client.get(f"/runs/{run_id}/progress", headers={"HX-Request": "true"})
        assert progress.headers.get("hx-refresh") == "true"


def post_form(client: httpx.Client, **fields: str) -> httpx.Response:
    csrf = csrf_of(client.get("/runs/new").text)
    return client.post("/runs/new", data={"csrf": csrf, **fields})


def client_post_twice(site: Site, artifact: str) -> list[str]:
    """Submit one rendered form twice with the same values, then with other values."""
    with signed_in(site, "editor") as client:
        csrf = csrf_of(client.get("/runs/new").text)
        once = re.search(r'name="once" value="([^"]+)"', client.get("/runs/new").text)
        assert once
        fields = {"csrf": csrf, "once": once.group(1), "artifact": artifact, "environment": "demo"}
        answers = [client.post("/runs/new", data=fields) for _ in range(2)]
        answers.append(client.post("/runs/new", data={**fields, "inputs": "word=q"}))
    assert all(a.status_code == 303 for a in answers)
    locations = [a.headers["location"].split("?")[0] for a in answers]
    for location in set(locations):
        finished(site, location.rsplit("/", 1)[1])
    return locations


def test_the_start_form_refuses_what_the_api_refuses(site: Site, runs: dict[str, str]) -> None:
    artifact = site.artifacts["checked"].id
    with signed_in(site, "viewer") as client:
        assert client.get(f"/runs/new?artifact={artifact}").status_code == 403
    problems = {
        "inputs: not valid JSON": {"inputs": "{nope"},
        "inputs, line 1: expected name=value": {"inputs": "word"},
        "declares no input 'wrd'": {"inputs": "wrd=x"},
        "case 'nope' is not defined": {"case": "nope"},
        "environment 'mars' does not exist": {"environment": "mars"},
        "data rows: a JSON array of objects": {"rows": '{"word": "a"}'},
        "rows: give at least one row": {"rows": "[]"},
        "concurrency: Input should be greater than or equal to 1": {"concurrency": "0"},
        "data_key names a column of rows": {"data_key": "word"},
    }
    with signed_in(site, "editor") as client:
        form = text_of(client.get(f"/runs/new?artifact={artifact}"))
        assert f'value="{artifact}" selected' in form and "word</code>" in form
        assert 'value="demo" selected' in form  # the only environment is the default
        assert client.get("/runs/new?artifact=ffffffffffff").status_code == 404
        by_journey = client.get("/runs/new?journey=Checked")
        assert by_journey.status_code == 200 and f'value="{artifact}" selected' in by_journey.text
        unknown = client.get("/runs/new?journey=Nope")
        assert unknown.status_code == 404 and "has no uploaded artifact" in text_of(unknown)
        for message, fields in problems.items():
            answer = post_form(client, **{"artifact": artifact, "environment": "demo", **fields})
            assert answer.status_code == 422, (message, answer.status_code)
            assert message in text_of(answer), message
            assert 'class="flash flash-error form-problem"' in answer.text
        missing = post_form(client, artifact="")
        assert missing.status_code == 422 and "pick the artifact" in missing.text
        unknown = post_form(client, artifact="ffffffffffff")
        assert unknown.status_code == 422 and "is not uploaded" in unknown.text
        made = post_form(client, artifact=artifact, environment="demo", inputs='{"word": "a"}',
                         rows='[{"word": "a"}, {"word": "q"}]', data_key="word")  # fmt: skip
    assert made.status_code == 303 and made.headers["location"].startswith("/runs/")
    again = client_post_twice(site, artifact)
    assert again[0] == again[1] != again[2]  # a double submit is one run; other values another
    run = finished(site, made.headers["location"].split("?")[0].rsplit("/", 1)[1])
    assert (run["total"], run["passed"], run["failed"]) == (2, 1, 1)


def test_no_runs_page_shows_a_secret(site: Site, runs: dict[str, str]) -> None:
    canary = "web-canary-" + "Zq8xv3Lk2Rp"
    with site.api("admin") as admin:
        put = admin.put("/api/v1/secrets/demo/WEB_CANARY", json={"value": canary})
    assert put.status_code in (200, 201), put.text
    site.add_journey("secretive", SECRET)
    run_id = start(site, "secretive")
    assert finished(site, run_id)["status"] == "failed"
    forms = [canary, base64.b64encode(canary.encode()).decode(), canary.replace("-", "%2D")]
    with signed_in(site, "admin") as client:
        urls = ["/runs", "/runs/table", f"/runs/{run_id}", f"/runs/{run_id}/instances/0",
                f"/runs/{run_id}/diff", f"/runs/{run_id}/progress", "/runs/new",
                "/runs?journey=Secretive"]  # fmt: skip
        pages = {url: client.get(url) for url in urls}
    assert all(p.status_code == 200 for p in pages.values())
    detail = text_of(pages[f"/runs/{run_id}"])
    assert "assert-failed" in detail and "[REDACTED]" in detail  # evidence, masked
    for url, answer in pages.items():
        for form in forms:
            assert form not in answer.text and form not in text_of(answer), url


def test_an_editor_starts_a_run_and_watches_it_finish(
    site: Site, runs: dict[str, str], page_as: Callable[[str], Page]
) -> None:
    page = page_as("editor")
    page.goto(f"{site.url}/runs/new?artifact={site.artifacts['checked'].id}")
    expect(page.locator("#start-form")).to_contain_text("Declared: word")
    page.fill("#s-inputs", "kept=1")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.select_option("#s-artifact", site.artifacts["slow"].id)  # htmx refreshes the hints
    expect(page.locator("#start-form")).to_contain_text("Declared: none")
    expect(page.locator("#s-inputs")).to_have_value("kept=1")
    assert requested and not any("kept" in url for url in requested)  # inputs stay in the form
    page.fill("#s-inputs", "")
    page.select_option("#s-environment", "demo")
    page.click("text=Start the run")
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f]{32}\?flash=.*"))
    expect(page.locator("#progress .status")).to_contain_text(re.compile("queued|running"))
    expect(page.locator("h1 .status")).to_contain_text("passed", timeout=20_000)
    step = page.locator("details.step").first
    step.locator(":scope > summary").click()
    expect(step.locator(".request")).to_contain_text("/slow?ms=2500")
    expect(step.locator(".response")).to_contain_text("HTTP/1.1 200")
    expect(step.locator(".response pre")).to_contain_text('"slept_ms": 2500')


def test_the_list_follows_a_running_run_live(
    site: Site, runs: dict[str, str], page_as: Callable[[str], Page]
) -> None:
    page = page_as("viewer")
    run_id = start(site, "slow")
    page.goto(f"{site.url}/runs?journey=Slow")
    row = page.locator("#runs-table tr", has=page.locator(f'a[href="/runs/{run_id}"]'))
    expect(row).to_contain_text(re.compile("queued|running"))
    expect(row).to_contain_text("passed", timeout=20_000)  # no reload: the table polls
    expect(page.locator("#runs-table")).not_to_have_attribute("hx-trigger", "every 1s")
    expect(page.get_by_role("link", name="Start a run")).to_have_count(0)  # a viewer
