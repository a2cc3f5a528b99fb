"""Run diffs at scale, on SQLite and PostgreSQL: the database joins two runs' instances on
their key and returns only those whose status differs, a page at a time, with counts
(reqflo.store.run_diff_views); step changes and timings stream both runs in key order
(reqflo.cloud.web.run_diff.step_diff). Two runs of thousands of instances where a few
differ; repeated keys; keys whose order depends on the collation; the web page's
paging, and a precise 400 page for bad paging parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from reqflo.artifact import Artifact
from reqflo.cloud.web.run_diff import diff_page, step_diff
from reqflo.runner.results import (
    AssertionResult,
    Attempt,
    InstanceResult,
    ResponseRecord,
    StepResult,
    Timings,
)
from reqflo.store import NewRun, RunRecord, Store
from reqflo.store.models import InstanceRow
from reqflo.store.run_diff_views import BadCursor, DiffCounts, DiffCursor, DiffViews
from test_cloud_support import compiled, opened_store
from web_support import Site, running_site, signed_in

ORDERS = Path(__file__).resolve().parents[1] / "examples" / "orders.yaml"
SIZE = 3000  # instances per run


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    with opened_store(request.param, tmp_path_factory.mktemp("diff")) as opened:
        yield opened


@pytest.fixture(scope="module")
def artifact(store: Store) -> Artifact:
    found = compiled(ORDERS)
    assert isinstance(found, Artifact)
    store.put_artifact(found)
    return found


def result(index: int, key: str, status: str, http: int = 200, ms: float = 10.0) -> dict[str, Any]:
    check = AssertionResult(index=0, type="status_code", operator="equals", passed=http < 400)
    attempt = Attempt(number=1, response=ResponseRecord(status=http, timings=Timings(total_ms=ms)),
                      assertions=(check,))  # fmt: skip
    step = StepResult(index=0, id="get", name="get", status="passed" if http < 400 else "failed",
                      attempts=(attempt,), duration_ms=ms)  # fmt: skip
    found = InstanceResult(index=index, key=key, status=status, steps=(step,))  # type: ignore[arg-type]
    return found.model_dump(mode="json")


def a_run(
    store: Store, artifact: Artifact, instances: list[tuple[str, str, int, float]]
) -> RunRecord:
    """A run whose instances are (key, status, response status, step ms), inserted at once."""
    record, _ = store.create_run(NewRun(
        artifact_id=artifact.id, journey=artifact.plan.journey.name, environment="diff",
        requested_by="t", instances=len(instances), concurrency=1))  # fmt: skip
    rows = [
        {"run_id": record.id, "index": n, "key": name, "status": status, "duration_ms": ms,
         "result": result(n, name, status, http, ms)}
        for n, (name, status, http, ms) in enumerate(instances)
    ]  # fmt: skip
    with store.session() as session:
        session.execute(sa.insert(InstanceRow), rows)
    return record


def key(n: int) -> str:
    return f"row-{n:05d}"


@pytest.fixture(scope="module")
def big(store: Store, artifact: Artifact) -> tuple[RunRecord, RunRecord]:
    """Two runs of SIZE instances: 3 change status, 1 only changes its response status,
    row-00000 is gone, row-99999 is new; the steps take 10 ms before, 12 ms after."""
    old = [(key(n), "passed", 200, 10.0) for n in range(SIZE)]
    new = [(key(n), "passed", 200, 12.0) for n in range(1, SIZE)] + [
        (key(99999), "passed", 200, 12.0)
    ]
    for n in (7, 1500, 2999):
        new[n - 1] = (key(n), "failed", 500, 12.0)
    new[41] = (key(42), "passed", 201, 12.0)  # same status, another response status
    return a_run(store, artifact, old), a_run(store, artifact, new)


def test_the_database_lists_only_the_changed_instances_with_counts(
    store: Store, big: tuple[RunRecord, RunRecord]
) -> None:
    old, new = big
    views = DiffViews(store)
    page = views.status_changes(old.id, new.id, None, 100)
    assert [(c.key, c.old, c.new) for c in page.changes] == [
        (key(0), "passed", None), (key(7), "passed", "failed"), (key(1500), "passed", "failed"),
        (key(2999), "passed", "failed"), (key(99999), None, "passed"),
    ]  # fmt: skip
    assert page.next is None
    assert views.counts(old.id, new.id) == DiffCounts(changed=3, added=1, removed=1, same=SIZE - 4)


def test_pages_follow_each_other_without_gaps_or_repeats(
    store: Store, big: tuple[RunRecord, RunRecord]
) -> None:
    old, new = big
    views, after, seen = DiffViews(store), None, []
    for _ in range(10):
        page = views.status_changes(old.id, new.id, after, 2)
        seen += [c.key for c in page.changes]
        after = page.next
        if after is None:
            break
        assert DiffCursor.parse(after.text) == after
    assert seen == [key(0), key(7), key(1500), key(2999), key(99999)]


def test_step_changes_and_timings_stream_in_key_order(
    store: Store, big: tuple[RunRecord, RunRecord]
) -> None:
    old, new = big
    diff = step_diff(DiffViews(store).pairs(old.id, new.id), keep=2)
    assert diff.total == 4  # rows 7, 42, 1500, 2999
    assert [(s.key, s.old_http, s.new_http) for s in diff.steps] == [
        (key(7), 200, 500), (key(42), 200, 201),
    ]  # fmt: skip
    assert diff.unchanged == SIZE - 5  # same status and no step change (not row 42)
    (timing,) = diff.timings
    assert (timing.step, timing.old_ms, timing.new_ms) == ("get", 10.0, 12.0)


def test_repeated_keys_pair_up_in_index_order(store: Store, artifact: Artifact) -> None:
    old = a_run(store, artifact, [("k", "passed", 200, 1.0), ("k", "failed", 500, 1.0),
                                  ("k", "passed", 200, 1.0)])  # fmt: skip
    new = a_run(store, artifact, [("k", "passed", 200, 1.0), ("k", "passed", 200, 1.0)])
    views = DiffViews(store)
    page = views.status_changes(old.id, new.id, None, 10)
    assert [(c.key, c.old, c.new) for c in page.changes] == [("k", "failed", "passed"),
                                                              ("k", "passed", None)]  # fmt: skip
    assert views.counts(old.id, new.id) == DiffCounts(changed=1, added=0, removed=1, same=1)
    first = views.status_changes(old.id, new.id, None, 1)
    assert first.next == DiffCursor("k", 2)
    rest = views.status_changes(old.id, new.id, first.next, 1)
    assert [(c.old, c.new) for c in rest.changes] == [("passed", None)] and rest.next is None
    assert step_diff(views.pairs(old.id, new.id)).total == 1


def test_keys_are_in_code_point_order_on_both_databases(store: Store, artifact: Artifact) -> None:
    keys = ["b", "B", "a", "A", "é", "_x", "10", "9", "a b", "ab"]
    old = a_run(store, artifact, [(k, "passed", 200, 1.0) for k in keys])
    new = a_run(store, artifact, [(k, "failed", 500, 1.0) for k in reversed(keys)])
    views = DiffViews(store)
    listed, after = [], None
    while True:
        page = views.status_changes(old.id, new.id, after, 3)
        listed += [c.key for c in page.changes]
        if page.next is None:
            break
        after = page.next
    assert listed == sorted(keys)
    assert [s.key for s in step_diff(views.pairs(old.id, new.id)).steps] == sorted(keys)


@pytest.mark.parametrize(
    "text", ["", "row-1", "0:row-1", "-1:row-1", "1:", "1234567890:k", "x:k", "1:a\x00", "1:\x00b"]
)
def test_a_cursor_no_page_returned_is_refused(text: str) -> None:
    with pytest.raises(BadCursor, match=r"expected the `next` value of a previous page"):
        DiffCursor.parse(text)


def test_pages_follow_each_other_past_a_long_key(store: Store, artifact: Artifact) -> None:
    """Keys are data row values of any length (SQLite does not enforce String(400)): the
    server's own `next` after a long key is a cursor it takes back."""
    long = "L" * (450 if store.engine.dialect.name == "sqlite" else 400)
    keys = ["a", long, "z", "line\nbreak\ttab"]
    old = a_run(store, artifact, [(k, "passed", 200, 1.0) for k in keys])
    new = a_run(store, artifact, [(k, "failed", 500, 1.0) for k in keys])
    views, listed, after = DiffViews(store), [], None
    for _ in range(len(keys) + 1):
        page = views.status_changes(old.id, new.id, after, 1)
        listed += [c.key for c in page.changes]
        if page.next is None:
            break
        after = DiffCursor.parse(page.next.text)
    assert listed == sorted(keys)


# ------------------------------------------------------------------ API and web page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_url: str) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("diff-site"), demo_url) as found:
        yield found


@pytest.fixture(scope="module")
def served_runs(site: Site) -> tuple[RunRecord, RunRecord]:
    """Two runs of 1200 instances in the site's store: rows 5, 600 and 1100 failed."""
    artifact = site.artifacts["echo"]
    old = a_run(site.store, artifact, [(key(n), "passed", 200, 5.0) for n in range(1200)])
    new = [(key(n), "failed" if n in (5, 600, 1100) else "passed", 200, 5.0) for n in range(1200)]
    return old, a_run(site.store, artifact, new)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit: a whole number from 1 to 500, got '0'"),
        ({"limit": "501"}, "limit: a whole number from 1 to 500, got '501'"),
        ({"limit": "ten"}, "limit: a whole number from 1 to 500, got 'ten'"),
        ({"limit": "-1"}, "limit: a whole number from 1 to 500, got '-1'"),
        ({"after": "row-00005"}, "after: expected the `next` value of a previous page"),
        ({"after": "0:row-00005"}, "like '1:row-17' (N:KEY), got '0:row-00005'"),
        ({"after": ""}, "after: expected the `next` value of a previous page"),
    ],
)
def test_bad_paging_is_a_precise_400_page(
    site: Site, served_runs: tuple[RunRecord, RunRecord], params: dict[str, str], message: str
) -> None:
    with signed_in(site, "viewer") as client:
        answer = client.get(f"/runs/{served_runs[1].id}/diff", params=params)
    assert answer.status_code == 400 and message in unescape(answer.text), answer.text
    assert "<html" in answer.text


def test_the_diff_page_shows_counts_and_links_the_next_page(
    site: Site, served_runs: tuple[RunRecord, RunRecord]
) -> None:
    new = served_runs[1]
    with signed_in(site, "viewer") as client:
        first = client.get(f"/runs/{new.id}/diff", params={"limit": 2})
        found = re.search(r'<a rel="next" href="([^"]+)"', first.text)
        assert first.status_code == 200 and found, first.text
        second = client.get(unescape(found.group(1)))
    counts = re.search(r'id="diff-counts">(.*?)</p>', first.text, re.S)
    assert (
        counts and counts.group(1) == "3 changed status · 0 new · 0 gone · 1197 kept their status"
    )
    assert key(5) in first.text and key(600) in first.text and key(1100) not in first.text
    assert key(1100) in second.text and key(600) not in second.text
    assert 'rel="next"' not in second.text and "First page" in second.text
    assert "1197 instances unchanged" in first.text
    assert "<h2>Steps</h2>" in first.text and 'id="steps-elsewhere"' not in first.text
    assert "<h2>Steps</h2>" not in second.text and "<h2>Timings" not in second.text
    assert "Step changes and timings are on the" in second.text
    assert 'href="/runs/' + new.id + '/diff?limit=2">first page</a>' in second.text


def test_a_later_diff_page_reads_no_result(store: Store, artifact: Artifact) -> None:
    """Step changes stream and validate both runs' results: only the first page does that
    (a later page at 2 x 20k instances took 2.5 s per click); a later page reads statuses."""
    old = a_run(store, artifact, [(k, "passed", 200, 1.0) for k in "abc"])
    new = a_run(store, artifact, [(k, "failed", 500, 1.0) for k in "abc"])
    with store.session() as session:  # a result no page may need to read
        session.execute(
            sa.update(InstanceRow).where(InstanceRow.run_id == new.id).values(result={"x": 1})
        )
    later = diff_page(store, old, new, DiffCursor("a", 1), 1)
    assert [c.key for c in later.instances] == ["b"] and later.next == "1:b"
    assert not later.first_page and later.steps == () and later.timings == ()
    assert later.counts == DiffCounts(changed=3, added=0, removed=0, same=0)
    with pytest.raises(ValueError, match="validation error"):
        diff_page(store, old, new, None, 1)  # the first page reads every result


def test_the_api_pages_through_the_changed_instances(
    site: Site, served_runs: tuple[RunRecord, RunRecord]
) -> None:
    old, new = served_runs
    with site.api("viewer") as api:
        first = api.get(f"/api/v1/runs/{new.id}/diff", params={"limit": 2})
        assert first.status_code == 200, first.text
        body = first.json()
        second = api.get(f"/api/v1/runs/{new.id}/diff", params={"limit": 2, "after": body["next"]})
        against = api.get(f"/api/v1/runs/{new.id}/diff", params={"against": new.id}).json()
    assert body["against"] == old.id and body["run_id"] == new.id and body["limit"] == 2
    assert body["counts"] == {"changed": 3, "added": 0, "removed": 0, "same": 1197}
    assert body["instances"] == [
        {"key": key(5), "old_status": "passed", "new_status": "failed"},
        {"key": key(600), "old_status": "passed", "new_status": "failed"},
    ]
    assert body["next"] == f"1:{key(600)}"
    assert second.json()["instances"] == [
        {"key": key(1100), "old_status": "passed", "new_status": "failed"}
    ]
    assert second.json()["next"] is None
    assert against["instances"] == [] and against["counts"]["same"] == 1200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "Input should be greater than or equal to 1"),
        ({"limit": 501}, "Input should be less than or equal to 500"),
        ({"limit": "ten"}, "Input should be a valid integer"),
        ({"after": "row-00005"}, "after: expected the `next` value of a previous page"),
        ({"after": "0:row-00005"}, "like '1:row-17' (N:KEY), got '0:row-00005'"),
    ],
)
def test_bad_paging_is_a_precise_422(
    site: Site, served_runs: tuple[RunRecord, RunRecord], params: dict[str, Any], message: str
) -> None:
    with site.api("viewer") as api:
        answer = api.get(f"/api/v1/runs/{served_runs[1].id}/diff", params=params)
    assert answer.status_code == 422 and message in answer.text, answer.text


def test_nothing_to_compare_with_is_a_404_with_a_hint(
    site: Site, served_runs: tuple[RunRecord, RunRecord]
) -> None:
    old, new = served_runs
    with site.api("viewer") as api:
        first = api.get(f"/api/v1/runs/{old.id}/diff")
        unknown = api.get(f"/api/v1/runs/{new.id}/diff", params={"against": "f" * 32})
        anonymous = httpx.get(f"{site.url}/api/v1/runs/{new.id}/diff")
    assert first.status_code == 404 and "pass ?against=RUN_ID" in first.json()["detail"]
    assert f"no earlier run of '{old.journey}' in environment 'diff'" in first.json()["detail"]
    assert unknown.status_code == 404 and "no run with id" in unknown.json()["detail"]
    assert anonymous.status_code == 401


def test_the_openapi_document_declares_the_diff_404(site: Site) -> None:
    with site.api("viewer") as api:
        document = api.get("/openapi.json").json()
    answers = document["paths"]["/api/v1/runs/{run_id}/diff"]["get"]["responses"]
    assert set(answers) == {"200", "404", "422"}
    assert "no earlier run" in answers["404"]["description"]
