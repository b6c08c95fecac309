"""Outputs moved into place during a command (the CLI names them after an interrupt).

Kept apart from :mod:`geoconflict.io` so that the CLI can reset and read the list without
importing the geospatial stack (``geoconflict COMMAND --help`` stays fast)."""

from __future__ import annotations

from pathlib import Path

#: outputs moved into place since :func:`forget_written`
WRITTEN: list[Path] = []


def written_outputs() -> list[Path]:
    """Outputs moved into place since the last :func:`forget_written`."""
    return list(WRITTEN)


def forget_written() -> None:
    WRITTEN.clear()
