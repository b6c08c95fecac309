"""``geoconflict ceasefire``: strikes before/after a ceasefire, daily counts and a report."""

from __future__ import annotations

from pathlib import Path

import click

from ._helpers import say
from .options import control_options, control_source, encoding_opt, incident_options, input_path, outdir_opt, overwrite_opt

_DEFAULT_TYPES = "Air/drone strike,Shelling/artillery/missile attack"


@click.command("ceasefire")
@input_path("incidents")
@incident_options
@click.option(
    "--start", required=True, metavar="TIME", help="Start of the ceasefire, e.g. 2020-03-06T00:01."
)
@click.option(
    "--end",
    default=None,
    metavar="TIME",
    help="End of the report period (a bare date means that whole day).",
)
@click.option(
    "--types",
    default=_DEFAULT_TYPES,
    show_default=True,
    help="Comma-separated sub-event (or event) types counted as strikes; 'all' for every type.",
)
@control_options
@click.option(
    "--zones",
    "zones",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Named zone polygons (e.g. a corridor layer) for counts by zone.",
)
@click.option("--zone-field", default=None, help="The zones' name column (default: name).")
@click.option(
    "--lull-days",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Days without a strike that make a lull; the next strike day is a break.",
)
@click.option(
    "--window-days",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Breaks this many days apart or fewer are counted together ('second break "
    "within six days').",
)
@click.option(
    "--location-key",
    type=click.Choice(["coordinates", "location"]),
    default="coordinates",
    show_default=True,
    help="What makes a distinct location: the rounded point or the name.",
)
@outdir_opt
@encoding_opt
@overwrite_opt
@click.pass_context
def ceasefire(
    ctx: click.Context,
    incidents: Path,
    fmt: str,
    lon: str | None,
    lat: str | None,
    date_col: str | None,
    layer: str | None,
    sheet: str | None,
    start: str,
    end: str | None,
    types: str,
    control: list[str] | None,
    zones: Path | None,
    zone_field: str | None,
    lull_days: int,
    window_days: int,
    location_key: str,
    output: Path,
    overwrite: bool,
) -> None:
    """Classify the strikes in INCIDENTS as before / after / uncertain relative to --start and
    write, into the -o folder, ceasefire_incidents.geojson, ceasefire_daily.csv and
    ceasefire_report.md (lulls, breaks, distinct locations in 24 hours, casualties).
    """
    from ..ceasefire import OUTPUT_NAMES, ceasefire_report, parse_moment, write_ceasefire
    from ..io import check_output, output_set, quarantine_path, read_layer, write_quarantine

    source = control_source(ctx, control)
    parse_moment(start, "--start")
    for target in (*(output / name for name in OUTPUT_NAMES), quarantine_path(output, folder=True)):
        check_output(target, overwrite=overwrite)  # refused before any reading
    type_list = (
        None
        if types.strip().lower() == "all"
        else [t.strip() for t in types.split(",") if t.strip()]
    )
    if type_list is not None and not type_list:
        raise click.BadParameter("give at least one type, or 'all'", param_hint="--types")
    from ..incidents import read_incidents

    read = read_incidents(incidents, format=fmt, lon=lon, lat=lat, date=date_col, layer=layer, sheet=sheet)
    ctl = None
    if source is not None:
        from ..control import read_control

        ctl = read_control(source)
    zone_layer = (read_layer(zones, what="zones layer", geometry="polygon", allow_empty=False)
                  if zones is not None else None)
    result = ceasefire_report(
        read.incidents,
        start=start,
        end=end,
        types=type_list,
        control=ctl,
        zones=zone_layer,
        zone_field=zone_field,
        lull_days=lull_days,
        window_days=window_days,
        location_key=location_key,
    )
    with output_set(overwrite=overwrite):  # the three files and the quarantine, or none
        write_ceasefire(result, output, overwrite=overwrite)
        qpath = write_quarantine(read.quarantine, output, folder=True, overwrite=overwrite)
    c = result.counts
    breaks = ", ".join(f"{b.day:%Y-%m-%d}" for b in result.breaks) or "none"
    peak = ""
    if result.max_locations_window is not None:
        peak = (
            f"; most distinct locations in 24 h: {result.max_locations_24h} "
            f"(to {result.max_locations_window[1]:%Y-%m-%d %H:%M})"
        )
    say(
        ctx,
        f"ceasefire: {len(result.incidents):,} strikes ({c['after']:,} after, "
        f"{c['before']:,} before, {c['uncertain']:,} uncertain; "
        f"{c['not_of_types']:,} of other types and {c['after_end']:,} "
        f"after --end left out); breaks: {breaks}{peak} -> {output}/",
    )
    if len(read.quarantine):
        say(ctx, f"{len(read.quarantine)} row(s) quarantined at reading -> {qpath}")
