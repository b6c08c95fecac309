"""``geoconflict corridor``: a buffer of a given width on each side of a line."""

from __future__ import annotations

from pathlib import Path

import click

from ._helpers import say
from .options import DISTANCE, encoding_opt, layer_opt, output_opt, overwrite_opt


@click.command("corridor")
@click.argument("line", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--width",
    "width",
    type=DISTANCE,
    required=True,
    help="Depth of the corridor on each side of the line, e.g. 6km.",
)
@click.option(
    "--sides",
    type=click.Choice(["auto", "north-south", "east-west", "left-right"]),
    default="auto",
    show_default=True,
    help="Side labels: by compass (auto picks north/south or east/west from the line's "
    "course) or by the line's direction (left-right).",
)
@click.option("--name", default=None, help="Name of the line (default: its 'name' attribute).")
@layer_opt
@output_opt
@encoding_opt
@overwrite_opt
@click.pass_context
def corridor(
    ctx: click.Context,
    line: Path,
    width: float,
    sides: str,
    name: str | None,
    layer: str | None,
    output: Path,
    overwrite: bool,
) -> None:
    """Buffer LINE by --width on each side; one polygon per side with `name`, `line`, `side`,
    `width_m` and `area_km2`, usable as a zone layer (e.g. `ceasefire --zones`, `join --areas`).

    Example: geoconflict corridor m4.geojson --width 6km --name M4 -o corridor_m4.geojson
    """
    from ..corridor import corridor as make_corridor
    from ..io import check_output, output_format, read_layer, write_layer

    output_format(output)
    check_output(output, overwrite=overwrite)
    lines = read_layer(line, layer=layer, what="line layer", geometry="line", allow_empty=False)
    out = make_corridor(lines, width_m=width, sides=sides, name=name)
    write_layer(out, output, overwrite=overwrite)
    parts = ", ".join(f"{r.name} {r.area_km2:,.1f} km²" for r in out.itertuples())
    say(ctx, f"corridor: {len(lines)} line(s), {width:,.0f} m each side: {parts} -> {output}")
