"""``geoconflict control-from-places``: per-place control observations to dated control polygons."""

from __future__ import annotations

from pathlib import Path

import click

from ..units import PERIODS
from ._helpers import say
from .options import admin_opt, encoding_opt, output_opt, overwrite_opt, places_opt


@click.command("control-from-places")
@click.argument("observations", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--extent", "extent", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Country or study-area polygon (any CRS): the Voronoi cells are cut to it.")
@admin_opt
@click.option("--every", type=click.Choice(PERIODS), default="day",
              show_default=True, help="One snapshot per observation day, or the last of each period.")
@click.option("--lon", default=None, help="Longitude column (default: lon / longitude / x).")
@click.option("--lat", default=None, help="Latitude column (default: lat / latitude / y).")
@click.option("--date-column", "date_col", default=None, help="Date column (default: date).")
@click.option("--controller-column", "controller_col", default=None,
              help="Controller column (default: controller / control / holder / ...).")
@click.option("--place-column", "place_col", default=None,
              help="Place name or P-code column, resolved with --places when there is no lon/lat.")
@places_opt
@output_opt
@encoding_opt
@overwrite_opt
@click.pass_context
def control_from_places(
    ctx: click.Context, observations: Path, extent: Path, admin: tuple[Path, ...], every: str,
    lon: str | None, lat: str | None, date_col: str | None, controller_col: str | None,
    place_col: str | None, places: tuple[Path, ...], output: Path, overwrite: bool,
) -> None:
    """Turn OBSERVATIONS (a table of places with a date and a controller per row) into dated
    control polygons every command reads.

    \b
    geoconflict control-from-places villages.csv --extent country.geojson -o control.gpkg
        [--admin adm3.geojson] [--every day|week|month]

    On each snapshot date every place holds its latest observation on or before that date and
    its Voronoi cell within --extent (with --admin: the whole unit when it is the unit's only
    observed place); cells are dissolved per controller.  Unusable rows and places with
    conflicting observations on the same day go to <OUTPUT>.quarantine.csv.
    """
    from ..control_places import control_from_places as build
    from ..io import check_output, output_format, output_set, sibling, write_layer, write_table

    if len(admin) > 1:
        raise click.UsageError("give one --admin layer")
    output_format(output)
    qpath = sibling(output, ".quarantine.csv")
    check_output(output, overwrite=overwrite)
    check_output(qpath, overwrite=overwrite)
    result = build(observations, extent=extent, admin=admin[0] if admin else None, every=every,
                   lon=lon, lat=lat, date=date_col, controller=controller_col, place=place_col,
                   places=list(places))
    with output_set(overwrite=overwrite):
        write_layer(result.control, output, overwrite=overwrite)
        if len(result.quarantine):
            write_table(result.quarantine, qpath, overwrite=overwrite)
    say(ctx, f"control-from-places: {result.summary()} -> {output}")
    if len(result.quarantine):
        counts = result.quarantine["reason"].value_counts()
        say(ctx, f"{len(result.quarantine)} observation(s) quarantined ("
                 + ", ".join(f"{k} {v}" for k, v in counts.items()) + f") -> {qpath}")
