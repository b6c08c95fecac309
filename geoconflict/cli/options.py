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


class CommaList(click.ParamType):
    """``A,B , C`` -> ``["A", "B", "C"]`` (blanks dropped); an empty list is refused."""

    name = "list"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        if isinstance(value, list):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        if not items:
            self.fail("give at least one name (comma-separated)", param, ctx)
        return items


COMMA_LIST = CommaList()
#: ``--admin-fields A,B,...`` (join, zones): the admin attributes carried (default all)
admin_fields_opt = click.option(
    "--admin-fields", type=COMMA_LIST, default=None, metavar="A,B,...",
    help="Admin attributes to carry (comma-separated; default all).",
)


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


def _shapefile_encoding(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Every Shapefile this command reads that does not declare its code page is read in it."""
    if value is None:
        return None
    from .._codepage import shapefile_encoding  # no geopandas: --help stays fast
    from ..errors import InputError

    try:
        ctx.with_resource(shapefile_encoding(value))
    except InputError as exc:
        raise click.BadParameter(f"{exc.detail}; {exc.fix}") from None
    return value


ENCODING_HELP = ("Code page of a Shapefile without a .cpg file (its text is refused when it is not "
                 "UTF-8 and none is given), e.g. cp1256 for Arabic Windows, cp1252 for Western "
                 "European, cp1251 for Cyrillic. A .cpg beside the file wins.")


def encoding_option(*, csv: bool = False) -> Any:
    """``--encoding`` for every command that reads vector layers; ``csv``: the command's own
    CSV reader also takes it (the value is passed to the command)."""
    text = ("Text encoding of a CSV that is not UTF-8 (e.g. latin-1, cp1252, cp1256); also the " +
            ENCODING_HELP[0].lower() + ENCODING_HELP[1:]) if csv else ENCODING_HELP
    return click.option("--encoding", default=None, metavar="CODEPAGE", callback=_shapefile_encoding,
                        expose_value=csv, help=text)


encoding_opt = encoding_option()
layer_opt = click.option("--layer", default=None, help="Layer name in a multi-layer GeoPackage.")
sheet_opt = click.option("--sheet", default=None, metavar="NAME",
                         help="The sheet of an Excel or ODS workbook (default: the only sheet holding a table).")
places_opt = click.option(
    "--places", "places", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Gazetteer: a table of place names with coordinates (repeatable).",
)
admin_opt = click.option(
    "--admin", "admin", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Admin boundary polygon layer (repeatable).",
)
control_opt = click.option(
    "--control", "control", multiple=True, type=click.Path(path_type=Path), metavar="FILE|FOLDER|'GLOB'",
    callback=lambda ctx, param, value: list(value) if value else None,
    help="Dated control-zone layer(s): a file, a folder or a quoted glob ('archive/*.geojson'), "
         "repeatable; dates from valid_from/valid_to, a date column or the file name "
         "(YYYY-MM-DD, YYYYMMDD, YYYY_MM_DD).",
)


def _to_meta(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"control_{param.name}"] = value
    return value


controller_opt = click.option(
    "--controller", "controller", default=None, metavar="NAME", expose_value=False, callback=_to_meta,
    help="Single-actor control layers: features with no controller column (or an empty value) are "
         "held by NAME.",
)
extent_opt = click.option(
    "--extent", "extent", default=None, expose_value=False, callback=_to_meta,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Country or study-area polygon (any CRS): control pieces outside it are kept and reported; "
         "with --remainder, the ground in it no controller holds is held by the remainder.",
)
remainder_opt = click.option(
    "--remainder", "remainder", default=None, metavar="NAME", expose_value=False, callback=_to_meta,
    help="With --extent: on every date, the part of the extent no controller holds is held by NAME "
         "(without it, that ground is uncovered: controller null, control_status none).",
)


def control_source_options(f: Any) -> Any:
    """--controller, --extent, --remainder: how a control archive is read (see :func:`control_source`)."""
    for opt in reversed([controller_opt, extent_opt, remainder_opt]):
        f = opt(f)
    return f


def control_options(f: Any) -> Any:
    """--control and the options of :func:`control_source_options`."""
    return control_opt(control_source_options(f))


def control_source(ctx: click.Context, control: Any, *, layer: str | None = None) -> Any:
    """The :class:`~geoconflict.control_sources.ControlSource` of ``--control`` (or a CONTROL
    argument) and its options, or ``None`` when no control was given (then --controller,
    --extent and --remainder are refused)."""
    from ..control_sources import ControlSource

    meta = {k: ctx.meta.get(f"control_{k}") for k in ("controller", "extent", "remainder")}
    if not control:
        given = [f"--{k}" for k, v in meta.items() if v is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} need(s) --control")
        return None
    paths = tuple(control) if isinstance(control, (list, tuple)) else (control,)
    return ControlSource(paths=paths, layer=layer, **meta)


def incident_options(f: Any) -> Any:
    """The options every command that reads incidents accepts."""
    for opt in reversed([format_opt, lon_opt, lat_opt, date_opt, layer_opt, sheet_opt]):
        f = opt(f)
    return f
