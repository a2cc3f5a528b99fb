"""End to end against the demo API: YAML journeys through the real `reqflo run` CLI.

Covers retry (every attempt recorded), `when`, `continue_on_failure`, timeouts and refused
connections (exit 3), GraphQL, exit codes of spec §4 for invalid journeys and bad usage
(exit 2) and for missing secrets and inputs (exit 3, no request sent), data files with
`--data-key`, `--concurrency` and `--fail-fast`, value precedence observed at the server,
every `--output` format, and a few runs as a real subprocess. Journeys: tests/e2e/.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ENV = "demo"


@pytest.fixture
def project(e2e_project: Path, demo_url: str, write_env: Callable[..., Path]) -> Path:
    write_env(e2e_project, ENV, base_url=demo_url)
    return e2e_project


def demo_stats(base_url: str, reset: bool = False) -> dict[str, Any]:
    """GET /stats (or POST /stats/reset) of the demo API."""
    request = urllib.request.Request(
        f"{base_url}/stats/reset" if reset else f"{base_url}/stats",
        method="POST" if reset else "GET",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def run_json(cli: Callable[..., Any], report: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    result = cli("run", *args, "--output", f"json:{report}")
    return result, json.loads(report.read_text(encoding="utf-8"))


def steps_of(instance: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in instance["steps"]}


def received(step: dict[str, Any]) -> Any:
    """What the demo's /echo saw, from the recorded response body."""
    return json.loads(step["attempts"][-1]["response"]["body"])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ------------------------------------------------------------------ flow control


def test_retry_when_and_continue_on_failure(project: Path, cli: Any, tmp_path: Path) -> None:
    key = f"flow-{uuid.uuid4().hex}"
    result, report = run_json(
        cli, tmp_path / "r.json", "flow.yaml", "--env", ENV, "--set", f"key={key}"
    )
    assert result.exit_code == 1, result.text
    steps = steps_of(report["instances"][0])
    poll = steps["poll"]
    assert poll["status"] == "passed"
    assert [a["number"] for a in poll["attempts"]] == [1, 2, 3]
    assert [a["response"]["status"] for a in poll["attempts"]] == [503, 503, 200]
    assert [a["assertions"][0]["passed"] for a in poll["attempts"]] == [False, False, True]
    assert poll["outputs"] == {"attempt": 3}
    starts = [a["started_at"] for a in poll["attempts"]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps[0] >= 0.019 and gaps[1] >= 0.039, gaps  # linear backoff: 20ms, then 40ms
    assert steps["only_with_flag"]["status"] == "skipped"
    assert steps["soft_failure"]["status"] == "failed"
    assert steps["after"]["status"] == "passed"
    assert report["instances"][0]["status"] == "failed"


def test_when_runs_the_step_when_true(project: Path, cli: Any, tmp_path: Path) -> None:
    key = f"flow-{uuid.uuid4().hex}"
    args = ("--set", f"key={key}", "--set", "flag=true", "--set", "succeed_after=1")
    result, report = run_json(cli, tmp_path / "r.json", "flow.yaml", "--env", ENV, *args)
    assert result.exit_code == 1, result.text
    steps = steps_of(report["instances"][0])
    assert len(steps["poll"]["attempts"]) == 1
    assert steps["only_with_flag"]["status"] == "passed"


def test_retry_that_runs_out_keeps_every_attempt_and_stops(
    project: Path, cli: Any, tmp_path: Path
) -> None:
    key = f"flow-{uuid.uuid4().hex}"
    args = ("--set", f"key={key}", "--set", "succeed_after=50")
    result, report = run_json(cli, tmp_path / "r.json", "flow.yaml", "--env", ENV, *args)
    assert result.exit_code == 1, result.text
    steps = steps_of(report["instances"][0])
    assert steps["poll"]["status"] == "failed"
    assert [a["response"]["status"] for a in steps["poll"]["attempts"]] == [503] * 4
    assert list(steps) == ["poll"], "a failed step stops the instance"


# ------------------------------------------------------------------ step errors (exit 3)


def test_timeout_is_a_step_error(project: Path, cli: Any, tmp_path: Path) -> None:
    result, report = run_json(cli, tmp_path / "r.json", "slow.yaml", "--env", ENV)
    assert result.exit_code == 3, result.text
    steps = steps_of(report["instances"][0])
    assert steps["slow"]["status"] == "error"
    assert steps["slow"]["error"]["code"] == "timeout"
    assert list(steps) == ["slow"]
    assert "[timeout]" in result.stdout


def test_connection_refused_is_a_step_error(
    project: Path, cli: Any, tmp_path: Path, write_env: Callable[..., Path]
) -> None:
    write_env(project, "closed", base_url=f"http://127.0.0.1:{closed_port()}")
    result, report = run_json(cli, tmp_path / "r.json", "ping.yaml", "--env", "closed")
    assert result.exit_code == 3, result.text
    step = steps_of(report["instances"][0])["ping"]
    assert (step["status"], step["error"]["code"]) == ("error", "connection-error")
    assert "[connection-error]" in result.stdout


def test_missing_secret_fails_before_any_request(
    project: Path, cli: Any, demo_url: str, tmp_path: Path
) -> None:
    demo_stats(demo_url, reset=True)
    result, report = run_json(
        cli, tmp_path / "r.json", "needs.yaml", "--env", ENV, "--set", "customer=c-1"
    )
    assert result.exit_code == 3, result.text
    assert "[missing-secret] secret 'E2E_API_KEY'" in result.stdout
    assert report["instances"][0]["error"]["code"] == "missing-secret"
    assert demo_stats(demo_url)["total"] == 0


def test_missing_required_input_fails_before_any_request(
    project: Path, cli: Any, demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_SECRET_E2E_API_KEY", "key-value-1")
    demo_stats(demo_url, reset=True)
    result, report = run_json(cli, tmp_path / "r.json", "needs.yaml", "--env", ENV)
    assert result.exit_code == 3, result.text
    assert "[missing-input] missing required input 'customer'" in result.stdout
    assert report["instances"][0]["error"]["code"] == "missing-input"
    assert demo_stats(demo_url)["total"] == 0
    passing = cli("run", "needs.yaml", "--env", ENV, "--set", "customer=c-9", "-v")
    assert passing.exit_code == 0, passing.text
    assert "key-value-1" not in passing.text
    assert demo_stats(demo_url)["counts"] == {"POST /echo": 1}


def test_graphql_against_the_demo(project: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQFLO_SECRET_DEMO_PASSWORD", "demo-password")
    result = cli("run", "graphql.yaml", "--env", ENV, "--set", "quantity=5")
    assert result.exit_code == 0, result.text


# ------------------------------------------------------------------ invalid journey, usage (exit 2)


def test_invalid_journey_exits_2_with_every_problem(project: Path, cli: Any) -> None:
    result = cli("run", "invalid/broken.yaml")
    assert result.exit_code == 2
    assert "asertions" in result.text and "assertions" in result.text  # did you mean
    assert "nowhere" in result.text
    assert "broken.yaml:6" in result.text


def test_a_scalar_that_crashes_the_yaml_loader_is_an_invalid_journey(
    project: Path, cli: Any
) -> None:
    journey = project / "odd.yaml"
    journey.write_text(
        "journey:\n  name: Odd\n  steps:\n    - id: a\n"
        '      request: {method: GET, url: "http://127.0.0.1:9/"}\n'
        "      assertions:\n        - {type: status_code, expected: -_}\n",
        encoding="utf-8",
    )
    result = cli("run", "odd.yaml")
    assert result.exit_code == 2
    assert "odd.yaml:7" in result.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ping.yaml", "--env", "nope"), "environment 'nope' is not defined"),
        (("precedence.yaml", "--env", ENV, "--case", "yours"), "case 'yours' is not defined"),
        (("precedence.yaml", "--env", ENV, "--set", "novalue"), "--set expects NAME=VALUE"),
        (("precedence.yaml", "--env", ENV, "--set", "zz=1"), "the journey has no input 'zz'"),
        (("no-such-journey",), "'no-such-journey' is not a file"),
        (("ping.yaml", "--env", ENV, "--output", "yaml:x"), "yaml"),
        (("ping.yaml", "--env", ENV, "-o", "json", "-o", "tap"), "both write to standard output"),
        (("ping.yaml", "--env", ENV, "--concurrency", "0"), "--concurrency"),
        (("orders_rows.yaml", "--env", ENV, "--data", "none.csv"), "cannot read the data file"),
        (
            ("orders_rows.yaml", "--env", ENV, "--data", "data/rows.csv", "--data-key", "nope"),
            "--data-key column 'nope' is not in the header",
        ),
    ],
    ids=[
        "unknown-env",
        "unknown-case",
        "set-without-equals",
        "set-unknown-input",
        "unknown-journey",
        "unknown-output-format",
        "two-reports-on-stdout",
        "zero-concurrency",
        "missing-data-file",
        "unknown-data-key",
    ],
)
def test_bad_usage_exits_2(
    project: Path, cli: Any, demo_url: str, args: tuple[str, ...], message: str
) -> None:
    demo_stats(demo_url, reset=True)
    result = cli("run", *args)
    assert result.exit_code == 2, result.text
    assert message in result.text
    assert demo_stats(demo_url)["total"] == 0


def test_run_by_artifact_id_and_by_journey_name(project: Path, cli: Any) -> None:
    built = cli("build", "ping.yaml")
    assert built.exit_code == 0, built.text
    artifact_id = re.search(r"built ([0-9a-f]{64})", built.stdout)
    assert artifact_id is not None
    by_id = cli("run", artifact_id.group(1)[:12], "--env", ENV)
    assert by_id.exit_code == 0, by_id.text
    assert f"artifact {artifact_id.group(1)[:12]}" in by_id.stdout
    by_name = cli("run", "Ping", "--env", ENV)
    assert by_name.exit_code == 0, by_name.text


def test_local_secrets_file_must_be_private(
    project: Path, cli: Any, demo_url: str, tmp_path: Path
) -> None:
    secrets = project / ".reqflo" / "secrets.yaml"
    secrets.parent.mkdir()
    secrets.write_text("E2E_API_KEY: from-the-file-91\n", encoding="utf-8")
    secrets.chmod(0o644)
    demo_stats(demo_url, reset=True)
    result = cli("run", "needs.yaml", "--env", ENV, "--set", "customer=c")
    assert result.exit_code == 2, result.text
    assert "chmod 600" in result.stderr and "from-the-file-91" not in result.text
    assert demo_stats(demo_url)["total"] == 0
    secrets.chmod(0o600)
    result, report = run_json(
        cli, tmp_path / "r.json", "needs.yaml", "--env", ENV, "--set", "customer=c"
    )
    assert result.exit_code == 0, result.text  # the server got the value from the file
    recorded = received(steps_of(report["instances"][0])["call"])["headers"]["X-Api-Key"]
    assert "from-the-file-91" not in recorded and "REDACTED" in recorded


def test_unknown_environment_lists_the_available_ones(project: Path, cli: Any) -> None:
    result = cli("run", "ping.yaml", "--env", "dem")
    assert result.exit_code == 2
    assert "demo" in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("rows.csv", "customer,quantity\nc-1,2\nc-2,3,4\n", "rows.csv:3: row 2 has 3 fields"),
        ("rows.jsonl", '{"customer": "c-1"}\n{"customer": \n', "rows.jsonl:2:1: invalid JSON"),
        ("rows.json", '[{"customer": "c-1"}, 5]', "rows.json:1:23: record 2 is a number"),
    ],
    ids=["csv-field-count", "jsonl-syntax", "json-not-an-object"],
)
def test_malformed_data_file_exits_2_naming_the_row(
    project: Path, cli: Any, demo_url: str, tmp_path: Path, name: str, content: str, message: str
) -> None:
    data = tmp_path / name
    data.write_text(content, encoding="utf-8")
    demo_stats(demo_url, reset=True)
    result = cli("run", "orders_rows.yaml", "--env", ENV, "--data", str(data))
    assert result.exit_code == 2, result.text
    assert message in result.stderr
    assert demo_stats(demo_url)["total"] == 0


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("rows.csv", "customer,quantity\nc-1,2\nc-2,lots\n", "rows.csv:3"),
        (
            "rows.json",
            '[{"customer": "c-1"}, {"customer": "c", "quantity": "lots"}]',
            "rows.json:1",
        ),
    ],
    ids=["csv", "json"],
)
def test_a_row_value_of_the_wrong_type_is_an_instance_error_naming_row_and_column(
    project: Path, cli: Any, tmp_path: Path, name: str, content: str, where: str
) -> None:
    data = tmp_path / name
    data.write_text(content, encoding="utf-8")
    result, report = run_json(
        cli, tmp_path / "r.json", "orders_rows.yaml", "--env", ENV, "--data", str(data)
    )
    assert result.exit_code == 3, result.text
    assert "[invalid-input] input 'quantity' (integer): 'lots' is not an integer" in result.stdout
    assert where in result.stdout
    statuses = {i["key"]: i["status"] for i in report["instances"]}
    assert statuses == {"row-1": "passed", "row-2": "error"}


def test_a_set_value_of_the_wrong_type_fails_before_any_request(
    project: Path, cli: Any, demo_url: str
) -> None:
    demo_stats(demo_url, reset=True)
    result = cli(
        "run", "orders_rows.yaml", "--env", ENV, "--set", "customer=c", "--set", "quantity=lots"
    )
    assert result.exit_code == 3, result.text
    assert "input 'quantity' (integer): 'lots' is not an integer" in result.stdout
    assert demo_stats(demo_url)["total"] == 0


# ------------------------------------------------------------------ data runs and values


def test_value_precedence_environment_case_set_row(
    project: Path, cli: Any, demo_url: str, tmp_path: Path, write_env: Callable[..., Path]
) -> None:
    write_env(project, "layered", base_url=demo_url, a="env", b="env", c="env", d="env")
    rows = tmp_path / "rows.csv"
    rows.write_text("d\nrow\n", encoding="utf-8")
    args = ("--env", "layered", "--case", "mine", "--set", "c=set", "--set", "d=set")
    result, report = run_json(cli, tmp_path / "r.json", "precedence.yaml", *args, "--data", rows)
    assert result.exit_code == 0, result.text
    query = received(steps_of(report["instances"][0])["echo"])["query"]
    assert query == {"a": "env", "b": "case", "c": "set", "d": "row", "e": "default"}
    without_row = run_json(cli, tmp_path / "r2.json", "precedence.yaml", *args)[1]
    assert received(steps_of(without_row["instances"][0])["echo"])["query"]["d"] == "set"


ROWS = [{"customer": f"c-{n}", "quantity": n} for n in range(1, 6)]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".csv":
        lines = [",".join(rows[0])] + [",".join(str(v) for v in r.values()) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_data_file_runs_one_instance_per_row_named_by_data_key(
    project: Path, cli: Any, tmp_path: Path, suffix: str
) -> None:
    data = write_rows(tmp_path / f"rows{suffix}", ROWS)
    result, report = run_json(
        cli, tmp_path / "r.json", "orders_rows.yaml", "--env", ENV,
        "--data", data, "--data-key", "customer",
    )  # fmt: skip
    assert result.exit_code == 0, result.text
    seen = {i["key"]: received(steps_of(i)["echo"])["json"] for i in report["instances"]}
    assert seen == {r["customer"]: r for r in ROWS}
    assert report["summary"]["total"] == report["summary"]["passed"] == len(ROWS)


def test_spreadsheet_csv_with_bom_crlf_and_quoted_fields(
    project: Path, cli: Any, tmp_path: Path
) -> None:
    data = tmp_path / "excel.csv"
    data.write_bytes(b'\xef\xbb\xbfcustomer,quantity\r\nc-1,2\r\n"c,2",3\r\n"multi\nline",4\r\n')
    result, report = run_json(
        cli, tmp_path / "r.json", "orders_rows.yaml", "--env", ENV, "--data", data
    )
    assert result.exit_code == 0, result.text
    seen = [received(steps_of(i)["echo"])["json"] for i in report["instances"]]
    assert sorted(seen, key=lambda r: r["quantity"]) == [
        {"customer": "c-1", "quantity": 2},
        {"customer": "c,2", "quantity": 3},
        {"customer": "multi\nline", "quantity": 4},
    ]


def intervals(report: dict[str, Any]) -> list[tuple[float, float]]:
    return sorted(
        (i["started_at"], i["started_at"] + i["duration_ms"] / 1000) for i in report["instances"]
    )


def test_concurrency_bounds_instances_in_flight(project: Path, cli: Any, tmp_path: Path) -> None:
    rows = [{**r, "pause_ms": 120} for r in ROWS[:4]]
    data = write_rows(tmp_path / "rows.jsonl", rows)
    base = ("orders_rows.yaml", "--env", ENV, "--data", data)
    serial = run_json(cli, tmp_path / "serial.json", *base, "--concurrency", "1")[1]
    spans = intervals(serial)
    assert all(later[0] >= earlier[1] - 0.005 for earlier, later in itertools.pairwise(spans))
    parallel = run_json(cli, tmp_path / "parallel.json", *base, "--concurrency", "4")[1]
    spans = intervals(parallel)
    assert max(start for start, _ in spans) < min(end for _, end in spans)


def test_fail_fast_starts_no_new_instance_after_a_failure(
    project: Path, cli: Any, demo_url: str, tmp_path: Path
) -> None:
    rows = [{"customer": "c-big", "quantity": 500}, *ROWS]
    data = write_rows(tmp_path / "rows.jsonl", rows)
    base = ("orders_rows.yaml", "--env", ENV, "--data", data, "--concurrency", "1")
    demo_stats(demo_url, reset=True)
    result, report = run_json(cli, tmp_path / "r.json", *base, "--fail-fast")
    assert result.exit_code == 1, result.text
    assert demo_stats(demo_url)["counts"]["POST /echo"] == 1
    ran = [i for i in report["instances"] if i["steps"]]
    assert [i["key"] for i in ran] == ["row-1"]
    assert ran[0]["status"] == "failed"
    rest = [i for i in report["instances"] if not i["steps"]]
    assert [i["status"] for i in rest] == ["cancelled"] * len(ROWS)  # reported, not dropped
    assert report["summary"]["cancelled"] == len(ROWS)
    result, report = run_json(cli, tmp_path / "r2.json", *base)
    assert result.exit_code == 1
    assert [i["status"] for i in report["instances"]] == ["failed"] + ["passed"] * len(ROWS)


# ------------------------------------------------------------------ report formats


def test_every_output_format_written_to_files(project: Path, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    key = f"formats-{uuid.uuid4().hex}"
    result = cli(
        "run", "flow.yaml", "--env", ENV, "--set", f"key={key}", "--set", "succeed_after=2",
        "-o", f"json:{out}/r.json", "-o", f"junit:{out}/r.xml", "-o", f"html:{out}/r.html",
        "-o", f"tap:{out}/r.tap", "-o", f"ndjson:{out}/r.ndjson",
    )  # fmt: skip
    assert result.exit_code == 1, result.text

    report = json.loads((out / "r.json").read_text("utf-8"))
    assert report["complete"] is True and report["summary"]["failed"] == 1
    assert [a["number"] for a in steps_of(report["instances"][0])["poll"]["attempts"]] == [1, 2]

    junit = ET.parse(out / "r.xml").getroot()
    cases = junit.findall(".//testcase")
    assert len(cases) >= 4
    assert len(junit.findall(".//testcase/failure")) >= 1
    assert len(junit.findall(".//testcase/skipped")) >= 1

    html = (out / "r.html").read_text("utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "Flow control" in html and "soft_failure" in html
    for external in ("<script src=", '<link rel="stylesheet" href=', "@import"):
        assert external not in html
    assert sorted(p.name for p in out.iterdir()) == [
        "r.html",
        "r.json",
        "r.ndjson",
        "r.tap",
        "r.xml",
    ]

    tap = (out / "r.tap").read_text("utf-8").splitlines()
    assert tap[0] == "TAP version 14"
    plans = [line for line in tap if re.fullmatch(r"1\.\.\d+", line)]
    assert len(plans) == 1
    assert any(line.startswith("not ok") for line in tap)

    events = [json.loads(line) for line in (out / "r.ndjson").read_text("utf-8").splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert {"step_started", "step_finished", "instance_finished"} <= set(kinds)


def test_reports_at_their_default_paths(project: Path, cli: Any) -> None:
    result = cli("run", "ping.yaml", "--env", ENV, "-o", "junit", "-o", "html")
    assert result.exit_code == 0, result.text
    assert ET.parse(project / "reqflo-junit.xml").getroot().findall(".//testcase")
    assert (project / "reqflo-report.html").read_text("utf-8").lower().startswith("<!doctype")


# ------------------------------------------------------------------ real subprocess

SRC = Path(__file__).resolve().parents[1] / "src"


def reqflo_process(project: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m reqflo.cli ...` in the project folder, warnings as errors."""
    env = {**os.environ, "PYTHONWARNINGS": "error", "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "reqflo.cli", *map(str, args)],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_process_passing_run_prints_a_clean_json_report_on_stdout(project: Path) -> None:
    done = reqflo_process(project, "run", "ping.yaml", "--env", ENV, "--output", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["status"] == "passed"
    assert "PASSED" in done.stderr and "Traceback" not in done.stderr


def test_process_failing_run_exits_1_with_tap_on_stdout(project: Path) -> None:
    key = f"proc-{uuid.uuid4().hex}"
    done = reqflo_process(
        project, "run", "flow.yaml", "--env", ENV, "--set", f"key={key}", "-o", "tap"
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("TAP version 14\n")
    assert "not ok" in done.stdout and "expected 200" in done.stderr


def test_process_step_error_exits_3_with_an_empty_stderr(
    project: Path, write_env: Callable[..., Path]
) -> None:
    write_env(project, "closed", base_url=f"http://127.0.0.1:{closed_port()}")
    done = reqflo_process(project, "run", "ping.yaml", "--env", "closed")
    assert done.returncode == 3
    assert "[connection-error]" in done.stdout
    assert done.stderr == ""
