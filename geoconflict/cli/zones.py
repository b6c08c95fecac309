"""``geoconflict zones``: area held per controller per admin unit, or ground that changed hands."""

from __future__ import annotations

from pathlib import Path

import click

from ..units import PERIODS
from ._helpers import say
from .options import (
    admin_fields_opt,
    admin_opt,
    control_source,
    control_source_options,
    encoding_opt,
    layer_opt,
    output_opt,
    overwrite_opt,
)


@click.command("zones")
@click.argument("control", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="CONTROL...")
@control_source_options
@admin_opt
@click.option(
    "--on",
    "date",
    default=None,
    metavar="YYYY-MM-DD",
    help="Area held on this day (needs --admin).  (--date, its old name, still works.)",
)
@click.option("--date", "date_alias", default=None, hidden=True, help="Deprecated: use --on.")
@click.option(
    "--series",
    is_flag=True,
    default=False,
    help="Area held per controller on every snapshot date (a CSV: date, controller, area_km2, "
    "change_km2; per admin unit with --admin).",
)
@click.option(
    "--every",
    type=click.Choice(PERIODS),
    default=None,
    help="With --series: keep the last snapshot of each period.",
)
@click.option(
    "--plot",
    "plot",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --series: also draw the area held over time per controller (a .png).",
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
@admin_fields_opt
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
    default=0.01,
    show_default=True,
    help="Fold in pieces smaller than this many km² (slivers where two layers' edges almost meet).",
)
@layer_opt
@output_opt
@encoding_opt
@overwrite_opt
@click.pass_context
def zones(
    ctx: click.Context,
    control: tuple[Path, ...],
    admin: tuple[Path, ...],
    date: str | None,
    date_alias: str | None,
    series: bool,
    every: str | None,
    plot: Path | None,
    date_from: str | None,
    date_to: str | None,
    admin_fields: list[str] | None,
    summary_by: str | None,
    min_area: float,
    layer: str | None,
    output: Path,
    overwrite: bool,
) -> None:
    """Overlay the dated CONTROL layer(s) on admin units: files, a folder or a quoted glob
    ('archive/*.geojson'), dated by valid_from/valid_to, a date column or the file name.

    \b
    Area held:   geoconflict zones CONTROL --admin ADM.geojson --on 2020-06-09 -o held.geojson
    Change:      geoconflict zones CONTROL --from 2019-04-30 --to 2020-03-06 -o change.geojson
                 [--admin ADM]
    Over time:   geoconflict zones CONTROL... --series -o series.csv [--admin ADM]
                 [--every week|month] [--plot series.png]
    Single-actor archives: --controller NAME [--extent COUNTRY --remainder NAME].

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
    from ..join import layer_name
    from ..zones import area_series, change_over_layers, held_over_layers, plot_series

    source = control_source(ctx, list(control), layer=layer)
    if date_alias is not None:
        if date is not None:
            raise click.UsageError("give --on once (--date is its old name)")
        date = date_alias
    change = date_from is not None or date_to is not None
    if series:
        if change or date is not None:
            raise click.UsageError("--series gives every snapshot date: leave out --on, --from and --to")
        if output.suffix.lower() != ".csv":
            raise click.UsageError("--series writes a table: give -o FILE.csv")
        if plot is not None and plot.suffix.lower() != ".png":
            raise click.UsageError("--plot writes a .png")
        check_output(output, overwrite=overwrite)
        if plot is not None:
            check_output(plot, overwrite=overwrite)
        fields = admin_fields
        ctl = read_control(source)
        adms = [read_layer(a, what="admin layer", geometry="polygon", allow_empty=False) for a in admin]
        tables = []
        for i, adm in enumerate(adms or [None]):
            t = area_series(ctl, admin=adm, admin_fields=fields, every=every)
            if len(adms) > 1:
                t.insert(1, "admin_layer", layer_name(admin[i], i))
            tables.append(t)
        import pandas as pd

        table = pd.concat(tables, ignore_index=True)
        with output_set(overwrite=overwrite):
            write_table(table, output, overwrite=overwrite)
            if plot is not None:
                plot_series(table if len(adms) <= 1 else tables[0], plot, overwrite=overwrite)
        dates = table["date"].nunique()
        say(ctx, f"zones: area held on {dates} snapshot date(s), {table['controller'].nunique()} "
                 f"controller(s), {len(table)} rows -> {output}" + (f" (+ {plot})" if plot else ""))
        return
    if every is not None or plot is not None:
        raise click.UsageError("--every and --plot go with --series")
    if change and date is not None:
        raise click.UsageError(
            "give either --on (area held) or --from and --to (change), not both"
        )
    if change and (date_from is None or date_to is None):
        raise click.UsageError("a change needs both --from and --to")
    if not change and date is None:
        raise click.UsageError("give --on (area held on a day), --from and --to (change), or --series")
    if not change and not admin:
        raise click.UsageError("--on needs an --admin layer to overlay")
    output_format(output)
    summary_path = sibling(output, ".summary.csv")
    check_output(output, overwrite=overwrite)
    check_output(summary_path, overwrite=overwrite)
    fields = admin_fields
    # the area held on one day needs only that day's state read, extended and validated
    ctl = read_control(source, on=None if change else date)
    adms = [read_layer(a, what="admin layer", geometry="polygon", allow_empty=False) for a in admin]
    adm = adms[0] if adms else None

    names = [layer_name(a, i) for i, a in enumerate(admin)]
    if not change:
        assert adm is not None
        result = held_over_layers(ctl, adms, names, date=date, admin_fields=fields, summary_by=summary_by,
                                  min_area_km2=min_area)
    else:
        result = change_over_layers(ctl, adms, names, date_from=date_from, date_to=date_to,
                                    admin_fields=fields, min_area_km2=min_area)
    with output_set(overwrite=overwrite):
        write_layer(result.layer, output, overwrite=overwrite)
        write_table(result.summary, summary_path, overwrite=overwrite)
    for line in result.lines():
        say(ctx, f"zones: {line} -> {output} (+ {summary_path.name})")
