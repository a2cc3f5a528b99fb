"""Start-up of a run: the build index and environment cache (reqflo.run_cache) are exact.

A repeat `reqflo run` of an unchanged journey loads the artifact an earlier compile
stored instead of compiling again; every change that could change the artifact (the
journey's text, the path it is shown as, the compiler) must compile again, and a cached
artifact that no longer verifies or no longer describes this file is never served.
Files a journey references (multipart `file:` parts) are read when the step runs, so an
edited one takes effect on a cache hit. The subprocess tests check which modules a
cached one-row run imports (no compiler, journey parser or ruamel.yaml).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reqflo import run_cache
from reqflo.artifact import ArtifactCache
from reqflo.project import Project, UsageError, resolve_journey

SRC = Path(__file__).resolve().parents[1] / "src"
JOURNEY = """\
journey:
  name: Startup
  inputs:
    - {name: who, default: ada}
  steps:
    - id: first
      request:
        url: "{{ env.base_url }}/get?who={{ inputs.who }}"
      assertions:
        - {type: status_code, expected: 200}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "environments").mkdir()
    return tmp_path / "home"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_repeat_run_reuses_the_build_and_an_edit_compiles_again(home: Path) -> None:
    path = _write(Path("j.yaml"), JOURNEY)
    first, checked, _ = resolve_journey("j.yaml", Path.cwd())
    assert first is not None and checked is not None  # compiled
    stored = ArtifactCache().path_for(first.id)
    os.utime(stored, (1, 1))
    again, checked_again, root = resolve_journey("j.yaml", Path.cwd())
    assert checked_again is None and again == first  # served from the build index
    assert root == Project.discover(path).root
    assert stored.stat().st_mtime > 1  # still listed as recently used, as when compiled

    _write(path, JOURNEY.replace("status_code, expected: 200", "status_code, expected: 201"))
    edited, checked_edit, _ = resolve_journey("j.yaml", Path.cwd())
    assert checked_edit is not None and edited is not None and edited.id != first.id
    assert edited.plan.steps[0].assertions[0].expected == 201

    _write(path, JOURNEY)  # back to the first text: its build is still valid
    back, checked_back, _ = resolve_journey("j.yaml", Path.cwd())
    assert checked_back is None and back == first


def test_a_reformatted_journey_keeps_its_id_but_gets_its_own_positions(home: Path) -> None:
    path = _write(Path("j.yaml"), JOURNEY)
    first, _, _ = resolve_journey("j.yaml", Path.cwd())
    _write(path, "# a comment moves every line down\n\n" + JOURNEY)
    moved, checked, _ = resolve_journey("j.yaml", Path.cwd())
    assert checked is not None and first is not None and moved is not None
    assert moved.id == first.id  # same plan, so the same content-addressed file...
    assert moved.source.positions["steps.0"][0] == first.source.positions["steps.0"][0] + 2
    _write(path, JOURNEY)  # ...now holding the moved positions: not served for the old text
    again, checked_again, _ = resolve_journey("j.yaml", Path.cwd())
    assert checked_again is not None and again == first


def test_the_path_shown_for_the_journey_is_part_of_the_key(home: Path, tmp_path: Path) -> None:
    path = _write(Path("j.yaml"), JOURNEY).resolve()
    resolve_journey(str(path), Path.cwd())  # shown as j.yaml
    (tmp_path / "sub").mkdir()
    other, checked, _ = resolve_journey(str(path), tmp_path / "sub")  # shown as an absolute path
    assert checked is not None and other is not None  # compiled again for the other display
    assert other.source.path == str(path)


def test_a_changed_compiler_compiles_again(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(Path("j.yaml"), JOURNEY)
    resolve_journey("j.yaml", Path.cwd())
    monkeypatch.setattr(run_cache, "compiler_fingerprint", lambda: "another compiler")
    _, checked, _ = resolve_journey("j.yaml", Path.cwd())
    assert checked is not None


def test_a_tampered_cached_artifact_is_never_served(home: Path) -> None:
    _write(Path("j.yaml"), JOURNEY)
    first, _, _ = resolve_journey("j.yaml", Path.cwd())
    assert first is not None
    stored = ArtifactCache().path_for(first.id)
    doc = json.loads(stored.read_text(encoding="utf-8"))
    doc["plan"]["steps"][0]["assertions"][0]["expected"] = 500
    stored.write_text(json.dumps(doc), encoding="utf-8")
    again, checked, _ = resolve_journey("j.yaml", Path.cwd())
    assert checked is not None and again == first  # compiled, and the cache file repaired
    assert json.loads(stored.read_text(encoding="utf-8"))["plan"] == first.plan.model_dump(
        mode="json"
    )


def test_a_journey_edited_while_it_compiles_is_not_indexed(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reqflo.compiler

    path = _write(Path("j.yaml"), JOURNEY)
    compile_file = reqflo.compiler.check_file

    def edited_meanwhile(file: Path, display: str | None = None) -> Any:
        _write(path, JOURNEY.replace("default: ada", "default: bob"))
        return compile_file(file, display)

    with monkeypatch.context() as patch:
        patch.setattr(reqflo.compiler, "check_file", edited_meanwhile)
        edited, _, _ = resolve_journey("j.yaml", Path.cwd())  # read "ada", compiled "bob"
    assert edited is not None and edited.plan.inputs[0].default == "bob"
    _write(path, JOURNEY)
    again, checked, _ = resolve_journey("j.yaml", Path.cwd())
    assert checked is not None and again is not None and again.plan.inputs[0].default == "ada"


def test_the_build_index_records_the_digest_the_store_wrote(home: Path) -> None:
    """The compile path passes what ArtifactCache.store wrote (no second serialisation);
    an entry is served only while the file holds those bytes."""
    from reqflo.compiler import check_file

    path = _write(Path("j.yaml"), JOURNEY)
    artifact = check_file(path, "j.yaml").artifact
    assert artifact is not None
    stored = ArtifactCache().store(artifact)
    assert stored.path == ArtifactCache().path_for(artifact.id)
    run_cache.record_build("j.yaml", JOURNEY, artifact, stored.sha256)
    assert run_cache.cached_build("j.yaml", JOURNEY, ArtifactCache()) == artifact
    run_cache.record_build("j.yaml", JOURNEY, artifact, "0" * 64)  # not what the file holds
    assert run_cache.cached_build("j.yaml", JOURNEY, ArtifactCache()) is None


COMPILE_EVERYTHING = """\
journey:
  name: Uses every checker
  steps:
    - id: one
      request: {url: "http://x/"}
      assertions:
        - {type: json_path, path: "$.items[?@.n > 1].id", operator: exists}
        - {type: json_schema, schema: {type: object, required: [id]}}
        - {type: body, operator: matches, expected: "^ok"}
"""


def test_everything_a_compile_loads_is_in_the_compiler_fingerprint(tmp_path: Path) -> None:
    """Every reqflo module a compile runs is hashed, and every third-party package it uses
    (python-jsonpath and jsonschema judge paths and schemas) lives where the installed
    distributions are listed, so changing or upgrading any of them is a miss."""
    _write(tmp_path / "j.yaml", COMPILE_EVERYTHING)
    code = (
        "import sys, json; from pathlib import Path; "
        "from reqflo.compiler import check_file; "
        "assert check_file(Path('j.yaml')).artifact is not None; "
        "print(json.dumps([m.__file__ for m in list(sys.modules.values()) "
        "if getattr(m, '__file__', None)]))"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    loaded = {Path(f).resolve() for f in json.loads(done.stdout)}
    ours = {f.relative_to(run_cache.PACKAGE).as_posix() for f in loaded if f.is_relative_to(SRC)}
    assert "checks/patterns.py" in ours and ours <= set(run_cache.COMPILER_MODULES)
    installed = [f for f in loaded if "site-packages" in f.parts]
    assert any(f.parent.name == "jsonschema" for f in installed)  # the schema was judged
    folders = {folder.resolve() for folder in run_cache.dependency_dirs()}
    assert [f for f in installed if not any(f.is_relative_to(d) for d in folders)] == []


def test_installing_or_upgrading_a_distribution_changes_what_is_installed(
    tmp_path: Path,
) -> None:
    (tmp_path / "jsonschema-4.0.0.dist-info").mkdir()
    (tmp_path / "jsonschema").mkdir()
    before = run_cache.installed({tmp_path})
    (tmp_path / "jsonschema-4.0.0.dist-info").rename(tmp_path / "jsonschema-4.1.0.dist-info")
    upgraded = run_cache.installed({tmp_path})
    (tmp_path / "referencing-0.1.dist-info").mkdir()
    assert len({before, upgraded, run_cache.installed({tmp_path})}) == 3
    assert "jsonschema-4.1.0.dist-info" in upgraded


# ------------------------------------------------------------ environment files


def test_environment_values_are_cached_by_text(home: Path, write_env: Callable[..., Path]) -> None:
    path = write_env(Path.cwd(), "dev", base_url="http://a", n=1, ok=True, x=None, f=1.5)
    project = Project(Path.cwd().resolve())
    first = project.environment("dev")
    assert list((home / "cache" / "environments").rglob("*/*"))
    assert project.environment("dev") == first == json.loads(path.read_text(encoding="utf-8"))
    path.write_text("base_url: http://b\n", encoding="utf-8")
    assert project.environment("dev") == {"base_url": "http://b"}


def test_dates_in_an_environment_are_their_iso_text_and_cached(home: Path) -> None:
    """Environment values are JSON values (reqflo.yaml_values): a date is its ISO text,
    so it renders and goes into JSON bodies alike, and the file's parse is cached."""
    _write(Path("environments/dev.yaml"), "day: 2024-05-01\nbase_url: http://a\n")
    values = Project(Path.cwd().resolve()).environment("dev")
    assert values["day"] == "2024-05-01"
    assert (home / "cache" / "environments").exists()
    assert Project(Path.cwd().resolve()).environment("dev") == values


def test_a_broken_environment_file_still_names_where(home: Path) -> None:
    path = _write(Path("environments/dev.yaml"), "base_url: http://a\n")
    Project(Path.cwd().resolve()).environment("dev")
    _write(path, "base_url: [unclosed\n")
    where = r"(?s)cannot read the environment file: .*line 1, column 11"
    with pytest.raises(UsageError, match=where):
        Project(Path.cwd().resolve()).environment("dev")


# ------------------------------------------------------------ real runs


def test_an_edited_referenced_file_is_sent_on_a_cache_hit(
    e2e_project: Path,
    httpbin_url: str,
    write_env: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_env(e2e_project, "hb", base_url=httpbin_url)
    _write(e2e_project / "send.yaml", SEND_FILE)
    _write(e2e_project / "note.txt", "first\n")
    assert cli("run", "send.yaml", "--env", "hb", "--set", "want=first\n").exit_code == 0

    import reqflo.compiler

    def no_compile(*_: object, **__: object) -> None:
        raise AssertionError("the unchanged journey was compiled again")

    monkeypatch.setattr(reqflo.compiler, "check_file", no_compile)
    _write(e2e_project / "note.txt", "second\n")
    assert cli("run", "send.yaml", "--env", "hb", "--set", "want=second\n").exit_code == 0
    assert cli("run", "send.yaml", "--env", "hb", "--set", "want=first\n").exit_code == 1


SEND_FILE = """\
journey:
  name: Send a file
  inputs: [{name: want, required: true}]
  steps:
    - id: upload
      request:
        method: POST
        url: "{{ env.base_url }}/post"
        multipart:
          note: {file: note.txt, content_type: text/plain}
      assertions:
        - {type: json_path, path: "$.files.note", expected: "{{ inputs.want }}"}
"""


def test_a_cached_one_row_run_imports_no_compiler_parser_or_yaml(
    tmp_path: Path, httpbin_url: str
) -> None:
    _write(tmp_path / "j.yaml", JOURNEY)
    (tmp_path / "environments").mkdir()
    _write(tmp_path / "environments" / "dev.yaml", f"base_url: {httpbin_url}\n")
    _write(tmp_path / "rows.csv", "who\nbob\n")
    args = ["run", "j.yaml", "--env", "dev", "--data", "rows.csv"]
    cold, warm = _run_cli(args, tmp_path), _run_cli(args, tmp_path)
    assert {"reqflo.compiler", "ruamel.yaml"} <= cold  # the first run compiles and parses
    heavy = {"reqflo.compiler", "reqflo.journey.parser", "reqflo.journey.model", "ruamel.yaml"}
    assert not heavy & warm
    assert "reqflo.parallel" not in warm and "reqflo.runner.engine" in warm
    assert "reqflo.cache_prune" in cold and "reqflo.cache_prune" not in warm  # misses prune


def _run_cli(args: list[str], cwd: Path) -> set[str]:
    """Run `reqflo ARGS` in a fresh interpreter; the modules it had loaded at exit."""
    out = cwd / "modules.json"
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: open({str(out)!r}, 'w').write(json.dumps(list(sys.modules))))\n"
        "from reqflo.cli import main\n"
        f"sys.argv = ['reqflo', *{args!r}]\n"
        "main()\n"
    )
    done = _python(code, cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return set(json.loads(out.read_text(encoding="utf-8")))


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(SRC),
        "REQFLO_HOME": str(cwd / "home"),
        "NO_COLOR": "1",
        "HOME": str(cwd),
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_an_environment_value_json_cannot_write_as_utf8_is_still_read(home: Path) -> None:
    """A YAML escape can give a lone surrogate; caching it must neither fail nor alter it."""
    _write(Path("environments/dev.yaml"), 'odd: "\\ud800x"\nbase_url: http://a\n')
    for _ in range(2):  # parsed, then (if it was cached) read back
        values = Project(Path.cwd().resolve()).environment("dev")
        assert values == {"odd": "\ud800x", "base_url": "http://a"}
    assert not list(home.rglob("*.tmp"))


def test_importing_the_cli_leaves_the_importers_garbage_collectable(tmp_path: Path) -> None:
    """The CLI pauses the cycle collector while it imports; a program or test that imports
    it gets the collector back as it was, and its own garbage is still collected."""
    code = (
        "import gc, weakref\n"
        "gc.set_threshold(10**9)  # no automatic collection before the import\n"
        "class Cycle: pass\n"
        "c = Cycle(); c.me = c; alive = weakref.ref(c); del c\n"
        "import reqflo.cli\n"
        "gc.collect()\n"
        "print(gc.isenabled(), alive() is None)\n"
    )
    done = _python(code, tmp_path)
    assert done.stdout.split() == ["True", "True"], done.stderr


def test_a_corrupted_environment_cache_entry_is_never_served(home: Path) -> None:
    path = _write(Path("environments/dev.yaml"), "base_url: http://right\nn: 1\n")
    project = Project(Path.cwd().resolve())
    assert project.environment("dev") == {"base_url": "http://right", "n": 1}
    [entry] = (home / "cache" / "environments").rglob("*/*")
    entry.write_text(entry.read_text(encoding="utf-8").replace("right", "wrong"), "utf-8")
    assert project.environment("dev") == {"base_url": "http://right", "n": 1}
    assert "wrong" not in entry.read_text(encoding="utf-8")  # parsed again and rewritten
    assert path.read_text(encoding="utf-8").startswith("base_url: http://right")
