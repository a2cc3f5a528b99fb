"""Step CI as a peer for bench/run.py: installed from npm, one workflow per row count.

Step CI's `testdata` picks a *random* CSV row per test, so one instance per row is
written out instead: a workflow with one test per row (the row's values in the test's
`env`), the same three requests and five checks as bench/journey.yaml, and
`config.concurrency` set to the benchmark's concurrency. The password is passed as a
Step CI secret (`-s password=...`). Analytics are disabled (STEPCI_DISABLE_ANALYTICS),
so nothing but 127.0.0.1 is contacted. Step CI exits non-zero when any test fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import npm  # bench/npm.py

VERSION = "2"

_STEPS = """    steps:
      - name: login
        http:
          url: ${{env.base_url}}/login
          method: POST
          json: {username: '${{env.user}}', password: '${{secrets.password}}'}
          captures: {token: {jsonpath: $.token}}
      - name: profile
        http:
          url: ${{env.base_url}}/profile
          method: GET
          auth: {bearer: {token: '${{captures.token}}'}}
          check:
            status: 200
            headers: {Content-Type: [{match: '^application/json'}]}
            jsonpath: {$.plan: pro}
      - name: order
        http:
          url: ${{env.base_url}}/orders
          method: POST
          auth: {bearer: {token: '${{captures.token}}'}}
          json: {user: '${{env.user}}', quantity: '${{env.qty}}'}
          check:
            status: 201
            jsonpath: {$.status: created}
"""


def ensure(cache: Path) -> Path | None:
    """The Step CI CLI script, installed into `cache`/stepci with npm when missing."""
    return npm.ensure(cache, "stepci", VERSION, "dist/index.js")


def version(script: Path) -> str:
    package = script.parents[1] / "package.json"
    try:
        return str(json.loads(package.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "?"


def write_workflow(project: Path, url: str, rows: int, concurrency: int) -> Path:
    """`stepci-N.yml`: one test per data row of rows-N.csv (same users and quantities)."""
    lines = ["version: '1.1'", "name: Bench journey", "env:", f"  base_url: {url}",
             "config:", f"  concurrency: {concurrency}", "tests:"]  # fmt: skip
    for i in range(rows):
        env = f"{{user: {json.dumps(f'user-{i:06d}')}, qty: {i % 5 + 1}}}"
        lines += [f"  row{i}:", f"    env: {env}", _STEPS.rstrip("\n")]
    path = project / f"stepci-{rows}.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
