"""The click group: logging (-v/-q), version, lazy command loading, and the error edge.

Each command lives in its own module (``geoconflict/cli/<name>.py``) exposing a click command of
the same name; modules are imported only when their command runs, so ``--help`` stays fast.
Library errors (:class:`~geoconflict.errors.GeoconflictError`) become a short message and exit
status 2, never a traceback.  The edge also:

- refuses an output that is one of the command's inputs (:func:`guard_paths`);
- turns SIGTERM into the same clean stop as Ctrl-C (temporaries removed, no partial output);
- keeps library warnings (pyogrio, pandas, shapely, numpy) and library log records off stderr by
  default: they are said in our words with ``-v`` (:func:`report_warnings`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import GeoconflictError, OutputError

log = logging.getLogger("geoconflict.cli")

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("ingest", "Read incidents (ACLED, UCDP GED, CSV, vector) into one validated table."),
    "geocode": ("geocode", "Place incidents by place name against an offline gazetteer."),
    "join": ("join", "Join incidents to admin units, control zones in force, front lines."),
    "zones": ("zones", "Area held per controller per admin unit; territory that changed hands."),
    "control-from-places": ("control_from_places", "Dated control polygons from per-place control observations."),
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
        guard_paths(cmd)
        if cmd.help is None:
            cmd.help = short
        cmd.short_help = short
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``geoconflict --help`` from :data:`COMMANDS`: click's own imports
        every command's module (and with them pandas and the geospatial stack) for one line each."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_module, short) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        from .._written import forget_written  # not ..io: no geospatial stack before the command

        forget_written()
        try:
            with sigterm_as_interrupt(), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    return super().invoke(ctx)
                finally:
                    report_warnings(caught)
        except GeoconflictError as exc:
            raise UserError(str(exc)) from None
        except Terminated:
            raise UserError(f"stopped by SIGTERM; {_written_note()}") from None
        except KeyboardInterrupt:
            raise UserError(f"interrupted; {_written_note()}") from None


def _written_note() -> str:
    from .._written import written_outputs

    done = written_outputs()
    if not done:
        return "no output was written"
    names = ", ".join(str(p) for p in done[:5]) + (", ..." if len(done) > 5 else "")
    return f"written before the stop: {names}; the other outputs were not written"


# -- SIGTERM ---------------------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so every temporary is removed on the way out."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`Terminated` (the previous handler is put back
    afterwards).  Only in the main thread, where Python can install signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- outputs that are inputs ---------------------------------------------------------------------
#: parameters naming outputs (files or folders); every other path parameter of a command is an input
OUTPUT_PARAMS = frozenset({"output", "outputs", "outdir", "arrows", "html_path", "kde", "hotspots", "plot"})


def _paths(value: Any) -> list[Path]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [Path(v) for v in value if v is not None]
    return [Path(value)]


def guard_paths(cmd: click.Command) -> click.Command:
    """Make ``cmd`` refuse, before any work, an output that is one of its inputs (same resolved
    path or same file), and protect its inputs from every writer while it runs
    (:func:`geoconflict.io.protect_inputs`: side files such as the quarantine too)."""
    if getattr(cmd, "_geoconflict_guarded", False) or cmd.callback is None:
        return cmd
    callback = cmd.callback
    names = [p.name for p in cmd.params if isinstance(p.type, click.Path) and p.name]

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        from ..io import protect_inputs, same_file

        inputs = [p for n in names if n not in OUTPUT_PARAMS for p in _paths(kwargs.get(n))]
        outputs = [p for n in names if n in OUTPUT_PARAMS for p in _paths(kwargs.get(n))]
        for out in outputs:
            for source in inputs:
                if same_file(out, source):
                    raise OutputError(out, f"is also an input of this command ({source}); writing it "
                                           "would replace the data being read",
                                      fix="write the output to another file")
        with protect_inputs(inputs):
            return callback(*args, **kwargs)

    cmd.callback = guarded
    cmd._geoconflict_guarded = True  # type: ignore[attr-defined]
    return cmd


# -- library warnings and log records ------------------------------------------------------------
#: library warnings known to be harmless here: said only with -vv
HARMLESS_WARNINGS: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    r"Could not parse column .* as JSON",  # pyogrio: mixed text/number property; values checked
    r"has GPKG application_id, but non conformant file extension",
    r"Could not infer format, so each element will be parsed individually",  # pandas dates
    r"invalid value encountered in",  # numpy/shapely on empty or NaN rows, which we count
    r"divide by zero encountered in",
    r"Several features with id = .* have been found",
    r"Layer creation option .* is deprecated",
    r"crs member .* is not RFC 7946|The 'crs' member",
))
_LIBRARY = re.compile(r"[\\/](?:site|dist)-packages[\\/]([A-Za-z0-9_]+)")


def report_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Say the warnings caught while a command ran, each once, in our words and only with -v
    (``-vv`` for those known to be harmless).  geoconflict says its own warnings by logging, so
    every warning here comes from a library (pandas points its warnings at the calling line, so
    the file named may be ours)."""
    seen: set[tuple[str, str]] = set()
    for w in caught:
        lines = str(w.message).strip().splitlines()
        text = lines[0][:300] if lines else w.category.__name__
        key = (w.category.__name__, text)
        if key in seen:
            continue
        seen.add(key)
        match = _LIBRARY.search(str(w.filename or ""))
        origin = f"{match.group(1)}, " if match else ""
        if any(p.search(text) for p in HARMLESS_WARNINGS):
            log.debug("library note (%s%s, known harmless): %s", origin, w.category.__name__, text)
        else:
            log.info("library note (%s%s): %s", origin, w.category.__name__, text)


class _OwnRecords(logging.Filter):
    """Library log records (pyogrio, fiona, numba...) reach stderr only with -v; errors always."""

    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.name == "geoconflict" or record.name.startswith("geoconflict.")
                or self.verbosity >= 1 or record.levelno >= logging.ERROR)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", package_name="geoconflict", prog_name="geoconflict")
@click.option("-v", "--verbose", count=True, help="More messages (repeat for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """geoconflict: conflict-incident data to map layers analysts can trust."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_OwnRecords(-1 if quiet else verbose))
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = -1 if quiet else verbose
    ctx.obj["quiet"] = quiet


def main() -> None:  # pragma: no cover - console entry point
    cli(obj={})
