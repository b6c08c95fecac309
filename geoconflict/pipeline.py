"""Run a scenario file end to end: read → validate → join → analyse → write, with a manifest.

A scenario is a TOML file (parsed, never evaluated) naming its inputs and parameters; relative
paths resolve against the file's folder and ``@boundaries/`` names the project's ``boundaries/``
folder.  Every output is written into a staging folder first and moved into the output folder
only when the whole run succeeded, so a failed run leaves no half-written outputs; existing
outputs are not replaced without ``overwrite``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ._stages import SOMETIMES_WRITTEN, STAGES, Run, Scenario, planned_outputs, safe_name
from .errors import InputError, OutputError, OutputExistsError

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
BUILTIN_SCENARIO = PACKAGE_DIR / "scenarios" / "idlib-2020" / "scenario.toml"

#: the keys a scenario may carry, per table (anything else is refused: a typo must not pass silently)
SCHEMA: dict[str, set[str]] = {
    "scenario": {"name", "title", "data_as_of", "sources", "description"},
    "inputs": {"incidents", "format", "lon", "lat", "date", "admin", "control", "front_line", "areas",
               "corridor_line", "places", "displacement", "labels",
               # control as published (#14): a single-actor archive's holder, its extent, the remainder
               "controller", "control_extent", "remainder"},
    "join": {"snap_distance", "admin_fields"},
    "zones": {"date", "admin", "change_from", "change_to"},
    "corridor": {"name", "width"},
    "ceasefire": {"start", "end", "types", "lull_days", "window_days"},
    "grid": {"hex", "kde_bandwidth", "kde_resolution", "kde_kernel", "include_imprecise"},
    "flows": {"min_individuals", "top"},
    "map": {"tiles", "dpi"},
}
PATH_KEYS = {"incidents", "admin", "control", "front_line", "areas", "corridor_line", "places",
             "displacement", "labels", "control_extent"}
MAX_INPUT_BYTES = 5 * 1024**3
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?$")


def boundaries_dir() -> Path:
    """The project's boundary layers: shipped inside the wheel, or the source tree's boundaries/."""
    for candidate in (PACKAGE_DIR / "_boundaries", PACKAGE_DIR.parent / "boundaries"):
        if candidate.is_dir():
            return candidate
    raise InputError(
        "the built-in boundary layers are not installed",
        fix="install geoconflict from its source tree (pip install -e .) or a wheel built from it",
    )


def _resolve(value: str, base: Path, where: str, scenario_path: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where} must be a file path (text)", path=scenario_path,
                         fix=f"write e.g. {where.split('.')[-1]} = \"file.geojson\"")
    if value.startswith("@boundaries/"):
        p = boundaries_dir() / value[len("@boundaries/"):]
    else:
        p = Path(value).expanduser()
        if not p.is_absolute():
            p = base / p
    p = p.resolve()
    if not p.exists():
        raise InputError(f"{where} names a file that does not exist: {p}", path=scenario_path,
                         fix="correct the path (relative paths resolve against the scenario's folder)")
    if p.is_file() and p.stat().st_size > MAX_INPUT_BYTES:
        raise InputError(f"{where}: {p} is larger than the limit of {_size(MAX_INPUT_BYTES)}", path=scenario_path,
                         fix="split the input, or use the dask engine")
    return p


def _size(n: int) -> str:
    for unit, div in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if n >= div:
            return f"{n / div:,.1f} {unit}"
    return f"{n:,} bytes"


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Parse and validate a scenario TOML (the built-in Idlib 2020 scenario when ``path`` is None)."""
    p = Path(path) if path is not None else BUILTIN_SCENARIO
    if not p.exists():
        raise InputError("scenario file not found", path=p, fix="check the path")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("scenario file is not UTF-8 text", path=p, fix="save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=p, fix="fix the TOML syntax at that line") from None
    problems: list[str] = []
    for table, value in raw.items():
        if table not in SCHEMA:
            problems.append(f"unknown table [{table}] (known: {', '.join(sorted(SCHEMA))})")
            continue
        if not isinstance(value, dict):
            problems.append(f"[{table}] must be a table")
            continue
        for key in value:
            if key not in SCHEMA[table]:
                problems.append(f"unknown key {table}.{key} (known: {', '.join(sorted(SCHEMA[table]))})")
    if "incidents" not in raw.get("inputs", {}):
        problems.append("[inputs] needs incidents = \"FILE\"")
    if problems:
        raise InputError("invalid scenario:\n  - " + "\n  - ".join(problems), path=p,
                         fix="see the built-in scenario (geoconflict/scenarios/idlib-2020/scenario.toml)")
    config: dict[str, dict[str, Any]] = {t: dict(v) for t, v in raw.items()}
    base = p.resolve().parent
    inputs = config.setdefault("inputs", {})
    for key in list(inputs):
        if key not in PATH_KEYS:
            continue
        value = inputs[key]
        if isinstance(value, list):
            inputs[key] = [_resolve(v, base, f"inputs.{key}[{i}]", p) for i, v in enumerate(value)]
        else:
            inputs[key] = _resolve(value, base, f"inputs.{key}", p)
    for table, key in (("zones", "admin"),):
        if key in config.get(table, {}):
            config[table][key] = _resolve(config[table][key], base, f"{table}.{key}", p)
    name = safe_name(config.get("scenario", {}).get("name") or p.stem)
    return Scenario(path=p.resolve(), name=name, config=config)


DISTANCE_KEYS = (("join", "snap_distance"), ("corridor", "width"), ("grid", "hex"),
                 ("grid", "kde_bandwidth"), ("grid", "kde_resolution"))
DATE_KEYS = (("zones", "date"), ("zones", "change_from"), ("zones", "change_to"),
             ("ceasefire", "start"), ("ceasefire", "end"), ("scenario", "data_as_of"))


def check_parameters(scenario: Scenario) -> None:
    """Check every parameter's form before any stage runs; report all problems at once."""
    import pandas as pd

    from .units import parse_distance_m

    problems: list[str] = []
    for table, key in DISTANCE_KEYS:
        value = scenario.get(table, key)
        if value is None:
            continue
        try:
            if parse_distance_m(value) <= 0:
                raise ValueError("must be positive")
        except (ValueError, TypeError) as exc:
            problems.append(f"{table}.{key} = {value!r}: not a distance ({exc}); write e.g. \"5km\" or \"500m\"")
    for table, key in DATE_KEYS:
        value = scenario.get(table, key)
        if value is None:
            continue
        if isinstance(value, (dt.date, dt.datetime)):
            continue
        try:
            if not _ISO_DATE.match(str(value)) or pd.isna(pd.Timestamp(str(value))):
                raise ValueError("not ISO 8601")
        except (ValueError, TypeError):
            problems.append(f"{table}.{key} = {value!r}: not a date; write e.g. \"2020-03-06\" or \"2020-03-06T00:01\"")
    for table, key in (("ceasefire", "lull_days"), ("ceasefire", "window_days"), ("flows", "top"),
                       ("map", "dpi")):
        value = scenario.get(table, key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            problems.append(f"{table}.{key} = {value!r}: must be a positive whole number")
    for table, key in (("scenario", "name"), ("scenario", "title"), ("scenario", "description"),
                       ("corridor", "name"), ("map", "tiles"), ("grid", "kde_kernel"), ("inputs", "format"),
                       ("inputs", "lon"), ("inputs", "lat"), ("inputs", "date")):
        value = scenario.get(table, key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{table}.{key} = {value!r}: must be text (in quotes)")
    sources = scenario.get("scenario", "sources")
    if sources is not None and not (isinstance(sources, str) or (
            isinstance(sources, list) and all(isinstance(t, str) for t in sources))):
        problems.append(f"scenario.sources = {sources!r}: must be text or a list of texts")
    if scenario.input("control") and not (scenario.input("admin") or scenario.get("zones", "admin")):
        problems.append("inputs.control is given but no admin layer: area held per unit needs one; "
                        "add inputs.admin = [\"adm3.geojson\"] or zones.admin = \"adm2.geojson\"")
    types = scenario.get("ceasefire", "types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        problems.append(f"ceasefire.types = {types!r}: must be a list of event types (text)")
    if problems:
        raise InputError("invalid parameters:\n  - " + "\n  - ".join(problems), path=scenario.path,
                         fix="correct the values named above")


def default_outdir(scenario: Scenario) -> Path:
    return Path("outputs") / scenario.name


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class RunResult:
    outdir: Path
    outputs: list[str]
    manifest: dict[str, Any]
    summary: list[str] = field(default_factory=list)


def run_scenario(
    path: str | Path | None = None,
    *,
    outdir: str | Path | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run a scenario end to end into ``outdir`` (default ``outputs/<name>``).

    Outputs are checked before any stage runs (nothing is replaced without ``overwrite``); the
    folder is locked for the run (a second run into it is refused at once); every output is
    written into a staging folder and moved into place only when every stage succeeded.
    Staging folders left by a killed run are removed at the next run.
    """
    scenario = load_scenario(path)
    check_parameters(scenario)
    target = Path(outdir) if outdir is not None else default_outdir(scenario)
    if target.exists() and not target.is_dir():
        raise OutputError(target, "is a file, not a folder", fix="choose a folder for -o")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(target, f"cannot create the output folder ({exc.strerror})",
                          fix="choose a writable folder for -o") from None
    with _folder_lock(target):
        _remove_stale_staging(target)
        if not overwrite:
            clashes = [n for n in [*planned_outputs(scenario), "manifest.json"] if (target / n).exists()]
            if clashes:
                raise OutputExistsError(target / clashes[0])
        t_start = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=target))
        try:
            run = Run(scenario, staging, progress)
            for stage_fn in STAGES:
                stage_fn(run)
            outputs = sorted(p.name for p in staging.iterdir())
            clashes = [n for n in outputs if (target / n).exists()]
            if clashes and not overwrite:  # a name planned_outputs did not foresee
                raise OutputExistsError(target / clashes[0]) from None
            manifest = _manifest(run, outputs, time.perf_counter() - t_start)
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
            outputs.append("manifest.json")
            for name in outputs:
                if (staging / name).is_dir() and (target / name).is_dir():  # a folder (briefing/) is
                    os.replace(target / name, staging / f".replaced-{name}")  # replaced whole
                os.replace(staging / name, target / name)
            for name in SOMETIMES_WRITTEN:  # (overwrite) an earlier run's, not rewritten by this one
                if name not in outputs and (target / name).exists():
                    os.replace(target / name, staging / f".replaced-{name}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return RunResult(outdir=target, outputs=sorted(outputs), manifest=manifest, summary=run.summary)


LOCK_NAME = ".geoconflict-run.lock"


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` for one run (released by the OS if the process dies).

    The lock file is removed when the run ends; a process that locked a file another run had
    already removed sees that the path no longer names its file, and is refused like any other.
    """
    import fcntl

    path = folder / LOCK_NAME
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino != os.fstat(fh.fileno()).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            raise OutputError(folder, "another geoconflict run is writing into this folder",
                              fix="wait for it to finish, or choose another folder with -o") from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # still locked: no other run can hold this file
    finally:
        fh.close()


_STAGING = re.compile(r"^\.staging-(?:(\d+)-)?[A-Za-z0-9_]+$")


def _remove_stale_staging(folder: Path) -> list[Path]:
    """Remove staging folders of runs that died (their process is gone); called under the lock,
    so no live run of this folder can own one."""
    removed = []
    for p in folder.iterdir():
        if p.is_dir() and _STAGING.match(p.name):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
            log.info("removed %s, left by a run that was killed", p)
    return removed


def _versions() -> dict[str, str]:
    names = ["geoconflict", "geopandas", "shapely", "pyproj", "pyogrio", "rasterio", "folium", "pandas",
             "numpy", "pyarrow", "h3", "matplotlib", "numba", "rapidfuzz", "scipy"]
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    try:
        import pyogrio

        out["GDAL"] = pyogrio.__gdal_version_string__
    except Exception:  # pragma: no cover
        pass
    return out


def _manifest(run: Run, outputs: list[str], seconds: float) -> dict[str, Any]:
    sc = run.scenario
    inputs: dict[str, Any] = {}
    for key, value in sc.config.get("inputs", {}).items():
        paths = value if isinstance(value, list) else [value]
        for p in paths:
            if isinstance(p, Path) and p.is_file():
                inputs[str(_display(p))] = {"role": key, "sha256": sha256(p), "bytes": p.stat().st_size}
    params = {t: {k: (str(_display(v)) if isinstance(v, Path) else v) for k, v in kv.items()}
              for t, kv in sc.config.items() if t != "inputs"}
    return {
        "scenario": {"name": sc.name, "file": str(_display(sc.path))},
        "created": datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inputs": inputs,
        "parameters": params,
        "stages": run.stages,
        "outputs": outputs,
        "seconds_total": round(seconds, 3),
        "versions": _versions(),
        "python": platform.python_version(),
    }


def _display(p: Path) -> Path:
    for base in (PACKAGE_DIR.parent, Path.cwd()):
        try:
            return p.resolve().relative_to(base.resolve())
        except ValueError:
            continue
    return p
