"""``geoconflict geocode``: place rows by their place name against an offline gazetteer."""

from __future__ import annotations

from pathlib import Path

import click

from ._helpers import say
from .options import encoding_opt, input_path, output_opt, overwrite_opt, places_opt


@click.command("geocode")
@input_path()
@places_opt
@click.option("--name-col", default="location", show_default=True,
              help="Column of the input holding the place name.")
@click.option("--context-col", "context_cols", multiple=True,
              help="Input column (governorate, district...) restricting the candidates; "
                   "repeatable, coarsest first.")
@click.option("--candidates", default=3, show_default=True, type=click.IntRange(1, 20),
              help="Candidates listed for rows that are not exact.")
@output_opt
@encoding_opt
@overwrite_opt
@click.pass_context
def geocode(
    ctx: click.Context,
    input: Path,
    places: tuple[Path, ...],
    name_col: str,
    context_cols: tuple[str, ...],
    candidates: int,
    output: Path,
    overwrite: bool,
) -> None:
    """Match each row's place name against the gazetteer(s) given with --places.

    Every row is kept: geocode_status is exact, fuzzy, ambiguous or none, with geocode_score,
    the gazetteer's attributes, lon/lat and the candidates for anything not exact.

    \b
    Example:
      geoconflict geocode acled.csv --places syr_populated_places.csv \\
        --places neighbourhoods.geojson --context-col admin1 --context-col admin2 \\
        -o placed.geojson
    """
    from ..errors import InputError
    from ..gazetteer import Gazetteer, read_table
    from ..gazetteer import geocode as geocode_table
    from ..io import check_output, output_format, write_layer

    if not places:
        raise InputError("no gazetteer given", fix="pass --places FILE (repeatable)")
    output_format(output)
    check_output(output, overwrite=overwrite)
    table = read_table(input, what="input")
    if len(table) == 0:
        raise InputError("the table has no rows", path=input,
                         fix="check the export's filters; there is nothing to geocode")
    gazetteer = Gazetteer.from_files(list(places))
    result = geocode_table(
        table, gazetteer, name_col=name_col, context_cols=context_cols, candidates=candidates
    )
    write_layer(result, output, overwrite=overwrite)
    counts = result["geocode_status"].value_counts()
    say(ctx, f"{len(result)} rows: " + ", ".join(
        f"{int(counts.get(s, 0))} {s}" for s in ("exact", "fuzzy", "ambiguous", "none")
    ) + f" -> {output}")
