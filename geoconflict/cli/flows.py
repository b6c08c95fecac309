"""``geoconflict flows``: displacement records or matrices to directed flow arcs."""

from __future__ import annotations

from pathlib import Path

import click

from ..units import PERIODS
from ._helpers import say
from .options import admin_opt, date_opt, encoding_opt, output_opt, overwrite_opt, places_opt


@click.command("flows")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@output_opt
@click.option("--arrows", "arrows", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write arrowhead polygons (tip at the destination) to this file.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write an HTML map of the flows (OUT.html).")
@admin_opt
@places_opt
@click.option("--sheet", default=None, help="Excel sheet name (default: the first sheet holding flows).")
@click.option("--kind", type=click.Choice(["auto", "records", "matrix"]), default="auto",
              show_default=True, help="Long records or an origin/destination matrix.")
@click.option("--origin", "origin_col", default=None, help="Origin column (P-code or name).")
@click.option("--destination", "destination_col", default=None, help="Destination column.")
@click.option("--individuals", "individuals_col", default=None, help="Individuals column.")
@click.option("--families", "families_col", default=None, help="Families / households column.")
@date_opt
@click.option("--origin-lon", default=None, help="Origin longitude column.")
@click.option("--origin-lat", default=None, help="Origin latitude column.")
@click.option("--destination-lon", default=None, help="Destination longitude column.")
@click.option("--destination-lat", default=None, help="Destination latitude column.")
@click.option("--matrix-date", default=None, help="Date of a matrix's movements (e.g. 2020-02-01).")
@click.option("--period", type=click.Choice(PERIODS), default=None,
              help="Aggregate by period (default: all records together).")
@click.option("--level", type=click.IntRange(1, 3), default=None,
              help="Aggregate to admin level N (needs --admin with ADMn_PCODE).")
@click.option("--min", "min_individuals", type=click.FloatRange(min=0), default=0.0,
              show_default=True, help="Do not draw flows under this many individuals (counted).")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Draw only the N largest flows per period (the rest counted).")
@click.option("--net", is_flag=True, default=False, help="Net flows between each pair.")
@click.option("--bend", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Arc bend as a fraction of the flow's length.")
@encoding_opt
@overwrite_opt
@click.pass_context
def flows(ctx: click.Context, input_path: Path, output: Path, arrows: Path | None,
          html_path: Path | None, admin: tuple[Path, ...], places: tuple[Path, ...],
          sheet: str | None, kind: str, origin_col: str | None, destination_col: str | None,
          individuals_col: str | None, families_col: str | None, date_col: str | None,
          origin_lon: str | None, origin_lat: str | None, destination_lon: str | None,
          destination_lat: str | None, matrix_date: str | None, period: str | None,
          level: int | None, min_individuals: float, top: int | None, net: bool, bend: float,
          overwrite: bool) -> None:
    """Displacement records or origin/destination matrices (CSV or Excel) to curved flow arcs.

    Writes OUTPUT (one line per flow), OUTPUT's .quarantine.csv (rows whose places could not be
    resolved, with the reason and the closest candidates), .self_flows.csv and .totals.csv.
    """
    from ..flows import build_flows, check_flow_outputs, flow_outputs, write_flows
    from ..io import check_output, layer_outputs, output_set

    # refuse before the work, not after; the layers' .meta.json sidecars too
    check_flow_outputs(output, arrows=arrows, html_path=html_path, overwrite=overwrite)
    for layer_path in (output, arrows):
        for target in layer_outputs(layer_path, metadata=True)[1:] if layer_path else []:
            check_output(target, overwrite=overwrite)
    read_options = dict(sheet=sheet, kind=kind, origin_col=origin_col,
                        destination_col=destination_col, individuals_col=individuals_col,
                        families_col=families_col, date_col=date_col, origin_lon=origin_lon,
                        origin_lat=origin_lat, destination_lon=destination_lon,
                        destination_lat=destination_lat, date=matrix_date)
    layers = build_flows(input_path, admin=list(admin) or None, places=list(places) or None,
                         period=period, level=level, min_individuals=min_individuals, top=top,
                         net=net, bend=bend, read_options=read_options)
    # Grand Total disagreements are logged as warnings by the reader (shown unless -q)
    with output_set(overwrite=overwrite):  # every output, or none (e.g. "nothing to draw")
        write_flows(layers, output, arrows=arrows, html_path=html_path, overwrite=overwrite)
    say(ctx, f"{output}: {layers.table.report.summary()}")
    if layers.table.report.quarantined_rows:
        say(ctx, f"{flow_outputs(output)['quarantine']}: {layers.table.report.quarantined_rows} "
                 "rows quarantined (reason, candidates)")
