"""geoconflict run [SCENARIO.toml] [-o DIR]"""

from __future__ import annotations

from pathlib import Path

import click

from ._helpers import say
from .options import encoding_opt, overwrite_opt


@click.command("run")
@click.argument("scenario", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: outputs/<scenario name>).")
@encoding_opt
@overwrite_opt
@click.pass_context
def run(ctx: click.Context, scenario: Path | None, outdir: Path | None, overwrite: bool) -> None:
    """Run SCENARIO (a TOML file) end to end; with none, the built-in Idlib 2020 scenario.

    Writes every output of the run into one folder, with manifest.json (inputs and their sha256,
    parameters, versions, row counts and timings per stage).
    """
    from ..pipeline import run_scenario

    quiet = (ctx.find_root().obj or {}).get("quiet")
    from rich.console import Console

    console = Console(stderr=True, quiet=bool(quiet))
    with console.status("running") as status:
        result = run_scenario(scenario, outdir=outdir, overwrite=overwrite,
                              progress=lambda stage: status.update(f"stage: {stage}"))
    for line in result.summary:
        say(ctx, line)
    say(ctx, f"run: {len(result.outputs)} files -> {result.outdir}/")
