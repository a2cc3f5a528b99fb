"""`idempotency_key: true` sends a key derived from run, instance and step, the same on
every attempt of a step and different between instances and runs."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

JOURNEY = """\
journey:
  name: keyed
  inputs: [{name: n, default: "0"}]
  variables: [{name: base_url, source: environment}]
  steps:
    - id: pay
      idempotency_key: true
      continue_on_failure: true
      request: {method: POST, url: "{{ variables.base_url }}/anything", json: {n: "{{ inputs.n }}"}}
      retry: {attempts: 2, interval: 10ms}
      assertions:
        - {type: status_code, expected: 200}
        - {type: json_path, path: "$.json.n", operator: equals, expected: never}
    - id: echo_run
      request: {url: "{{ variables.base_url }}/anything/{{ run.instance }}/{{ run.key }}"}
      assertions: [{type: status_code, expected: 200}]
"""


@pytest.fixture
def project(e2e_project: Path, httpbin_url: str, write_env: Callable[..., Path]) -> Path:
    write_env(e2e_project, "hb", base_url=httpbin_url)
    (e2e_project / "keyed.yaml").write_text(JOURNEY)
    (e2e_project / "rows.csv").write_text("n\n1\n2\n")
    return e2e_project


def _keys(report: dict[str, Any]) -> list[list[str]]:
    keys = []
    for instance in report["instances"]:
        pay = instance["steps"][0]
        sent = [json.loads(a["response"]["body"])["headers"] for a in pay["attempts"]]
        keys.append([headers["Idempotency-Key"] for headers in sent])
    return keys


def test_the_key_is_stable_per_step_and_unique_per_instance_and_run(
    project: Path, cli: Any
) -> None:
    args = ("run", "keyed.yaml", "--env", "hb", "--data", "rows.csv", "--data-key", "n")
    first = cli(*args, "--output", "json:a.json")
    second = cli(*args, "--output", "json:b.json")
    assert (first.exit_code, second.exit_code) == (1, 1)  # the `never` assertion fails
    a = json.loads((project / "a.json").read_text())
    b = json.loads((project / "b.json").read_text())
    keys_a, keys_b = _keys(a), _keys(b)
    assert all(len(set(attempts)) == 1 and len(attempts) == 2 for attempts in keys_a)
    assert keys_a[0][0] != keys_a[1][0] and keys_a[0][0].endswith("-pay")
    assert {k[0] for k in keys_a}.isdisjoint(k[0] for k in keys_b)
    run_id = a["summary"]["run_id"]
    assert keys_a[0][0].startswith(run_id)
    urls = sorted(i["steps"][1]["attempts"][0]["request"]["url"] for i in a["instances"])
    assert urls[0].endswith("/anything/0/1") and urls[1].endswith("/anything/1/2")
