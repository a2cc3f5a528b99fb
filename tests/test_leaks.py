"""Leak test (issue 3): planted canary secrets never reach any output of `reqflo run`.

Canaries are random and planted the two local ways: `REQFLO_SECRET_<NAME>` variables
(a plain one and a multi-line one) and a 0600 `.reqflo/secrets.yaml` (one full of
characters that need escaping, a non-ASCII one, and a per-environment password). The
demo API's login turns the password into a bearer token captured as an output marked
`secret: true`. The journey (tests/leaks/reflect.yaml) makes the target reflect all of
them in request and response headers, Basic auth at every base64 alignment, query
strings, JSON/form/text/multipart/GraphQL bodies, a 500 response, failed assertions
whose expected and actual hold the secrets, a retried step, an invalid request, a
refused connection and a timeout. It runs four times (verbose, quiet, a `--data` run of
three rows, and a real subprocess) writing every report format, and everything written -
console streams, report files, REQFLO_HOME - is scanned by the independent scanner
(tests/leakscan.py) plus the serialiser forms it does not list (Jinja/markupsafe and XML
attribute escaping, HTML-safe JSON, aiohttp's query encoding).

The test can fail: the demo target records what it really received and sent (the same
run without redaction), and the sanity tests prove every canary is found there, in the
same encodings, and that each recorded response holding one shows a mask instead.

Known leaks are strict xfails, one test per class (truncation before redaction, Python
repr escapes, JSON-in-JSON), plus a catch-all that looks for any 16 consecutive
characters of a canary, whatever the encoding around them.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import markupsafe
import pytest
from aiohttp import web
from yarl import URL

from leakscan import find_leaks, leak_forms
from reqflo.demo.app import create_app
from reqflo.demo.common import STATE
from reqflo.secrets import MASK

LEAK_FILES = Path(__file__).parent / "leaks"
SRC = Path(__file__).resolve().parents[1] / "src"
ENV = "leak"
USER = "leak-user"


def _hex(n: int = 32) -> str:
    return uuid.uuid4().hex[:n]


PLAIN = f"cAnAry-{_hex()}"
MULTI = f"cAnAry-multi-{_hex(12)}\n   second line {_hex(12)}  \nthird-{_hex(12)}"
SPECIAL = f"cAnAry\"/+&<> \\'%=?#;{_hex(16)}"
UNICODE = f"cAnAry-ünï€😀-{_hex(16)}"
PASSWORD = f"cAnAry-pw-{_hex()}"
PLANTED = {
    "LEAK_PLAIN": PLAIN,
    "LEAK_MULTI": MULTI,
    "LEAK_SPECIAL": SPECIAL,
    "LEAK_UNICODE": UNICODE,
    "LEAK_PASSWORD": PASSWORD,
}
FROM_ENVIRONMENT = ("LEAK_PLAIN", "LEAK_MULTI")

REPORTS = ("json", "junit", "html", "tap", "ndjson")
SUFFIX = {"json": "json", "junit": "xml", "html": "html", "tap": "tap", "ndjson": "ndjson"}


@dataclass(frozen=True)
class RunSpec:
    name: str
    args: tuple[str, ...]
    on_stdout: str | None = None  # the report format written to standard output
    process: bool = False


RUNS = (
    RunSpec("verbose", ("-v",)),
    RunSpec("quiet", (), on_stdout="json"),
    RunSpec("data", ("--data", "rows.csv", "--data-key", "alias", "-c", "3"), on_stdout="ndjson"),
    RunSpec("process", ("-v",), on_stdout="tap", process=True),
)
CHANNELS = [
    f"{run.name}:{channel}"
    for run in RUNS
    for channel in ("stdout", "stderr", *(f for f in REPORTS if f != run.on_stdout))
]


# ------------------------------------------------------------------ the recording target


@dataclass
class Exchange:
    """One request as the target received it and its answer, never redacted."""

    run: str
    method: str
    target: str  # raw path and query string, as sent on the wire
    headers: list[tuple[str, str]]
    body: str
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: str = ""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def render(self) -> str:
        head = [f"{self.method} {self.target}", *(f"{k}: {v}" for k, v in self.headers)]
        answer = [f"{self.status}", *(f"{k}: {v}" for k, v in self.response_headers)]
        return "\n".join([*head, "", self.body, *answer, "", self.response_body])


class RecordingTarget:
    """The demo API (one user whose password is a canary) with a wire recorder in front."""

    READS_BODY = frozenset({"/echo", "/auth/login"})

    def __init__(self) -> None:
        self.current_run = ""
        self.exchanges: list[Exchange] = []
        self.app = create_app(users={USER: PASSWORD})
        self.app.middlewares.insert(0, self._record)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="leak-target", daemon=True
        )
        self._runner = web.AppRunner(self.app, access_log=None)

    def start(self) -> str:
        self._thread.start()
        self._call(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._call(site.start())
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def stop(self) -> None:
        self._call(self._runner.cleanup())
        self._call(self._loop.shutdown_asyncgens())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def tokens(self) -> list[str]:
        """Every bearer token the login handed out (the secret-marked output's values)."""
        return list(self.app[STATE].tokens)

    def traffic(self, run: str | None = None) -> str:
        return "\n\n".join(e.render() for e in self.exchanges if run in (None, e.run))

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read() if request.path in self.READS_BODY else b""
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        exchange = Exchange(
            self.current_run, request.method, request.raw_path, headers, body.decode()
        )
        self.exchanges.append(exchange)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exchange.status, exchange.response_body = exc.status, exc.text or ""
            exchange.response_headers = list(exc.headers.items())
            raise
        exchange.status, exchange.response_headers = response.status, list(response.headers.items())
        if isinstance(response, web.Response) and response.body is not None:
            exchange.response_body = response.text or ""
        return response


# ------------------------------------------------------------------ running the journeys


@dataclass(repr=False)
class LeakRuns:
    target: RecordingTarget
    root: Path  # project, REQFLO_HOME and the secrets file live below it
    project: Path
    home: Path
    exit_codes: dict[str, int] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)

    def report(self, run: str) -> dict[str, Any]:
        """The run's JSON report (a file, or standard output for the quiet run)."""
        text = self.channels.get(f"{run}:json") or self.channels[f"{run}:stdout"]
        report: dict[str, Any] = json.loads(text)
        return report

    def canaries(self) -> dict[str, str]:
        tokens = {f"token#{i}": token for i, token in enumerate(self.target.tokens())}
        return {**PLANTED, **tokens}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def make_project(root: Path, base_url: str) -> Path:
    project = root / "project"
    shutil.copytree(LEAK_FILES, project)
    environment = {
        "base_url": base_url,
        "closed_url": f"http://127.0.0.1:{closed_port()}",
        "pad_value": "v" * 1980,  # the secret straddles the 2000-char cut of result values
        "pad_message": "m" * 170,  # ... and the 200-char cut of values shown in messages
    }
    (project / "environments").mkdir()
    (project / "environments" / f"{ENV}.yaml").write_text(json.dumps(environment), "utf-8")
    secrets = {k: v for k, v in PLANTED.items() if k not in FROM_ENVIRONMENT}
    secrets["environments"] = {ENV: {"LEAK_PASSWORD": secrets.pop("LEAK_PASSWORD")}}
    secrets_file = project / ".reqflo" / "secrets.yaml"
    secrets_file.parent.mkdir()
    secrets_file.touch(mode=0o600)
    secrets_file.write_text(json.dumps(secrets, ensure_ascii=False), "utf-8")
    return project


def run_args(run: RunSpec) -> list[str]:
    args = ["run", "reflect.yaml", "--env", ENV, *run.args]
    for fmt in REPORTS:
        args += ["-o", fmt if fmt == run.on_stdout else f"{fmt}:out-{run.name}/r.{SUFFIX[fmt]}"]
    return args


def invoke_in_process(args: list[str]) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from reqflo.cli import app

    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def invoke_process(args: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "error", "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "reqflo.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def execute(runs: LeakRuns, run: RunSpec) -> None:
    runs.target.current_run = run.name
    args = run_args(run)
    code, out, err = invoke_process(args, runs.project) if run.process else invoke_in_process(args)
    runs.exit_codes[run.name] = code
    runs.channels[f"{run.name}:stdout"] = out
    runs.channels[f"{run.name}:stderr"] = err
    for fmt in REPORTS:
        path = runs.project / f"out-{run.name}" / f"r.{SUFFIX[fmt]}"
        if fmt != run.on_stdout:
            runs.channels[f"{run.name}:{fmt}"] = path.read_text("utf-8")


@pytest.fixture(scope="module")
def leak_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeakRuns]:
    target = RecordingTarget()
    try:
        root = tmp_path_factory.mktemp("leaks")
        runs = LeakRuns(target, root, make_project(root, target.start()), root / "reqflo-home")
        with pytest.MonkeyPatch.context() as mp:
            for name in [n for n in os.environ if n.startswith(("REQFLO_SECRET_", "REQFLO_ME_"))]:
                mp.delenv(name)
            for name in FROM_ENVIRONMENT:
                mp.setenv(f"REQFLO_SECRET_{name}", PLANTED[name])
            mp.setenv("REQFLO_HOME", str(runs.home))
            mp.chdir(runs.project)
            for run in RUNS:
                execute(runs, run)
        yield runs
    finally:
        target.stop()


# ------------------------------------------------------------------ scanning


def extra_forms(secret: str) -> dict[str, str]:
    """Encodings of `secret` that our reporters' and HTTP libraries produce but leakscan
    does not list (or lists wrongly: see `base64_chunks`)."""
    json_text = json.dumps(secret)[1:-1]
    html_safe_json = json_text.replace("<", "\\u003c").replace(">", "\\u003e")
    return {
        "markupsafe": str(markupsafe.escape(secret)),  # Jinja autoescape: &#34; &#39;
        "xml-attribute": xml_escape(
            secret, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"}
        ),
        "tojson": html_safe_json.replace("&", "\\u0026").replace("'", "\\u0027"),
        "yarl-query": URL.build(path="/", query={"k": secret}).raw_query_string[2:],
        **base64_chunks(secret),
    }


def base64_chunks(secret: str) -> dict[str, str]:
    """alignment -> the base64 characters that depend only on the secret's bytes when
    `alignment` bytes precede it (Basic auth: `user:` + secret), standard and URL-safe.

    leakscan's chunks at alignments 1 and 2 (and 0 when the length is not a multiple of
    3) keep the filler's `AAAA=` tail because the `=` padding agrees, so they never match
    real data; see test_leakscan_finds_basic_auth_at_every_alignment."""
    data = secret.encode()
    chunks: dict[str, str] = {}
    for alignment in range(3):
        zeros = base64.b64encode(bytes(alignment) + data + bytes(3)).decode()
        ones = base64.b64encode(b"\xff" * alignment + data + b"\xff" * 3).decode()
        same = [i for i, (a, b) in enumerate(zip(zeros, ones, strict=True)) if a == b != "="]
        chunk = zeros[same[0] : same[-1] + 1]
        chunks[f"base64-align{alignment}"] = chunk
        chunks[f"base64url-align{alignment}"] = chunk.translate(str.maketrans("+/", "-_"))
    return chunks


def python_reprs(canaries: dict[str, str]) -> dict[str, str]:
    """Each canary as `f"{value!r}"` writes it (`\\'`, `\\xNN`), where that differs."""
    reprs = {f"{label} as python-repr": repr(value)[1:-1] for label, value in canaries.items()}
    return {label: form for label, form in reprs.items() if form not in canaries.values()}


def json_in_json(canaries: dict[str, str]) -> dict[str, str]:
    """Each canary JSON-escaped twice (JSON text carried in a JSON string), where that
    differs from escaping it once."""
    doubled = {}
    for label, value in canaries.items():
        for inner, outer in itertools.product((False, True), repeat=2):
            once = json.dumps(value, ensure_ascii=inner)[1:-1]
            twice = json.dumps(once, ensure_ascii=outer)[1:-1]
            if twice != once:
                doubled[f"{label} as json-in-json ({inner=}, {outer=})"] = twice
    return doubled


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WHITESPACE = re.compile(r"\s+")


def scan(text: str, bases: dict[str, str]) -> list[str]:
    """Every leak in `text` of each base value (a canary or a form of one): its leakscan
    forms, our `extra_forms`, and the raw value once ANSI codes and whitespace (line
    wrapping) are removed."""
    return list(_scan(text, tuple(bases.items())))


@functools.cache
def _scan(text: str, bases: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    plain = ANSI.sub("", text)
    squeezed = WHITESPACE.sub("", plain)
    hits = []
    for label, base in bases:
        hits += [f"{label}: {hit}" for hit in find_leaks(plain, [base])]
        hits += [f"{label} as {name}" for name, form in extra_forms(base).items() if form in plain]
        if base not in plain and base in squeezed:
            hits.append(f"{label}: raw once whitespace is removed (a wrapped line)")
    return tuple(hits)


def written_files(runs: LeakRuns) -> dict[str, str]:
    """Every file below the run's temp root (REQFLO_HOME included) but the secrets file."""
    secrets_file = runs.project / ".reqflo" / "secrets.yaml"
    return {
        str(path.relative_to(runs.root)): path.read_bytes().decode("utf-8", "replace")
        for path in sorted(runs.root.rglob("*"))
        if path.is_file() and path != secrets_file
    }


# ------------------------------------------------------------------ the runs are meaningful


def steps_of(instance: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in instance["steps"]}


def test_every_run_exercised_every_leak_path(leak_runs: LeakRuns) -> None:
    assert leak_runs.exit_codes == {run.name: 3 for run in RUNS}, leak_runs.channels
    for run in RUNS:
        instances = leak_runs.report(run.name)["instances"]
        assert len(instances) == (3 if run.name == "data" else 1)
        for instance in instances:
            steps = steps_of(instance)
            assert steps["login"]["status"] == steps["headers"]["status"] == "passed"
            assert steps["me"]["status"] == "passed", "the derived token authenticated"
            assert steps["server_error"]["attempts"][0]["response"]["status"] == 500
            failed = steps["failed_assertions"]["attempts"][0]["assertions"]
            assert [a["passed"] for a in failed] == [False] * 12
            assert [a["response"]["status"] for a in steps["retried"]["attempts"]] == [503] * 3
            errors = {sid: steps[sid]["error"]["code"] for sid in ("invalid_request", "refused")}
            assert errors == {"invalid_request": "invalid-request", "refused": "connection-error"}
            assert steps["timeout"]["error"]["code"] == "timeout"
    data_keys = sorted(i["key"] for i in leak_runs.report("data")["instances"])
    assert data_keys == ["a", "ab", "abc"]


def test_every_canary_reached_the_target(leak_runs: LeakRuns) -> None:
    tokens = leak_runs.target.tokens()
    assert len(tokens) == 6, "one login per instance: 1 + 1 + 3 rows + 1 process"
    for run in RUNS:
        traffic = leak_runs.target.traffic(run.name)
        missing = [name for name, value in leak_runs.canaries().items()
                   if name.startswith("LEAK") and not find_leaks(traffic, [value])]  # fmt: skip
        assert not missing, f"{run.name}: never sent {missing}"
        assert sum(bool(find_leaks(traffic, [t])) for t in tokens) == len(
            leak_runs.report(run.name)["instances"]
        )
        paths = {e.path for e in leak_runs.target.exchanges if e.run == run.name}
        assert {"/auth/login", "/me", "/echo", "/slow"} <= paths


def found_forms(text: str, secret: str) -> set[str]:
    return {name for name, form in leak_forms(secret).items() if form in text}


def test_the_target_saw_every_encoding_the_scanner_looks_for(leak_runs: LeakRuns) -> None:
    """The canaries crossed the wire base64-encoded at each alignment, URL-encoded and
    JSON-escaped: the same run without redaction is caught by the scanner."""
    traffic = leak_runs.target.traffic()
    for alignment in range(3):  # data rows "a", "ab", "abc": "a:" + password is align 2
        assert base64_chunks(PASSWORD)[f"base64-align{alignment}"] in traffic
    assert base64_chunks(PLAIN)["base64-align0"] in traffic  # "ab:" + secret
    assert base64_chunks(SPECIAL)["base64-align1"] in traffic  # "abc:" + secret
    assert base64_chunks(leak_runs.target.tokens()[0])["base64-align2"] in traffic  # "a:"
    assert {"raw", "json-unicode", "url-plus"} <= found_forms(traffic, SPECIAL)
    assert "json-ascii" in found_forms(traffic, UNICODE)  # the echo's ensure_ascii JSON
    assert {"line1/json-unicode", "line2/raw"} <= found_forms(traffic, MULTI)
    assert extra_forms(SPECIAL)["yarl-query"] in traffic  # how aiohttp sent the query


def test_each_recorded_response_masks_what_the_target_really_sent(leak_runs: LeakRuns) -> None:
    """Sanity: pair the verbose run's recorded attempts with the target's unredacted
    answers; each answer holding a canary is caught by the scan, its record is not."""
    canaries = leak_runs.canaries()
    answered = [e for e in leak_runs.target.exchanges if e.run == "verbose" and e.path != "/slow"]
    recorded = [
        attempt["response"]
        for step in leak_runs.report("verbose")["instances"][0]["steps"]
        for attempt in step["attempts"]
        if attempt.get("response")
    ]
    assert len(recorded) == len(answered)
    caught = 0
    for record, exchange in zip(recorded, answered, strict=True):
        assert URL(record["url"]).path == exchange.path
        if scan(exchange.response_body, canaries):
            caught += 1
            assert not scan(record["body"], canaries)
            assert MASK in record["body"]
    assert caught >= 15


def test_every_output_was_written_and_shows_masks(leak_runs: LeakRuns) -> None:
    empty = {f"{run.name}:stderr" for run in RUNS if run.on_stdout is None}  # console on stdout
    assert set(leak_runs.channels) == set(CHANNELS)
    for channel, text in leak_runs.channels.items():
        if channel in empty:
            assert text == "", (channel, text)
        else:
            assert MASK in text or ("tap" in channel and "not ok" in text), channel


# ------------------------------------------------------------------ zero leaks
# A leak found here: mark that parameter xfail(strict=True, reason="LEAK: ...") and report it.


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_canary_in_console_or_report(leak_runs: LeakRuns, channel: str) -> None:
    hits = scan(leak_runs.channels[channel], leak_runs.canaries())
    assert not hits, f"{channel} leaks: {hits}"


def test_no_canary_in_any_written_file_or_the_artifact_cache(leak_runs: LeakRuns) -> None:
    files = written_files(leak_runs)
    cached = [name for name in files if name.startswith("reqflo-home")]
    assert cached, "the runs stored their artifact in REQFLO_HOME"
    assert len(files) >= len(CHANNELS) - 2 * len(RUNS)
    canaries = leak_runs.canaries()
    leaks = {name: hits for name, text in files.items() if (hits := scan(text, canaries))}
    assert not leaks


def test_the_scan_finds_a_canary_slipped_into_any_output(leak_runs: LeakRuns) -> None:
    """Sanity: each channel, with one canary form appended, is reported."""
    canaries = leak_runs.canaries()
    forms = [
        json.dumps({"v": SPECIAL})[7:-2],
        str(markupsafe.escape(SPECIAL)),
        base64.b64encode(b"abc:" + PASSWORD.encode()).decode(),
        URL.build(path="/", query={"q": UNICODE}).raw_query_string,
        MULTI.splitlines()[1].strip(),
        "\n    ".join(re.findall(".{1,9}", leak_runs.target.tokens()[-1])),  # wrapped
    ]
    for index, (channel, text) in enumerate(sorted(leak_runs.channels.items())):
        planted = forms[index % len(forms)]
        assert scan(text + "\n" + planted, canaries), (channel, planted)


def test_leakscan_finds_basic_auth_at_every_alignment() -> None:
    cases = [("a", PASSWORD), ("abc", PASSWORD), ("ab", PASSWORD + "!")]
    for user, secret in cases:
        header = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        alignment = (len(user) + 1) % 3
        assert base64_chunks(secret)[f"base64-align{alignment}"] in header  # ours finds it
        assert find_leaks(header, [secret]), f"leakscan misses base64 at alignment {alignment}"


# ------------------------------------------------------------------ known leaks
# One test per class of leak found, each xfail(strict) until fixed; the catch-all at the
# end finds all of them too. Reproducers are in the reasons and the helper's report.


def every_output(runs: LeakRuns) -> dict[str, str]:
    return {**runs.channels, **written_files(runs)}


TRUNCATION_MARK = re.compile(r"(?:…|\\u2026)\[truncated")
MIN_PIECE = 8


def ends_with_piece(text: str, form: str) -> bool:
    """`text` ends with the first MIN_PIECE or more characters of `form` (not all)."""
    return any(text.endswith(form[:n]) for n in range(MIN_PIECE, len(form)))


def test_no_secret_cut_in_half_by_truncation(leak_runs: LeakRuns) -> None:
    forms = {
        f"{label} as {name}": form
        for label, value in leak_runs.canaries().items()
        for name, form in {**leak_forms(value), **extra_forms(value)}.items()
    }
    cut: dict[str, set[str]] = {}
    for name, text in every_output(leak_runs).items():
        for marker in TRUNCATION_MARK.finditer(text):
            before = text[max(0, marker.start() - 200) : marker.start()]
            pieces = {label for label, form in forms.items() if ends_with_piece(before, form)}
            cut.setdefault(name, set()).update(pieces)
    assert not {name: sorted(labels) for name, labels in cut.items() if labels}


def test_no_python_repr_of_a_secret_in_any_output(leak_runs: LeakRuns) -> None:
    reprs = python_reprs(leak_runs.canaries())
    assert "LEAK_SPECIAL as python-repr" in reprs
    outputs = every_output(leak_runs)
    leaks = {name: hits for name, text in outputs.items() if (hits := scan(text, reprs))}
    assert not leaks


def test_no_json_escaped_json_of_a_secret_in_any_output(leak_runs: LeakRuns) -> None:
    doubled = json_in_json(leak_runs.canaries())
    outputs = every_output(leak_runs)
    leaks = {name: hits for name, text in outputs.items() if (hits := scan(text, doubled))}
    assert not leaks


def test_no_piece_of_a_secret_in_any_output(leak_runs: LeakRuns) -> None:
    """Catch-all for encodings nobody listed: no 16 consecutive characters of a canary."""
    pieces = {
        value[i : i + 16]: label
        for label, value in leak_runs.canaries().items()
        for i in range(len(value) - 15)
    }
    pattern = re.compile("|".join(map(re.escape, pieces)))
    by_text: dict[str, list[str]] = {}
    for name, text in every_output(leak_runs).items():
        by_text.setdefault(text, []).append(name)
    found = {
        ", ".join(names): sorted({pieces[m.group()] for m in pattern.finditer(text)})
        for text, names in by_text.items()
    }
    assert not {names: labels for names, labels in found.items() if labels}
