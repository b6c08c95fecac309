"""``geoconflict join``: incidents to admin units, control zones in force, front lines, areas."""

from __future__ import annotations

from pathlib import Path

import click

from ._engine import Engine, engine_options, join_dask
from ._helpers import say
from .options import (
    DISTANCE,
    admin_fields_opt,
    admin_opt,
    control_options,
    control_source,
    encoding_opt,
    incident_options,
    input_path,
    output_opt,
    overwrite_opt,
)


@click.command("join")
@input_path("incidents", dir_okay=True)
@incident_options
@admin_opt
@admin_fields_opt
@click.option("--snap-distance", "snap_distance", type=DISTANCE, default="2km", show_default=True,
              help="Incidents outside every admin polygon but this close take the nearest one.")
@control_options
@click.option("--front-line", "front_line", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Dated front-line layer (default: derived from --control).")
@click.option("--areas", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Named areas (a 'name' column), e.g. Jabal al-Zawiya, the al-Ghab plain.")
@output_opt
@encoding_opt
@overwrite_opt
@engine_options
@click.pass_context
def join(
    ctx: click.Context,
    incidents: Path,
    fmt: str,
    lon: str | None,
    lat: str | None,
    date_col: str | None,
    layer: str | None,
    sheet: str | None,
    admin: tuple[Path, ...],
    admin_fields: list[str] | None,
    snap_distance: float,
    control: list[str] | None,
    front_line: Path | None,
    areas: Path | None,
    output: Path,
    overwrite: bool,
    engine: Engine,
) -> None:
    """Join INCIDENTS (anything `ingest` reads) to admin units (--admin, repeatable), the
    controller in force on each event's date (--control), the front line and named areas.

    Every incident is kept, in order: admin_join says within / nearest / none, control_status
    says in_force / uncertain / none.
    """
    source = control_source(ctx, control)
    fields = admin_fields
    if engine.dask:
        return join_dask(ctx, engine, incidents, output, admin=admin, admin_fields=fields,
                         snap_distance_m=snap_distance, control=source, front_line=front_line,
                         areas=areas, overwrite=overwrite)
    from ..incidents import read_incidents
    from ..io import (
        check_output,
        layer_outputs,
        output_format,
        output_set,
        quarantine_path,
        write_layer,
        write_quarantine,
    )
    from ..join import join_all

    output_format(output)
    # the .meta.json sidecar and the quarantine too: refused before the (long) read and join
    for target in (*layer_outputs(output, metadata=True), quarantine_path(output)):
        check_output(target, overwrite=overwrite)
    if not (admin or source or front_line or areas):
        raise click.UsageError("nothing to join: give --admin, --control, --front-line or --areas")
    result = read_incidents(incidents, format=fmt, lon=lon, lat=lat, date=date_col, layer=layer, sheet=sheet)
    fields = admin_fields
    out, report = join_all(
        result.incidents, admin=list(admin), admin_fields=fields, snap_distance_m=snap_distance,
        control=source, front_line=front_line, areas=areas,
    )
    with output_set(overwrite=overwrite):  # the layer, its sidecar and the quarantine, or none
        write_layer(out, output, overwrite=overwrite, metadata={"join": report.summary()})
        qpath = write_quarantine(result.quarantine, output, overwrite=overwrite)
    say(ctx, f"joined {report.summary()} -> {output}")
    if len(result.quarantine):
        say(ctx, f"{len(result.quarantine)} row(s) quarantined at reading -> {qpath}")
    for problem in report.control_problems:
        say(ctx, f"control layer: {problem}")
