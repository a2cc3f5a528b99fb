"""Schedule pages and forms of the web UI, against a real Cloud Runner: list and detail
with next fire times, ticks and deliveries; add, edit, pause, resume and remove with the
API's checks and roles; the live next-fire preview; the webhook secret shown nowhere."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from reqflo.store import NewRun
from reqflo.store.catalog_views import recent_ticks_of
from reqflo.store.schedule_records import NewSchedule, ScheduleRecord
from reqflo.store.schedule_store import ScheduleStore
from test_cloud_support import opened_store
from web_support import Site, csrf_of, signed_in

WEBHOOK_SECRET = "canary-Webhook-Secret-93c1"
GOOD = {
    "name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Paris", "journey": "Echo",
    "environment": "demo", "inputs": "word: hello", "missed": "run_once",
    "webhook_url": "https://user:pw@hooks.example.com/reqflo?token=abc",
    "webhook_secret": WEBHOOK_SECRET,
}  # fmt: skip
START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def editor(site: Site) -> Iterator[httpx.Client]:
    with signed_in(site, "editor") as client:
        yield client


def post(client: httpx.Client, action: str, **fields: str) -> httpx.Response:
    token = csrf_of(client.get("/schedules/new").text)
    return client.post(action, data={"csrf": token, **fields})


def added(site: Site, client: httpx.Client, **fields: str) -> ScheduleRecord:
    answer = post(client, "/schedules", **{**GOOD, **fields})
    assert answer.status_code == 303, answer.text
    record = ScheduleStore(site.store).get(fields.get("name", GOOD["name"]))
    assert record is not None
    assert answer.headers["location"].startswith(f"/schedules/{record.id}?flash=")
    return record


def test_adding_a_schedule_shows_it_with_its_next_fire_times(
    site: Site, editor: httpx.Client
) -> None:
    record = added(site, editor)
    assert record.has_webhook_secret and record.inputs == {"word": "hello"}
    assert record.missed == "run_once" and record.enabled
    detail = editor.get(f"/schedules/{record.id}")
    assert detail.status_code == 200
    fires = re.findall(r'<time datetime="([^"]+)">', detail.text)
    assert len(fires) == 5 and all(f.endswith("+00:00") for f in fires)
    assert "CET" in detail.text or "CEST" in detail.text  # local times of Europe/Paris
    assert "hooks.example.com/reqflo?…" in detail.text and "user:pw" not in detail.text
    assert "secret set; never shown" in detail.text
    listing = editor.get("/schedules")
    row = re.search(rf"<tr>\s*<td><a href=\"/schedules/{record.id}\">.*?</tr>", listing.text, re.S)
    assert row and "<code>30 2 * * *</code>" in row.group(0) and "Europe/Paris" in row.group(0)
    assert 'href="/journeys/Echo"' in row.group(0) and "status-enabled" in row.group(0)
    assert len(re.findall(r"<time ", row.group(0))) == 5
    for page in ("/schedules", f"/schedules/{record.id}", f"/schedules/{record.id}/edit"):
        assert WEBHOOK_SECRET not in editor.get(page).text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"cron": "61 * * * *"}, 422, "is not a cron expression with 5 fields"),
        ({"cron": "0 0 30 2 *"}, 422, "never fires"),
        ({"timezone": "Mars/Olympus"}, 422, "'Mars/Olympus' is not an IANA timezone"),
        ({"timezone": "x" * 20_000}, 422, "is not an IANA timezone"),  # was a 500 (OSError)
        ({"journey": "Echp"}, 404, "journey 'Echp' has no uploaded artifact"),
        ({"journey": "", "artifact_id": ""}, 422, "give exactly one of journey"),
        ({"artifact_id": "abcdef0123"}, 422, "give exactly one of journey"),
        ({"journey": "", "artifact_id": "abcdef0123"}, 404, "artifact abcdef0123 is not uploaded"),
        ({"environment": "nowhere"}, 404, "environment 'nowhere' does not exist"),
        ({"inputs": "colour: red"}, 422, "declares no input 'colour'"),
        ({"inputs": "[1"}, 422, "inputs: not valid JSON"),
        ({"name": "bad name"}, 422, "name: use 1 to 100 letters"),
        ({"webhook_url": "ftp://x"}, 422, "webhook_url: give an http:// or https:// URL"),
        ({"webhook_url": "http://127.0.0.1:9/hook"}, 422, "is a loopback address"),
        ({"webhook_secret": "shrt-7x"}, 422, "webhook_secret: String should have at least 8"),
        ({"missed": "sometimes"}, 422, "missed: Input should be 'skip' or 'run_once'"),
    ],
)
def test_the_add_form_fails_precisely_and_keeps_what_was_typed(
    site: Site, editor: httpx.Client, fields: dict[str, str], status: int, message: str
) -> None:
    typed = {**GOOD, "name": "broken", **fields}
    answer = post(editor, "/schedules", **typed)
    assert answer.status_code == status, answer.text
    assert message in unescape(answer.text) and 'role="alert"' in answer.text
    assert f'value="{typed["cron"]}"' in answer.text
    assert typed["webhook_secret"] not in answer.text
    assert ScheduleStore(site.store).get("broken") is None


def test_unknown_journeys_get_a_hint_and_duplicates_a_409(site: Site, editor: httpx.Client) -> None:
    hint = post(editor, "/schedules", **{**GOOD, "name": "hinted", "journey": "Echp"})
    assert "did you mean &#39;Echo&#39;?" in hint.text
    added(site, editor, name="twice")
    again = post(editor, "/schedules", **{**GOOD, "name": "twice"})
    assert again.status_code == 409 and "already exists" in again.text


def test_pause_resume_edit_and_remove(site: Site, editor: httpx.Client) -> None:
    record = added(site, editor, name="cycle")
    paused = post(editor, f"/schedules/{record.id}/pause")
    assert paused.status_code == 303
    page = editor.get(f"/schedules/{record.id}")
    assert "status-paused" in page.text and "Paused: it does not fire" in page.text
    assert f'action="/schedules/{record.id}/resume"' in page.text
    assert post(editor, f"/schedules/{record.id}/resume").status_code == 303
    assert ScheduleStore(site.store).get(record.id).enabled  # type: ignore[union-attr]
    edited = post(editor, f"/schedules/{record.id}/edit", **{**GOOD, "name": "cycle",
                  "cron": "0 9 * * 1-5", "timezone": "UTC", "webhook_secret": ""})  # fmt: skip
    assert edited.status_code == 303, edited.text
    changed = ScheduleStore(site.store).get(record.id)
    assert changed and changed.cron == "0 9 * * 1-5" and changed.has_webhook_secret
    bad = post(editor, f"/schedules/{record.id}/edit", **{**GOOD, "name": "cycle", "cron": "x"})
    assert bad.status_code == 422 and "is not a cron expression" in bad.text
    cleared = post(editor, f"/schedules/{record.id}/edit", **{**GOOD, "name": "cycle",
                   "webhook_secret": "", "clear_webhook_secret": "on"})  # fmt: skip
    assert cleared.status_code == 303
    assert not ScheduleStore(site.store).get(record.id).has_webhook_secret  # type: ignore[union-attr]
    page = editor.get(f"/schedules/{record.id}")
    assert 'data-confirm="Remove schedule' in page.text
    removed = post(editor, f"/schedules/{record.id}/remove")
    assert removed.status_code == 303 and removed.headers["location"].startswith("/schedules?")
    assert editor.get(f"/schedules/{record.id}").status_code == 404


def test_detail_shows_ticks_with_their_runs_and_webhook_deliveries(
    site: Site, editor: httpx.Client
) -> None:
    record = added(site, editor, name="ticking")
    schedules = ScheduleStore(site.store)
    artifact = site.artifacts["echo"]
    first, second = datetime(2026, 3, 1, 1, 30, tzinfo=UTC), datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    new = NewRun(artifact.id, "Echo", "demo", record.created_by, 1, 1, trigger="schedule")
    run = schedules.fire(record.id, first, new)
    assert run is not None
    schedules.fire(record.id, second, None, error="environment 'demo' was removed")
    tick = next(t for t in schedules.ticks(record.id) if t.tick_at == first)
    assert schedules.claim_notification(tick, "sending", owner="test")
    schedules.notified(tick, "failed", "HTTP 500 after 3 attempts")
    page = editor.get(f"/schedules/{record.id}")
    assert "by editor-token</dd>" in page.text  # who added it, by name
    ticks = page.text.split("<h2>Ticks")[1]
    assert ticks.index("2026-03-02 01:30:00 UTC") < ticks.index("2026-03-01 01:30:00 UTC")
    assert f'href="/runs/{run.id}"' in ticks and "status-queued" in ticks
    assert "environment &#39;demo&#39; was removed" in ticks
    assert "status-failed" in ticks and "HTTP 500 after 3 attempts" in ticks
    listing = editor.get("/schedules").text
    assert f'href="/runs/{run.id}"' in listing
    assert WEBHOOK_SECRET not in page.text + listing


def test_viewers_see_no_edit_buttons_and_get_403_on_every_form(site: Site) -> None:
    with signed_in(site, "editor") as editor:
        record = added(site, editor, name="watched")
    with signed_in(site, "viewer") as viewer:
        listing, detail = viewer.get("/schedules"), viewer.get(f"/schedules/{record.id}")
        assert listing.status_code == 200 and detail.status_code == 200
        assert (
            "/schedules/new" not in listing.text
            and '<form method="post" action="/schedules' not in detail.text
        )
        assert viewer.get("/schedules/new").status_code == 403
        token = csrf_of(detail.text)
        for action in ("pause", "resume", "remove", "edit"):
            answer = viewer.post(f"/schedules/{record.id}/{action}", data={"csrf": token})
            assert answer.status_code == 403, action
        created = viewer.post("/schedules", data={"csrf": token, **{**GOOD, "name": "sneaky"}})
        assert created.status_code == 403
    assert ScheduleStore(site.store).get("sneaky") is None
    assert ScheduleStore(site.store).get(record.id).enabled  # type: ignore[union-attr]


def test_the_preview_fragment_lists_next_fires_or_says_what_is_wrong(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        weekdays = {"cron": "0 9 * * 1-5", "timezone": "America/New_York"}
        good = client.get("/schedules/preview", params=weekdays)
        bad = client.get("/schedules/preview", params={"cron": "0 9 * *", "timezone": "UTC"})
        zone = client.get("/schedules/preview", params={"cron": "0 9 * * *", "timezone": "X/Y"})
    assert good.status_code == 200 and "<html" not in good.text
    instants = [datetime.fromisoformat(t) for t in re.findall(r'datetime="([^"]+)"', good.text)]
    assert len(instants) == 5 and all(t.weekday() < 5 for t in instants)
    assert all(t > datetime.now(UTC) - timedelta(seconds=5) for t in instants)
    assert "is not a cron expression" in bad.text and "not an IANA timezone" in zone.text


def test_adding_a_schedule_in_the_browser_previews_and_shows_next_fire_times(
    site: Site, page_as: Callable[[str], Page]
) -> None:
    page = page_as("editor")
    page.goto(f"{site.url}/schedules")
    page.click("text=Add a schedule")
    page.fill("#name", "browser-nightly")
    page.fill("#cron", "15 4 * * *")
    page.fill("#timezone", "Asia/Tokyo")
    expect(page.locator("#fire-preview ol.fires li")).to_have_count(5)
    expect(page.locator("#fire-preview")).to_contain_text("04:15 JST")
    page.fill("#cron", "15 4 * *")
    expect(page.locator("#fire-preview")).to_contain_text("is not a cron expression")
    page.fill("#cron", "15 4 * * *")
    expect(page.locator("#fire-preview ol.fires li")).to_have_count(5)
    page.select_option("#journey", "Echo")
    page.select_option("#environment", "demo")
    page.fill("#webhook_url", "https://hooks.example.com/reqflo")
    page.fill("#webhook_secret", WEBHOOK_SECRET)
    page.click("button:has-text('Add schedule')")
    page.wait_for_url(re.compile(r".*/schedules/[0-9a-f]{16}\?flash=.*"))
    expect(page.locator("h1")).to_contain_text("browser-nightly")
    expect(page.locator("ol.fires li")).to_have_count(5)
    expect(page.locator("ol.fires")).to_contain_text("19:15:00 UTC")
    assert WEBHOOK_SECRET not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Remove')")
    page.wait_for_url(f"{site.url}/schedules?flash=**")
    expect(page.locator(".flash")).to_contain_text("removed")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_recent_ticks_of_keeps_the_newest_of_each_schedule(kind: str, tmp_path: Path) -> None:
    with opened_store(kind, tmp_path) as store:
        schedules = ScheduleStore(store)
        made = [
            schedules.create(NewSchedule(name, "0 * * * *", "UTC", "tok", journey="Echo"), START)
            for name in ("busy", "quiet", "idle")
        ]
        hours = [START + timedelta(hours=n) for n in range(5)]
        for at in hours:
            schedules.fire(made[0].id, at, None, error="skipped")
        schedules.fire(made[1].id, hours[0], None, error="skipped")
        found = recent_ticks_of(store, 3)
    assert [t.tick.tick_at for t in found[made[0].id]] == hours[:1:-1]
    assert [t.tick.tick_at for t in found[made[1].id]] == hours[:1]
    assert made[2].id not in found
