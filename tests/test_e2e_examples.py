"""The example journeys in examples/ run as documented against the demo API.

The examples folder is copied to a temp folder and its `local` environment rewritten to
point at the session's demo server (examples/ itself is never modified). The demo
password comes from REQFLO_SECRET_DEMO_PASSWORD, as the examples' README says.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def examples(
    e2e_project: Path, demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns(".reqflo", "reports"))
    env_file = folder / "environments" / "local.yaml"
    text, count = re.subn(
        r"(?m)^base_url:.*$", f"base_url: {demo_url}", env_file.read_text("utf-8")
    )
    assert count == 1, "examples/environments/local.yaml has no base_url line"
    env_file.write_text(text, "utf-8")
    monkeypatch.setenv("REQFLO_SECRET_DEMO_PASSWORD", "demo-password")
    monkeypatch.chdir(folder)
    return folder


def run_json(cli: Any, report: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    result = cli("run", *args, "--env", "local", "--output", f"json:{report}")
    return result, json.loads(report.read_text(encoding="utf-8"))


def step_statuses(instance: dict[str, Any]) -> dict[str, str]:
    return {step["id"]: step["status"] for step in instance["steps"]}


def test_the_examples_validate(examples: Path, cli: Any) -> None:
    result = cli("validate", ".")
    assert result.exit_code == 0, result.text
    assert result.stdout.count("valid") >= 3


def test_orders_happy_path_passes(examples: Path, cli: Any, tmp_path: Path) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "orders.yaml", "--case", "happy_path")
    assert result.exit_code == 0, result.text
    statuses = step_statuses(report["instances"][0])
    assert set(statuses.values()) == {"passed"}
    assert list(statuses) == [
        "login", "whoami", "create_order", "get_order", "list_orders", "delete_order",
        "confirm_deleted",
    ]  # fmt: skip
    assert "demo-password" not in result.text


def test_orders_by_journey_name_with_set_values(examples: Path, cli: Any) -> None:
    args = ("--env", "local", "--set", "customer_id=c-1", "--set", "quantity=4")
    result = cli("run", "Order lifecycle", *args)
    assert result.exit_code == 0, result.text


def test_orders_with_the_csv_data_file(examples: Path, cli: Any, tmp_path: Path) -> None:
    result, report = run_json(
        cli, tmp_path / "r.json", "orders.yaml", "--data", "data/orders.csv",
        "--data-key", "customer_id",
    )  # fmt: skip
    assert result.exit_code == 0, result.text
    rows = (examples / "data" / "orders.csv").read_text("utf-8").split()[1:]
    expected_keys = sorted(row.split(",")[0] for row in rows)
    assert sorted(i["key"] for i in report["instances"]) == expected_keys
    assert report["summary"]["passed"] == len(expected_keys) == 20


@pytest.mark.parametrize("extra", [(), ("--set", "express=true"), ("--case", "express")])
def test_tour_passes(examples: Path, cli: Any, tmp_path: Path, extra: tuple[str, ...]) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "tour.yaml", *extra)
    assert result.exit_code == 0, result.text
    statuses = step_statuses(report["instances"][0])
    assert statuses["mark_paid"] == ("skipped" if not extra else "passed")
    assert {s for step, s in statuses.items() if step != "mark_paid"} == {"passed"}


def test_failing_example_exits_1_and_shows_why(examples: Path, cli: Any, tmp_path: Path) -> None:
    html = tmp_path / "failing.html"
    result, report = run_json(cli, tmp_path / "r.json", "failing.yaml", "-o", f"html:{html}")
    assert result.exit_code == 1, result.text
    assert step_statuses(report["instances"][0]) == {
        "login": "passed",
        "wrong_user": "failed",
        "create_order": "passed",
        "impatient_poll": "failed",
        "wrong_order_details": "failed",
    }
    steps = {s["id"]: s for s in report["instances"][0]["steps"]}
    assert len(steps["impatient_poll"]["attempts"]) == 3
    lines = (examples / "failing.yaml").read_text("utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if "expected: someone-else" in line)
    assert f"at line {number}: {lines[number - 1].strip()}" in result.stdout
    assert 'expected "someone-else"  actual "demo"' in result.stdout
    assert "Intentionally failing order check" in html.read_text("utf-8")
