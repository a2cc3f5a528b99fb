"""Every web UI page and form is in this table with the least role it needs; anonymous
visitors are sent to sign in and lower roles get the 403 page, on every one of them.

Add a row for each page or form you add: (method, route path as declared, a URL to try,
least role). Forms are tried without a CSRF token: the role check comes first.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute

from web_support import Site, signed_in

PAGES: list[tuple[str, str, str, str]] = [
    ("GET", "/runs", "/runs", "viewer"),
    ("GET", "/runs/table", "/runs/table", "viewer"),
    ("GET", "/runs/new", "/runs/new", "editor"),
    ("POST", "/runs/new", "/runs/new", "editor"),
    ("GET", "/runs/{run_id}", "/runs/0000", "viewer"),
    ("GET", "/runs/{run_id}/progress", "/runs/0000/progress", "viewer"),
    ("GET", "/runs/{run_id}/instances", "/runs/0000/instances", "viewer"),
    ("GET", "/runs/{run_id}/instances/{index}", "/runs/0000/instances/0", "viewer"),
    ("GET", "/runs/{run_id}/diff", "/runs/0000/diff", "viewer"),
    ("POST", "/runs/{run_id}/rerun", "/runs/0000/rerun", "editor"),
    ("POST", "/runs/{run_id}/cancel", "/runs/0000/cancel", "editor"),
    ("GET", "/admin/tokens", "/admin/tokens", "admin"),
    ("POST", "/admin/tokens", "/admin/tokens", "admin"),
    ("POST", "/admin/tokens/{token_id}/revoke", "/admin/tokens/0000/revoke", "admin"),
    ("GET", "/admin/secrets", "/admin/secrets", "admin"),
    ("POST", "/admin/secrets", "/admin/secrets", "admin"),
    ("GET", "/admin/secrets/{environment}/{name}", "/admin/secrets/demo/API_KEY", "admin"),
    ("POST", "/admin/secrets/{environment}/{name}", "/admin/secrets/demo/API_KEY", "admin"),
    ("POST", "/admin/secrets/{environment}/{name}/disable", "/admin/secrets/*/K/disable", "admin"),
    ("POST", "/admin/secrets/{environment}/{name}/destroy", "/admin/secrets/*/K/destroy", "admin"),
    ("GET", "/admin/runners", "/admin/runners", "admin"),
    ("GET", "/admin/runners/workers", "/admin/runners/workers", "admin"),
    ("POST", "/admin/runners/settings", "/admin/runners/settings", "admin"),
    ("POST", "/logout", "/logout", "viewer"),
    ("GET", "/journeys", "/journeys", "viewer"),
    ("GET", "/journeys/{name:path}", "/journeys/Echo", "viewer"),
    ("GET", "/artifacts/{artifact_id}", "/artifacts/0000000", "viewer"),
    ("GET", "/environments", "/environments", "viewer"),
    ("POST", "/environments", "/environments", "editor"),
    ("GET", "/environments/{name}", "/environments/demo", "viewer"),
    ("POST", "/environments/{name}", "/environments/demo", "editor"),
    ("GET", "/schedules", "/schedules", "viewer"),
    ("GET", "/schedules/new", "/schedules/new", "editor"),
    ("GET", "/schedules/preview", "/schedules/preview?cron=0+2+*+*+*", "viewer"),
    ("POST", "/schedules", "/schedules", "editor"),
    ("GET", "/schedules/{schedule_id}", "/schedules/none", "viewer"),
    ("GET", "/schedules/{schedule_id}/edit", "/schedules/none/edit", "editor"),
    ("POST", "/schedules/{schedule_id}/edit", "/schedules/none/edit", "editor"),
    ("POST", "/schedules/{schedule_id}/pause", "/schedules/none/pause", "editor"),
    ("POST", "/schedules/{schedule_id}/resume", "/schedules/none/resume", "editor"),
    ("POST", "/schedules/{schedule_id}/remove", "/schedules/none/remove", "editor"),
]
PUBLIC = {("GET", "/"), ("GET", "/login"), ("POST", "/login")}
BELOW = {"viewer": None, "editor": "viewer", "admin": "editor"}


def ui_routes(site: Site) -> set[tuple[str, str]]:
    import reqflo.cloud.web as web

    found = set()
    for module in web.PAGES:
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            found |= {(method, route.path) for method in route.methods}
    return found


def test_every_page_is_in_the_table(site: Site) -> None:
    listed = {(method, path) for method, path, _, _ in PAGES}
    assert ui_routes(site) - PUBLIC == listed


@pytest.mark.parametrize(("method", "path", "url", "role"), PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(
    site: Site, method: str, path: str, url: str, role: str
) -> None:
    answer = httpx.request(method, site.url + url)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(("method", "path", "url", "role"), [p for p in PAGES if BELOW[p[3]]])
def test_lower_roles_get_the_403_page(
    site: Site, method: str, path: str, url: str, role: str
) -> None:
    below = BELOW[role]
    assert below is not None
    with signed_in(site, below) as client:
        answer = client.request(method, url)
    assert answer.status_code == 403
    assert f"needs the {role} role" in answer.text
