"""Shared helpers for the web UI tests (no tests of its own).

- `Site`: a real Cloud Runner (uvicorn in a thread on 127.0.0.1, SQLite store, in-process
  executor) with an API token per role and the demo API as environment `demo`.
- `site_fixture`: module-scoped `Site` (tests/conftest.py exposes it as `site`).
- `signed_in(site, role)`: an httpx client with a live UI session for that role.
- `slow_journey(ms)`: a one-request journey the demo API answers after `ms` ms.
- `chromium()`: Debian's chromium (or $REQFLO_CHROMIUM) for Playwright; fails, never
  skips, when it is missing — `scripts/bootstrap` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from reqflo.artifact import Artifact
from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.store import Store, StoreSink, sqlite_url
from test_cloud_api import ECHO, journey_artifact, served

ROLES = ("viewer", "editor", "admin")
SLOW = """
journey:
  name: Slow
  variables:
    - {name: base_url, source: environment}
  steps:
    - id: wait
      name: Wait a little
      request: {method: GET, url: "{{ variables.base_url }}/slow?ms=MS"}
      assertions:
        - {type: status_code, expected: 200}
"""


def slow_journey(ms: int) -> str:
    """A journey of one request the demo API answers after `ms` milliseconds."""
    return SLOW.replace("MS", str(ms))


@dataclass
class Site:
    url: str
    store: Store
    folder: Path
    tokens: dict[str, str]
    artifacts: dict[str, Artifact] = field(default_factory=dict)

    def api(self, role: str = "admin") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def add_journey(self, name: str, text: str) -> Artifact:
        artifact = journey_artifact(self.folder, name, text)
        self.store.put_artifact(artifact)
        self.artifacts[name] = artifact
        return artifact


@contextmanager
def running_site(folder: Path, demo_url: str) -> Iterator[Site]:
    store = Store.open(sqlite_url(folder))
    try:
        with site_on(store, folder, demo_url) as site:
            yield site
    finally:
        store.close()


@contextmanager
def site_on(store: Store, folder: Path, demo_url: str) -> Iterator[Site]:
    """The site on an open store (SQLite or PostgreSQL); the caller closes the store."""
    executor = InProcessExecutor(StoreSink(store), folder)
    services = Services(store=store, executor=executor, data_dir=folder, poll_seconds=0.02)
    tokens = {role: store.create_token(f"{role}-token", role)[1] for role in ROLES}
    store.put_environment("demo", {"base_url": demo_url})
    try:
        with served(create_app(services)) as url:
            site = Site(url, store, folder, tokens)
            site.add_journey("echo", ECHO)
            yield site
    finally:
        executor.close()


def login_nonce(client: httpx.Client) -> str:
    page = client.get("/login")
    found = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@contextmanager
def signed_in(site: Site, role: str) -> Iterator[httpx.Client]:
    """A client whose cookie jar holds a live session for `role` (a token name)."""
    with httpx.Client(base_url=site.url, timeout=30) as client:
        nonce = login_nonce(client)
        answer = client.post("/login", data={"token": site.tokens[role], "login_csrf": nonce})
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def chromium() -> str:
    path = os.environ.get("REQFLO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).exists(), (
        "browser tests need Debian's chromium: run scripts/bootstrap (apt-get install chromium)"
    )
    return path
