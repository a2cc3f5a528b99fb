"""Cloud Runner commands of the `reqflo` CLI (registered onto the main Typer app)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the cloud commands to `app`."""
