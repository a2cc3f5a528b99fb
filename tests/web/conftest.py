"""Fixtures of the web UI tests (helpers in tests/web_support.py).

- `site`: a real Cloud Runner for the module (see `web_support.running_site`).
- `browser`: headless Debian chromium driven by Playwright, for the module.
- `page_as(role)`: a fresh browser page signed in with that role's token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from web_support import Site, chromium, running_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_url: str) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("web"), demo_url) as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page_as(site: Site, browser: Browser) -> Iterator[Callable[[str], Page]]:
    contexts = []

    def sign_in(role: str) -> Page:
        context = browser.new_context(viewport={"width": 1366, "height": 860})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{site.url}/login")
        page.fill("#token", site.tokens[role])
        page.click("button[type=submit]")
        page.wait_for_url(f"{site.url}/runs**")
        return page

    yield sign_in
    for context in contexts:
        context.close()


def shots_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "screenshots"
