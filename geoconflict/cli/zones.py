"""``geoconflict zones``: area held per controller per admin unit, or ground that changed hands."""

from __future__ import annotations

from pathlib import Path

import click

from ._helpers import say
from .options import admin_opt, layer_opt, output_opt, overwrite_opt


@click.command("zones")
@click.argument("control", type=click.Path(dir_okay=False, path_type=Path))
@admin_opt
@click.option(
    "--date",
    "date",
    default=None,
    metavar="YYYY-MM-DD",
    help="Area held on this day (needs --admin).",
)
@click.option(
    "--from",
    "date_from",
    default=None,
    metavar="YYYY-MM-DD",
    help="Change: the first day compared (with --to).",
)
@click.option(
    "--to",
    "date_to",
    default=None,
    metavar="YYYY-MM-DD",
    help="Change: the second day compared (with --from).",
)
@click.option(
    "--admin-fields",
    default=None,
    metavar="A,B,...",
    help="Admin attributes to carry (comma-separated; default all).",
)
@click.option(
    "--summary-by",
    "summary_by",
    default=None,
    metavar="FIELD",
    help="Area held: also total per value of this admin attribute (e.g. ADM1_PCODE).",
)
@click.option(
    "--min-area",
    "min_area",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Change: leave out pieces smaller than this many km².",
)
@layer_opt
@output_opt
@overwrite_opt
@click.pass_context
def zones(
    ctx: click.Context,
    control: Path,
    admin: tuple[Path, ...],
    date: str | None,
    date_from: str | None,
    date_to: str | None,
    admin_fields: str | None,
    summary_by: str | None,
    min_area: float,
    layer: str | None,
    output: Path,
    overwrite: bool,
) -> None:
    """Overlay the dated CONTROL layer on admin units.

    \b
    Area held:   geoconflict zones CONTROL --admin ADM.geojson --date 2020-06-09 -o held.geojson
    Change:      geoconflict zones CONTROL --from 2019-04-30 --to 2020-03-06 -o change.geojson
                 [--admin ADM]

    Areas are in km² on an equal-area projection.  A summary table is written beside the layer as
    <OUTPUT without extension>.summary.csv: totals per controller (area held, with a
    "(not covered)" row; with --summary-by FIELD per value of FIELD too), or per controller pair
    and per admin unit and pair (change).
    """
    from ..control import read_control
    from ..io import (
        check_output,
        output_format,
        output_set,
        read_layer,
        sibling,
        write_layer,
        write_table,
    )
    from ..zones import ALL, NOT_COVERED, area_by_controller, control_change, net_change

    change = date_from is not None or date_to is not None
    if change and date is not None:
        raise click.UsageError(
            "give either --date (area held) or --from and --to (change), not both"
        )
    if change and (date_from is None or date_to is None):
        raise click.UsageError("a change needs both --from and --to")
    if not change and date is None:
        raise click.UsageError("give --date (area held on a day) or --from and --to (change)")
    if len(admin) > 1:
        raise click.UsageError("give one --admin layer")
    if not change and not admin:
        raise click.UsageError("--date needs an --admin layer to overlay")
    output_format(output)
    summary_path = sibling(output, ".summary.csv")
    check_output(output, overwrite=overwrite)
    check_output(summary_path, overwrite=overwrite)
    fields = [f.strip() for f in admin_fields.split(",") if f.strip()] if admin_fields else None
    ctl = read_control(control, layer=layer)
    adm = read_layer(admin[0], what="admin layer", geometry="polygon", allow_empty=False) if admin else None

    if not change:
        assert adm is not None
        out, summary = area_by_controller(
            ctl, adm, date=date, admin_fields=fields, summary_by=summary_by
        )
        with output_set(overwrite=overwrite):
            write_layer(out, output, overwrite=overwrite)
            write_table(summary, summary_path, overwrite=overwrite)
        totals = summary if summary_by is None else summary.loc[summary[summary_by] == ALL]
        parts = [
            f"{r.controller} {r.area_km2:,.1f} km² ({r.share:.1%})"
            for r in totals.itertuples()
            if r.controller != NOT_COVERED or r.area_km2 >= 0.05
        ]
        say(
            ctx,
            f"zones: area held on {out['date'].iloc[0] if len(out) else date} in {len(adm)} admin "
            f"units, {len(out)} features: {'; '.join(parts)} -> {output} (+ {summary_path.name})",
        )
        return
    out, summary = control_change(
        ctl,
        date_from=date_from,
        date_to=date_to,
        admin=adm,
        admin_fields=fields,
        min_area_km2=min_area,
    )
    with output_set(overwrite=overwrite):
        write_layer(out, output, overwrite=overwrite)
        write_table(summary, summary_path, overwrite=overwrite)
    total = float(summary.loc[summary["scope"] == "total", "area_km2"].sum())
    net = "; ".join(
        f"{r.controller} {r.net_km2:+,.1f} km²" for r in net_change(summary).itertuples()
    )
    d1 = out["date_from"].iloc[0] if len(out) else date_from
    d2 = out["date_to"].iloc[0] if len(out) else date_to
    say(
        ctx,
        f"zones: {total:,.1f} km² changed hands from {d1} to {d2} in {len(out)} features"
        f"{': ' + net if net else ''} -> {output} (+ {summary_path.name})",
    )
