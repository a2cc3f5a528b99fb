"""End to end against httpbin: YAML journeys through the real `reqflo run` CLI.

Covers every assertion type and operator (passing and failing, with expected, actual and
the source line in the console), every output source and typed reuse in later steps,
redirects, cookies (kept per instance, isolated between concurrent data rows), form,
multipart, GraphQL, text and JSON bodies as the server received them, and basic/bearer
auth. Journeys and data files live in tests/e2e/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reqflo.checks import OPERATORS_BY_TYPE

ENV = "httpbin"


@pytest.fixture
def project(e2e_project: Path, httpbin_url: str, write_env: Callable[..., Path]) -> Path:
    write_env(e2e_project, ENV, base_url=httpbin_url, user="hb-user")
    return e2e_project


def run_json(cli: Callable[..., Any], report: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    """Run with a JSON report; returns the CLI result and the parsed report."""
    result = cli("run", *args, "--env", ENV, "--output", f"json:{report}")
    return result, json.loads(report.read_text(encoding="utf-8"))


def steps_of(report: dict[str, Any], instance: int = 0) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in report["instances"][instance]["steps"]}


def last_response_json(step: dict[str, Any]) -> Any:
    return json.loads(step["attempts"][-1]["response"]["body"])


def every_assertion(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        assertion
        for instance in report["instances"]
        for step in instance["steps"]
        for assertion in step["attempts"][-1]["assertions"]
    ]


ALL_PAIRS = {(kind, op) for kind, ops in OPERATORS_BY_TYPE.items() for op in ops}


# ------------------------------------------------------------------ assertions


def test_every_assertion_type_and_operator_passes(project: Path, cli: Any, tmp_path: Path) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "assertions_pass.yaml")
    assert result.exit_code == 0, result.text
    assertions = every_assertion(report)
    failed = [a for a in assertions if not a["passed"]]
    assert not failed, failed
    assert {(a["type"], a["operator"]) for a in assertions} == ALL_PAIRS
    assert "PASSED" in result.stdout


def test_every_assertion_type_and_operator_fails_with_expected_actual_and_line(
    project: Path, cli: Any, tmp_path: Path
) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "assertions_fail.yaml")
    assert result.exit_code == 1, result.text
    assertions = every_assertion(report)
    passed = [a for a in assertions if a["passed"]]
    assert not passed, passed
    assert {(a["type"], a["operator"]) for a in assertions} == ALL_PAIRS
    journey_lines = (project / "assertions_fail.yaml").read_text(encoding="utf-8").splitlines()
    console = result.stdout
    for assertion in assertions:
        line = assertion["source_line"]
        assert journey_lines[line - 1].strip() == assertion["source_text"]
        assert f"at line {line}: {assertion['source_text']}" in console
    assert console.count("✘ failed") >= len(assertions)
    assert 'json_path $.json.name equals  expected "other"  actual "reqflo"' in console
    assert "status_code equals  expected 201  actual 200" in console
    assert 'header X-Probe equals  expected "alpha"  actual "alpha-beta-42"' in console


# ------------------------------------------------------------------ outputs


def test_every_output_source_feeds_later_steps_with_its_type(
    project: Path, cli: Any, tmp_path: Path
) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "outputs.yaml")
    assert result.exit_code == 0, result.text
    steps = steps_of(report)
    assert steps["send"]["outputs"] == {
        "number": 7,
        "list": [1, 2],
        "word_by_regex": "seven",
        "q_by_named_group": "hello",
        "status": 200,
        "content_type": "application/json",
    }
    assert steps["headers"]["outputs"] == {"request_id": "req-123"}
    assert steps["cookie"]["outputs"] == {"flavour": "oat"}
    assert steps["moved"]["outputs"]["final_url"].endswith("/anything/landed")
    received = last_response_json(steps["use"])
    assert received["json"] == {
        "number": 7,
        "list": [1, 2],
        "status": 200,
        "text": "n=7",
        "word": "seven",
        "q": "hello",
        "status_ref": 302,
        "body_ref": "seven",
        "header_ref": "req-123",
    }
    assert received["url"].split("?")[0].endswith("/anything/req-123")
    assert received["args"]["from"].endswith("/anything/landed")
    assert received["headers"]["X-Flavour"] == "oat"


def test_an_integer_set_on_the_command_line_stays_an_integer(
    project: Path, cli: Any, tmp_path: Path
) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "outputs.yaml", "--set", "n=41")
    assert result.exit_code == 0, result.text
    assert last_response_json(steps_of(report)["use"])["json"]["number"] == 41


# ------------------------------------------------------------------ redirects and cookies


def test_redirects_followed_or_kept(project: Path, cli: Any, tmp_path: Path) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "redirects.yaml")
    assert result.exit_code == 0, result.text
    steps = steps_of(report)
    kept = steps["absolute_kept"]["attempts"][-1]["response"]
    assert kept["status"] == 302
    assert steps["absolute_followed"]["attempts"][-1]["response"]["url"].endswith("/get")


def test_cookies_are_kept_within_an_instance(project: Path, cli: Any) -> None:
    result = cli("run", "cookies.yaml", "--env", ENV, "--set", "row=solo")
    assert result.exit_code == 0, result.text


def test_cookies_are_isolated_between_concurrent_data_rows(
    project: Path, cli: Any, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"row": f"r{i}"}) + "\n" for i in range(8)), "utf-8")
    result, report = run_json(
        cli, tmp_path / "r.json", "cookies.yaml", "--data", str(rows), "--concurrency", "8"
    )
    assert result.exit_code == 0, result.text
    instances = report["instances"]
    assert sorted(i["key"] for i in instances) == [f"row-{n}" for n in range(1, 9)]
    for instance in instances:
        read = {s["id"]: s for s in instance["steps"]}["read"]
        assert json.loads(read["attempts"][-1]["response"]["body"])["cookies"] == {
            "row": instance["inputs"]["row"]
        }
    starts = sorted(i["started_at"] for i in instances)
    ends = sorted(i["started_at"] + i["duration_ms"] / 1000 for i in instances)
    assert starts[-1] < ends[0], "the rows did not overlap in time"


# ------------------------------------------------------------------ bodies and auth


def test_request_bodies_as_the_server_received_them(
    project: Path, cli: Any, tmp_path: Path
) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "bodies.yaml")
    assert result.exit_code == 0, result.text
    steps = steps_of(report)
    graphql = last_response_json(steps["graphql"])["json"]
    assert graphql["variables"] == {"n": 3}
    assert graphql.get("operationName") == "Q"
    multipart = last_response_json(steps["multipart"])
    assert multipart["files"] == {"upload": "line one\nline two\n"}


def test_basic_and_bearer_auth(
    project: Path, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_SECRET_HB_PASSWORD", "pw-Zq81x")
    monkeypatch.setenv("REQFLO_SECRET_HB_TOKEN", "tok-Zq81x-bearer")
    report_path = tmp_path / "r.json"
    result, _report = run_json(cli, report_path, "auth.yaml")
    assert result.exit_code == 0, result.text
    everything = result.text + report_path.read_text("utf-8")
    assert "pw-Zq81x" not in everything and "tok-Zq81x-bearer" not in everything
    assert "/basic-auth/hb-user/" in everything


def test_http_details_as_the_server_saw_them(
    project: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_ME_NAME", "e2e-runner")
    result = cli("run", "http_details.yaml", "--env", ENV)
    assert result.exit_code == 0, result.text


def test_multipart_file_named_by_an_input(project: Path, cli: Any, tmp_path: Path) -> None:
    result = cli("run", "upload.yaml", "--env", ENV)
    assert result.exit_code == 0, result.text
    result, report = run_json(
        cli, tmp_path / "r.json", "upload.yaml", "--set", "file=data/no-such-file.txt"
    )
    assert result.exit_code == 3, result.text
    error = steps_of(report)["upload"]["error"]
    assert error["code"] == "invalid-request"
    assert "no-such-file.txt" in error["message"]


@pytest.mark.parametrize(
    ("path", "code"),
    [("/delay/1", "timeout"), ("/relative-redirect/40", "too-many-redirects")],
)
def test_step_errors_from_httpbin_exit_3(
    project: Path, cli: Any, tmp_path: Path, path: str, code: str
) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "get.yaml", "--set", f"path={path}")
    assert result.exit_code == 3, result.text
    step = steps_of(report)["get"]
    assert (step["status"], step["error"]["code"]) == ("error", code)
    assert f"[{code}]" in result.stdout
