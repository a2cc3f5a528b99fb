"""Node tools for bench/run.py (Newman, Step CI): installed from npm into the bench cache."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def ensure(cache: Path, package: str, version: str, script: str) -> Path | None:
    """`script` of `package` (a path inside it), installed into `cache`/`package` with npm
    when missing; None without npm/node or when the install failed."""
    prefix = cache / package
    path = prefix / "node_modules" / package / script
    if path.exists():
        return path
    if not shutil.which("npm") or not shutil.which("node"):
        return None
    print(f"installing {package} from npm …", flush=True)
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
         f"{package}@{version}"],
        check=False, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return path if path.exists() else None
