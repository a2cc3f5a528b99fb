"""Issue 6, "set a secret and check its value is shown nowhere", end to end in a browser.

An admin sets canary secrets through Admin → Secrets in headless chromium (one in the
demo environment, rotated to a second value through the page; one with HTML/URL
special characters in `*`; one with non-ASCII characters), a journey uses all three in
its query, headers, JSON body and a failing assertion against the demo API, and a
schedule points at it. Then every UI page is crawled as admin: each GET route of
reqflo.cloud.web.PAGES (with the run's, artifact's, schedule's and secrets' ids, else
the sample URL of tests/web/test_web_routes.py) and every same-site link found on the
way, htmx fragments included; plus the secrets, audit and run API JSON, the browser's
own view of the pages (DOM after scripts) and every response and request URL the
browser saw while the secrets were set. Everything is scanned with the independent
scanner (tests/leakscan.py: raw, JSON-escaped, URL-encoded, HTML-escaped, hex and
base64 forms). The audit log proves the run really resolved the secrets.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import Browser, Page, Response
from test_web_routes import PAGES as ROUTE_TABLE

from leakscan import find_leaks
from web_support import Site, signed_in

SECRETS = {  # name -> environment
    "WEB_LEAK_PLAIN": "demo",
    "WEB_LEAK_SPECIAL": "*",
    "WEB_LEAK_UNICODE": "demo",
}
JOURNEY = """
journey:
  name: Canary user
  variables:
    - {name: base_url, source: environment}
    - {name: plain, source: secret, secret: WEB_LEAK_PLAIN}
    - {name: special, source: secret, secret: WEB_LEAK_SPECIAL}
    - {name: unicode, source: secret, secret: WEB_LEAK_UNICODE}
  steps:
    - id: send
      name: Send the canaries
      request:
        method: POST
        url: "{{ variables.base_url }}/echo"
        query: {p: "{{ secrets.WEB_LEAK_PLAIN }}", s: "{{ secrets.WEB_LEAK_SPECIAL }}"}
        headers:
          X-Plain: "{{ secrets.WEB_LEAK_PLAIN }}"
          X-Unicode: "{{ secrets.WEB_LEAK_UNICODE }}"
        json:
          plain: "{{ secrets.WEB_LEAK_PLAIN }}"
          special: "{{ secrets.WEB_LEAK_SPECIAL }}"
          unicode: "{{ secrets.WEB_LEAK_UNICODE }}"
      outputs:
        echoed: {from: body, path: "$.json.plain"}
      assertions:
        - {type: status_code, expected: 200}
        - {type: json_path, path: "$.json.special", expected: not-the-secret}
"""
SKIPPED = ("/static/", "/api/", "/docs", "/redoc", "/openapi.json", "/metrics", "/logout")
MAX_PAGES = 400


def hexed(n: int = 16) -> str:
    return uuid.uuid4().hex[:n]


@dataclass
class Evidence:
    canaries: list[str]
    run_id: str
    texts: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def evidence(site: Site, browser: Browser) -> Iterator[Evidence]:
    values = {
        "WEB_LEAK_PLAIN": f"wcAnAry-{hexed(24)}",
        "WEB_LEAK_SPECIAL": f"wcAnAry\"/+&<> '%=?#;{hexed()}",
        "WEB_LEAK_UNICODE": f"wcAnAry-ünï€-{hexed()}",
    }
    rotated = f"wcAnAry-rotated-{hexed(24)}"
    out = Evidence([*values.values(), rotated], "")
    context = browser.new_context()
    try:
        page = sign_in(context.new_page(), site)
        record_browser_traffic(page, out)
        for name, environment in SECRETS.items():
            set_in_browser(page, site, environment, name, values[name])
        rotate_in_browser(page, site, "WEB_LEAK_PLAIN", rotated)
        out.run_id = run_the_journey(site)
        add_schedule(site)
        crawl(site, out)
        collect_api(site, out)
        look_in_browser(page, site, out)
    finally:
        context.close()
    yield out


def sign_in(page: Page, site: Site) -> Page:
    page.goto(f"{site.url}/login")
    page.fill("#token", site.tokens["admin"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/runs**")
    return page


def record_browser_traffic(page: Page, out: Evidence) -> None:
    def seen(response: Response) -> None:
        key = f"browser:{response.request.method} {response.url} #{len(out.texts)}"
        body = ""
        if response.request.resource_type == "document" and response.status < 300:
            body = response.text()
        out.texts[key] = f"{response.url}\n{response.all_headers()}\n{body}"

    page.on("response", seen)
    page.on("request", lambda r: out.texts.setdefault(f"browser-url:{r.url}", r.url))


def set_in_browser(page: Page, site: Site, environment: str, name: str, value: str) -> None:
    page.goto(f"{site.url}/admin/secrets")
    page.fill("#secret-environment", environment)
    page.fill("#secret-name", name)
    page.fill("#secret-value", value)
    page.click("text=Add secret")
    page.wait_for_url(re.compile(rf".*/admin/secrets/.*/{name}\?flash=.*"))
    assert "created (version 1)" in page.inner_text("[role=status]")
    assert page.input_value("#rotate-value") == ""


def rotate_in_browser(page: Page, site: Site, name: str, value: str) -> None:
    page.goto(f"{site.url}/admin/secrets/demo/{name}")
    page.fill("#rotate-value", value)
    page.click("text=Save v2")
    page.wait_for_url(re.compile(r".*\?flash=.*"))
    assert "Saved version 2" in page.inner_text("[role=status]")


def run_the_journey(site: Site) -> str:
    artifact = site.add_journey("canary-user", JOURNEY)
    with site.api("editor") as api:
        answer = api.post("/api/v1/runs", json={"artifact_id": artifact.id, "environment": "demo"})
        assert answer.status_code == 201, answer.text
        run_id = str(answer.json()["id"])
        deadline = time.monotonic() + 30
        while api.get(f"/api/v1/runs/{run_id}").json()["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "the canary run did not finish"
            time.sleep(0.05)
    return run_id


def add_schedule(site: Site) -> None:
    body = {"name": "canary-nightly", "cron": "0 3 * * *", "journey": "Canary user",
            "environment": "demo", "enabled": False}  # fmt: skip
    with site.api("editor") as api:
        answer = api.post("/api/v1/schedules", json=body)
    assert answer.status_code == 201, answer.text


# ------------------------------------------------------------------ the crawl


def ui_routes() -> list[APIRoute]:
    import reqflo.cloud.web as web

    routes = [r for m in web.PAGES for r in m.router.routes if isinstance(r, APIRoute)]
    return [r for r in routes if "GET" in r.methods]


def seeds(site: Site, run_id: str) -> list[str]:
    """A URL for every GET page: with real ids where we have them, else the route table's."""
    with site.api("admin") as api:
        schedules = api.get("/api/v1/schedules").json()
    known = {
        "run_id": run_id, "artifact_id": site.artifacts["canary-user"].id, "index": "0",
        "schedule_id": schedules[0]["id"] if schedules else "none", "name:path": "Canary user",
    }  # fmt: skip
    samples = {path: url for method, path, url, _ in ROUTE_TABLE if method == "GET"}
    urls = [f"/admin/secrets/{'%2A' if e == '*' else e}/{n}" for n, e in SECRETS.items()]
    urls += [f"/admin/secrets?environment={e}" for e in ("demo", "%2A")]
    for route in ui_routes():
        params = re.findall(r"{([^}]+)}", route.path)
        if all(p in known for p in params):
            filled = route.path
            for param in params:
                filled = filled.replace("{" + param + "}", known[param])
            urls.append(filled)
        urls.append(samples.get(route.path, route.path))
    return urls


def crawl(site: Site, out: Evidence) -> None:
    """Every page reachable from the seeds by same-site links, as admin."""
    queue, seen = seeds(site, out.run_id), set()
    with signed_in(site, "admin") as client:
        while queue and len(seen) < MAX_PAGES:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            answer = client.get(url)
            out.statuses[url] = answer.status_code
            out.texts[f"page:{url}"] = f"{answer.headers}\n{answer.text}"
            queue += [link for link in links(answer.text, url) if link not in seen]
    assert len(seen) < MAX_PAGES, "the crawl did not end: raise MAX_PAGES?"


def links(html: str, base: str) -> list[str]:
    found = []
    for _attr, target in re.findall(r'(href|hx-get)="([^"]+)"', html):
        target = urljoin(base, target.replace("&amp;", "&"))
        parts = urlsplit(target)
        if parts.netloc or not parts.path.startswith("/") or parts.path.startswith(SKIPPED):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def collect_api(site: Site, out: Evidence) -> None:
    paths = ["/api/v1/secrets", "/api/v1/secrets/audit?limit=1000", "/api/v1/secrets/audit/verify",
             "/api/v1/runs", f"/api/v1/runs/{out.run_id}",
             f"/api/v1/runs/{out.run_id}/events?last_event_id=0", "/api/v1/settings"]  # fmt: skip
    paths += [
        f"/api/v1/secrets/{'%2A' if e == '*' else e}/{n}/versions" for n, e in SECRETS.items()
    ]
    with site.api("admin") as api:
        for path in paths:
            answer = api.get(path)
            assert answer.status_code == 200, (path, answer.text)
            out.texts[f"api:{path}"] = f"{answer.headers}\n{answer.text}"


def look_in_browser(page: Page, site: Site, out: Evidence) -> None:
    """The DOM the browser ends up with (htmx swaps included) on the pages that matter."""
    urls = ["/admin/secrets", f"/runs/{out.run_id}", f"/runs/{out.run_id}/instances/0",
            "/admin/runners", "/admin/tokens", "/runs"]  # fmt: skip
    urls += [f"/admin/secrets/{'%2A' if e == '*' else e}/{n}" for n, e in SECRETS.items()]
    for url in urls:
        page.goto(site.url + url)
        page.wait_for_load_state("networkidle")
        out.texts[f"dom:{url}"] = page.content() + "\n" + page.inner_text("body")


# ------------------------------------------------------------------ the checks


def test_the_run_resolved_every_canary_through_the_vault(site: Site, evidence: Evidence) -> None:
    with site.api("admin") as api:
        audit: list[dict[str, Any]] = api.get(
            "/api/v1/secrets/audit", params={"run_id": evidence.run_id}
        ).json()
        run = api.get(f"/api/v1/runs/{evidence.run_id}").json()
    resolved = {(e["name"], e["environment"], e["version"]) for e in audit}
    assert resolved == {("WEB_LEAK_PLAIN", "demo", 2), ("WEB_LEAK_SPECIAL", "*", 1),
                        ("WEB_LEAK_UNICODE", "demo", 1)}  # fmt: skip
    assert run["status"] == "failed"  # the assertion against the secret failed, by design


def test_no_canary_on_any_page_api_answer_or_browser_response(evidence: Evidence) -> None:
    leaks = {
        channel: found for channel, text in evidence.texts.items()
        if (found := find_leaks(text, evidence.canaries))
    }  # fmt: skip
    assert not leaks


def test_the_crawl_covered_every_page_and_the_runs_evidence(evidence: Evidence) -> None:
    crawled = {urlsplit(url).path for url in evidence.statuses}
    for route in ui_routes():
        assert any(route.path_regex.match(path) for path in crawled), route.path
    ok = [url for url, status in evidence.statuses.items() if status == 200]
    assert len(ok) >= 25, sorted(evidence.statuses)
    run_page = evidence.texts[f"page:/runs/{evidence.run_id}"]
    assert "[REDACTED]" in run_page or "[REDACTED]" in "".join(
        t for k, t in evidence.texts.items() if evidence.run_id in k
    )
    for name in SECRETS:
        assert any(name in t for k, t in evidence.texts.items() if k.startswith("page:/admin"))
    odd = {
        url: status for url, status in evidence.statuses.items()
        if status not in (200, 404) and not (status == 303 and url in ("/", "/login"))
    }  # fmt: skip
    assert not odd


def test_the_scan_would_see_a_canary_in_any_channel(evidence: Evidence) -> None:
    """Sanity: each channel with one canary appended is flagged."""
    for channel, text in evidence.texts.items():
        assert find_leaks(text + evidence.canaries[1], evidence.canaries), channel


def test_the_browser_posted_the_values_but_never_got_them_back(evidence: Evidence) -> None:
    posts = [k for k in evidence.texts if k.startswith("browser:POST")]
    assert len(posts) == 4  # three secrets set, one rotated
    assert all(not find_leaks(k, evidence.canaries) for k in evidence.texts)
