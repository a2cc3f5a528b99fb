"""Hardening of the web UI: odd addresses and parameters answer a 4xx HTML page (never a
500, never FastAPI's JSON outside /api/), `next` only redirects within the site, a step
with several attempts renders, and flash messages cannot be written by a link.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page
from sqlalchemy import event, insert
from test_web_routes import PAGES

from reqflo.store.models import InstanceRow, RunRow
from web_support import Site, csrf_of, login_nonce, signed_in

RETRIED = """
journey:
  name: Retried
  variables:
    - {name: base_url, source: environment}
  steps:
    - id: poll
      name: Poll a flaky endpoint
      request:
        method: GET
        url: "{{ variables.base_url }}/flaky"
        query: {key: "hardening-retry", succeed_after: 10}
      retry: {attempts: 2, interval: 10ms, backoff: constant, until: assertions_pass}
      assertions:
        - {type: status_code, expected: 200}
"""
LONG = "x" * 5000


def finished_run(site: Site, journey: str, **body: Any) -> str:
    with site.api("editor") as api:
        payload = {"artifact_id": site.artifacts[journey].id, "environment": "demo", **body}
        run_id = str(api.post("/api/v1/runs", json=payload).json()["id"])
        deadline = time.monotonic() + 30
        while api.get(f"/api/v1/runs/{run_id}").json()["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.05)
    return run_id


@pytest.fixture(scope="module")
def run_id(site: Site) -> str:
    site.add_journey("retried", RETRIED)
    return finished_run(site, "retried")


def is_html_page(answer: httpx.Response, status: int) -> bool:
    return answer.status_code == status and answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "url",
    [
        "/nope",
        "/admin",
        "/admin/nope",
        "/admin/secrets/demo/a%2Fb",
        "/admin/secrets/demo/a/b",
        "/environments/a%2Fb",
        "/artifacts/a/b",
        "/schedules/a/b/c",
        "/runs/a%2Fb",
        "/static/nope.css",
    ],
)
def test_unknown_ui_addresses_get_the_html_404_page(site: Site, url: str) -> None:
    with signed_in(site, "admin") as client:
        answer = client.get(url)
    assert is_html_page(answer, 404), (answer.status_code, answer.text[:200])
    assert "There is no page at this address." in answer.text
    assert 'href="/admin/secrets"' in answer.text  # the page has the signed-in navigation


def test_the_api_keeps_its_json_errors(site: Site) -> None:
    with site.api("viewer") as api:
        unknown, missing = api.get("/api/v1/nope"), api.get("/api/v1/runs/nope")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Not Found"}
    assert missing.status_code == 404 and "detail" in missing.json()


def test_a_wrong_method_gets_the_html_405_page(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        answer = client.get("/logout")
    assert is_html_page(answer, 405) and "does not answer a GET request" in answer.text
    assert "POST" in answer.headers["allow"]


def test_odd_parameters_never_answer_500(site: Site, run_id: str) -> None:
    expected = {
        "/runs?offset=-5": 200,
        "/runs?offset=abc": 200,
        "/runs?offset=" + "9" * 30: 200,
        "/runs?offset=" + "9" * 5000: 200,
        "/runs/table?offset=" + "9" * 30: 200,
        "/runs?journey=" + LONG: 200,
        "/runs?status=" + LONG: 400,
        "/runs?to=9999-12-31": 400,
        "/runs?from=0001-01-01": 400,
        "/runs/table?to=9999-12-31": 200,
        "/runs?from=2026-13-01&status=bogus": 400,
        f"/runs/{run_id}?offset=-3": 200,
        f"/runs/{run_id}?offset=" + "9" * 30: 200,
        f"/runs/{run_id}?failed=1&offset=٣": 200,
        f"/runs/{run_id}/instances/-1": 404,
        f"/runs/{run_id}/instances/abc": 404,
        f"/runs/{run_id}/instances/" + "9" * 30: 404,
        f"/runs/{run_id}/instances/٣": 404,
        f"/runs/{run_id}/diff?against=nope": 404,
        "/runs/" + LONG: 404,
        "/runs/%E2%9C%93/diff": 404,
        "/journeys/a%2Fb": 404,
        "/schedules/preview?cron=" + "1," * 3000 + "1+*+*+*+*": 200,
        "/admin/secrets?environment=" + LONG: 200,
    }
    with signed_in(site, "admin") as client:
        found = {url: client.get(url).status_code for url in expected}
    assert found == expected


def test_every_filter_problem_is_shown(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        answer = client.get("/runs", params={"from": "2026-13-01", "status": "bogus"})
    assert answer.status_code == 400
    assert "from: expected a date" in answer.text and "status: one of" in answer.text


def test_a_page_past_the_end_says_so(site: Site, run_id: str) -> None:
    with signed_in(site, "viewer") as client:
        answer = client.get("/runs", params={"offset": "100000"})
    assert answer.status_code == 200 and "Nothing on this page" in answer.text
    assert "No runs yet" not in answer.text


def test_a_step_with_several_attempts_renders_each(site: Site, run_id: str) -> None:
    with signed_in(site, "viewer") as client:
        answer = client.get(f"/runs/{run_id}")
    assert answer.status_code == 200, answer.text[:500]
    assert "Attempt 1" in answer.text and "Attempt 2" in answer.text


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/a\\..\\\\evil.example",
        "https://evil.example",
    ],
)
def test_sign_in_never_redirects_off_site(site: Site, target: str) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        nonce = login_nonce(client)
        answer = client.post(
            "/login", data={"token": site.tokens["viewer"], "login_csrf": nonce, "next": target}
        )
    assert answer.status_code == 303 and answer.headers["location"] == "/runs"


def test_flash_messages_are_signed_for_the_session(site: Site) -> None:
    with signed_in(site, "editor") as client, signed_in(site, "editor") as other:
        page = client.get("/environments")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        data = {"csrf": csrf.group(1), "name": "flashy", "values": "a: 1"}
        saved = client.post("/environments", data=data)
        location = saved.headers["location"]
        assert saved.status_code == 303 and "sig=" in location
        assert "Environment &#39;flashy&#39; created." in client.get(location).text
        assert "created." not in other.get(location).text  # another session's link
        forged = client.get("/environments/flashy", params={"flash": "Paste your token at x"})
        assert "Paste your token" not in forged.text
        odd = client.get("/environments/flashy", params={"flash": "Flash-4711", "sig": "ü€😀"})
        assert odd.status_code == 200 and "Flash-4711" not in odd.text  # was a 500 (TypeError)


def test_long_values_do_not_widen_pages_at_laptop_width(
    site: Site, page_as: Callable[[str], Page]
) -> None:
    long_url = "https://example.com/" + "a" * 400 + "?q=" + "b" * 200
    site.store.put_environment("long-values", {"base_url": long_url, "n" * 120: {"k": "x" * 500}})
    with site.api("editor") as api:
        hook = {"name": "long-hook", "cron": "0 3 * * *", "journey": "Echo", "environment": "demo"}
        made = api.post("/api/v1/schedules", json={**hook, "webhook_url": long_url})
        assert made.status_code == 201, made.text
    page = page_as("viewer")
    for path in ("/environments/long-values", f"/schedules/{made.json()['id']}", "/environments"):
        page.goto(site.url + path)
        wider = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert wider == 0, f"{path} is {wider}px wider than the window"


def seed_runs(site: Site, count: int, instances: int) -> str:
    """`count` finished runs of journey Bulk (the newest with `instances` instances)."""
    artifact, now = site.artifacts["echo"], datetime.now(UTC)
    token = site.store.tokens()[0].id
    runs = [
        {"id": uuid.uuid4().hex, "artifact_id": artifact.id, "journey": "Bulk",
         "environment": "demo", "status": "passed", "trigger": "api", "inputs": {},
         "concurrency": 10, "total": 1, "passed": 1, "failed": 0, "errored": 0,
         "created_at": now - timedelta(seconds=n), "requested_by": token}
        for n in range(count)
    ]  # fmt: skip
    runs[0].update(total=instances, passed=instances)
    result = {"key": "k", "status": "passed", "inputs": {}, "steps": [], "duration_ms": 1.0}
    rows = [
        {"run_id": runs[0]["id"], "index": n, "key": f"row-{n}", "status": "passed",
         "result": {**result, "index": n}, "duration_ms": 1.0}
        for n in range(instances)
    ]  # fmt: skip
    with site.store.session() as session:
        session.execute(insert(RunRow), runs)
        session.execute(insert(InstanceRow), rows)
    return str(runs[0]["id"])


def test_big_lists_are_paged_with_a_few_queries(site: Site) -> None:
    big = seed_runs(site, 2000, 1000)
    statements: list[str] = []

    def counted(*args: Any) -> None:
        statements.append(str(args[2]))

    with signed_in(site, "viewer") as client:
        event.listen(site.store.engine, "before_cursor_execute", counted)
        try:
            pages = {url: client.get(url) for url in ("/runs?journey=Bulk", f"/runs/{big}")}
            per_page = len(statements) / len(pages)
        finally:
            event.remove(site.store.engine, "before_cursor_execute", counted)
    listed, detail = pages.values()
    assert "1–50 of 2000" in listed.text and listed.text.count('href="/runs/') >= 50
    assert "1–50 of 1000" in detail.text and detail.text.count(f"/runs/{big}/instances/") == 50
    assert per_page <= 10, statements


def test_a_page_bug_answers_the_html_500_page_without_details(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reqflo.cloud.web.pages_catalog as pages_catalog

    def broken(*args: Any) -> None:
        raise RuntimeError("internal detail that must stay in the log")

    monkeypatch.setattr(pages_catalog, "journeys", broken)
    with signed_in(site, "viewer") as client, site.api("viewer") as api:
        answer = client.get("/journeys")
        health = api.get("/api/v1/runs")
    assert is_html_page(answer, 500) and "RuntimeError" in answer.text
    assert "internal detail" not in answer.text
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert health.status_code == 200


POSTS = [(path, url) for method, path, url, _ in PAGES if method == "POST"]


@pytest.mark.parametrize(("path", "url"), POSTS)
def test_every_form_needs_the_csrf_token_and_our_origin(site: Site, path: str, url: str) -> None:
    with signed_in(site, "admin") as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/runs").text)
        assert token
        missing = client.post(url, data={"name": "x"})
        foreign = client.post(
            url, data={"csrf": token.group(1)}, headers={"Origin": "https://evil.example"}
        )
    assert missing.status_code == 403 and "CSRF token is missing" in missing.text
    assert foreign.status_code == 403 and "posted from another site" in foreign.text


def test_a_null_origin_or_a_foreign_referer_is_another_site(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        token = csrf_of(client.get("/runs").text)
        for header in ({"Origin": "null"}, {"Referer": "https://evil.example/page"}):
            answer = client.post("/logout", data={"csrf": token}, headers=header)
            assert answer.status_code == 403 and "another site" in answer.text, header
        same = client.post("/logout", data={"csrf": token}, headers={"Origin": site.url})
    assert same.status_code == 303
