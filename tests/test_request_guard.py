"""Input PostgreSQL cannot take gets a precise 4xx on both databases, never a 500
(reqflo.cloud.request_guard): a NUL (%00) in a path or query string — a 422 naming the
parameter under /api/, the web UI's 400 page on pages; a NUL in a request body's text
field; an event id beyond the int4 `run_events.id` (`after`, `Last-Event-ID`)."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest

from reqflo.cloud.request_guard import nul_in
from reqflo.store import RunRecord
from test_cloud_support import opened_store
from test_run_diff import a_run
from web_support import Site, csrf_of, signed_in, site_on

REFUSED = "may not contain a NUL character"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, demo_url: str
) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("guard")
    with opened_store(request.param, folder) as store, site_on(store, folder, demo_url) as found:
        yield found


@pytest.fixture(scope="module")
def runs(site: Site) -> tuple[RunRecord, RunRecord]:
    artifact = site.artifacts["echo"]
    old = a_run(site.store, artifact, [("a", "passed", 200, 1.0), ("b", "passed", 200, 1.0)])
    return old, a_run(site.store, artifact, [("a", "failed", 500, 1.0), ("b", "passed", 200, 1.0)])


def test_a_request_without_nul_passes() -> None:
    scope: dict[str, Any] = {"path": "/api/v1/runs/x", "query_string": b"after=1%3A%2500&a=b"}
    assert nul_in(scope) is None
    assert nul_in(scope | {"query_string": b"limit=2&after=1%3Aa%00"}) == "query.after"
    assert nul_in(scope | {"path": "/api/v1/runs/\x00"}) == "path"


@pytest.mark.parametrize(
    ("path", "params", "where"),
    [
        ("/api/v1/runs/NEW/diff", {"after": "1:\x00"}, "query.after"),
        ("/api/v1/runs/NEW/diff", {"after": "1:a\x00b", "limit": "1"}, "query.after"),
        ("/api/v1/runs/NEW/diff", {"against": "\x00"}, "query.against"),
        ("/api/v1/runs/%00", {}, "path"),
        ("/api/v1/runs/NEW/events", {"after": "\x00"}, "query.after"),
        ("/api/v1/runs", {"journey": "E\x00"}, "query.journey"),
        ("/api/v1/environments/a%00", {}, "path"),
    ],
)
def test_a_nul_in_an_api_path_or_query_is_a_422_naming_it(
    site: Site, runs: tuple[RunRecord, RunRecord], path: str, params: dict[str, str], where: str
) -> None:
    with site.api("viewer") as api:
        answer = api.get(path.replace("NEW", runs[1].id), params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"{where}: {REFUSED}")


@pytest.mark.parametrize(
    ("path", "params", "where"),
    [
        ("/runs/NEW/diff", {"after": "1:a\x00"}, "query.after"),
        ("/runs/NEW/diff", {"against": "\x00"}, "query.against"),
        ("/runs/%00", {}, "path"),
        ("/runs", {"journey": "\x00"}, "query.journey"),
    ],
)
def test_a_nul_in_a_page_address_is_the_400_page(
    site: Site, runs: tuple[RunRecord, RunRecord], path: str, params: dict[str, str], where: str
) -> None:
    with signed_in(site, "viewer") as client:
        answer = client.get(path.replace("NEW", runs[1].id), params=params)
    assert answer.status_code == 400, answer.text
    assert "<html" in answer.text and f"{where}: {REFUSED}" in unescape(answer.text)
    assert answer.headers["X-Frame-Options"] == "DENY"  # the pages' security headers


SCHEDULE = {"name": "guarded", "journey": "Echo", "cron": "0 3 * * *", "environment": "demo"}


def run_body(site: Site, **fields: Any) -> dict[str, Any]:
    return {"artifact_id": site.artifacts["echo"].id, "environment": "demo"} | fields


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/api/v1/runs", {"idempotency_key": "k\x00"}, "body.idempotency_key"),
        ("POST", "/api/v1/runs", {"data_key": "w\x00", "rows": [{"w": 1}]}, "body.data_key"),
        ("POST", "/api/v1/runs", {"artifact_id": "abcdef\x00"}, "body.artifact_id"),
        ("POST", "/api/v1/runs", {"case": "loud\x00"}, "body.case"),
        ("POST", "/api/v1/tokens", {"name": "t\x00", "role": "viewer"}, "body.name"),
        ("POST", "/api/v1/schedules", {**SCHEDULE, "journey": "Echo\x00"}, "body.journey"),
        ("POST", "/api/v1/schedules", {**SCHEDULE, "case": "loud\x00"}, "body.case"),
        ("PATCH", "/api/v1/schedules/guarded", {"journey": "Echo\x00"}, "body.journey"),
    ],
)
def test_a_nul_in_a_stored_body_field_is_a_422_naming_it(
    site: Site, method: str, path: str, body: dict[str, Any], where: str
) -> None:
    sent = run_body(site, **body) if path == "/api/v1/runs" else body
    with site.api("admin") as api:
        if method == "PATCH":
            api.post("/api/v1/schedules", json=SCHEDULE)  # 409 when it is there already
        answer = api.request(method, path, json=sent)
    assert answer.status_code == 422, answer.text
    assert f"{where}: Value error, {REFUSED}" in answer.json()["detail"]


def test_a_nul_in_json_values_is_stored_as_json(site: Site) -> None:
    """Run inputs, rows and environment values are JSON: a NUL is data there (a journey may
    send one on purpose), stored and returned on both databases."""
    with site.api("admin") as api:
        env = api.put("/api/v1/environments/nul", json={"values": {"a": "x\x00", "\x00": [1]}})
        run = api.post("/api/v1/runs", json=run_body(site, inputs={"word": "h\x00i"}))
        secret = api.put("/api/v1/secrets/demo/nul", json={"value": "s\x00"})
    assert env.status_code == 201 and env.json()["values"] == {"a": "x\x00", "\x00": [1]}
    assert run.status_code == 201 and run.json()["inputs"] == {"word": "h\x00i"}, run.text
    assert secret.status_code == 201, secret.text


def test_diff_paging_survives_a_key_with_control_characters(site: Site) -> None:
    """Keys are data row values: a tab or a newline in one must not stop the paging."""
    artifact = site.artifacts["echo"]
    keys = ["a\tb", "c\nd", "e\x7ff", "z"]
    old = a_run(site.store, artifact, [(k, "passed", 200, 1.0) for k in keys])
    new = a_run(site.store, artifact, [(k, "failed", 500, 1.0) for k in keys])
    seen, after = [], None
    with site.api("viewer") as api:
        for _ in range(len(keys) + 1):
            params = {"against": old.id, "limit": 1} | ({"after": after} if after else {})
            answer = api.get(f"/api/v1/runs/{new.id}/diff", params=params)
            assert answer.status_code == 200, answer.text
            seen += [i["key"] for i in answer.json()["instances"]]
            after = answer.json()["next"]
            if after is None:
                break
    assert seen == keys


@pytest.mark.parametrize(
    ("params", "headers", "where"),
    [
        ({"after": 2**31}, {}, "query.after"),
        ({"after": 2**63 - 1}, {}, "query.after"),
        ({}, {"Last-Event-ID": str(2**40)}, "Last-Event-ID"),
    ],
)
def test_an_event_id_beyond_the_id_column_is_a_422(
    site: Site, params: dict[str, int], headers: dict[str, str], where: str
) -> None:
    """`run_events.id` is an Integer (int4 on PostgreSQL): a larger id was a 200 with an
    empty body on PostgreSQL (NumericValueOutOfRange in the log)."""
    run = a_run(site.store, site.artifacts["echo"], [("a", "passed", 200, 1.0)])
    site.store.cancel_run(run.id)
    with site.api("viewer") as api:
        answer = api.get(f"/api/v1/runs/{run.id}/events", params=params, headers=headers)
        largest = api.get(f"/api/v1/runs/{run.id}/events", params={"after": 2**31 - 1})
    assert answer.status_code == 422 and where in answer.json()["detail"], answer.text
    assert largest.status_code == 200 and "event: end" in largest.text, largest.text


@pytest.mark.parametrize(
    ("path", "fields", "where"),
    [
        ("/admin/tokens", {"name": "t\x00", "role": "viewer"}, "form.name"),
        ("/runs/new", {"artifact": "abcdef\x00", "environment": "demo"}, "form.artifact"),
        ("/schedules", {"name": "s", "cron": "0 * * * *", "journey": "Echo\x00"}, "form.journey"),
    ],
)
def test_a_nul_in_a_posted_form_is_the_400_page(
    site: Site, path: str, fields: dict[str, str], where: str
) -> None:
    with signed_in(site, "admin") as client:
        form = client.get("/admin/tokens").text
        answer = client.post(path, data=fields | {"csrf": csrf_of(form)})
        after = client.post("/admin/tokens", data={"name": "fine", "role": "viewer",
                                                   "csrf": csrf_of(form)})  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert "<html" in answer.text and f"{where}: {REFUSED}" in unescape(answer.text)
    assert after.status_code == 201, after.text  # a form without NUL goes through


@pytest.mark.parametrize(
    ("key", "problem"),
    [("a\x00b", "may not contain a NUL character"), ("k" * 401, "is longer than 400 characters")],
)
def test_an_instance_key_the_store_cannot_keep_is_a_422(site: Site, key: str, problem: str) -> None:
    """The data_key column names each instance; on PostgreSQL such a key was accepted
    (201) and the run then failed in the executor, its results lost."""
    body = run_body(site, rows=[{"who": "ok"}, {"who": key}], data_key="who")
    with site.api("editor") as api:
        answer = api.post("/api/v1/runs", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"rows.1.who: the instance key {problem}")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("NaN", "nan is not a JSON number"), ("1e999", "inf is not a JSON number"),
     ("[" * 70 + "]" * 70, "nests deeper than 64 levels")],
)  # fmt: skip
@pytest.mark.parametrize("where", ["environment", "run", "schedule"])
def test_json_values_a_request_body_cannot_carry_are_a_422(
    site: Site, value: str, problem: str, where: str
) -> None:
    """Found by probing the API: NaN and 1e999 in environment values were stored (shown
    as null, sent to targets as the invalid JSON token NaN); 100 levels were accepted."""
    bodies = {
        "environment": ("PUT", "/api/v1/environments/nan", f'{{"values": {{"a": {value}}}}}'),
        "run": ("POST", "/api/v1/runs",
                f'{{"artifact_id": "{site.artifacts["echo"].id}", "inputs": {{"a": {value}}}}}'),
        "schedule": ("POST", "/api/v1/schedules",
                     '{"name": "nan", "journey": "Echo", "cron": "0 3 * * *",'
                     f' "rows": [{{"a": {value}}}]}}'),
    }  # fmt: skip
    method, path, body = bodies[where]
    with site.api("admin") as api:
        answer = api.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 422, answer.text
    assert problem in answer.json()["detail"]
