"""Where a report's text goes: standard output, or a file that appears atomically.

Owns `Sink`: reporters write to it as events arrive (so memory stays flat), and
`commit` either flushes stdout or renames the finished temporary file into place, so a
reader never sees a half-written report file. `spool` gives reporters a scratch file
for parts that must be assembled later (JUnit test cases, HTML instance sections).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, TextIO

STDOUT = "-"


class Sink:
    """A text destination. `path` None (or `-`) means standard output."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path in (None, STDOUT) else Path(path)
        self._temp: IO[str] | None = None
        self._closed = False
        if self.path is not None:
            self._temp = _temp_beside(self.path)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_stdout(self) -> bool:
        return self.path is None

    @property
    def stream(self) -> TextIO | IO[str]:
        if self._temp is not None:
            return self._temp
        return sys.stdout

    def write(self, text: str) -> None:
        self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def copy_from(self, spool: IO[str]) -> None:
        spool.seek(0)
        shutil.copyfileobj(spool, self.stream)

    def commit(self) -> None:
        """Finish: flush stdout, or move the temporary file to its final path."""
        if self._closed:
            return
        self._closed = True
        if self._temp is None or self.path is None:
            sys.stdout.flush()
            return
        self._temp.flush()
        os.fsync(self._temp.fileno())
        self._temp.close()
        os.replace(self._temp.name, self.path)

    def discard(self) -> None:
        """Drop an unfinished file without touching the destination."""
        if self._closed:
            return
        self._closed = True
        if self._temp is not None:
            self._temp.close()
            Path(self._temp.name).unlink(missing_ok=True)


def _unwritable(path: Path, exc: OSError) -> ValueError:
    """Said before the run starts (the CLI's usage error), never a traceback after it."""
    return ValueError(f"cannot write a report to '{path}': {exc.strerror or exc}")


def _temp_beside(path: Path) -> IO[str]:
    if path.is_dir():
        raise ValueError(f"cannot write a report to '{path}': it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _opened_temp(path)
    except OSError as exc:
        raise _unwritable(path, exc) from exc


def _opened_temp(path: Path) -> IO[str]:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed into place by commit()
        mode="w",
        encoding="utf-8",
        newline="\n",
        dir=path.parent,
        prefix=f".{path.name}.",
        suffix=".tmp",
        delete=False,
    )
    # Temporary files are created 0600; give the report the mode a normal file would get.
    os.chmod(handle.name, 0o666 & ~_UMASK)
    return handle


def _read_umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


_UMASK = _read_umask()  # read once at import, before any worker threads exist


def spool() -> IO[str]:
    """An anonymous scratch text file (deleted when closed)."""
    return tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n")
