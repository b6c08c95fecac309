"""File-level reading for :mod:`geoconflict.incidents`: sniff and read CSV text, read vector layers.

CSV files are read with pyarrow's multi-threaded reader, every column as text (nothing is lost or
guessed at this stage); typed parsing happens in :mod:`geoconflict._validate`, vectorised.
A GeoParquet layer of longitude/latitude points is read with pyarrow and its WKB decoded straight
to coordinates (:class:`PointCoords`): no shapely object is made per row only to be taken apart
again (any other GeoParquet goes through :func:`geoconflict.io.read_layer`).
File-level problems (missing, empty, binary, wrong encoding, unknown extension) raise
:class:`~geoconflict.errors.InputError` with a fix; rows with the wrong number of fields are not
fatal: they are collected as *malformed* rows and later quarantined, as are rows with bytes that
are not UTF-8 in a file that is UTF-8 elsewhere (``bad_encoding``) and elements of a GeoJSON
``features`` array that are not Features (``not_a_feature``).

Sizes are checked before anything is read (:func:`check_vector_size`, :func:`check_text_lines`):
a zipped or plain shapefile or a GeoJSON larger than ``GEOCONFLICT_MAX_INPUT_MB`` (unzipped), a
``.prj``/``.cpg`` sidecar over 1 MB, a line longer than ``GEOCONFLICT_MAX_LINE_MB`` or a header
of more than ``GEOCONFLICT_MAX_COLUMNS`` fields raises :class:`~geoconflict.errors.SizeLimitError`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import logging
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ._codepage import check_encoding
from .errors import InputError, SizeLimitError
from .io import VECTOR_EXTENSIONS, read_layer, require_file

log = logging.getLogger(__name__)

#: extensions read as delimited text
TEXT_EXTENSIONS = (".csv", ".tsv", ".txt", ".tab", "")
#: workbooks, read by :mod:`geoconflict._sheets` (calamine)
SPREADSHEET_EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
#: delimiters the sniffer considers, in order of preference on ties
DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_BYTES = 1 << 16
GEOPARQUET_EXTENSIONS = (".parquet", ".geoparquet")
#: a 2D point in little-endian WKB: byte order 1, geometry type 1, x, y (21 bytes, packed)
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])

#: The published UCDP GED column order (49 columns), used for files without a header row.
GED_COLUMNS: tuple[str, ...] = (
    "id", "relid", "year", "active_year", "code_status", "type_of_violence", "conflict_dset_id",
    "conflict_new_id", "conflict_name", "dyad_dset_id", "dyad_new_id", "dyad_name",
    "side_a_dset_id", "side_a_new_id", "side_a", "side_b_dset_id", "side_b_new_id", "side_b",
    "number_of_sources", "source_article", "source_office", "source_date", "source_headline",
    "source_original", "where_prec", "where_coordinates", "where_description", "adm_1", "adm_2",
    "latitude", "longitude", "geom_wkt", "priogrid_gid", "country", "country_id", "region",
    "event_clarity", "date_prec", "date_start", "date_end", "deaths_a", "deaths_b",
    "deaths_civilians", "deaths_unknown", "best", "high", "low", "gwnoa", "gwnob",
)

#: input limits (each raised by its environment variable; ingest also has --max-input-mb)
MAX_INPUT_ENV = "GEOCONFLICT_MAX_INPUT_MB"
#: vector layers read through GDAL take 10-20 times their size in memory
DEFAULT_MAX_INPUT_MB = 256.0
MAX_LINE_ENV = "GEOCONFLICT_MAX_LINE_MB"
DEFAULT_MAX_LINE_MB = 64.0
MAX_COLUMNS_ENV = "GEOCONFLICT_MAX_COLUMNS"
DEFAULT_MAX_COLUMNS = 250_000
#: shapefile sidecars hold a few hundred bytes (.prj, .cpg, .qpj); more than this is not one
MAX_SIDECAR_BYTES = 1 << 20
_SIDECARS = (".prj", ".cpg", ".qpj")
#: vector formats whose size is checked before GDAL reads them
_SIZED_VECTOR = (".zip", ".shp", ".geojson", ".json")

_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")
_DATE_START = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")


@dataclass
class PointCoords:
    """A point layer's coordinates, decoded from GeoParquet WKB without shapely objects."""

    #: the geometry column of :attr:`RawTable.frame` (still WKB bytes there, for the quarantine)
    column: str
    #: longitude and latitude (EPSG:4326); NaN where the geometry is missing or empty
    x: np.ndarray
    y: np.ndarray
    #: missing geometry or ``POINT EMPTY`` (WKB with both coordinates NaN)
    empty: np.ndarray


@dataclass
class RawTable:
    """What a reader found: the rows (text for CSV), and facts about the file."""

    frame: pd.DataFrame
    kind: str  # "csv" or "vector"
    path: Path | None
    headerless: bool = False
    encoding: str | None = None
    delimiter: str | None = None
    #: rows with a wrong field count: (1-based data row or None, raw text)
    malformed: list[tuple[int | None, str]] = field(default_factory=list)
    #: 1-based data row of each row of ``frame`` (None: 1..n in order)
    row_numbers: np.ndarray | None = None
    #: a GeoParquet point layer's coordinates (``frame`` is then a plain DataFrame whose
    #: geometry column holds the WKB); None for every other input
    points: PointCoords | None = None
    #: rows of ``frame`` with bytes that are not UTF-8 (their cells decoded with escapes);
    #: None when there are none
    bad_encoding: np.ndarray | None = None
    #: elements of a GeoJSON ``features`` array that are not Features: (1-based position, JSON)
    not_features: list[tuple[int, str]] = field(default_factory=list)
    #: a workbook's sheet read, and the sheet row of its header (1-based)
    sheet: str | None = None
    header_row: int | None = None


def read_raw(
    path: str | Path,
    *,
    layer: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    ucdp_ok: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    max_input_mb: float | None = None,
) -> RawTable:
    """Read ``path`` as delimited text, a workbook's sheet (``sheet``: its name) or a vector
    layer (by extension).

    ``max_input_mb``: the largest vector layer (unzipped) read; None: ``GEOCONFLICT_MAX_INPUT_MB``
    or 256."""
    p = require_file(path, "input")
    name = p.name.lower()
    ext = p.suffix.lower()
    if name.endswith(".shp.zip"):
        ext = ".zip"
    if sheet is not None and ext not in SPREADSHEET_EXTENSIONS:
        raise InputError("--sheet applies to workbooks (.xlsx, .xlsm, .xlsb, .xls, .ods) only", path=p,
                         fix="drop --sheet for this file")
    if ext in SPREADSHEET_EXTENSIONS:
        from ._sheets import read_sheet_table  # python-calamine only when a workbook is read

        frame, header, rows, sheet, header_row = read_sheet_table(
            p, sheet=sheet, max_bytes=max_input_bytes(max_input_mb), max_columns=max_columns(),
            on_progress=on_progress)
        frame.columns = dedupe_names(header)
        if len(frame) == 0:
            raise InputError(f"sheet {sheet!r} has a header but no data rows", path=p,
                             fix="check the export's filters; there is nothing to ingest")
        return RawTable(frame=frame, kind="csv", path=p, row_numbers=rows, sheet=sheet, header_row=header_row)
    if ext in GEOPARQUET_EXTENSIONS and (fast := read_geoparquet_points(p)) is not None:
        if on_progress:
            on_progress(1, 1)
        return fast
    if ext in VECTOR_EXTENSIONS or p.suffix.lower() == ".gdb":
        check_vector_size(p, max_input_mb=max_input_mb)
        gdf = read_layer(p, layer=layer, what="input layer", allow_empty=False, encoding=encoding)
        raw = RawTable(frame=gdf, kind="vector", path=p)
        if ext in (".geojson", ".json"):
            raw = _account_geojson_features(raw)
        if on_progress:
            on_progress(1, 1)
        return raw
    if ext in TEXT_EXTENSIONS or ext not in VECTOR_EXTENSIONS:
        if ext not in TEXT_EXTENSIONS and not _looks_like_text(p):
            raise InputError(
                f"unknown input format {ext!r}",
                path=p,
                fix="give a CSV (.csv/.tsv/.txt) or a point layer (.geojson, .gpkg, .shp, .zip, "
                ".fgb, .parquet)",
            )
        return read_csv_text(p, encoding=encoding, ucdp_ok=ucdp_ok, on_progress=on_progress)
    raise InputError(f"unknown input format {ext!r}", path=p)  # pragma: no cover


# --------------------------------------------------------------------------------------------
# input limits


def _env_limit(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"the environment variable {name}={text!r} is not a positive number",
                         fix=f"set {name} to a number, or unset it")
    return value


def max_input_bytes(max_input_mb: float | None = None) -> int:
    """The largest vector layer read (unzipped), in bytes: ``max_input_mb``, else the
    environment variable ``GEOCONFLICT_MAX_INPUT_MB``, else 256 MB."""
    if max_input_mb is not None:
        if not (np.isfinite(max_input_mb) and max_input_mb > 0):
            raise InputError(f"the input size limit must be a positive number of MB, not {max_input_mb!r}",
                             fix="pass e.g. --max-input-mb 1024")
        return int(max_input_mb * 1e6)
    return int(_env_limit(MAX_INPUT_ENV, DEFAULT_MAX_INPUT_MB) * 1e6)


def max_line_bytes() -> int:
    """The longest line of a text table, in bytes (``GEOCONFLICT_MAX_LINE_MB``, else 64 MB)."""
    return int(_env_limit(MAX_LINE_ENV, DEFAULT_MAX_LINE_MB) * 1e6)


def max_columns() -> int:
    """The most fields in a text table's header (``GEOCONFLICT_MAX_COLUMNS``, else 250,000)."""
    return int(_env_limit(MAX_COLUMNS_ENV, DEFAULT_MAX_COLUMNS))


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{int(n):,} bytes"


def check_vector_size(p: Path, *, max_input_mb: float | None = None) -> None:
    """Refuse, before GDAL reads it, a zipped shapefile whose members add up to more than the
    input limit (the sizes the zip declares), a shapefile (.shp + .shx + .dbf) or GeoJSON larger
    than it, and a ``.prj``/``.cpg``/``.qpj`` sidecar over 1 MB (inside a zip or beside a .shp).
    Other formats are not checked.  Raises :class:`SizeLimitError`."""
    name = p.name.lower()
    ext = ".zip" if name.endswith(".zip") else p.suffix.lower()
    if ext not in _SIZED_VECTOR:
        return
    limit = max_input_bytes(max_input_mb)
    fix = (f"raise the limit with --max-input-mb MB (ingest) or the environment variable "
           f"{MAX_INPUT_ENV}=MB, or clip the layer to the area of study first")
    if ext == ".zip":
        try:
            with zipfile.ZipFile(p) as zf:
                members = [(i.filename, i.file_size) for i in zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError):
            return  # read_layer says what is wrong with it
        sizes = {m: size for m, size in members}
        where = "in the zip "
    elif ext == ".shp":
        parts = [q for q in p.parent.glob(p.stem + ".*") if q.stem == p.stem and q.is_file()]
        sizes = {q.name: q.stat().st_size for q in parts
                 if q.suffix.lower() in (".shp", ".shx", ".dbf", *_SIDECARS)}
        where = "beside the .shp "
    else:
        sizes = {p.name: p.stat().st_size}
        where = ""
    for member, size in sizes.items():
        if Path(member).suffix.lower() in _SIDECARS and size > MAX_SIDECAR_BYTES:
            raise SizeLimitError(
                f"the sidecar {member} {where}is {_mb(size)} (such a file holds a few KB; the "
                f"limit is {_mb(MAX_SIDECAR_BYTES)})",
                path=p, fix="re-export the layer (its .prj / .cpg is damaged or not what it says)")
    total = sum(sizes.values())
    if total > limit:
        what = "unzips to" if ext == ".zip" else "is"
        raise SizeLimitError(f"the layer {what} {_mb(total)}, over the input limit of {_mb(limit)}",
                             path=p, fix=fix)


def check_text_lines(p: Path, *, what: str = "input") -> int:
    """Refuse a text file with a line longer than ``GEOCONFLICT_MAX_LINE_MB`` (64 MB; e.g. a
    file with no line breaks) before any parser reads it; else the number of physical lines (a
    last line without a line end counts).  One pass in 4 MiB blocks, stopping at the first
    line over the limit; shared by every reader of delimited text (incidents, maps, flows).
    Raises :class:`SizeLimitError`."""
    limit = max_line_bytes()
    lines, run, last = 0, 0, 10
    buf = np.empty(1 << 22, dtype=np.uint8)
    with open(p, "rb") as fh:
        while size := fh.readinto(buf.data):
            nl = np.flatnonzero(buf[:size] == 10)
            # lengths of the lines ending in this block, then of the one still open
            ends = np.diff(nl, prepend=-1) - 1
            if len(ends):
                ends[0] += run
                run = size - int(nl[-1]) - 1
            else:
                run += size
            over = np.flatnonzero(ends > limit)
            if len(over) or run > limit:
                line = lines + 1 + (int(over[0]) if len(over) else len(nl))
                raise SizeLimitError(
                    f"line {line:,} is longer than the limit of {_mb(limit)} (a file without "
                    "line breaks?)",
                    path=p, fix=f"check the {what} is a text table with one row per line; if its lines "
                    f"really are this long, raise the limit with the environment variable {MAX_LINE_ENV}=MB")
            lines += len(nl)
            last = int(buf[size - 1])
    return lines + (0 if last == 10 else 1)


# --------------------------------------------------------------------------------------------
# GeoJSON accounting


def _account_geojson_features(raw: RawTable) -> RawTable:
    """Make every element of a GeoJSON ``features`` array a row, as GDAL does not.

    GDAL skips elements that are not Features (``"type": "Featere"``, no ``type``): they are
    listed in :attr:`RawTable.not_features` with their position, and the rows GDAL read get
    their position as row number.  GDAL also turns a property into a list column for every
    feature when one feature holds a list (``[1]`` for ``1``): such columns are taken from the
    file as written, so each row is judged on its own value.  The file's size was checked
    before (:func:`check_vector_size`).
    """
    p = raw.path
    assert p is not None
    try:
        with open(p, "rb") as fh:
            doc = json.load(fh)
    except (ValueError, RecursionError):
        return raw  # GDAL read it; nothing more can be said
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
            doc.get("features"), list):
        return raw  # a bare Feature or geometry: one row, read by GDAL
    elements = doc["features"]
    is_feature = np.array([isinstance(e, dict) and e.get("type") == "Feature" for e in elements],
                          dtype=bool)
    frame = raw.frame
    if int(is_feature.sum()) != len(frame):
        raise InputError(
            f"GDAL read {len(frame):,} features of the {int(is_feature.sum()):,} in the file",
            path=p, fix="check the GeoJSON against RFC 7946 (e.g. with ogrinfo) and re-export it")
    features = [e for e, f in zip(elements, is_feature, strict=True) if f]
    listy = [c for c in frame.columns if c != frame.geometry.name and frame[c].dtype == object
             and frame[c].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any()]
    if listy:
        frame = frame.copy()
        for c in listy:
            values = [(e.get("properties") or {}).get(c) if isinstance(e.get("properties"), dict)
                      else None for e in features]
            frame[c] = pd.Series([json.dumps(v) if isinstance(v, (list, dict)) else v for v in values],
                                 index=frame.index, dtype=object)
    rejected = [(i + 1, json.dumps(e)[:10_000]) for i, e in enumerate(elements) if not is_feature[i]]
    row_numbers = np.flatnonzero(is_feature) + 1 if rejected else None
    return RawTable(frame=frame, kind=raw.kind, path=p, not_features=rejected,
                    row_numbers=row_numbers)


# --------------------------------------------------------------------------------------------
# GeoParquet points


def read_geoparquet_points(p: Path) -> RawTable | None:
    """A GeoParquet file of 2D points in EPSG:4326 (one WKB geometry column, no bbox covering),
    read with pyarrow: the attributes as :func:`geopandas.read_parquet` gives them, the points
    as coordinates.  None for any other file (multi-part, projected, 3D, big-endian, other
    geometry types, unreadable, ...): :func:`~geoconflict.io.read_layer` reads or refuses it.

    Why: making a shapely point per row (``from_wkb``) and taking it apart again (``get_x``)
    was most of the time of reading a large incident file.
    """
    geo = _geoparquet_point_metadata(p)
    if geo is None:
        return None
    name = geo["primary_column"]
    try:
        table = pq.read_table(p)
    except Exception:  # noqa: BLE001 - pyarrow raises many types; read_layer reports them
        return None
    if table.num_rows == 0 or name not in table.column_names:
        return None
    coords = _wkb_points(table[name])
    if coords is None:
        return None
    x, y, empty = coords
    # columns in geopandas' order: the attributes as table.to_pandas() gives them (index
    # columns restored from the pandas metadata), the geometry at its place among them
    order = list(table.slice(0, 0).to_pandas().columns)
    frame = table.drop([name]).to_pandas()
    frame.insert(order.index(name), name, pd.Series(pd.arrays.ArrowExtensionArray(table[name]),
                                                     index=frame.index))
    log.info("read %s: %d points, %d columns (GeoParquet)", p, len(frame), frame.shape[1])
    return RawTable(frame=frame, kind="vector", path=p,
                    points=PointCoords(column=name, x=x, y=y, empty=empty))


def _geoparquet_point_metadata(p: Path) -> dict | None:
    """The file's GeoParquet metadata when the fast point reader applies to it, else None."""
    if not p.is_file():
        return None
    try:
        meta = pq.read_schema(p).metadata or {}
        geo = json.loads(meta[b"geo"])
        column = geo["columns"][geo["primary_column"]]
    except Exception:  # noqa: BLE001 - no or malformed metadata: read_layer says what is wrong
        return None
    if len(geo["columns"]) != 1 or column.get("encoding") != "WKB" or "covering" in column:
        return None
    types = column.get("geometry_types") or ["Point"]
    if any(t != "Point" for t in types) or "crs" not in column or column["crs"] is None:
        return None  # no crs key means OGC:CRS84, which read_layer's path reprojects
    try:
        from pyproj import CRS

        if CRS.from_user_input(column["crs"]).to_epsg() != 4326:
            return None
    except Exception:  # noqa: BLE001 - a CRS pyproj cannot read: leave it to read_layer
        return None
    return geo


def _wkb_points(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(x, y, empty) from WKB cells that are all 21-byte little-endian 2D points or null;
    None when any cell is something else.  ``POINT EMPTY`` is written with both coordinates
    NaN (as GEOS reads it); a point with one NaN coordinate is a point, not empty."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        return None
    n = len(arr)
    valid = np.ones(n, dtype=bool) if arr.null_count == 0 else _valid_mask(arr)
    bufs = arr.buffers()
    off_type = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    offsets = np.frombuffer(bufs[1], dtype=off_type)[arr.offset: arr.offset + n + 1].astype(np.int64)
    starts = offsets[:-1][valid]
    if len(starts) and not (np.diff(offsets)[valid] == _WKB_POINT.itemsize).all():
        return None
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    first = int(starts[0]) if len(starts) else 0
    if (starts == first + _WKB_POINT.itemsize * np.arange(len(starts))).all():
        cells = data[first: first + _WKB_POINT.itemsize * len(starts)].view(_WKB_POINT)
    else:  # cells not back to back (unusual writer): gather them
        take = starts[:, None] + np.arange(_WKB_POINT.itemsize)
        cells = np.ascontiguousarray(data[take]).view(_WKB_POINT).ravel()
    if not ((cells["order"] == 1).all() and (cells["type"] == 1).all()):
        return None
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    x[valid] = cells["x"]
    y[valid] = cells["y"]
    empty = ~valid | (np.isnan(x) & np.isnan(y))
    return x, y, empty


def _valid_mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _looks_like_text(p: Path) -> bool:
    with open(p, "rb") as fh:
        head = fh.read(4096)
    return b"\x00" not in head


# --------------------------------------------------------------------------------------------
# CSV sniffing


def detect_encoding(sample: bytes, p: Path, encoding: str | None) -> str:
    if encoding:
        try:  # the CLI's and the Shapefile reader's check (a CSV may also be UTF-16)
            check_encoding(encoding, shapefile=False)
        except InputError as exc:
            raise InputError(exc.detail, path=p, fix=exc.fix) from None
        return encoding
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise InputError(
            "not a text file (it contains NUL bytes)",
            path=p,
            fix="give a CSV export; if it is UTF-16 text without a BOM, pass --encoding utf-16-le",
        )
    try:
        # the sample may end inside a multi-byte character: decode incrementally
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError as exc:
        raise _encoding_error(p, exc.start, sample[exc.start : exc.start + 1]) from None
    return "utf-8"


def _encoding_error(p: Path, offset: int | None, byte: bytes | None) -> InputError:
    where = f" (byte {byte!r} at offset {offset})" if byte is not None else ""
    return InputError(
        f"the file is not UTF-8{where}",
        path=p,
        fix="pass its encoding, e.g. --encoding latin-1 (or cp1252, cp1256 for Arabic Windows "
        "exports), or re-save it as UTF-8",
    )


def _split_lines(text: str) -> list[str]:
    return text.splitlines()


def _detect_delimiter(header: str) -> str:
    counts = {d: _count_outside_quotes(header, d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] > 0 else ","


def _count_outside_quotes(line: str, delim: str) -> int:
    n, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delim and not quoted:
            n += 1
    return n


def dedupe_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = raw.strip().lstrip("\ufeff").strip() or f"column_{i + 1}"
        key = name
        if key in seen:
            seen[key] += 1
            key = f"{name}_{seen[name]}"
            while key in seen:
                seen[name] += 1
                key = f"{name}_{seen[name]}"
        seen.setdefault(key, 1)
        out.append(key)
    return out


def looks_like_headerless_ucdp(fields: list[str]) -> bool:
    """A first row of 49 values shaped like GED data (numeric id, coordinates, ISO dates)."""
    if len(fields) != len(GED_COLUMNS):
        return False
    lat, lon = fields[GED_COLUMNS.index("latitude")], fields[GED_COLUMNS.index("longitude")]
    start = fields[GED_COLUMNS.index("date_start")]
    return bool(
        _NUMBER.match(fields[0]) and _NUMBER.match(lat) and _NUMBER.match(lon) and _DATE_START.match(start)
    )


def read_csv_text(
    p: Path,
    *,
    encoding: str | None = None,
    ucdp_ok: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> RawTable:
    """Read delimited text, every column as a string (empty cells as ``""``).

    Lines longer than the limit are refused before reading (:func:`check_text_lines`); the
    header is read whole however long it is.  In a file that is UTF-8 where the encoding is
    sniffed, rows holding other bytes further on are read, their cells decoded with escapes
    (``\\xff``), and marked in :attr:`RawTable.bad_encoding`; when they are many (the file is
    in another encoding) the file is refused naming ``--encoding``."""
    n_lines = check_text_lines(p)
    sample = _read_head(p)
    enc = detect_encoding(sample, p, encoding)
    text = sample.decode(enc, errors="replace").lstrip("\ufeff")
    lines = _split_lines(text)
    skip = 0
    while skip < len(lines) and not lines[skip].strip():
        skip += 1
    if skip >= len(lines):
        raise InputError("the file has no header and no rows (only blank lines)", path=p,
                         fix="export the data again")
    header_line = lines[skip]
    delimiter: str | None = None
    if header_line.lower().startswith("sep=") and len(header_line.strip()) == 5:  # Excel hint
        delimiter = header_line.strip()[4]
        skip += 1
        header_line = lines[skip] if skip < len(lines) else ""
    if delimiter is None:
        delimiter = _detect_delimiter(header_line)
    if len(header_line) >= csv.field_size_limit():  # one huge field: read it whole too
        csv.field_size_limit(len(header_line) + 1)
    fields = next(csv.reader([header_line], delimiter=delimiter))
    if len(fields) > (most := max_columns()):
        raise SizeLimitError(
            f"the header has {len(fields):,} fields, over the limit of {most:,} columns",
            path=p, fix=f"check the delimiter and the export; if the table really is this wide, "
            f"raise the limit with the environment variable {MAX_COLUMNS_ENV}=N")
    headerless = ucdp_ok and looks_like_headerless_ucdp(fields)
    if headerless:
        names = list(GED_COLUMNS)
        skip_rows = skip
    else:
        names = dedupe_names(fields)
        skip_rows = skip + 1

    malformed: list[tuple[int | None, str]] = []
    header_rows = 0 if headerless else 1

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = row.number - header_rows if row.number is not None else None
        text = row.text
        malformed.append((number, text if isinstance(text, str) else repr(text)))
        return "skip"

    read_opts = pacsv.ReadOptions(
        column_names=names, skip_rows=skip_rows, encoding=enc, block_size=1 << 22
    )
    conv_opts = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=False
    )
    total = p.stat().st_size
    table = None
    bad_rows: np.ndarray | None = None
    handler_errors: list[BaseException] = []
    try:
        if _one_row_per_line_candidate(p):
            # fast path: blocks split at line ends and parsed in parallel; valid only when
            # every row is one line, which the line count confirms (blank lines and values
            # with line breaks make it fail or disagree: then the careful path reads the file)
            try:
                fast = pacsv.read_csv(p, read_options=read_opts,
                                      parse_options=pacsv.ParseOptions(delimiter=delimiter),
                                      convert_options=conv_opts)
                if fast.num_rows + skip_rows == n_lines:
                    table = fast
                    if on_progress is not None:
                        on_progress(total, total)
            except pa.ArrowInvalid:
                table = None
        if table is None:
            parse_opts = pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            )
            # serial: this parser gains little from threads, and malformed rows get numbers
            read_opts.use_threads = False
            with _quiet_handler_errors(on_invalid) as handler_errors:
                if on_progress is None:
                    table = pacsv.read_csv(p, read_options=read_opts, parse_options=parse_opts,
                                           convert_options=conv_opts)
                else:
                    table = _read_streaming(p, total, read_opts, parse_opts, conv_opts, on_progress)
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        undecodable = any(isinstance(e, UnicodeDecodeError) for e in handler_errors)
        if undecodable or "UTF8" in msg or "utf8" in msg.lower() or "decode" in msg.lower():
            if codecs.lookup(enc).name != "utf-8":
                raise _encoding_error(p, None, None) from None
            # UTF-8 with a few bad rows (the sample was clean): read it again with the bad bytes
            # escaped two ways; the rows that differ between the two are the rows holding them
            read_opts.use_threads = False
            parse_opts = pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            )
            data = p.read_bytes()
            tables, rejected = [], []
            for errors in (_MARK_ERRORS, "backslashreplace"):  # the second is the one kept
                malformed.clear()
                text = pa.py_buffer(data.decode("utf-8", errors=errors).encode("utf-8"))
                try:
                    with _quiet_handler_errors(on_invalid):
                        tables.append(pacsv.read_csv(pa.BufferReader(text), read_options=read_opts,
                                                     parse_options=parse_opts,
                                                     convert_options=conv_opts))
                except pa.ArrowInvalid:
                    raise _encoding_error(p, None, None) from None
                rejected.append([t for _, t in malformed])
            del data, text
            marked, table = tables
            bad_rows = np.zeros(table.num_rows, dtype=bool)
            for name in table.column_names:
                bad_rows |= ~np.asarray(pc.fill_null(pc.equal(marked[name], table[name]), False)
                                        .to_numpy(zero_copy_only=False), dtype=bool)
            del marked, tables
            n_bad = int(bad_rows.sum()) + sum(a != b for a, b in zip(*rejected, strict=True))
            if n_bad > max(10, table.num_rows // 100):  # not a few damaged rows: another encoding
                raise InputError(
                    f"{n_bad:,} rows are not UTF-8", path=p,
                    fix="pass its encoding, e.g. --encoding latin-1 (or cp1252, cp1256 for "
                    "Arabic Windows exports), or re-save it as UTF-8") from None
            log.info("%s: %d rows with bytes that are not UTF-8 (quarantined as bad_encoding)",
                        p, n_bad)
        else:
            raise InputError(
                f"cannot parse as {_DELIM_NAMES.get(delimiter, repr(delimiter))}-delimited text: "
                f"{msg.splitlines()[0][:200]}",
                path=p,
                fix="check the export (quotes must be balanced); re-export as CSV",
            ) from None
    except UnicodeDecodeError as exc:
        raise _encoding_error(p, exc.start, None) from None
    frame = table.to_pandas()
    del table
    if len(frame) == 0 and not malformed:
        raise InputError(
            "the file has a header but no data rows",
            path=p,
            fix="check the export's filters; there is nothing to ingest",
        )
    log.info("read %s: %d rows, %d columns, %s-delimited, %s%s", p, len(frame), len(names),
             _DELIM_NAMES.get(delimiter, delimiter), enc, ", no header row" if headerless else "")
    row_numbers = None
    if malformed and all(m[0] is not None for m in malformed):
        bad = np.array([m[0] for m in malformed], dtype=np.int64)
        row_numbers = np.setdiff1d(np.arange(1, len(frame) + len(malformed) + 1), bad)
        if len(row_numbers) != len(frame):
            row_numbers = None
    return RawTable(frame=frame, kind="csv", path=p, headerless=headerless, encoding=enc,
                    delimiter=delimiter, malformed=malformed, row_numbers=row_numbers,
                    bad_encoding=bad_rows if bad_rows is not None and bad_rows.any() else None)


def _read_head(p: Path) -> bytes:
    """The first 64 KiB of the file, read on to the end of the header line when it is longer
    (past blank lines and an Excel ``sep=`` line); :func:`check_text_lines` bounds it."""
    with open(p, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
        while len(head) >= SAMPLE_BYTES:
            whole = [line for line in head.split(b"\n")[:-1] if line.strip(b"\r\n\t \x00\xef\xbb\xbf")]
            if len(whole) >= 2 or (whole and not whole[0].lstrip(b"\xef\xbb\xbf").lower().startswith(b"sep=")):
                break
            more = fh.readline()
            if not more:
                break
            head += more
    return head


#: a codec error handler escaping bytes that are not UTF-8 unlike ``backslashreplace`` does
_MARK_ERRORS = "geoconflict-mark-bad-bytes"
codecs.register_error(
    _MARK_ERRORS,
    lambda exc: ("".join(f"\\X{b:02X}" for b in exc.object[exc.start:exc.end]), exc.end),  # type: ignore[attr-defined]
)


@contextlib.contextmanager
def _quiet_handler_errors(handler: Callable[..., Any]) -> Iterator[list[BaseException]]:
    """pyarrow decodes a malformed row's text before calling ``handler``; when the text is not
    UTF-8 that fails, Python prints "Exception ignored ... Traceback" and the read fails with
    ``ArrowInvalid`` (a misleading column-count error).  Keep that print off stderr; the
    exceptions are collected in the list yielded, for the caller to report."""
    previous = sys.unraisablehook
    caught: list[BaseException] = []

    def hook(unraisable: Any) -> None:
        if unraisable.object is handler and unraisable.exc_value is not None:
            caught.append(unraisable.exc_value)
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield caught
    finally:
        sys.unraisablehook = previous


def _one_row_per_line_candidate(p: Path) -> bool:
    """Worth trying the fast path: text with \\n or \\r\\n line ends, and no line of the first
    64 KiB with an odd number of quotes (a quoted value going on over the next line)."""
    with open(p, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    lines = head.split(b"\n")[:-1]  # the last one may be cut
    return bool(lines) and not any(line.count(b'"') % 2 for line in lines)


def _count_lines(p: Path) -> int:
    """Physical lines in the file (a last line without a line end counts); see
    :func:`check_text_lines`, which counts them while checking their length."""
    return check_text_lines(p)


class _CountingFile(io.RawIOBase):
    """A binary file that counts the bytes read (for a progress bar)."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = self._fh.readinto(b)
        self.pos += n or 0
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _read_streaming(
    p: Path,
    total: int,
    read_opts: pacsv.ReadOptions,
    parse_opts: pacsv.ParseOptions,
    conv_opts: pacsv.ConvertOptions,
    on_progress: Callable[[int, int], None],
) -> pa.Table:
    src = _CountingFile(p)
    try:
        reader = pacsv.open_csv(pa.PythonFile(src, mode="r"), read_options=read_opts,
                                parse_options=parse_opts, convert_options=conv_opts)
        batches = []
        for batch in reader:
            batches.append(batch)
            on_progress(min(src.pos, total), total)
        on_progress(total, total)
        return pa.Table.from_batches(batches, schema=reader.schema)
    finally:
        src.close()
