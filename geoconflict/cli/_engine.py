"""Shared ``--engine/--scheduler/--memory-limit/--workers/--blocksize`` options and the dask paths
of ``ingest``, ``join`` and ``grid`` (thin calls into :mod:`geoconflict.engine_dask`).

A command takes the options with ``@engine_options``; they arrive as one ``engine`` argument (an
:class:`Engine`).  When ``engine.dask`` is true the command calls :func:`ingest_dask`,
:func:`join_dask` or :func:`grid_dask` and returns; otherwise it runs in-process as before.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

ENGINES = ("inprocess", "dask")


def _size(ctx: click.Context | None, param: click.Parameter | None, value: Any) -> int | None:
    if value is None:
        return None
    from ..engine_dask import parse_bytes
    from ..errors import InputError

    try:
        return parse_bytes(value)
    except InputError as exc:
        raise click.BadParameter(exc.detail, ctx=ctx, param=param) from None


@dataclass(frozen=True)
class Engine:
    """The engine a command runs on."""

    name: str = "inprocess"
    scheduler: str | None = None
    memory_limit: int | None = None  # bytes per worker (LocalCluster only)
    workers: int = 2
    blocksize: int = 64 << 20

    @property
    def dask(self) -> bool:
        return self.name == "dask"

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        """A dask client: the --scheduler cluster, else a LocalCluster closed on exit."""
        import logging

        from ..engine_dask import get_client

        if logging.getLogger().getEffectiveLevel() > logging.INFO:  # without -v: no cluster chatter
            import os

            os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
            for name in [n for n in logging.root.manager.loggerDict if n.startswith("distributed")]:
                logging.getLogger(name).setLevel(logging.WARNING)
            logging.getLogger("distributed").setLevel(logging.WARNING)
        client = get_client(self.scheduler, n_workers=self.workers,
                            memory_limit=self.memory_limit if self.memory_limit else "auto")
        try:
            yield client
        finally:
            client.close()


def engine_options(f: Any) -> Any:
    """Add the engine options to a click command; the command receives ``engine: Engine``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        name = kwargs.pop("engine_name")
        scheduler = kwargs.pop("scheduler")
        memory_limit = kwargs.pop("memory_limit")
        workers = kwargs.pop("workers")
        blocksize = kwargs.pop("blocksize")
        if name != "dask":
            given = [flag for flag, v in (("--scheduler", scheduler), ("--memory-limit", memory_limit),
                                          ("--workers", workers), ("--blocksize", blocksize)) if v is not None]
            if given:
                raise click.UsageError(f"{', '.join(given)} only apply with --engine dask")
        if scheduler and (memory_limit is not None or workers is not None):
            raise click.UsageError("--memory-limit and --workers set up a local cluster; with "
                                   "--scheduler the cluster's own workers are used")
        kwargs["engine"] = Engine(name=name, scheduler=scheduler, memory_limit=memory_limit,
                                  workers=workers or 2, blocksize=blocksize or (64 << 20))
        return f(*args, **kwargs)

    opts = [
        click.option("--engine", "engine_name", type=click.Choice(ENGINES), default="inprocess",
                     show_default=True,
                     help="inprocess: one process, data in memory. dask: partitioned GeoParquet on "
                          "a dask cluster (input larger than memory, or a cluster)."),
        click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="Use this running dask scheduler (default: a local cluster)."),
        click.option("--memory-limit", "memory_limit", default=None, callback=_size, metavar="SIZE",
                     help="Memory per local dask worker, e.g. 2GB (spills to disk above 60%)."),
        click.option("--workers", type=click.IntRange(1, 256), default=None,
                     help="Local dask workers (default 2)."),
        click.option("--blocksize", default=None, callback=_size, metavar="SIZE",
                     help="CSV bytes per partition with --engine dask (default 64MB)."),
    ]
    for opt in reversed(opts):
        wrapper = opt(wrapper)
    return wrapper


# --------------------------------------------------------------------------------------------
# the dask path of each command


@contextlib.contextmanager
def _use(engine: Engine, client: Any) -> Iterator[Any]:
    if client is not None:
        yield client
    else:
        with engine.client() as c:
            yield c


def _say(ctx: click.Context | None, message: str) -> None:
    from ._helpers import say

    say(ctx, message)


def ingest_dask(
    ctx: click.Context | None,
    engine: Engine,
    input: Path,  # noqa: A002 - the command's argument
    output: Path,
    *,
    fmt: str = "auto",
    lon: str | None = None,
    lat: str | None = None,
    date: str | None = None,
    encoding: str | None = None,
    places: Sequence[Path] = (),
    overwrite: bool = False,
    client: Any = None,
) -> Any:
    """``ingest --engine dask``: OUTPUT must end in .parquet and becomes a folder of parts;
    the quarantine goes to <OUTPUT stem>.quarantine.csv as in-process."""
    from ..engine_dask import ingest_partitioned
    from ..io import quarantine_path

    _need_parquet_output(output, "incidents.parquet")
    if places:
        raise click.UsageError("--places is not available with --engine dask: geocode in-process")
    with _use(engine, client) as c:
        report = ingest_partitioned(input, output, client=c, blocksize=engine.blocksize,
                                    format=fmt, lon=lon, lat=lat, date=date, encoding=encoding,
                                    overwrite=overwrite, quarantine=quarantine_path(output))
    _say(ctx, f"ingest (dask): {report.summary()} -> {output}")
    return report


def join_dask(
    ctx: click.Context | None,
    engine: Engine,
    incidents: Path,
    output: Path,
    *,
    admin: Sequence[Path] = (),
    admin_fields: Sequence[str] | None = None,
    snap_distance_m: float = 2000.0,
    control: Path | None = None,
    front_line: Path | None = None,
    areas: Path | None = None,
    overwrite: bool = False,
    client: Any = None,
) -> Any:
    """``join --engine dask``: INCIDENTS is partitioned GeoParquet (an ``ingest --engine dask``
    output, a folder of parts or a glob); OUTPUT (.parquet) becomes a folder of joined parts."""
    from ..engine_dask import join_partitioned

    _need_parquet(incidents)
    _need_parquet_output(output, "joined.parquet")
    with _use(engine, client) as c:
        res = join_partitioned(incidents, output, admin=list(admin), admin_fields=admin_fields,
                               snap_distance_m=snap_distance_m, control=control,
                               front_line=front_line, areas=areas, client=c, overwrite=overwrite)
    _say(ctx, f"joined (dask, {res.partitions} partitions) {res.report.summary()} -> {output}")
    for problem in res.report.control_problems:
        _say(ctx, f"control layer: {problem}")
    return res


def grid_dask(
    ctx: click.Context | None,
    engine: Engine,
    incidents: Path,
    *,
    cells: str,
    by: str | None = None,
    period: str | None = None,
    include_imprecise: bool = False,
    long: bool = False,
    crs: str | None = None,
    client: Any = None,
) -> Any:
    """``grid --engine dask``: the counts of :func:`count_by_cell` over partitioned GeoParquet; the
    command writes ``result.cells`` as usual.  --all-cells, --extent, --kde and --hotspots run
    in-process on the (small) grid or not at all: refuse them here."""
    from ..engine_dask import count_partitioned

    _need_parquet(incidents)
    with _use(engine, client) as c:
        return count_partitioned(incidents, cells=cells, by=by, period=period,
                                 include_imprecise=include_imprecise, long=long, crs=crs, client=c)


def refuse_with_dask(engine: Engine, **given: Any) -> None:
    """Raise a usage error naming the options given that the dask engine does not offer."""
    if not engine.dask:
        return
    bad = [name for name, v in given.items() if v not in (None, False, (), [])]
    if bad:
        flags = ", ".join("--" + b.replace("_", "-") for b in bad)
        raise click.UsageError(f"{flags} not available with --engine dask")


def _need_parquet_output(output: Path, example: str) -> None:
    if output.suffix.lower() != ".parquet":
        raise click.UsageError("with --engine dask the output is partitioned GeoParquet: name it "
                               f"e.g. -o {example} (a folder of parts)")


def _need_parquet(path: Path) -> None:
    text = str(path)
    if not (path.is_dir() or text.lower().endswith(".parquet") or any(c in text for c in "*?[")):
        raise click.UsageError(
            f"{path}: with --engine dask the incidents must be partitioned GeoParquet; "
            "make it with: geoconflict ingest EXPORT.csv -o incidents.parquet --engine dask")
