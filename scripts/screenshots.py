"""Screenshots of the web UI's main pages, from a real server with real runs.

Usage: .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
(`scripts/screenshots` bootstraps first.) Starts the demo API and `reqflo server` (embedded
SQLite in a temp folder), drives the CLI the way a user would (tokens, environment,
secret, runs of examples/*.yaml incl. a data run and a failing run, a schedule), then
opens each page in headless Debian chromium (Playwright) and saves a PNG per page.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout} s")


class Demo:
    """The demo API, a server and the CLI, all in one throw-away REQFLO_HOME."""

    def __init__(self, home: Path) -> None:
        self.home, self.processes = home, list[subprocess.Popen[bytes]]()
        self.env = {**os.environ, "REQFLO_HOME": str(home)}
        self.env["REQFLO_SECRET_DEMO_PASSWORD"] = "demo-password"  # the demo's public password
        self.demo_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.spawn("-m", "reqflo.demo", "--port", str(self.demo_port), "--quiet")
        self.spawn("-m", "reqflo.cli", "server", "--port", str(self.port))
        wait_for(f"http://127.0.0.1:{self.demo_port}/")
        wait_for(f"{self.url}/api/v1/health")

    def spawn(self, *args: str) -> None:
        log = (self.home / f"{args[1]}.log").open("wb")
        self.processes.append(
            subprocess.Popen([sys.executable, *args], env=self.env, stdout=log, stderr=log)
        )

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [str(BIN / "reqflo"), *args], env=self.env, cwd=ROOT / "examples", input=stdin,
            capture_output=True, text=True,
        )  # fmt: skip
        if check and done.returncode not in (0, 1):
            raise SystemExit(f"reqflo {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def token(self, name: str, role: str) -> str:
        found = re.search(
            r"rqf_[A-Za-z0-9_-]+", self.cli("token", "create", "--name", name, "--role", role)
        )
        assert found
        return found.group(0)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(15)


def populate(demo: Demo) -> dict[str, str]:
    admin, viewer = demo.token("ada (admin)", "admin"), demo.token("victor (viewer)", "viewer")
    demo.cli("login", demo.url, "--token", admin)
    values = (ROOT / "examples/environments/local.yaml").read_text()
    local = demo.home / "local.yaml"
    local.write_text(values.replace("8765", str(demo.demo_port)))
    demo.cli("env", "push", "local", str(local))
    demo.cli("secrets", "set", "DEMO_PASSWORD", "--env", "local", stdin="demo-password\n")
    demo.cli("run", "orders.yaml", "--env", "local", "--case", "happy_path", "--cloud")
    demo.cli("run", "orders.yaml", "--env", "local", "--data", "data/orders.csv",
             "--data-key", "customer_id", "--cloud")  # fmt: skip
    demo.cli("run", "failing.yaml", "--env", "local", "--cloud")
    demo.cli("run", "failing.yaml", "--env", "local", "--cloud", "--set", "quantity=2")
    demo.cli("schedules", "add", "nightly-orders", "--cron", "30 2 * * *", "--tz",
             "Europe/Paris", "--journey", "Order lifecycle", "--env", "local")  # fmt: skip
    return {"admin": admin, "viewer": viewer}


def runs(demo: Demo, token: str) -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"}
    found: list[dict[str, object]] = httpx.get(f"{demo.url}/api/v1/runs", headers=headers).json()[
        "runs"
    ]
    return found


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/runs**")


def shoot(page: Page, url: str, path: str, out: Path, name: str) -> None:
    answer = page.goto(url + path)
    if answer is None or answer.status >= 500 or answer.status == 404:
        print(f"skipped {name}: {path} answered {answer.status if answer else 'nothing'}")
        return
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / f"{name}.png"), full_page=False)
    print(f"{name}.png  ← {path}")


def pages(demo: Demo, tokens: dict[str, str]) -> list[tuple[str, str]]:
    listed = runs(demo, tokens["admin"])
    failing = next(r for r in listed if r["status"] == "failed")
    data = next(r for r in listed if int(str(r["total"])) > 1)
    return [
        ("runs", "/runs"),
        ("run-failed", f"/runs/{failing['id']}"),
        ("run-data", f"/runs/{data['id']}"),
        ("run-diff", f"/runs/{failing['id']}/diff"),
        ("journeys", "/journeys"),
        ("journey", "/journeys/Order%20lifecycle"),
        ("artifact", f"/artifacts/{failing['artifact_id']}"),
        ("environments", "/environments"),
        ("schedules", "/schedules"),
        ("admin-secrets", "/admin/secrets"),
        ("admin-runners", "/admin/runners"),
        ("admin-tokens", "/admin/tokens"),
    ]


def capture(demo: Demo, tokens: dict[str, str], out: Path, chromium: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        shoot(page, demo.url, "/login", out, "sign-in")
        sign_in(page, demo.url, tokens["admin"])
        for name, path in pages(demo, tokens):
            shoot(page, demo.url, path, out, name)
        viewer = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        sign_in(viewer, demo.url, tokens["viewer"])
        shoot(viewer, demo.url, "/admin/tokens", out, "forbidden")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    chromium = os.environ.get("REQFLO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reqflo-shots-") as home:
        demo = Demo(Path(home))
        try:
            demo.start()
            capture(demo, populate(demo), args.out, chromium)
        finally:
            demo.stop()


if __name__ == "__main__":
    main()
