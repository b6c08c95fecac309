"""The exception tree.

Every error geoconflict raises on purpose derives from :class:`GeoconflictError`, and each child is
also a built-in type so callers can ``except ValueError`` or ``except OSError`` as usual.  The CLI
turns any of them into a short message and exit status 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class GeoconflictError(Exception):
    """Root of every error geoconflict raises on purpose."""


class InputError(GeoconflictError, ValueError):
    """A user's input cannot be used as given.

    The message names the file, the place in it (row, feature, column) and the fix.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        feature: int | str | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.row = row
        self.feature = feature
        self.column = column
        self.fix = fix
        self.detail = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        where: list[str] = []
        if self.path:
            where.append(self.path)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.feature is not None:
            where.append(f"feature {self.feature}")
        if self.column:
            where.append(f"column '{self.column}'")
        text = (": ".join([", ".join(where), self.detail]) if where else self.detail)
        if self.fix:
            text += f"; fix: {self.fix}"
        return text


class SchemaError(InputError):
    """Required columns are absent, or the format cannot be recognised."""


class LayerError(InputError):
    """A boundary, control or zone layer is invalid (geometry, dates, attributes)."""


class CRSError(GeoconflictError, ValueError):
    """A CRS is missing, unknown, or two layers disagree."""


class OutputExistsError(GeoconflictError, FileExistsError):
    """An output exists and ``overwrite`` was not given."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(
            f"{path}: already exists; not replaced; fix: pass --overwrite (overwrite=True), "
            "or choose another output path"
        )


class OutputError(GeoconflictError, OSError):
    """An output cannot be written where it was asked for: its folder is not writable, a parent
    is a file, the output is a folder, or it would replace one of the command's inputs."""

    def __init__(self, path: str | Path, problem: str, *, fix: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {problem}; fix: {fix}")

    def __str__(self) -> str:  # OSError's own __str__ would show the errno form
        return f"{self.path}: {self.problem}; fix: {self.fix}"


class SizeLimitError(InputError):
    """An input exceeds a configured size limit."""


def describe(value: Any, limit: int = 40) -> str:
    """A short printable form of a cell value for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
