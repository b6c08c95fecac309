"""geoconflict: conflict-incident data to map layers analysts can trust."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("geoconflict")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from .errors import (  # noqa: E402
    CRSError,
    GeoconflictError,
    InputError,
    LayerError,
    OutputExistsError,
    SchemaError,
    SizeLimitError,
)

__all__ = [
    "__version__",
    "GeoconflictError",
    "InputError",
    "SchemaError",
    "LayerError",
    "CRSError",
    "OutputExistsError",
    "SizeLimitError",
]
