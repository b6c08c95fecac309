"""Shared click options: one meaning per flag across every command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..units import parse_distance_m


class Distance(click.ParamType):
    """A distance with unit (``5km``, ``500m``); the value is in metres."""

    name = "distance"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            metres = parse_distance_m(value)
        except ValueError as exc:
            self.fail(getattr(exc, "detail", str(exc)) + "; write e.g. 5km or 500m", param, ctx)
        if metres <= 0:
            self.fail(f"{value!r} must be positive", param, ctx)
        return metres


DISTANCE = Distance()


def input_path(name: str = "input", *, dir_okay: bool = False, **kw: Any) -> Any:
    """A file argument (``dir_okay`` for a folder of GeoParquet parts, e.g. with --engine dask)."""
    return click.argument(name, type=click.Path(dir_okay=dir_okay, path_type=Path), **kw)


output_opt = click.option(
    "-o", "--output", "output", required=True, type=click.Path(path_type=Path),
    help="Output file; its extension picks the format (.geojson, .gpkg, .parquet, .csv); "
         "with --engine dask a .parquet output is a folder of parts.",
)
outdir_opt = click.option(
    "-o", "--output", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Output folder.",
)
overwrite_opt = click.option(
    "--overwrite", is_flag=True, default=False, help="Replace existing outputs (never done silently)."
)
format_opt = click.option(
    "--format", "fmt", type=click.Choice(["auto", "acled", "ucdp", "csv"]), default="auto",
    show_default=True, help="Incident format; auto detects it from the columns.",
)
lon_opt = click.option("--lon", "lon", default=None, help="Longitude column of a generic CSV.")
lat_opt = click.option("--lat", "lat", default=None, help="Latitude column of a generic CSV.")
date_opt = click.option("--date", "date_col", default=None, help="Date column of a generic CSV.")
layer_opt = click.option("--layer", default=None, help="Layer name in a multi-layer GeoPackage.")
places_opt = click.option(
    "--places", "places", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Gazetteer: a table of place names with coordinates (repeatable).",
)
admin_opt = click.option(
    "--admin", "admin", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Admin boundary polygon layer (repeatable).",
)
control_opt = click.option(
    "--control", "control", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
    callback=lambda ctx, param, value: (list(value) if len(value) > 1 else value[0]) if value else None,
    help="Dated control-zone layer (controller, valid_from/valid_to or date); repeat for one file per date.",
)


def incident_options(f: Any) -> Any:
    """The options every command that reads incidents accepts."""
    for opt in reversed([format_opt, lon_opt, lat_opt, date_opt, layer_opt]):
        f = opt(f)
    return f
