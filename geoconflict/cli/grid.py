"""``geoconflict grid``: strike density in square, hex, H3 or PRIO-GRID cells; KDE; hot spots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..units import PERIODS
from ._engine import Engine, engine_options, grid_dask, refuse_with_dask
from ._helpers import say
from .options import DISTANCE, encoding_opt, incident_options, input_path, output_opt, overwrite_opt, places_opt

_PATH = click.Path(dir_okay=False, path_type=Path)


@click.command("grid")
@input_path("incidents", dir_okay=True)
@incident_options
@places_opt
@click.option("--cells", default="hex:5km", show_default=True, metavar="SPEC",
              help="square:SIZE | hex:SIZE (opposite edges SIZE apart) | h3:RES | priogrid.")
@output_opt
@click.option("--by", default=None, metavar="COLUMN",
              help="Count per value of a column too (event_type, sub_event_type, controller, ...).")
@click.option("--period", type=click.Choice(PERIODS), default=None,
              help="Count per period too, labelled 2020-03-06 / 2020-W10 / 2020-03 / 2020-Q1 / 2020 "
                   "(PRIO-GRID months also get month_id).")
@click.option("--long", "long_table", is_flag=True, help="One row per cell x group x period.")
@click.option("--all-cells", "all_cells", is_flag=True,
              help="Every cell over --extent (default: the incidents' bounding box), zeros too.")
@click.option("--extent", default=None, type=_PATH, help="Polygon layer the --all-cells grid covers.")
@click.option("--include-imprecise", "include_imprecise", is_flag=True,
              help="Keep imprecise locations (ACLED geo_precision 3, UCDP where_prec >= 3).")
@click.option("--crs", "crs", default=None, metavar="CRS",
              help="Projected CRS of square/hex cells and the KDE (default: the data's UTM zone); "
                   "give the same one to make two data sets share cells.")
@click.option("--kde", "kde", default=None, type=_PATH, help="Also write a kernel density GeoTIFF (COG).")
@click.option("--bandwidth", type=DISTANCE, default=None, help="KDE bandwidth, e.g. 5km (default 5km).")
@click.option("--kernel", type=click.Choice(["quartic", "gaussian"]), default=None,
              help="KDE kernel (default quartic).")
@click.option("--weight", default=None, metavar="COLUMN", help="KDE weight column, e.g. fatalities.")
@click.option("--resolution", type=DISTANCE, default=None, help="KDE pixel size (default 500m).")
@click.option("--hotspots", "hotspots", default=None, type=_PATH,
              help="Also write Getis-Ord Gi* hot spots (FDR-corrected) on every cell of the grid.")
@encoding_opt
@overwrite_opt
@engine_options
@click.pass_context
def grid(
    ctx: click.Context,
    incidents: Path,
    fmt: str,
    lon: str | None,
    lat: str | None,
    date_col: str | None,
    layer: str | None,
    sheet: str | None,
    places: tuple[Path, ...],
    cells: str,
    output: Path,
    by: str | None,
    period: str | None,
    long_table: bool,
    all_cells: bool,
    extent: Path | None,
    include_imprecise: bool,
    crs: str | None,
    kde: Path | None,
    bandwidth: float | None,
    kernel: str | None,
    weight: str | None,
    resolution: float | None,
    hotspots: Path | None,
    overwrite: bool,
    engine: Engine,
) -> None:
    """Count INCIDENTS (anything `ingest` reads, or a `join` output) per cell: one feature per
    non-empty cell with cell_id, count, fatalities (and per --by / --period columns).

    Imprecise locations are left out and counted unless --include-imprecise.
    """
    from ..grids import count_by_cell, parse_cells
    from ..io import (
        check_output,
        layer_outputs,
        output_format,
        output_set,
        quarantine_path,
        read_layer,
        write_layer,
        write_quarantine,
    )

    spec = parse_cells(cells)
    if extent is not None and not all_cells:
        raise click.UsageError("--extent needs --all-cells")
    kde_opts = {"--bandwidth": bandwidth, "--kernel": kernel, "--weight": weight, "--resolution": resolution}
    if kde is None and any(v is not None for v in kde_opts.values()):
        given = ", ".join(k for k, v in kde_opts.items() if v is not None)
        raise click.UsageError(f"{given} only apply to a KDE: add --kde OUT.tif")
    if kde is not None and kde.suffix.lower() not in (".tif", ".tiff"):
        raise click.UsageError(f"--kde {kde}: the density raster is a GeoTIFF; name it *.tif")
    output_format(output)
    if hotspots is not None:
        output_format(hotspots)
    targets = [output] + [p for p in (kde, hotspots) if p is not None]
    if len({p.resolve() for p in targets}) != len(targets):
        raise click.UsageError("-o, --kde and --hotspots must name different files")
    # the layers' .meta.json sidecars and the quarantine (in-process: the dask engine reads
    # ingested parts, nothing to set aside) too: never replaced without --overwrite, refused
    # before any reading
    quarantine = [] if engine.dask else [quarantine_path(output)]
    for p in [*layer_outputs(output, metadata=True), *quarantine, *([kde] if kde else []),
              *(layer_outputs(hotspots, metadata=True) if hotspots else [])]:
        check_output(p, overwrite=overwrite)

    if engine.dask:
        refuse_with_dask(engine, all_cells=all_cells, extent=extent, kde=kde, hotspots=hotspots,
                         places=places)
        result = grid_dask(ctx, engine, incidents, cells=cells, by=by, period=period,
                           include_imprecise=include_imprecise, long=long_table, crs=crs)
        with output_set(overwrite=overwrite):
            write_layer(result.cells, output, overwrite=overwrite, metadata=_meta(output, result.metadata))
        for line in result.report.lines():
            say(ctx, line)
        say(ctx, f"-> {output}")
        return

    from .._geometry import checked_polygons
    from ..incidents import read_incidents

    read = read_incidents(incidents, format=fmt, lon=lon, lat=lat, date=date_col, layer=layer, sheet=sheet,
                          places=list(places) or None)
    ext_layer = (checked_polygons(read_layer(extent, what="extent", geometry="polygon", allow_empty=False),
                                  what="extent", path=str(extent))
                 if extent is not None else None)
    result = count_by_cell(
        read.incidents, cells=spec, by=by, period=period, all_cells=all_cells,  # type: ignore[arg-type]
        extent=ext_layer, include_imprecise=include_imprecise, long=long_table, crs=crs,
    )
    say(ctx, f"read {read.report.summary()}")
    # everything is computed (and every output checked) before the first file is written, so a
    # refusal (e.g. the KDE's size limit) leaves no partial output
    hs = meta = None
    if hotspots is not None:
        from ..hotspots import hot_spot_summary, hot_spots_of

        hs, meta = hot_spots_of(read.incidents, cells=spec, counted=result, extent=ext_layer,
                                include_imprecise=include_imprecise, crs=crs)
    k = None
    # every output is written to a temporary and moved into place only when all succeeded
    with output_set(overwrite=overwrite):
        if kde is not None:  # writes its raster only once its size is known to be within limits
            from ..kde import DEFAULT_BANDWIDTH_M, DEFAULT_KERNEL, DEFAULT_RESOLUTION_M, kde_raster

            k = kde_raster(
                read.incidents, kde, bandwidth_m=bandwidth or DEFAULT_BANDWIDTH_M,
                kernel=kernel or DEFAULT_KERNEL,  # type: ignore[arg-type]
                weight=weight, resolution_m=resolution or DEFAULT_RESOLUTION_M, overwrite=overwrite,
                include_imprecise=include_imprecise, crs=crs,
            )
        qpath = write_quarantine(read.quarantine, output, overwrite=overwrite)
        write_layer(result.cells, output, overwrite=overwrite, metadata=_meta(output, result.metadata))
        if hs is not None and meta is not None and hotspots is not None:
            write_layer(hs, hotspots, overwrite=overwrite, metadata=_meta(hotspots, meta))

    if len(read.quarantine):
        say(ctx, f"{len(read.quarantine)} row(s) quarantined at reading -> {qpath}")
    for line in result.report.lines():
        say(ctx, line)
    say(ctx, f"-> {output}")
    if k is not None:
        say(ctx, f"KDE ({k.kernel}, bandwidth {k.bandwidth_m:g} m, {k.resolution_m:g} m pixels, {k.crs}): "
                 f"{k.width} x {k.height}, integral {k.integral:,.1f} of {k.total:,.1f} -> {kde}")
    if hs is not None and hotspots is not None:
        say(ctx, f"{hot_spot_summary(hs)} -> {hotspots}")


def _meta(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """GeoPackage layer metadata takes text values only (pyogrio); other formats keep JSON types."""
    if path.suffix.lower() != ".gpkg":
        return meta
    return {k: v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True) for k, v in meta.items()}
