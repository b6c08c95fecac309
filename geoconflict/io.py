"""Read and write layers and tables.

Writers are atomic (a temporary file in the destination folder, then a rename) and refuse to
replace an existing output unless ``overwrite=True``.  GeoJSON follows RFC 7946 (WGS84
longitude/latitude, counter-clockwise exterior rings, no ``crs`` member, 6 decimals).
GeoPackages are written with a fixed timestamp so two runs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import json
import logging
import os
import re
import stat
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from ._codepage import gdal_encoding
from ._codepage import shapefile_encoding as shapefile_encoding  # re-exported: the API
from ._written import WRITTEN
from ._written import forget_written as forget_written  # re-exported: the API
from ._written import written_outputs as written_outputs
from .errors import GeoconflictError, InputError, LayerError, OutputError, OutputExistsError

log = logging.getLogger(__name__)

#: extension -> (kind, pyogrio driver)
VECTOR_EXTENSIONS: dict[str, str] = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".zip": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".parquet": "Parquet",
    ".geoparquet": "Parquet",
}
OUTPUT_EXTENSIONS = (".geojson", ".gpkg", ".parquet", ".csv")
#: a Shapefile, or a zip of them (``.shz``: GDAL's name for a zipped single Shapefile)
SHAPEFILE_EXTENSIONS = (".shp", ".zip", ".shz")
COORDINATE_PRECISION = 6
#: a fixed timestamp for GeoPackage metadata, so outputs are byte-identical across runs
FIXED_TIMESTAMP = "2000-01-01T00:00:00Z"


def require_file(path: str | Path, what: str = "input") -> Path:
    """Return ``path`` as a Path, or raise :class:`InputError` if it is missing or empty."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found", path=p, fix="check the path and its spelling")
    if p.is_dir() and p.suffix.lower() != ".gdb":
        raise InputError(f"{what} is a folder, not a file", path=p, fix="name a file")
    if p.is_file() and p.stat().st_size == 0:
        raise InputError(f"{what} file is empty (0 bytes)", path=p, fix="export the data again")
    return p


def output_format(path: str | Path, allowed: tuple[str, ...] = OUTPUT_EXTENSIONS) -> str:
    """The output's extension (lower case), checked against ``allowed``."""
    ext = Path(path).suffix.lower()
    if ext not in allowed:
        raise InputError(
            f"unsupported output extension {ext or '(none)'!r}",
            path=path,
            fix=f"use one of {', '.join(allowed)}",
        )
    return ext


def check_output(path: str | Path, *, overwrite: bool) -> Path:
    """Check that ``path`` can be written, before any work is done, and create its folder.

    Refused with :class:`OutputExistsError` when it exists and ``overwrite`` is not given, and with
    :class:`OutputError` (also an ``OSError``) when it is a folder, a parent is a file, the folder
    cannot be created or written to (a probe file is created and removed), or it is one of the
    running command's inputs (:func:`protect_inputs`).  Stale temporaries of our own naming in
    the folder are removed (:func:`clean_stale_temporaries`).
    """
    p = Path(path)
    _refuse_input(p)
    if p.is_dir():
        raise OutputError(p, "is a folder, not a file",
                          fix=f"name a file, e.g. {p / ('output' + (p.suffix or '.gpkg'))}")
    if p.exists() and not overwrite:
        raise OutputExistsError(p)
    folder = p.parent
    for ancestor in (folder, *folder.parents):
        if ancestor.exists() or ancestor.is_symlink():
            if not ancestor.is_dir():
                raise OutputError(p, f"its folder {ancestor} is a file, not a folder",
                                  fix="choose an output path inside a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(p, f"cannot create its folder {folder} ({_reason(exc)})",
                          fix="choose a folder you can write to") from None
    _probe_writable(p)
    clean_stale_temporaries(folder)
    return p


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _probe_writable(p: Path) -> None:
    """Create and remove a temporary file beside ``p``: the folder really takes new files."""
    try:
        probe = _new_temporary(p)
    except OSError as exc:
        raise OutputError(p, f"cannot write in the folder {p.parent} ({_reason(exc)})",
                          fix="choose a folder you can write to, or change its permissions") from None
    with contextlib.suppress(OSError):
        probe.unlink()


# -- temporaries -------------------------------------------------------------------------------
#: our temporaries: ``.<name>.<pid>.<8 random>.tmp<ext of name>``, plus what GDAL or SQLite add
#: after it (``-journal``, ``-wal``, ``.tmp_rtree_<layer>.db``)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<token>[a-z0-9_]{8})\.tmp(?P<rest>.*)$")
#: temporaries of versions before the pid was in the name: ``.<name>.<8 random>.tmp<ext>``
_OLD_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<token>[a-z0-9_]{8})\.tmp(?P<rest>.*)$")
#: a temporary whose process is gone is stale at once; one without a pid in its name after an
#: hour; one of a live process after a day (its pid may have been reused)
STALE_AFTER_S = 3600.0
STALE_LIVE_AFTER_S = 86400.0


def _new_temporary(target: Path) -> Path:
    """A new, empty temporary file beside ``target``, named after it, with our pid."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=f".tmp{target.suffix}",
                               dir=target.parent)
    os.close(fd)
    return Path(tmp)


def _is_own_temporary(path: Path) -> bool:
    m = _TEMP_NAME.match(path.name)
    return m is not None and int(m["pid"]) == os.getpid()


def _remove_temporary(tmp: Path) -> None:
    """Remove a temporary and what GDAL or SQLite left beside it (journal, R-tree database)."""
    with contextlib.suppress(OSError):
        tmp.unlink()
    with contextlib.suppress(OSError):
        for extra in tmp.parent.glob(glob.escape(tmp.name) + "?*"):
            with contextlib.suppress(OSError):
                extra.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


def clean_stale_temporaries(folder: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove temporaries of our own naming left in ``folder`` by a killed run: files named
    ``.<name>.<pid>.<random>.tmp<ext>…`` whose process no longer exists (or older than a day),
    and ``.<name>.<random>.tmp<ext>…`` (no pid) older than an hour.  Nothing else is touched.
    Returns the removed paths."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(".") and ".tmp" in e.name]
    except OSError:
        return removed
    me = os.getpid()
    for entry in entries:
        pid: int | None = None
        m = _TEMP_NAME.match(entry.name)
        if m is not None:
            pid = int(m["pid"])
        else:
            m = _OLD_TEMP_NAME.match(entry.name)
            if m is None:
                continue
        if not m["rest"].startswith(Path(m["name"]).suffix):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or pid == me:
            continue
        age = now - st.st_mtime
        stale = age > STALE_AFTER_S if pid is None else (age > STALE_LIVE_AFTER_S or not _process_alive(pid))
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    if removed:
        log.info("removed %d temporary file(s) left in %s by an interrupted run", len(removed), folder)
    return removed


# -- inputs a command must not replace ---------------------------------------------------------
_INPUTS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("geoconflict_inputs", default=())


@contextlib.contextmanager
def protect_inputs(paths: Iterable[str | Path]) -> Iterator[None]:
    """While active, :func:`check_output` (so every writer) refuses to write onto any of ``paths``."""
    token = _INPUTS.set(_INPUTS.get() + tuple(Path(p) for p in paths))
    try:
        yield
    finally:
        _INPUTS.reset(token)


def same_file(a: str | Path, b: str | Path) -> bool:
    """The same resolved path, or the same file on disk (hard link, symlink, case-folding)."""
    pa_, pb_ = Path(a), Path(b)
    with contextlib.suppress(OSError, RuntimeError):
        if pa_.resolve() == pb_.resolve():
            return True
    with contextlib.suppress(OSError):
        return pa_.exists() and pb_.exists() and os.path.samefile(pa_, pb_)
    return False


def _refuse_input(p: Path) -> None:
    for source in _INPUTS.get():
        if same_file(p, source):
            raise OutputError(p, f"is also an input of this command ({source}); writing it would "
                                 "replace the data being read", fix="write the output to another file")


# -- writes: one file, or a set of files that all land or none -----------------------------------


class OutputSet:
    """The outputs of one command, written to temporaries and moved into place together by
    :func:`output_set`."""

    def __init__(self) -> None:
        self._staged: dict[Path, tuple[Path, bool]] = {}

    def stage(self, tmp: Path, target: Path, *, overwrite: bool) -> None:
        key = Path(os.path.abspath(target))
        if key in self._staged:  # written twice by one command: the second wins, as without a set
            if not overwrite:
                _remove_temporary(tmp)
                raise OutputExistsError(target)
            _remove_temporary(self._staged.pop(key)[0])
        self._staged[key] = (tmp, overwrite)

    @property
    def targets(self) -> list[Path]:
        return list(self._staged)

    def discard(self) -> None:
        staged, self._staged = self._staged, {}
        for tmp, _ in staged.values():
            _remove_temporary(tmp)

    def commit(self) -> list[Path]:
        """Move every temporary into place, or (on any failure) none: the files replaced are
        kept aside until every move succeeded, and put back otherwise."""
        staged, self._staged = self._staged, {}
        backups: list[tuple[Path, Path]] = []
        placed: list[Path] = []
        try:
            for target, (_, overwrite) in staged.items():
                if target.is_dir():
                    raise OutputError(target, "is a folder, not a file", fix="name a file")
                if target.exists() and not overwrite:  # raced by another writer
                    raise OutputExistsError(target)
            for target, (tmp, _) in staged.items():
                if target.exists():
                    backup = _new_temporary(target)
                    os.replace(target, backup)
                    backups.append((backup, target))
                os.replace(tmp, target)
                placed.append(target)
        except BaseException as exc:
            for target in placed:
                with contextlib.suppress(OSError):
                    target.unlink()
            for backup, target in backups:
                with contextlib.suppress(OSError):
                    os.replace(backup, target)
            for tmp, _ in staged.values():
                _remove_temporary(tmp)
            if isinstance(exc, OSError) and not isinstance(exc, GeoconflictError):
                raise OutputError(getattr(exc, "filename", None) or "output",
                                  f"could not be moved into place ({_reason(exc)}); nothing was written",
                                  fix="check the folder's permissions and free space") from None
            raise
        for backup, _ in backups:
            with contextlib.suppress(OSError):
                backup.unlink()
        WRITTEN.extend(placed)
        return placed


_OUTPUT_SET: contextvars.ContextVar[OutputSet | None] = contextvars.ContextVar(
    "geoconflict_output_set", default=None)


@contextlib.contextmanager
def output_set(paths: Iterable[str | Path] = (), *, overwrite: bool = False) -> Iterator[OutputSet]:
    """Write all of a command's outputs or none.

    ``paths`` are checked first (:func:`check_output`).  Inside the block every writer of this
    module (:func:`atomic_path`) writes to a temporary beside its output; when the block ends
    without an exception, all temporaries are moved into place; on any exception (Ctrl-C and
    SIGTERM included) they are all removed and nothing is written.  A set opened inside another
    joins it (its files are moved with the outer set's)::

        with io.output_set([out, qpath], overwrite=overwrite):
            io.write_layer(layer, out, overwrite=overwrite)
            io.write_table(quarantine, qpath, overwrite=overwrite)
    """
    for p in paths:
        check_output(p, overwrite=overwrite)
    outer = _OUTPUT_SET.get()
    if outer is not None:
        yield outer
        return
    tx = OutputSet()
    token = _OUTPUT_SET.set(tx)
    try:
        yield tx
    except BaseException:
        _OUTPUT_SET.reset(token)
        tx.discard()
        raise
    _OUTPUT_SET.reset(token)
    tx.commit()


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success (inside
    :func:`output_set`: when the whole set succeeded).  The temporary is removed on failure."""
    target = check_output(path, overwrite=overwrite)
    try:
        tmp_path = _new_temporary(target)
    except OSError as exc:
        raise OutputError(target, f"cannot write in its folder ({_reason(exc)})",
                          fix="choose a folder you can write to") from None
    tmp_path.unlink()  # writers (GDAL) want to create the file themselves
    # a write into another writer's temporary (publish.write_gpkg fills one with write_layers)
    # lands at once: the outer writer's temporary is the one that waits for the set
    tx = None if _is_own_temporary(target) else _OUTPUT_SET.get()
    staged = False
    try:
        yield tmp_path
        if tx is not None:
            tx.stage(tmp_path, target, overwrite=overwrite)
            staged = True
            return
        if target.exists() and not overwrite:  # raced by another writer
            raise OutputExistsError(target)
        os.replace(tmp_path, target)
        if tx is None and not _is_own_temporary(target):
            WRITTEN.append(target)
    except OSError as exc:
        if isinstance(exc, GeoconflictError):
            raise
        raise OutputError(target, f"could not be written ({_reason(exc)})",
                          fix="check the folder's permissions and free space") from None
    finally:
        if not staged:
            _remove_temporary(tmp_path)


GEOMETRY_FAMILIES: dict[str, tuple[str, ...]] = {
    "polygon": ("Polygon", "MultiPolygon"),
    "line": ("LineString", "MultiLineString"),
    "point": ("Point", "MultiPoint"),
}


def _sniff_text(p: Path, n: int = 4096) -> str:
    with open(p, "rb") as fh:
        return fh.read(n).decode("utf-8", errors="replace")


def _check_shapefile_parts(p: Path) -> None:
    """A shapefile needs its .shx and .dbf (and a .prj for its CRS): name what is missing."""
    import zipfile

    if p.suffix.lower() in (".zip", ".shz"):
        try:
            with zipfile.ZipFile(p) as zf:
                members = [m.lower() for m in zf.namelist()]
        except zipfile.BadZipFile:
            raise InputError("not a zip archive", path=p, fix="re-export it, or unzip it and name the .shp") from None
        shps = [m for m in members if m.endswith(".shp")]
        if not shps:
            raise InputError("the zip holds no shapefile (.shp)", path=p,
                             fix="zip the .shp with its .shx, .dbf and .prj, or name the layer file itself")
        stems = [m[:-4] for m in shps]
        present = {Path(m).suffix for m in members}
        for stem in stems:
            for part in (".shx", ".dbf", ".prj"):
                if stem + part not in members:
                    raise InputError(f"the shapefile {Path(stem).name}.shp in the zip has no {part} part",
                                     path=p, fix=f"add {Path(stem).name}{part} to the zip (export all parts)")
        del present
        return
    for part in (".shx", ".dbf", ".prj"):
        if not any(p.with_suffix(s).exists() for s in (part, part.upper())):
            raise InputError(f"the shapefile has no {part} part ({p.with_suffix(part).name} is missing)",
                             path=p, fix=f"copy {p.with_suffix(part).name} beside it (a shapefile is several files)")


def read_layer(
    path: str | Path,
    *,
    layer: str | int | None = None,
    what: str = "layer",
    geometry: str | None = None,
    allow_empty: bool = True,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector layer (GeoJSON, GeoPackage, Shapefile or zipped Shapefile, FlatGeobuf,
    GeoParquet) with clear errors for the usual problems.

    ``geometry`` (``"polygon"``, ``"line"``, ``"point"``) requires that family; ``allow_empty=False``
    refuses a layer without features. Every refusal names the file and the fix.

    ``encoding``: the code page of a Shapefile that does not declare one (no ``.cpg``), e.g.
    ``"cp1256"``; else that of an enclosing :func:`shapefile_encoding` block.  Without either,
    such a file's text is read as UTF-8 when it is UTF-8, and refused otherwise (see
    :mod:`geoconflict._codepage`).
    """
    import shapely

    p = require_file(path, what)
    ext = p.suffix.lower()
    if ext in (".parquet", ".geoparquet"):
        try:
            gdf = gpd.read_parquet(p)
        except Exception as exc:  # pyarrow raises many types
            raise InputError(
                f"cannot read as GeoParquet: {_short(exc)}", path=p, fix="write it with GeoDataFrame.to_parquet"
            ) from None
        return check_layer(gdf, p, what=what, geometry=geometry, allow_empty=allow_empty)
    if ext in (".geojson", ".json", ".topojson"):
        head = _sniff_text(p)
        if '"Topology"' in head.replace(" ", "") or ext == ".topojson":
            raise InputError("this is TopoJSON, not GeoJSON", path=p,
                             fix="convert it first, e.g. ogr2ogr -f GeoJSON out.geojson in.json")
    if ext in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"):
        raise InputError(f"the {what} must be a vector layer, not a table ({ext})", path=p,
                         fix="give a GeoJSON, GeoPackage, Shapefile, FlatGeobuf or GeoParquet file here")
    code_page = None
    if ext in SHAPEFILE_EXTENSIONS:
        _check_shapefile_parts(p)
        code_page = gdal_encoding(p, encoding, layer=layer)
    if ext == ".gpkg" and layer is None:
        try:
            layers = pyogrio.list_layers(p)
        except Exception as exc:
            raise InputError(f"cannot open as GeoPackage: {_short(exc)}", path=p,
                             fix="check the file is a GeoPackage (.gpkg) and not damaged") from None
        if len(layers) > 1:
            names = ", ".join(str(n) for n in layers[:, 0])
            raise InputError(
                f"the GeoPackage has {len(layers)} layers ({names})",
                path=p,
                fix="name one with --layer NAME",
            )
    try:
        with warnings.catch_warnings():
            # a GeoJSON property holding text in one feature and a number in another comes back
            # as text: pyogrio says so in a warning; the readers downstream check the values
            warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
            gdf = _read_vector(p, layer, encoding=code_page)
    except UnicodeDecodeError as exc:
        if ext in SHAPEFILE_EXTENSIONS:
            raise InputError(f"GDAL could not read the text as {code_page or 'UTF-8'} ({_short(exc)}); "
                             "its converter may not know that code page", path=p,
                             fix="export the layer with UTF-8 text (QGIS: Export > Save Features As, "
                                 "encoding UTF-8), or as a GeoPackage") from None
        raise InputError(f"cannot read as a vector layer: its text is not UTF-8 ({_short(exc)})", path=p,
                         fix=f"re-export it with UTF-8 text ({ext or 'this format'} holds UTF-8 only), "
                             "e.g. from QGIS or ogr2ogr") from None
    except pyogrio.errors.DataLayerError as exc:
        raise InputError(f"cannot read layer: {_short(exc)}", path=p,
                         fix="list the layers with ogrinfo and name one with --layer") from None
    except shapely.errors.GEOSException as exc:
        raise InputError(f"invalid geometry: {_short(exc)}", path=p,
                         fix="close every polygon ring (last point = first point) and re-export") from None
    except (pyogrio.errors.DataSourceError, pyogrio.errors.FieldError, ValueError, TypeError) as exc:
        hint = "check the file is a valid GeoJSON/GeoPackage/Shapefile/FlatGeobuf"
        if ext == ".zip":
            hint = "the zip must contain a shapefile (.shp, .shx, .dbf and .prj)"
        if ext in (".geojson", ".json"):
            hint = "it must be a GeoJSON FeatureCollection"
        raise InputError(f"cannot read as a vector layer: {_short(exc)}", path=p, fix=hint) from None
    return check_layer(gdf, p, what=what, geometry=geometry, allow_empty=allow_empty)


def _read_vector(p: Path, layer: str | int | None, *, encoding: str | None = None) -> gpd.GeoDataFrame:
    """A vector layer through GDAL's Arrow stream (200,000 incidents with 45 columns from a
    GeoPackage: 1.4-1.8 s, against 13.7 s feature by feature), with pyogrio's feature-by-feature
    reader as the reference: a file the Arrow path cannot read, or reads into text that is not
    UTF-8 (bytes written into a GeoPackage as they came), is read again that way, which answers
    it as it always has (a clear error).  (A Shapefile's code page is settled before, by
    :func:`geoconflict._codepage.gdal_encoding`.)  Date fields come back as ``datetime64[ms]`` either
    way.  ``encoding``: a Shapefile's code page (GDAL's ``ENCODING``), else GDAL's choice."""
    opts: dict[str, Any] = {"encoding": encoding} if encoding else {}
    try:
        gdf = gpd.read_file(p, layer=layer, engine="pyogrio", on_invalid="raise", use_arrow=True,
                            arrow_to_pandas_kwargs={"date_as_object": False}, **opts)
        if _all_utf8(gdf):
            return gdf
    except Exception:  # noqa: BLE001 - whatever the Arrow path raised, the reference reader answers
        log.debug("%s: read feature by feature", p, exc_info=True)
    return gpd.read_file(p, layer=layer, engine="pyogrio", on_invalid="raise", **opts)


def _all_utf8(gdf: pd.DataFrame) -> bool:
    """Whether every Arrow-backed text column holds valid UTF-8 (GDAL's Arrow stream passes a
    field's bytes through; pandas would fail on them later, at first use)."""
    for col in gdf.columns:
        dtype = gdf[col].dtype
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            try:
                pa.array(gdf[col].array).validate(full=True)
            except pa.ArrowInvalid:
                return False
    return True


def check_layer(gdf: gpd.GeoDataFrame, p: Path | str | None, *, what: str, geometry: str | None,
                 allow_empty: bool) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputError(f"the {what} has no geometry (a plain table?)", path=p,
                         fix="give a vector layer here: GeoJSON, GeoPackage, Shapefile, FlatGeobuf or GeoParquet")
    if not allow_empty and len(gdf) == 0:
        raise LayerError(f"the {what} has no features", path=p, fix="check the export: it wrote an empty layer")
    if geometry is not None and len(gdf):
        wanted = GEOMETRY_FAMILIES[geometry]
        types = gdf.geometry.geom_type
        bad = types.notna() & ~types.isin(wanted)
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise LayerError(
                f"the {what} must be {geometry}s, but feature {i + 1} is a {types.iloc[i]}",
                path=p, feature=i + 1, fix=f"give a {geometry} layer here")
    if p is not None:
        gdf.attrs[SOURCE_ATTR] = str(p)
    return gdf


#: key of ``GeoDataFrame.attrs`` naming the file a layer was read from (for messages)
SOURCE_ATTR = "geoconflict_source"


def source_of(gdf: Any) -> str | None:
    """The file a layer was read from by :func:`read_layer`, else None (messages name it)."""
    return getattr(gdf, "attrs", {}).get(SOURCE_ATTR)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _prepare_geojson(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf
    if out.crs is not None and out.crs.to_epsg() != 4326:
        out = out.to_crs(4326)
    elif out.crs is None:
        out = out.set_crs(4326)
    return _plain_columns(out)


def _plain_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GDAL can write: lists/dicts as JSON text, categories as text."""
    out = gdf.copy(deep=False)  # copy-on-write: only the columns changed below are copied
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).where(s.notna(), None)
        elif (s.dtype == object and pd.api.types.infer_dtype(s, skipna=True).startswith("mixed")
              and s.map(lambda v: isinstance(v, (list, dict, tuple))).any()):
            out[col] = s.map(lambda v: json.dumps(v) if isinstance(v, (list, dict, tuple)) else v)
    return out


def write_layer(
    gdf: gpd.GeoDataFrame,
    path: str | Path,
    *,
    overwrite: bool = False,
    layer: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a layer atomically; the extension picks the format (.geojson, .gpkg, .parquet, .csv).

    ``metadata`` goes into GeoPackage layer metadata, GeoParquet schema metadata, or a
    ``<name>.meta.json`` sidecar for GeoJSON and CSV (RFC 7946 has no place for it); the sidecar
    is checked like the layer (not replaced without ``overwrite``) and both are written or
    neither.  In a GeoPackage, a column named ``fid`` (GDAL's feature id) is written as
    ``fid_source`` (:data:`FID_RENAMED`).
    """
    ext = output_format(path)
    target = Path(path)
    sidecar = sidecar_path(target) if metadata and ext in (".geojson", ".csv") else None
    with output_set([target, *([sidecar] if sidecar else [])], overwrite=overwrite):
        with atomic_path(target, overwrite=overwrite) as tmp:
            if ext == ".geojson":
                _prepare_geojson(gdf).to_file(
                    tmp,
                    driver="GeoJSON",
                    engine="pyogrio",
                    layer=target.stem,
                    RFC7946="YES",
                    COORDINATE_PRECISION=COORDINATE_PRECISION,
                    WRITE_BBOX="NO",
                )
            elif ext == ".gpkg":
                with pyogrio_config():
                    _write_gpkg_layer(_plain_columns(gdf), tmp, layer or target.stem,
                                      metadata=_text_metadata(metadata))
            elif ext == ".parquet":
                _write_geoparquet(gdf, tmp, metadata=_text_metadata(metadata))
            elif ext == ".csv":
                table_for_csv(gdf).to_csv(tmp, index=False, lineterminator="\n")
        if sidecar is not None:
            write_json(dict(metadata or {}), sidecar, overwrite=overwrite)
    return target


#: the key of geoconflict's own metadata in a GeoParquet file's schema metadata
PARQUET_METADATA_KEY = b"geoconflict"


def _write_geoparquet(gdf: gpd.GeoDataFrame, path: Path, *, metadata: dict[str, str] | None) -> None:
    """GeoParquet (geopandas' writer), with ``metadata`` as JSON under :data:`PARQUET_METADATA_KEY`
    in the schema metadata.  A column pyarrow cannot hold as it is (a Python int past 64 bits,
    mixed types) is written as text, and said so."""
    import pyarrow.parquet as pq

    def arrow(frame: gpd.GeoDataFrame) -> pa.Table | None:
        try:
            table = _point_geoparquet(frame)
            if table is None:  # what GeoDataFrame.to_parquet(index=False) writes
                from geopandas.io.arrow import _geopandas_to_arrow

                table = _geopandas_to_arrow(frame, index=False)
            return table
        except (ImportError, AttributeError, TypeError):  # geopandas' private helpers moved or changed
            return None

    try:
        table = arrow(gdf)
    except (OverflowError, pa.ArrowException):
        gdf = _text_columns(gdf)
        table = arrow(gdf)
    if table is None:  # geopandas' public writer, then the metadata in a second write
        gdf.to_parquet(path, index=False)
        if metadata:
            table = pq.read_table(path)
            meta = dict(table.schema.metadata or {})
            meta[PARQUET_METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
            pq.write_table(table.replace_schema_metadata(meta), path)
        return
    if metadata:  # in the schema of the one write (not a second read and write of the file)
        meta = dict(table.schema.metadata or {})
        meta[PARQUET_METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
        table = table.replace_schema_metadata(meta)
    pq.write_table(table, path, compression="snappy", write_statistics=_parquet_statistics(table))


#: GeoParquet layers from this many rows are written without min/max statistics on their
#: text and binary columns: pyarrow compares every cell for them (about 1.5 s of the 5 s of
#: writing 2.5M joined incidents, 45 columns), and no reader of these files needs them (no
#: covering bbox column is written; values read back are the same).  Numbers, dates and
#: booleans keep theirs.  Smaller layers are written as ``GeoDataFrame.to_parquet`` writes them.
PARQUET_TEXT_STATISTICS_MAX_ROWS = 500_000


def _parquet_statistics(table: pa.Table) -> bool | list[str]:
    """``write_statistics`` for :func:`pyarrow.parquet.write_table`: True (every column), or
    the columns that keep statistics in a large table (see
    :data:`PARQUET_TEXT_STATISTICS_MAX_ROWS`)."""
    if table.num_rows < PARQUET_TEXT_STATISTICS_MAX_ROWS:
        return True
    textual = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
               pa.types.is_large_binary, pa.types.is_string_view, pa.types.is_binary_view)
    return [f.name for f in table.schema
            if not (pa.types.is_nested(f.type) or any(is_(f.type) for is_ in textual))]


def _point_geoparquet(gdf: gpd.GeoDataFrame) -> pa.Table | None:
    """The table ``gdf.to_parquet(index=False)`` writes, for a layer of non-empty 2D points, with
    the WKB packed by :func:`_point_wkb` (shapely's encoder took 2-3 s of 2.5M incidents); the
    file is byte for byte the same (tests/test_gpkg_speed_paths.py). None for any other layer,
    or when geopandas' helpers are not where this expects them: then ``to_parquet`` writes it."""
    try:
        from geopandas.io._geoarrow import construct_wkb_array
        from geopandas.io.arrow import _create_metadata, _encode_metadata, _validate_dataframe
    except ImportError:  # another geopandas layout
        return None
    if len(gdf) == 0 or (gdf.dtypes == "geometry").sum() != 1 or not gdf.columns.is_unique:
        return None
    geom = gdf.geometry
    geoms = np.asarray(geom.values, dtype=object)
    if (len(geoms) * 21 >= 2**31 or not (shapely.get_type_id(geoms) == 0).all()
            or shapely.is_empty(geoms).any() or shapely.has_z(geoms).any()):
        return None
    _validate_dataframe(gdf)
    field, _ = construct_wkb_array(geoms[:1], field_name=geom.name, crs=geom.crs)
    attrs = pd.DataFrame(gdf.copy(deep=False))
    attrs[geom.name] = None  # as geopandas does: a null column, replaced by the WKB below
    table = pa.Table.from_pandas(attrs, preserve_index=False)
    xy = shapely.get_coordinates(geoms)
    table = table.set_column(list(gdf.columns).index(geom.name), field, _point_wkb(geoms, xy=xy))
    # geopandas' metadata from two corner points when every coordinate is finite: the same
    # types (Point), CRS and bbox, without geopandas scanning the millions of points again
    # for their types and bounds (~0.3 s at 2.5M); otherwise from the layer itself
    corners = gdf
    if len(xy) and np.isfinite(xy).all():
        low, high = xy.min(axis=0), xy.max(axis=0)
        corners = gpd.GeoDataFrame({geom.name: gpd.GeoSeries(shapely.points([low, high]), crs=geom.crs)},
                                   geometry=geom.name)
    meta = dict(table.schema.metadata or {})
    meta[b"geo"] = _encode_metadata(_create_metadata(corners, schema_version=None,
                                                     geometry_encoding={geom.name: "WKB"},
                                                     write_covering_bbox=False))
    if gdf.attrs:
        meta["PANDAS_ATTRS"] = json.dumps(gdf.attrs)
    return table.replace_schema_metadata(meta)


def _text_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with every object column that is not text written as text (logged)."""
    out = gdf.copy()
    for name in gdf.columns:
        if name == gdf.geometry.name or gdf[name].dtype != np.dtype(object):
            continue
        if pd.api.types.infer_dtype(gdf[name], skipna=True) not in ("string", "empty"):
            out[name] = gdf[name].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                      else str(v)).astype(object)
            log.warning("column %r holds values the output format cannot store as they are "
                        "(e.g. numbers past 64 bits): written as text", name)
    return out


def sidecar_path(path: str | Path) -> Path:
    """``out/cells.geojson`` -> ``out/cells.meta.json`` (the metadata of GeoJSON and CSV layers)."""
    return Path(path).with_suffix(".meta.json")


def layer_outputs(path: str | Path, *, metadata: bool) -> list[Path]:
    """The files :func:`write_layer` writes for ``path``: the layer, and its ``.meta.json``
    sidecar when it has ``metadata`` and is GeoJSON or CSV (check them all before the work)."""
    p = Path(path)
    return [p, sidecar_path(p)] if metadata and p.suffix.lower() in (".geojson", ".csv") else [p]


def _text_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str] | None:
    """GDAL layer metadata takes text only: other values as JSON."""
    if not metadata:
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True)
            for k, v in metadata.items()}


def write_layers(
    layers: Mapping[str, gpd.GeoDataFrame], path: str | Path, *, overwrite: bool = False
) -> Path:
    """Write several layers into one GeoPackage atomically (layer order as given).

    Layers go to GDAL as Arrow tables built here (:func:`_arrow_layer`) rather than by
    ``GeoDataFrame.to_file``, which spends seconds on a 2.5M-point layer finding its geometry type
    and encoding WKB point by point; the file is the same. Layers needing pyogrio's special
    handling take ``to_file`` (:func:`_write_gpkg_layer`).
    """
    output_format(path, (".gpkg",))
    with atomic_path(path, overwrite=overwrite) as tmp, pyogrio_config():
        for name, gdf in layers.items():
            _write_gpkg_layer(_plain_columns(gdf), tmp, name)
    return Path(path)


#: GDAL takes a GeoPackage column named ``fid`` (any case) as the feature id (integers only,
#: unique, and not read back as a column): such a column is written under this name instead
FID_RENAMED = "fid_source"


def _rename_fid(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``fid`` -> ``fid_source`` (``fid_source_2``… if taken), keeping its values as they are."""
    fids = [c for c in gdf.columns if isinstance(c, str) and c.lower() == "fid"]
    if not fids:
        return gdf
    taken = {str(c).lower() for c in gdf.columns}
    renames: dict[str, str] = {}
    for col in fids:
        new, n = FID_RENAMED, 1
        while new.lower() in taken:
            n += 1
            new = f"{FID_RENAMED}_{n}"
        taken.add(new.lower())
        renames[col] = new
    return gdf.rename(columns=renames)


#: SQLite's default limit of 2,000 columns a table, less the feature id
GPKG_MAX_COLUMNS = 1999


def gpkg_layer_name(name: str) -> str:
    """A GeoPackage layer name GDAL accepts: letters, digits and ``_`` (others become ``_``)."""
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_") or "layer"
    return cleaned if not cleaned[0].isdigit() else f"layer_{cleaned}"


def _write_gpkg_layer(gdf: gpd.GeoDataFrame, path: Path, name: str, *,
                      metadata: dict[str, str] | None = None) -> None:
    """Add layer ``name`` to the GeoPackage ``path`` (created if missing), through Arrow.

    GDAL takes letters, digits and underscores in a layer name: anything else becomes ``_``
    (``my file (2020)`` -> ``my_file_2020``). A GeoPackage table holds at most
    :data:`GPKG_MAX_COLUMNS` columns: a wider layer is refused, naming the formats that take it."""
    name = gpkg_layer_name(name)
    if gdf.shape[1] > GPKG_MAX_COLUMNS:
        raise InputError(
            f"{gdf.shape[1]:,} columns: a GeoPackage layer holds at most {GPKG_MAX_COLUMNS:,}", path=path,
            fix="write .parquet or .geojson instead, or drop columns from the input")
    gdf = _rename_fid(gdf)
    arrow = _arrow_layer(gdf)
    if arrow is None:
        gdf.to_file(path, driver="GPKG", engine="pyogrio", layer=name, append=path.exists(), VERSION="1.2",
                    use_arrow=True, metadata=metadata)
    else:
        pyogrio.write_arrow(arrow.table, path, driver="GPKG", layer=name, append=path.exists(), VERSION="1.2",
                            geometry_name=arrow.geometry, geometry_type=arrow.geometry_type, crs=arrow.crs,
                            metadata=metadata)


@dataclass(frozen=True)
class _ArrowLayer:
    """A layer as pyogrio hands it to GDAL: attributes and WKB geometry, the layer's geometry
    type and its CRS (``EPSG:n`` or WKT)."""

    table: pa.Table
    geometry: str
    geometry_type: str
    crs: str


#: shapely type id -> GDAL layer geometry type, for layers of one geometry type
_LAYER_TYPES: dict[int, str] = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint",
                                5: "MultiLineString", 6: "MultiPolygon"}


def _arrow_layer(gdf: gpd.GeoDataFrame) -> _ArrowLayer | None:
    """The Arrow table, geometry type and CRS ``to_file(engine="pyogrio", use_arrow=True)`` gives
    GDAL for ``gdf``, or None when pyogrio would treat the frame specially: the index written as
    a column, no CRS, no rows, more than one geometry column or type, 3D geometries, object columns
    holding other things than text, datetimes with a local time zone, all-null columns."""
    geom = gdf.geometry
    index = gdf.index
    if (gdf.crs is None or list(index.names) != [None] or not pd.api.types.is_integer_dtype(index.dtype)
            or not gdf.columns.is_unique or (gdf.dtypes == "geometry").sum() != 1):
        return None
    geoms = np.asarray(geom.values, dtype=object)
    type_ids = shapely.get_type_id(geoms)
    types = np.flatnonzero(np.bincount(type_ids + 1)[1:])  # -1: missing geometry
    if len(types) != 1 or int(types[0]) not in _LAYER_TYPES or shapely.has_z(geoms).any():
        return None
    attrs = pd.DataFrame(gdf.drop(columns=geom.name))
    for name, dtype in attrs.dtypes.items():
        if dtype == np.dtype(object) and pd.api.types.infer_dtype(attrs[name]) != "string":
            return None
        if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) != "UTC":
            return None
    table = pa.Table.from_pandas(attrs, preserve_index=False)
    if any(pa.types.is_null(f.type) or pa.types.is_dictionary(f.type) for f in table.schema):
        return None
    points = bool((type_ids == 0).all() and not shapely.is_empty(geoms).any())
    wkb = _point_wkb(geoms) if points else pa.array(shapely.to_wkb(geoms), type=pa.binary())
    table = table.add_column(list(gdf.columns).index(geom.name), pa.field(geom.name, wkb.type), wkb)
    epsg = gdf.crs.to_epsg()
    crs = f"EPSG:{epsg}" if epsg else gdf.crs.to_wkt("WKT1_GDAL")
    return _ArrowLayer(table, geom.name, _LAYER_TYPES[int(types[0])], crs)


def _point_wkb(points: np.ndarray, *, xy: np.ndarray | None = None) -> pa.Array:
    """Well-known binary of (non-empty, 2D) points as shapely writes it (little-endian), packed
    with numpy at 21 bytes a point: many times faster than shapely.  ``xy``: their coordinates
    when the caller has them (``shapely.get_coordinates(points)``)."""
    if xy is None:
        xy = shapely.get_coordinates(points)
    packed = np.empty(len(points), dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    packed["order"], packed["type"] = 1, 1
    packed["x"], packed["y"] = xy[:, 0], xy[:, 1]
    large = packed.nbytes >= 2**31  # beyond 32-bit offsets
    offsets = np.arange(len(packed) + 1, dtype=np.int64 if large else np.int32) * packed.itemsize
    return pa.Array.from_buffers(pa.large_binary() if large else pa.binary(), len(packed),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(packed.view(np.uint8))])


#: GDAL settings while writing GeoPackages, restored afterwards
GPKG_CONFIG: dict[str, str] = {
    # a fixed timestamp in the metadata tables: two runs give byte-identical files
    "OGR_CURRENT_DATE": FIXED_TIMESTAMP,
    # SQLite's own page cache (2 MB), not a larger one: a 128 MB cache (OGR_SQLITE_CACHE) made
    # the same file, with the benchmark's GeoPackage stage at 200,000 incidents 2.8-3.5 s and
    # peak 850 MB against 2.6-2.7 s and 770-790 MB (three alternating runs), and no clear gain
    # at 1,000,000 rows (9.4-13.2 s against 13.2-14.3 s, same CPU time)
}


@contextlib.contextmanager
def pyogrio_config() -> Iterator[None]:
    """GDAL settings for reproducible (and fast) GeoPackages; the previous values are restored."""
    old = {key: pyogrio.get_gdal_config_option(key) for key in GPKG_CONFIG}
    pyogrio.set_gdal_config_options(GPKG_CONFIG)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(old)


def table_for_csv(df: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame for CSV: point geometry as ``longitude``/``latitude`` (WGS84), other
    geometry as WKT in ``geometry``."""
    if not isinstance(df, gpd.GeoDataFrame) or df.geometry.name not in df.columns:
        return pd.DataFrame(df)
    g = df.geometry
    if df.crs is not None and df.crs.to_epsg() != 4326:
        g = g.to_crs(4326)
    out = pd.DataFrame(df.drop(columns=[df.geometry.name]))
    types = set(g.geom_type.dropna().unique())
    if types <= {"Point"}:
        if "longitude" not in out.columns:
            out["longitude"] = g.x.round(COORDINATE_PRECISION)
        if "latitude" not in out.columns:
            out["latitude"] = g.y.round(COORDINATE_PRECISION)
    else:
        out["geometry"] = g.to_wkt(rounding_precision=COORDINATE_PRECISION)
    return out


def write_table(df: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a CSV atomically (geometry as lon/lat or WKT)."""
    output_format(path, (".csv",))
    with atomic_path(path, overwrite=overwrite) as tmp:
        table_for_csv(df).to_csv(tmp, index=False, lineterminator="\n")
    return Path(path)


def write_text(text: str, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a text file (UTF-8) atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(obj: Any, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write JSON (sorted keys, 2-space indent) atomically."""
    return write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path, overwrite=overwrite)


#: the quarantine beside a file output: ``<output stem>.quarantine.csv``
QUARANTINE_SUFFIX = ".quarantine.csv"
#: the quarantine inside a folder output (``ceasefire``)
QUARANTINE_NAME = "quarantine.csv"


def quarantine_path(output: str | Path, *, folder: bool = False) -> Path:
    """Where the quarantine of a command whose main output is ``output`` goes, for every
    command: ``out/incidents.geojson`` -> ``out/incidents.quarantine.csv``; an output folder
    (``folder=True``) -> ``<folder>/quarantine.csv``."""
    return Path(output) / QUARANTINE_NAME if folder else sibling(output, QUARANTINE_SUFFIX)


def write_quarantine(frame: pd.DataFrame, output: str | Path, *, folder: bool = False,
                     overwrite: bool = False) -> Path:
    """Write the rows a command set aside to :func:`quarantine_path` of its main ``output``:
    always, with a header only when nothing was quarantined (so scripts can rely on the file).
    Atomic; inside an :func:`output_set` it is written with the command's other outputs or not
    at all.  Returns the path."""
    if "reason" not in frame.columns:  # an empty quarantine still names its reason column
        frame = frame.assign(reason=pd.Series(dtype="str"))
    return write_table(frame, quarantine_path(output, folder=folder), overwrite=overwrite)


def sibling(path: str | Path, suffix: str) -> Path:
    """``out/incidents.geojson`` + ``.quarantine.csv`` -> ``out/incidents.quarantine.csv``."""
    p = Path(path)
    return p.with_name(p.name[: -len(p.suffix)] + suffix if p.suffix else p.name + suffix)
