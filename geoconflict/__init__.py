"""geoconflict: conflict-incident data to map layers analysts can trust.

The public API is re-exported here and loaded lazily (``import geoconflict`` stays fast; the
geospatial stack is imported on first use of a function).
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    CRSError,
    GeoconflictError,
    InputError,
    LayerError,
    OutputExistsError,
    SchemaError,
    SizeLimitError,
)

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    # read and validate
    "read_incidents": "incidents", "incidents_from_frame": "incidents", "write_ingest": "incidents",
    "IngestResult": "incidents", "date_window": "incidents", "CANONICAL_COLUMNS": "incidents",
    "read_layer": "io", "write_layer": "io", "write_layers": "io", "write_table": "io",
    # place names
    "fold_name": "names", "same_place": "names", "name_score": "names",
    "Gazetteer": "gazetteer", "geocode": "gazetteer",
    # joins and control layers
    "read_control": "control", "validate_control": "control", "snapshot_at": "control",
    "snapshots": "control", "front_lines": "control",
    "join_admin": "join", "join_control": "join", "join_front_line": "join", "join_areas": "join",
    "join_all": "join",
    # zones, corridors, ceasefires
    "area_by_controller": "zones", "control_change": "zones", "net_change": "zones",
    "corridor": "corridor", "classify_ceasefire": "ceasefire", "ceasefire_report": "ceasefire",
    "write_ceasefire": "ceasefire",
    # grids
    "count_by_cell": "grids", "kde_raster": "kde", "hot_spots": "hotspots", "priogrid_gid": "grids",
    "priogrid_cell": "grids", "month_id": "grids",
    # flows
    "read_flows": "flows", "resolve_places": "flows", "aggregate_flows": "flows", "flow_arcs": "flows",
    "arrowheads": "flows", "build_flows": "flows", "write_flows": "flows",
    # publishing
    "Layer": "layers", "load_layers": "layers", "make_map": "maps", "write_map": "maps",
    "write_png": "png", "write_gpkg": "publish",
    # scenarios
    "load_scenario": "pipeline", "run_scenario": "pipeline",
}

__all__ = [
    "__version__", "GeoconflictError", "InputError", "SchemaError", "LayerError", "CRSError",
    "OutputExistsError", "SizeLimitError", *_LAZY,
]


def _version() -> str:
    """The installed distribution's version (``importlib.metadata`` costs 0.1 s to import, so it
    is read on first use of ``geoconflict.__version__``, not by every command)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("geoconflict")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = globals()["__version__"] = _version()
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'geoconflict' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
