"""The click group: logging (-v/-q), version, lazy command loading, and the error edge.

Each command lives in its own module (``geoconflict/cli/<name>.py``) exposing a click command of
the same name; modules are imported only when their command runs, so ``--help`` stays fast.
Library errors (:class:`~geoconflict.errors.GeoconflictError`) become a short message and exit
status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from .. import __version__
from ..errors import GeoconflictError

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("ingest", "Read incidents (ACLED, UCDP GED, CSV, vector) into one validated table."),
    "geocode": ("geocode", "Place incidents by place name against an offline gazetteer."),
    "join": ("join", "Join incidents to admin units, control zones in force, front lines."),
    "zones": ("zones", "Area held per controller per admin unit; territory that changed hands."),
    "corridor": ("corridor", "Buffer a line on each side (e.g. the 6 km M4 corridor)."),
    "ceasefire": ("ceasefire", "Strikes before/after a ceasefire: daily counts and a report."),
    "grid": ("grid", "Strike density: square, hex, H3, PRIO-GRID cells; KDE; hot spots."),
    "flows": ("flows", "Displacement records or matrices to directed flow arcs."),
    "map": ("map", "Self-contained HTML map (and PNG) of any geoconflict layers."),
    "run": ("run", "Run a scenario file end to end (default: the built-in Idlib 2020 case)."),
}


class UserError(click.ClickException):
    """A user error at the CLI edge: message, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, short = COMMANDS[cmd_name]
        try:
            module = importlib.import_module(f"geoconflict.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"geoconflict.cli.{module_name}":

                @click.command(cmd_name, help=short + " (not available in this build)")
                def _missing() -> None:
                    raise UserError(f"the '{cmd_name}' command is not available in this build")

                return _missing
            raise
        cmd = getattr(module, module_name.replace("-", "_"))
        if cmd.help is None:
            cmd.help = short
        cmd.short_help = short
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GeoconflictError as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:
            raise UserError("interrupted; no output was written") from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="geoconflict")
@click.option("-v", "--verbose", count=True, help="More messages (repeat for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """geoconflict: conflict-incident data to map layers analysts can trust."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True)
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = -1 if quiet else verbose
    ctx.obj["quiet"] = quiet


def main() -> None:  # pragma: no cover - console entry point
    cli(obj={})
