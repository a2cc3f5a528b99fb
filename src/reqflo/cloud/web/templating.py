"""Rendering web UI pages: the Jinja2 environment, its filters and the page context.

Owns `render` (a template to an HTMLResponse with the signed-in session, its CSRF token
and the navigation in context) and the display filters every page shares: times in UTC,
durations, sizes, pretty-printed bodies and status labels. Autoescaping is on for every
template; nothing is marked safe that came from a run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from reqflo import __version__
from reqflo.cloud.web.session import allowed, flash_of

STATUS_ICONS = {
    "passed": "✓", "failed": "✗", "error": "!", "indeterminate": "?", "cancelled": "⊘",
    "queued": "○", "running": "◔", "skipped": "–", "sending": "↗", "sent": "✓",
    "enabled": "●", "paused": "Ⅱ", "disabled": "⊘",
}  # fmt: skip


def when(moment: datetime | float | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{minutes:.0f} min {seconds:.0f} s"


def size(count: int | None) -> str:
    if count is None:
        return "—"
    for unit in ("B", "KiB", "MiB"):
        if count < 1024 or unit == "MiB":
            return f"{count} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count = count / 1024  # type: ignore[assignment]
    return f"{count} B"


def pretty(body: str | None) -> str:
    """A JSON body indented; anything else as it is."""
    if not body:
        return ""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True)


def icon(status: str) -> str:
    return STATUS_ICONS.get(status, "•")


ENV = Environment(
    loader=PackageLoader("reqflo.cloud.web", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(when=when, duration=duration, size=size, pretty=pretty, as_json=as_json)
ENV.globals.update(icon=icon, version=__version__)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page; `me` (the session or None), `csrf`, `can(role)` and `flash` (a signed
    flash message of the address, unless the page gives its own) are always there."""
    me = getattr(request.state, "web_session", None)
    context.setdefault("section", "")
    context.setdefault("flash", flash_of(request, me))
    html = ENV.get_template(template).render(
        request=request, me=me, csrf=me.csrf if me else "",
        can=lambda role: me is not None and allowed(me, role), **context,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
