"""``geoconflict map``: an offline HTML map, a static PNG/SVG and a styled GeoPackage of any layers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..control_sources import ControlSource
    from ..layers import Layer

from ._helpers import say
from .options import control_options, control_source, encoding_opt, overwrite_opt

OUTPUTS = (".html", ".png", ".svg", ".gpkg")


def _kinds(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    from ..styles import KINDS

    out: dict[str, str] = {}
    for v in values:
        name, sep, kind = v.partition("=")
        if not sep or not name or kind not in KINDS:
            raise click.BadParameter(f"{v!r}: write NAME=KIND with KIND one of {', '.join(KINDS)}")
        out[name] = kind
    return out


def _control_layers(source: ControlSource) -> list[Layer]:
    """The control zones of every snapshot and their front lines (where two controllers touch)."""
    import geopandas as gpd
    import pandas as pd

    from ..control import front_lines, read_control, snapshots
    from ..layers import Layer

    ctl = read_control(source)
    out = [Layer("Control zones", "control", ctl, source="--control")]
    fronts = [front_lines(part) for _start, _end, part in snapshots(ctl)]
    fronts = [f for f in fronts if len(f)]
    if fronts:
        lines = gpd.GeoDataFrame(pd.concat(fronts, ignore_index=True), geometry="geometry", crs=ctl.crs)
        out.append(Layer("Front line", "front_line", lines, source="--control"))
    return out


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    w, sep, h = value.lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit():
        raise click.BadParameter(f"{value!r}: write WIDTHxHEIGHT in pixels, e.g. 1920x1080")
    width, height = int(w), int(h)
    if not (100 <= width <= 20_000 and 100 <= height <= 20_000):
        raise click.BadParameter(f"{value!r}: each side must be 100 to 20000 pixels, e.g. 1920x1080")
    return width, height


@click.command("map")
@click.argument("layers", nargs=-1, required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "outputs", multiple=True, required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Output file, repeatable; the extension picks it: .html (offline web map), "
                   ".png/.svg (static map), .gpkg (layers with QGIS styles).")
@click.option("--kind", "kinds", multiple=True, callback=_kinds, metavar="NAME=KIND",
              help="Override the detected kind of a layer (file stem or GeoPackage layer name).")
@click.option("--title", default="geoconflict map", show_default=True, help="Map title.")
@click.option("--subtitle", default=None, help="A line under the title.")
@click.option("--source", "sources", multiple=True, help="A data source to credit (repeatable).")
@click.option("--data-as-of", default=None, help="When the data were current, e.g. 2020-06-10.")
@click.option("--tiles", default=None, metavar="NAME",
              help="Add an online tile base map (OpenStreetMap, CartoDB); default: offline, none.")
@click.option("--max-features", default=300_000, show_default=True, type=click.IntRange(min=1),
              help="Incidents drawn with every popup field; above this each keeps its position, day and type "
                   "(nothing is aggregated).")
@click.option("--no-time-slider", is_flag=True, help="No day slider.")
@click.option("--window-days", default=0, show_default=True, type=click.IntRange(min=0),
              help="With the day slider, show the incidents of the N days up to the chosen day (0: all up to it).")
@click.option("--dpi", default=150, show_default=True, type=click.IntRange(30, 1200),
              help="Resolution of a PNG (300 for print).")
@click.option("--svg", is_flag=True, help="With a .png output, also write the SVG beside it.")
@click.option("--size", default=None, callback=_size, metavar="WxH",
              help="Pixel size of a PNG (at --dpi), e.g. 1920x1080 for a 16:9 slide; "
                   "default 11 x 7.5 in.")
@click.option("--incidents-in-gpkg", is_flag=True,
              help="With a .gpkg output, keep incident layers of more than 500,000 rows in it "
                   "(by default they go to GeoParquet beside it: LAYERS.<table>.parquet).")
@control_options
@encoding_opt
@overwrite_opt
@click.pass_context
def map(  # noqa: A001 - the command is named like its module
    ctx: click.Context, layers: tuple[Path, ...], outputs: tuple[Path, ...], kinds: dict[str, str],
    title: str, subtitle: str | None, sources: tuple[str, ...], data_as_of: str | None,
    tiles: str | None, max_features: int, no_time_slider: bool, window_days: int, dpi: int, svg: bool,
    size: tuple[int, int] | None, control: list[str] | None, overwrite: bool, incidents_in_gpkg: bool = False,
) -> None:
    """Map LAYERS (any file geoconflict reads; incident CSVs included) to OUTPUTS.

    --control (a file, a folder or a quoted glob of dated control files, with --controller,
    --extent, --remainder) adds the control zones and the front lines of every snapshot."""
    from ..errors import InputError
    from ..io import check_output, output_set
    from ..layers import load_layers
    from ..maps import write_map

    for out in outputs:
        if out.suffix.lower() not in OUTPUTS:
            raise InputError(f"unsupported output extension {out.suffix or '(none)'!r}", path=out,
                             fix=f"use one of {', '.join(OUTPUTS)}")
        check_output(out, overwrite=overwrite)  # fail before any work
    source = control_source(ctx, control)
    if not layers and source is None:
        raise click.UsageError("give LAYERS to map, or --control")
    loaded = load_layers(layers, kinds=kinds) if layers else []
    if source is not None:
        loaded.extend(_control_layers(source))
    common: dict[str, Any] = {"title": title, "subtitle": subtitle, "sources": list(sources) or None,
              "data_as_of": data_as_of}
    said: list[str] = []
    with output_set(overwrite=overwrite):  # every output, or none
        for out in outputs:
            ext = out.suffix.lower()
            if ext == ".html":
                report = write_map(loaded, out, overwrite=overwrite, tiles=tiles, max_features=max_features,
                                   time_slider=not no_time_slider, window_days=window_days, **common)
                said.extend(report.lines())
            elif ext in (".png", ".svg"):
                from ..png import write_png

                write_png(loaded, out, dpi=dpi, svg=svg, overwrite=overwrite, size=size, **common)
                said.append(f"wrote {out}" + (f" and {out.with_suffix('.svg')}" if svg and ext == ".png" else ""))
            else:
                from ..publish import INCIDENTS_IN_GPKG_MAX, beside_gpkg, write_gpkg

                limit = None if incidents_in_gpkg else INCIDENTS_IN_GPKG_MAX
                write_gpkg(loaded, out, overwrite=overwrite, incidents_max_rows=limit)
                beside = beside_gpkg(loaded, out, incidents_max_rows=limit)
                said.append(f"wrote {out} ({sum(layer.kind != 'kde' for layer in loaded) - len(beside)} styled layers)"
                            + "".join(f"; {name} (over {INCIDENTS_IN_GPKG_MAX:,} rows) as GeoParquet: {path} "
                                      "(--incidents-in-gpkg keeps it in the GeoPackage)"
                                      for name, path in beside.items()))
    for line in said:
        say(ctx, line)
