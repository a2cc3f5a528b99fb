"""The schedule pages and the schedule API share one store (`api_schedules.schedule_store`)
and one clock (`api_schedules.utc_now`): a schedule added on either side is read by the
other, and a signing secret typed into the web form is sealed with the server's master
key, exactly like one sent to the API, so the scheduler can open both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reqflo.cloud.api_schedules import utc_now
from reqflo.cloud.durable.keys import load_master_key
from reqflo.store.schedule_store import ScheduleStore
from web_support import Site, csrf_of, signed_in

FORM_SECRET = "canary-form-secret-51d2"
API_SECRET = "canary-api-secret-77e0"
COMMON = {"cron": "15 3 * * *", "timezone": "UTC", "journey": "Echo", "environment": "demo",
          "webhook_url": "https://hooks.example.com/reqflo"}  # fmt: skip


def test_web_and_api_schedules_share_the_store_the_clock_and_the_sealing_key(site: Site) -> None:
    before = utc_now()
    with signed_in(site, "editor") as client:
        token = csrf_of(client.get("/schedules/new").text)
        fields = {**COMMON, "name": "from-form", "inputs": "", "missed": "skip"}
        answer = client.post("/schedules", data={"csrf": token, **fields,
                                                 "webhook_secret": FORM_SECRET})  # fmt: skip
        assert answer.status_code == 303, answer.text
        with site.api("editor") as api:
            made = api.post("/api/v1/schedules", json={**COMMON, "name": "from-api",
                                                       "webhook_secret": API_SECRET})  # fmt: skip
            assert made.status_code == 201, made.text
            from_form = api.get("/api/v1/schedules/from-form").json()
        assert from_form["has_webhook_secret"] and "from-api" in client.get("/schedules").text
    opened = ScheduleStore(site.store, load_master_key(site.folder))  # as the scheduler does
    form_record, api_record = opened.get("from-form"), opened.get("from-api")
    assert form_record is not None and api_record is not None
    assert opened.webhook_secret(form_record.id) == FORM_SECRET
    assert opened.webhook_secret(api_record.id) == API_SECRET
    assert before <= form_record.created_at <= api_record.created_at <= utc_now()
    assert utc_now().tzinfo is UTC and abs(utc_now() - datetime.now(UTC)) < timedelta(seconds=1)
