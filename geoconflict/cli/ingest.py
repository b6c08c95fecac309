"""``geoconflict ingest``: read incidents into one validated table (a thin layer over
:func:`geoconflict.incidents.read_incidents`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._engine import Engine, engine_options, ingest_dask
from ._helpers import say
from .options import encoding_option, incident_options, input_path, output_opt, overwrite_opt, places_opt


@click.command("ingest")
@input_path("input")
@output_opt
@incident_options
@encoding_option(csv=True)
@places_opt
@click.option("--max-input-mb", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Largest shapefile (unzipped) or GeoJSON read, in MB (default: the environment "
              "variable GEOCONFLICT_MAX_INPUT_MB, else 256).")
@overwrite_opt
@engine_options
@click.pass_context
def ingest(
    ctx: click.Context,
    input: Path,  # noqa: A002 - click argument name
    output: Path,
    fmt: str,
    lon: str | None,
    lat: str | None,
    date_col: str | None,
    layer: str | None,
    sheet: str | None,
    encoding: str | None,
    places: tuple[Path, ...],
    max_input_mb: float | None,
    overwrite: bool,
    engine: Engine,
) -> None:
    """Read INPUT (ACLED or UCDP GED export, a CSV or workbook with coordinates, or a point layer) into the
    canonical incident table, written to OUTPUT; rejected rows go to
    <OUTPUT without extension>.quarantine.csv with a reason.  Both are written or neither.
    In a GeoPackage, a column named fid (GDAL's feature id) is kept as fid_source.

    \b
    Examples:
      geoconflict ingest acled_syria.csv -o incidents.gpkg
      geoconflict ingest GEDEvent_v24_1.csv -o ged.parquet --format ucdp
      geoconflict ingest reports.csv -o points.geojson --lon x --lat y --date reported
      geoconflict ingest strike_log.xlsx --sheet Strikes -o incidents.gpkg
    """
    if engine.dask:
        return ingest_dask(ctx, engine, input, output, fmt=fmt, lon=lon, lat=lat, date=date_col,
                           encoding=encoding, places=places, overwrite=overwrite)
    from ..incidents import read_incidents, write_ingest
    from ..io import check_output, output_format, quarantine_path

    output_format(output)
    for target in (output, quarantine_path(output)):  # fail before the (long) read
        check_output(target, overwrite=overwrite)
    quiet = bool((ctx.find_root().obj or {}).get("quiet"))
    result = read_incidents(
        input, format=fmt, lon=lon, lat=lat, date=date_col, layer=layer, sheet=sheet, encoding=encoding,
        places=list(places) or None, progress=not quiet and sys.stderr.isatty(),
        max_input_mb=max_input_mb,
    )
    write_ingest(result, output, overwrite=overwrite)
    say(ctx, f"ingest: {result.report.summary()} -> {output}")
