"""Pruning of the local caches (reqflo.cache_prune) and `reqflo cache ...` (reqflo.cli_cache).

Real files in a temporary REQFLO_HOME: journeys compiled through `resolve_journey` (which
stores the artifact and the build entry as a run does), environment files read through
`Project`, file times set with `os.utime` to stand for days of disuse.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reqflo import cache_prune, run_cache
from reqflo.artifact import Artifact, ArtifactCache
from reqflo.cache_prune import Policy, parse_age, parse_size, prune
from reqflo.cli import app
from reqflo.diagnostics import ArtifactError
from reqflo.project import Project, resolve_journey

DAY = 86_400
JOURNEY = """\
journey:
  name: Prune {n}
  steps:
    - id: first
      request: {{url: "http://127.0.0.1:9/{n}"}}
"""
AGE_ONLY = Policy(max_age=30 * DAY, max_size=None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "home"))
    for name in ("REQFLO_CACHE_MAX_AGE", "REQFLO_CACHE_MAX_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def _compile(n: int) -> tuple[Artifact, bool]:
    """Journey n, resolved as `reqflo run jn.yaml` does: (artifact, compiled?)."""
    path = Path(f"j{n}.yaml")
    if not path.exists():
        path.write_text(JOURNEY.format(n=n), encoding="utf-8")
    artifact, checked, _ = resolve_journey(str(path), Path.cwd())
    assert artifact is not None
    return artifact, checked is not None


def _entries(home: Path, kind: str) -> list[Path]:
    return [p for p in (home / "cache" / kind).glob("*/*") if not p.name.startswith(".")]


def _age(days: float, *paths: Path) -> None:
    when = time.time() - days * DAY
    for path in paths:
        os.utime(path, (when, when))


def _prune(policy: Policy = AGE_ONLY, **options: bool) -> cache_prune.Pruned:
    return prune(policy, run_cache.cache_root(), ArtifactCache(), **options)


# ------------------------------------------------------------ the policy


def test_files_unused_for_longer_than_the_age_go_with_their_build_entries(home: Path) -> None:
    old, _ = _compile(1)
    recent, _ = _compile(2)
    [old_entry] = [e for e in _entries(home, "builds") if e.read_text().startswith(old.id)]
    _age(40, ArtifactCache().path_for(old.id))  # the entry itself looks recent
    pruned = _prune()
    assert {f.path for f in pruned.removed} == {ArtifactCache().path_for(old.id), old_entry}
    assert not ArtifactCache().path_for(old.id).exists() and not old_entry.exists()
    assert _compile(2) == (recent, False)  # still a hit
    assert _compile(1)[1]  # compiled again, and indexed again
    assert _compile(1)[1] is False


def test_a_build_entry_whose_artifact_is_missing_goes_too(home: Path) -> None:
    artifact, _ = _compile(1)
    ArtifactCache().path_for(artifact.id).unlink()  # e.g. the artifacts folder was cleared
    [entry] = _entries(home, "builds")
    assert _prune(Policy(None, None)).removed == ()  # used in the last minute: kept a while
    _age(2 / 1440, entry)
    assert [f.path for f in _prune(Policy(None, None)).removed] == [entry]


def test_a_hit_counts_as_a_use(home: Path) -> None:
    artifact, _ = _compile(1)
    _age(40, ArtifactCache().path_for(artifact.id), *_entries(home, "builds"))
    assert _compile(1) == (artifact, False)
    assert _prune().removed == ()
    _age(40, ArtifactCache().path_for(artifact.id))
    ArtifactCache().get(artifact.id[:8])  # a run by id is a use too
    assert _prune().removed == ()


def test_environment_entries_are_pruned_by_age(home: Path, write_env: Callable[..., Path]) -> None:
    write_env(Path.cwd(), "dev", base_url="http://a")
    project = Project(Path.cwd().resolve())
    project.environment("dev")
    [entry] = _entries(home, "environments")
    _age(40, entry)
    project.environment("dev")  # a hit: used again
    assert _prune().removed == ()
    _age(40, entry)
    assert [f.path for f in _prune().removed] == [entry]
    assert project.environment("dev") == {"base_url": "http://a"}  # parsed again


def test_over_the_size_cap_the_least_recently_used_go_first(home: Path) -> None:
    artifacts = [_compile(n)[0] for n in range(3)]
    for days, artifact in zip((3, 2, 1), artifacts, strict=True):  # 0 is the oldest
        entry = next(e for e in _entries(home, "builds") if e.read_text().startswith(artifact.id))
        _age(days, ArtifactCache().path_for(artifact.id), entry)
    files = cache_prune.cache_files(run_cache.cache_root(), ArtifactCache())
    total = sum(f.size for f in files)
    one = sum(f.size for f in files if artifacts[0].id in (f.artifact_id, f.path.stem))
    pruned = _prune(Policy(None, total - one))  # room for all but one journey's files
    assert {f.artifact_id for f in pruned.removed} == {artifacts[0].id}
    assert {f.kind for f in pruned.removed} == {"artifact", "build"}
    assert [_compile(n)[1] for n in (1, 2, 0)] == [False, False, True]


def test_parse_age_and_size() -> None:
    assert parse_age("30d") == parse_age("30") == 30 * DAY
    assert parse_age("12h") == 12 * 3600 and parse_age("2w") == 14 * DAY
    assert parse_age("1.5d") == 1.5 * DAY and parse_age("0") == 0
    assert parse_age("off") is None and parse_size("OFF") is None
    assert parse_size("256MB") == 256_000_000 and parse_size("512 KiB") == 512 * 1024
    assert parse_size("1GB") == 10**9 and parse_size("100b") == 100
    for bad in ("", "3x", "-1d", "d"):
        with pytest.raises(ValueError, match=r"is not an age: give e\.g\. 30d"):
            parse_age(bad)
    with pytest.raises(ValueError, match=r"'12' is not a size: give e\.g\. 256MB"):
        parse_size("12")


# ------------------------------------------------------------ safe beside a run


def test_a_hit_whose_artifact_is_pruned_meanwhile_compiles(home: Path) -> None:
    artifact, _ = _compile(1)

    class PrunedWhileLookingUp(ArtifactCache):
        """The build entry was read; everything is pruned before the artifact is."""

        def path_for(self, artifact_id: str) -> Path:
            path = super().path_for(artifact_id)
            assert _prune(everything=True).removed
            return path

    display, text = "j1.yaml", Path("j1.yaml").read_text(encoding="utf-8")
    assert run_cache.cached_build(display, text, ArtifactCache()) == artifact
    assert run_cache.cached_build(display, text, PrunedWhileLookingUp()) is None
    assert _compile(1) == (artifact, True)  # what a run does on that miss
    assert _compile(1) == (artifact, False)


def test_a_run_by_id_whose_artifact_is_pruned_meanwhile_is_a_usage_error(home: Path) -> None:
    artifact, _ = _compile(1)

    class PrunedAfterResolving(ArtifactCache):
        def resolve(self, prefix: str) -> Path:
            path = super().resolve(prefix)
            path.unlink()
            return path

    with pytest.raises(ArtifactError, match=f"no artifact {artifact.id[:8]}"):
        PrunedAfterResolving().get(artifact.id[:8])


def test_a_file_used_since_the_scan_is_kept(home: Path) -> None:
    artifact, _ = _compile(1)
    path = ArtifactCache().path_for(artifact.id)
    _age(40, path)
    [scanned] = [
        f
        for f in cache_prune.cache_files(run_cache.cache_root(), ArtifactCache())
        if f.path == path
    ]
    os.utime(path)  # a run served it after the scan
    assert cache_prune._remove(scanned) is False and path.exists()


def test_temporary_files_go_only_when_a_day_old(home: Path) -> None:
    artifact, _ = _compile(1)
    folder = ArtifactCache().path_for(artifact.id).parent
    live, dead = folder / f"{artifact.id}.123.tmp", folder / f"{artifact.id}.456.tmp"
    index_dead = _entries(home, "builds")[0].parent / ".key.789.tmp"
    for path in (live, dead, index_dead):
        path.write_text("partial", encoding="utf-8")
    _age(2, dead, index_dead)
    removed = {f.path for f in _prune(Policy(None, None)).removed}
    assert removed == {dead, index_dead}
    _prune(everything=True)  # --all too leaves a write in progress alone
    assert live.exists() and folder.is_dir()  # and the folders, which writes need


# ------------------------------------------------------------ the automatic prune


def test_a_compile_prunes_at_most_once_a_day_and_a_hit_never(home: Path) -> None:
    stale, _ = _compile(1)
    stale_file = ArtifactCache().path_for(stale.id)
    stamp = home / "cache" / "last-prune"
    stamp.unlink()  # as before the first automatic prune
    _age(40, stale_file)
    _compile(2)  # a write: prunes
    assert not stale_file.exists() and time.time() - stamp.stat().st_mtime < 60

    _compile(1)  # compiled again (a write, but pruned less than a day ago)
    _age(40, stale_file)
    _age(2, stamp)
    _compile(2)  # a hit: no prune
    assert stale_file.exists()
    Path("j3.yaml").write_text(JOURNEY.format(n=3), encoding="utf-8")
    _compile(3)  # a write, a day after the last prune
    assert not stale_file.exists()


def test_a_bad_policy_in_the_environment_does_not_break_a_run(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_CACHE_MAX_SIZE", "lots")
    stale, _ = _compile(1)
    assert not (home / "cache" / "last-prune").exists()  # no prune with a bad policy
    _age(40, ArtifactCache().path_for(stale.id))
    assert _compile(2)[1]  # compiled and stored; nothing pruned
    assert ArtifactCache().path_for(stale.id).exists()


def test_a_cap_smaller_than_one_artifact_keeps_what_the_compile_just_wrote(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_CACHE_MAX_SIZE", "2KB")  # each file takes 4 KB on disk
    artifact, compiled = _compile(1)  # the first write: the automatic prune runs after it
    assert compiled and (home / "cache" / "last-prune").exists()
    [entry] = _entries(home, "builds")
    assert ArtifactCache().path_for(artifact.id).exists() and entry.exists()
    assert _compile(1) == (artifact, False)  # a hit, not a compile every run
    _age(2, ArtifactCache().path_for(artifact.id), entry, home / "cache" / "last-prune")
    fresh, _ = _compile(2)  # the next day's compile: the older journey makes room
    assert not ArtifactCache().path_for(artifact.id).exists() and not entry.exists()
    assert ArtifactCache().path_for(fresh.id).exists() and _compile(2) == (fresh, False)


def test_files_used_in_the_last_minute_are_kept_by_any_policy_but_all(home: Path) -> None:
    artifact, _ = _compile(1)
    files = [ArtifactCache().path_for(artifact.id), *_entries(home, "builds")]
    assert _prune(Policy(max_age=0, max_size=0)).removed == ()
    _age(2 / 1440, *files)  # two minutes ago
    assert {f.path for f in _prune(Policy(max_age=60, max_size=None)).removed} == set(files)
    _compile(1)
    assert {f.path for f in _prune(everything=True).removed} == set(files)


def test_a_build_entry_written_during_the_scan_is_not_an_orphan(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compile(1)  # (and the automatic prune: the next one is a day away)
    scan = cache_prune._two_down
    written: list[Artifact] = []

    def concurrent_compile(folder: Path) -> list[tuple[Path, os.stat_result]]:
        if folder.name == "builds":  # the artifacts were scanned: another run compiles now
            written.append(_compile(2)[0])
        return scan(folder)

    monkeypatch.setattr(cache_prune, "_two_down", concurrent_compile)
    assert _prune(Policy(None, None)).removed == ()
    monkeypatch.setattr(cache_prune, "_two_down", scan)
    assert _compile(2) == (written[0], False)  # its build entry is still there: a hit


# ------------------------------------------------------------ reqflo cache ...


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cache_path_and_info(home: Path, write_env: Callable[..., Path]) -> None:
    _compile(1)
    write_env(Path.cwd(), "dev", base_url="http://a")
    Project(Path.cwd().resolve()).environment("dev")
    assert _cli("cache", "path")[1].split() == [str(home / "artifacts"), str(home / "cache")]
    code, out, _ = _cli("cache", "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["cache"] == str(home / "cache")
    assert [info[k]["files"] for k in ("artifact", "build", "environment")] == [1, 1, 1]
    assert info["policy"] == {"max_age": 30 * DAY, "max_size": 256_000_000}
    code, out, _ = _cli("cache", "info")
    assert code == 0 and "build entries       1" in out
    assert "keep files used in the last 30 days, at most 256 MB" in out


def test_cache_prune_dry_run_age_and_all(home: Path) -> None:
    old, _ = _compile(1)
    _compile(2)
    _age(10, ArtifactCache().path_for(old.id))
    code, out, _ = _cli("cache", "prune", "--older-than", "7d", "--dry-run")
    assert code == 0 and out.startswith("would remove 1 artifact, 1 build entry, 0 environments")
    assert ArtifactCache().path_for(old.id).exists()
    code, out, _ = _cli("cache", "prune")  # the default policy: 30 days
    assert code == 0 and out.startswith("removed 0 artifacts")
    code, out, _ = _cli("cache", "prune", "--older-than", "7d")
    assert code == 0 and out.startswith("removed 1 artifact, 1 build entry")
    assert "kept 2 files" in out
    code, out, _ = _cli("cache", "prune", "--all")
    assert code == 0 and "kept 0 files" in out
    assert not list(ArtifactCache().root.glob("*/*.json")) and not _entries(home, "builds")


def test_cache_prune_refuses_a_bad_age_size_or_environment_setting(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _cli("cache", "prune", "--older-than", "soon")
    assert code == 2 and "--older-than: 'soon' is not an age: give e.g. 30d" in err
    code, _, err = _cli("cache", "prune", "--max-size", "12")
    assert code == 2 and "--max-size: '12' is not a size" in err
    monkeypatch.setenv("REQFLO_CACHE_MAX_AGE", "a month")
    code, _, err = _cli("cache", "prune")
    assert code == 2 and "REQFLO_CACHE_MAX_AGE: 'a month' is not an age" in err
    assert _cli("cache", "prune", "--older-than", "30d", "--max-size", "off")[0] == 0
    assert "invalid: REQFLO_CACHE_MAX_AGE" in _cli("cache", "info")[1]
