"""Incident exports (ACLED, UCDP GED, any CSV with coordinates, point layers) into one canonical
incident table, with validation that loses nothing.

Every input row ends either **accepted** (in :attr:`IngestResult.incidents`, possibly with
``flags``) or **quarantined** (in :attr:`IngestResult.quarantine`, with its original columns, a
machine-readable ``reason`` and its 1-based ``source_row``); ``accepted + quarantined == rows read``
is checked in code.  See DESIGN.md for the canonical columns.

Decisions worth knowing:

- A row gets one quarantine reason, the first that applies in :data:`QUARANTINE_REASONS` order.
- ``duplicate_id``: among rows that pass every other check, the first occurrence of an id stays.
- A generic CSV without a date column (none given with ``date=`` and none named ``date`` or
  ``event_date``) is allowed: ``date`` is NaT and that is not a quarantine reason.  When a date
  column is in use, a missing or unparseable date quarantines the row.
- Rows whose field count differs from the header's are quarantined as ``malformed_row`` (their raw
  text in ``raw_line``, ``source_row`` unknown); blank lines are not rows.  Elements of a GeoJSON
  ``features`` array that are not Features are ``not_a_feature`` (their JSON in ``raw_line``).
- A row of a UTF-8 CSV holding bytes that are not UTF-8 is ``bad_encoding`` (its cells decoded
  with ``\\x..`` escapes); a file with many such rows is refused, naming ``--encoding``.
- Numbers too large for a float (``1e400``, infinity) are ``non_numeric_coordinate`` or
  ``non_finite_fatalities``; ``1e308`` is a number.
- An ACLED-shaped file (``event_id_cnty`` with ``sub_event_type`` or ``time_precision``) without
  ``event_date``, or a UCDP GED file (``where_prec``, ``date_prec``, ``type_of_violence``) without
  ``date_start``, is refused (SchemaError), not read as a generic CSV without dates.
- ``has_time`` is True when the date cell carries a time of day other than 00:00 (exports that
  write ``2020-06-08 00:00:00.000`` for a plain day, as UCDP does, are days).
- ``date_end`` is the source's (UCDP ``date_end``) or else the end of :func:`date_window`.
- Dates: ISO 8601 (``2020-06-08``, ``2020-06-08T14:30``), ``08 June 2020``, ``08-06-2020`` and
  other day-first forms; an impossible day (``2020-02-30``) is unparseable, never rolled over.
  In a generic CSV ``2020-06`` is a month (precision 3) and ``2020`` a year (precision 4).
- Coordinates accept a decimal comma (``36,61``); ``NA``, ``null``, ``-`` and the like are missing.
- ``flags``: ``imprecise_location`` (geo_precision 3), ``outside_country`` (more than 25 km, in
  metres, outside the Natural Earth 110m polygon of the country the row names; unknown names are
  not flagged), ``future_date``, ``geocoded:exact|fuzzy`` (with ``places``; such rows get
  ``geo_precision`` 2, a populated place's point).
- Speed: CSV is read by pyarrow with every column as text; when every row is one line (checked
  by counting lines) the multi-threaded parser is used, else the careful one that allows line
  breaks inside quoted values.  Each distinct date or number text is parsed once.  A
  GeoParquet of EPSG:4326 points is read by pyarrow and its WKB decoded to coordinates without
  shapely objects; ids, points and the country check run in a two-thread pool; the accepted
  rows' text is sliced out of the columns read, not copied, when the bad rows are few.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from . import _validate as V
from ._dates import parse_date_column
from ._memory import release
from ._readers import PointCoords, RawTable, read_raw
from ._rules import (
    FLAGS,  # noqa: F401  (public here as geoconflict.incidents.FLAGS)
    GEOCODED_PRECISION,
    QUARANTINE_REASONS,
    Reasons,
    coordinate_rules,
    date_rules,
    duplicated_among,
    fatality_rules,
    flag_rules,
    flag_texts,
    value_rules,
)
from .errors import CRSError, InputError, SchemaError
from .io import output_format, quarantine_path, write_layer

log = logging.getLogger(__name__)

#: ACLED's export columns since March 2023 (SCENARIO.md), in order; benchmarks and the built-in
#: scenario write files in this layout
ACLED_COLUMNS: tuple[str, ...] = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
    "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
    "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
    "fatalities", "tags", "timestamp",
)

CANONICAL_COLUMNS: tuple[str, ...] = (
    "incident_id", "date", "date_end", "has_time", "date_precision", "event_type",
    "sub_event_type", "actor1", "actor2", "fatalities", "location", "geo_precision", "source",
    "notes", "source_format", "flags", "geometry",
)
FORMATS: tuple[str, ...] = ("auto", "acled", "ucdp", "csv")
#: files smaller than this are read without a progress bar
PROGRESS_MIN_BYTES = 8 << 20

UCDP_VIOLENCE: dict[str, str] = {
    "1": "State-based armed conflict",
    "2": "Non-state conflict",
    "3": "One-sided violence",
}

# canonical field -> source column names, first found wins (compared case-insensitively)
_ACLED: dict[str, tuple[str, ...]] = {
    "incident_id": ("event_id_cnty", "data_id", "event_id_no_cnty"),
    "date": ("event_date",),
    "date_precision": ("time_precision",),
    "event_type": ("event_type",),
    "sub_event_type": ("sub_event_type",),
    "actor1": ("actor1",),
    "actor2": ("actor2",),
    "fatalities": ("fatalities",),
    "location": ("location",),
    "geo_precision": ("geo_precision",),
    "source": ("source",),
    "notes": ("notes",),
    "lon": ("longitude",),
    "lat": ("latitude",),
    "country": ("country",),
}
_UCDP: dict[str, tuple[str, ...]] = {
    "incident_id": ("id",),
    "date": ("date_start",),
    "date_end": ("date_end",),
    "date_precision": ("date_prec",),
    "event_type": ("type_of_violence",),
    "actor1": ("side_a",),
    "actor2": ("side_b",),
    "fatalities": ("best",),
    "location": ("where_coordinates",),
    "geo_precision": ("where_prec",),
    "source": ("source_office", "source_article"),
    "notes": ("source_headline",),
    "lon": ("longitude",),
    "lat": ("latitude",),
    "country": ("country",),
}
_GENERIC: dict[str, tuple[str, ...]] = {
    "incident_id": ("incident_id", "event_id", "event_id_cnty", "id"),
    "date": ("date", "event_date"),
    "date_end": ("date_end",),
    "date_precision": ("date_precision", "time_precision"),
    "event_type": ("event_type",),
    "sub_event_type": ("sub_event_type",),
    "actor1": ("actor1", "actor_1"),
    "actor2": ("actor2", "actor_2"),
    "fatalities": ("fatalities",),
    "location": ("location",),
    "geo_precision": ("geo_precision",),
    "source": ("source",),
    "notes": ("notes",),
    "lon": ("lon", "longitude", "lng", "long", "x"),
    "lat": ("lat", "latitude", "y"),
    "country": ("country",),
}
_ARTICLE = {"acled": "an ACLED", "ucdp": "a UCDP GED"}
_SCHEMAS = {"acled": _ACLED, "ucdp": _UCDP, "csv": _GENERIC}
_REQUIRED = {"acled": ("date", "lon", "lat"), "ucdp": ("date", "lon", "lat"), "csv": ("lon", "lat")}
#: mapped source columns that stay in the output as well (they are not canonical)
_KEEP_MAPPED = {"country", "type_of_violence"}
#: admin columns passed to the gazetteer as context (ACLED admin1-3, UCDP adm_1/adm_2)
_GEOCODE_CONTEXT = ("admin1", "admin2", "admin3", "adm_1", "adm_2")
#: geo_precision of a row placed by name (exact or fuzzy; the flag says which)
_TEXT_FIELDS = ("event_type", "sub_event_type", "actor1", "actor2", "location", "source", "notes")


# --------------------------------------------------------------------------------------------
# results


@dataclass
class IngestReport:
    """What happened to every row."""

    path: str | None
    source_format: str
    rows_read: int
    accepted: int
    flagged: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    flags_by_name: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str | None] = field(default_factory=dict)
    #: a workbook's sheet read, and its header's row in the sheet (row N is sheet row N + it)
    sheet: str | None = None
    header_row: int | None = None

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    def summary(self) -> str:
        """One line: ``1,000 rows read, 990 accepted (12 flagged), 10 quarantined (...)``."""
        text = (f"{self.rows_read:,} rows read, {self.accepted:,} accepted "
                f"({self.flagged:,} flagged), {self.quarantined:,} quarantined")
        if self.quarantined_by_reason:
            parts = ", ".join(f"{k} {v:,}" for k, v in self.quarantined_by_reason.items())
            text += f" ({parts})"
        if self.sheet is not None:
            text += f"; sheet {self.sheet!r}, row N is its row N+{self.header_row}"
        return text


@dataclass
class IngestResult:
    """The canonical incident table, the quarantined rows and the report."""

    incidents: gpd.GeoDataFrame
    quarantine: pd.DataFrame
    report: IngestReport


# --------------------------------------------------------------------------------------------
# public API


def read_incidents(
    path: str | Path,
    *,
    format: str = "auto",  # noqa: A002 - the option's name in the CLI and the issue
    lon: str | None = None,
    lat: str | None = None,
    date: str | None = None,
    layer: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    places: Sequence[str | Path] | None = None,
    progress: bool = False,
    max_input_mb: float | None = None,
) -> IngestResult:
    """Read an incident file into the canonical table (EPSG:4326 points), validated.

    ``format``: ``auto`` (detected from the columns), ``acled``, ``ucdp`` or ``csv``.
    ``lon``/``lat``/``date``: column names for a generic CSV (they override any format's).
    ``layer``: the layer of a multi-layer GeoPackage; ``sheet``: the sheet of a workbook (.xlsx,
    .xlsm, .xlsb, .xls, .ods; default: the only sheet holding a table).  ``encoding``: the text encoding when the
    file is not UTF-8 (e.g. ``latin-1``).  ``places``: gazetteer files; rows without coordinates
    but with a ``location`` are placed by name instead of quarantined.  ``progress``: show a
    progress bar on stderr for large files.  ``max_input_mb``: the largest shapefile (unzipped)
    or GeoJSON read (None: the environment variable ``GEOCONFLICT_MAX_INPUT_MB``, else 256).
    """
    _check_format(format)
    p = Path(path)
    show = progress and p.is_file() and p.stat().st_size >= PROGRESS_MIN_BYTES
    with _progress(show, f"reading {p.name}") as bar:
        raw = read_raw(p, layer=layer, sheet=sheet, encoding=encoding, ucdp_ok=format in ("auto", "ucdp"),
                       on_progress=bar.read if bar else None, max_input_mb=max_input_mb)
        if bar:
            bar.stage(f"validating {p.name}")
        result = ingest_raw(raw, fmt=format, lon=lon, lat=lat, date=date, places=places)
    del raw
    release(result.report.rows_read)  # the parse's temporaries, held by the allocators
    return result


def incidents_from_frame(
    df: pd.DataFrame,
    *,
    format: str = "auto",  # noqa: A002
    lon: str | None = None,
    lat: str | None = None,
    date: str | None = None,
    places: Sequence[str | Path] | None = None,
    source: str = "<frame>",
) -> IngestResult:
    """Like :func:`read_incidents` for an in-memory table (text or typed columns).

    A GeoDataFrame with an active geometry column is read as a point layer unless ``lon``/``lat``
    are given; ``source`` names the table in messages and the report.
    """
    _check_format(format)
    is_vector = isinstance(df, gpd.GeoDataFrame) and lon is None and lat is None
    try:
        is_vector = is_vector and df.geometry.name in df.columns
    except AttributeError:
        is_vector = False
    frame = df if is_vector else pd.DataFrame(df)
    raw = RawTable(frame=frame, kind="vector" if is_vector else "csv", path=None)
    return ingest_raw(raw, fmt=format, lon=lon, lat=lat, date=date, places=places, name=source)


def write_ingest(result: IngestResult, output: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write the incidents to ``output`` (format from its extension) and the quarantine to
    ``<output stem>.quarantine.csv`` beside it (always, possibly header only); both atomic.

    Both paths are checked before anything is written, and both are written or neither
    (:func:`geoconflict.io.output_set`: an interrupt leaves no output without its quarantine).
    """
    from .io import output_set, write_quarantine

    out = Path(output)
    output_format(out)
    with output_set([out, quarantine_path(out)], overwrite=overwrite):
        write_layer(result.incidents, out, overwrite=overwrite)
        qpath = write_quarantine(result.quarantine, out, overwrite=overwrite)
    return out, qpath


def date_window(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(first, last) possible moment of each incident.

    day -> [date, date]; week -> [date - 3 days, date + 3 days]; month -> the calendar month;
    year -> the calendar year (missing precision = day).  A ``date_end`` from the source wins: when
    ``date_end`` is set and differs from the precision's end, or the row is UCDP's
    (``date_start``..``date_end``), the window is [date, date_end].
    """
    date = pd.Series(df["date"], copy=False).astype("datetime64[ns]")
    if "date_precision" in df.columns:
        prec = pd.to_numeric(df["date_precision"], errors="coerce").fillna(1).to_numpy(dtype=np.int64)
    else:
        prec = np.ones(len(df), dtype=np.int64)
    d = date.to_numpy()
    start = d.copy()
    end = d.copy()
    day = np.timedelta64(1, "D")
    # days need no arithmetic; each other precision converts its own rows only (numpy's
    # calendar units cost tens of nanoseconds a value: on every row, a second at millions)
    if len(sel := np.flatnonzero(prec == 2)):
        start[sel], end[sel] = d[sel] - 3 * day, d[sel] + 3 * day
    for sel, unit in ((np.flatnonzero(prec == 3), "datetime64[M]"), (np.flatnonzero(prec >= 4), "datetime64[Y]")):
        if len(sel):
            first = d[sel].astype(unit)
            start[sel] = first.astype("datetime64[ns]")
            end[sel] = ((first + 1).astype("datetime64[D]") - day).astype("datetime64[ns]")
    if "date_end" in df.columns:
        given = pd.Series(df["date_end"], copy=False).astype("datetime64[ns]").to_numpy()
        explicit = ~np.isnat(given) & (given != end)
        if "source_format" in df.columns:  # UCDP gives date_start .. date_end
            explicit |= ~np.isnat(given) & (df["source_format"] == "ucdp").to_numpy(dtype=bool)
        start = np.where(explicit, d, start)
        end = np.where(explicit, given, end)
    index = df.index
    return (pd.Series(start, index=index, name="date_start", copy=False).astype("datetime64[ns]"),
            pd.Series(end, index=index, name="date_end", copy=False).astype("datetime64[ns]"))


def _merge_flags(previous: pd.Series, current: pd.Series) -> pd.Series:
    """Union of ';'-separated flag tokens, in order, computed once per distinct pair."""
    prev = previous.astype(object).where(previous.notna(), "").astype(str).to_numpy()
    cur = current.astype(object).where(current.notna(), "").astype(str).to_numpy()
    pairs = pd.MultiIndex.from_arrays([prev, cur])
    codes, uniques = pd.factorize(pairs)
    merged = []
    for a, b in uniques:
        tokens = [t for t in (a.split(";") + b.split(";")) if t]
        merged.append(";".join(dict.fromkeys(tokens)))
    return pd.Series(np.asarray(merged, dtype=object)[codes], index=current.index, dtype=object)


def detect_format(columns: Iterable[str]) -> str:
    """``acled``, ``ucdp`` or ``csv`` from a table's column names."""
    cols = {str(c).strip().lower() for c in columns}
    if "event_date" in cols and ({"event_id_cnty", "sub_event_type", "time_precision"} & cols):
        return "acled"
    if "event_id_cnty" in cols and ({"sub_event_type", "time_precision"} & cols):
        return "acled"  # ACLED without its dates: refused by the schema check, not read undated
    if "date_start" in cols and ({"where_prec", "best", "date_prec", "type_of_violence"} & cols):
        return "ucdp"
    if {"where_prec", "date_prec", "type_of_violence"} <= cols and ({"side_a", "best"} & cols):
        return "ucdp"  # UCDP GED without its dates: refused by the schema check, not read undated
    return "csv"


# --------------------------------------------------------------------------------------------
# the core


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")


def ingest_raw(
    raw: RawTable,
    *,
    fmt: str,
    lon: str | None,
    lat: str | None,
    date: str | None,
    places: Sequence[str | Path] | None,
    name: str | None = None,
) -> IngestResult:
    """A table as read (:func:`geoconflict._readers.read_raw`) -> the canonical table and the
    quarantine: the engine under :func:`read_incidents` and each block of the dask engine."""
    where = str(raw.path) if raw.path is not None else (name or "<frame>")
    frame = raw.frame.reset_index(drop=True)
    is_vector = raw.kind == "vector"
    points = raw.points
    geom_name = points.column if points is not None else frame.geometry.name if is_vector else None
    attr_cols = [c for c in frame.columns if c != geom_name]
    detected = detect_format(attr_cols) if fmt == "auto" else fmt
    if raw.headerless:
        detected = "ucdp"
    cols = _resolve_columns(detected, attr_cols, lon=lon, lat=lat, date=date,
                            is_vector=is_vector, where=where)
    n = len(frame)
    # the rules (which rows are quarantined, why, which flags) are in geoconflict._rules; this
    # function parses the columns they need, two threads at a time, and applies them in order
    reasons = Reasons(n)
    mark = reasons.mark

    if raw.bad_encoding is not None:
        mark(raw.bad_encoding, "bad_encoding")

    # --- coordinates
    geo_status: pd.Series | None = None
    candidates: pd.Series | None = None
    # independent columns are parsed in two threads (pyarrow and shapely release the GIL)
    pool = _pool()
    date_job = pool.submit(parse_date_column, frame[cols["date"]]) if cols["date"] is not None else None
    if is_vector and cols["lon"] is None:
        x, y = _points_xy(points, mark) if points is not None else _vector_xy(frame, mark, where)
    else:
        lon_job = pool.submit(V.parse_number, frame[cols["lon"]], decimal_comma=True)
        y, ymiss, ybad = V.parse_number(frame[cols["lat"]], decimal_comma=True)
        x, xmiss, xbad = lon_job.result()
        if places:
            x, y, xmiss, ymiss, geo_status, candidates = _geocode(
                frame, cols, x, y, xmiss | ymiss, places)
        reasons.apply(coordinate_rules(xmiss | ymiss, xbad | ybad))
    reasons.apply(value_rules(x, y))
    # ids are cleaned and hashed in the pool; duplicates are decided once the other checks are in
    id_job = pool.submit(_incident_ids, frame[cols["incident_id"]] if cols["incident_id"] is not None
                         else None, n)
    # a row's point and its outside_country flag depend on that row alone: both are made now
    # for every row with usable coordinates, in the pool while the other columns are checked,
    # and the accepted rows' are picked out at the end.  The points are made in pieces: GEOS
    # makes them without the GIL (but not the Python objects), so both threads work at once
    located = reasons.kept
    country_job = (pool.submit(_outside_country_where, x, y, frame[cols["country"]], located)
                   if cols["country"] is not None else None)
    cuts = np.linspace(0, n, _POINT_PARTS + 1).astype(np.int64)
    point_jobs = [pool.submit(_points_where, x[a:b], y[a:b], located[a:b])
                  for a, b in itertools.pairwise(cuts)]

    # --- dates
    if date_job is not None:
        dates, dmiss, dbad, hint = date_job.result()
        reasons.apply(date_rules(dmiss, dbad))
    else:
        dates = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
        hint = V.small_ints(np.full(n, np.nan))

    # --- fatalities
    if cols["fatalities"] is not None:
        fat, _fmiss, fbad = V.parse_number(frame[cols["fatalities"]])
        reasons.apply(fatality_rules(fat, fbad))
    else:
        fat = np.full(n, np.nan)

    # --- duplicate ids among otherwise valid rows (the first stays)
    ids, id_codes = id_job.result()
    mark(duplicated_among(id_codes, reasons.kept), "duplicate_id")

    keep = reasons.kept
    acc = np.flatnonzero(keep)
    rej = np.flatnonzero(~keep)
    rows_kept = _Rows.of(keep)

    def take(values: Any) -> Any:
        if isinstance(values, pd.Series):
            return _filter_series(values, rows_kept)
        return values if rows_kept.everything else values[keep]

    source_format = "vector" if is_vector and detected == "csv" else detected
    out: dict[str, Any] = {}
    out["incident_id"] = take(ids).astype("str")
    d_acc = take(dates).astype("datetime64[ns]")
    out["date"] = d_acc
    prec = _date_precision(detected, frame, cols, hint)
    prec_acc = take(prec)
    tmp = pd.DataFrame({"date": d_acc, "date_precision": prec_acc})
    if cols["date_end"] is not None:
        dend = parse_date_column(frame[cols["date_end"]])[0]
        tmp["date_end"] = take(dend)
    out["date_end"] = date_window(tmp)[1]
    day, has_time = _day_and_time(d_acc)
    out["has_time"] = pd.Series(has_time, index=d_acc.index, dtype=bool, copy=False)
    out["date_precision"] = prec_acc
    for fld in _TEXT_FIELDS:
        col = cols[fld]
        if col is None:
            out[fld] = pd.Series(pd.NA, index=range(len(acc)), dtype="str")
        else:
            # cleaned before the rows are picked: the picked text is many slices, which
            # clean_text would walk one by one
            out[fld] = take(V.clean_text(frame[col], trim=fld not in ("notes", "source")))
    if detected == "ucdp" and cols["event_type"] is not None:
        et = out["event_type"]
        out["event_type"] = et.map(UCDP_VIOLENCE).fillna(et).astype("str")
    out["fatalities"] = pd.Series(take(fat), dtype="float64", copy=False)
    out["geo_precision"] = take(_geo_precision(detected, frame, cols))
    out["source_format"] = pa.repeat(pa.scalar(source_format), len(acc)).to_pandas()

    # --- flags on kept rows
    used = {c for k, c in cols.items() if c is not None and k != "country"}
    others = [c for c in attr_cols if c not in used or c in _KEEP_MAPPED]
    st = take(geo_status) if geo_status is not None else None
    flags = flag_rules(out["geo_precision"],
                       outside_country=take(country_job.result()) if country_job is not None else None,
                       day=day, today=pd.Timestamp.now(tz="UTC").tz_localize(None).normalize(),
                       geocoded=st)
    if st is not None and st.notna().any():
        gp = out["geo_precision"].copy()
        gp[st.notna().to_numpy()] = GEOCODED_PRECISION  # a populated place's point, whatever the source said
        out["geo_precision"] = gp
    out["flags"], flag_counts, flagged = flag_texts(flags, len(acc))

    # --- the source's other columns
    other = _pick_rows(frame, others, keep, rows_kept)
    # a table geoconflict wrote before (read again, e.g. a join output): its derived canonical
    # columns are recomputed, not kept twice; its earlier flags are carried into the new ones
    if "flags" in other.columns:
        out["flags"] = _merge_flags(other["flags"], out["flags"])
    other = other.drop(columns=[c for c in ("has_time", "source_format", "flags") if c in other.columns])
    renames = {c: f"{c}_source" for c in other.columns if c in CANONICAL_COLUMNS}
    other = other.drop(columns=[c for c, new_name in renames.items() if new_name in other.columns])
    other = other.rename(columns={c: n for c, n in renames.items() if c in other.columns})
    if detected == "ucdp":
        for c in ("low", "high"):
            if c in other.columns:
                other[c] = V.parse_number(other[c])[0]
    table = pd.DataFrame(out)
    table = pd.concat([table, other], axis=1) if len(other.columns) else table
    geometry = take(np.concatenate([job.result() for job in point_jobs]))
    # copy=False: ``table`` is this function's own (geopandas would copy every column of it)
    incidents = gpd.GeoDataFrame(table, geometry=geometry, crs="EPSG:4326", copy=False)
    incidents = incidents[list(CANONICAL_COLUMNS) + [c for c in table.columns if c not in CANONICAL_COLUMNS]]

    # --- quarantine
    rows = raw.row_numbers[rej] if raw.row_numbers is not None else rej + 1
    extra = None
    if candidates is not None:
        extra = {"geocode_candidates": candidates.to_numpy(dtype=object)[rej]}
    rejected = ([(r, t, "malformed_row") for r, t in raw.malformed]
                + [(r, t, "not_a_feature") for r, t in raw.not_features])
    quarantine = _quarantine(frame, rej, rows, reasons, geom_name, rejected, extra)

    counted = quarantine["reason"].value_counts()
    by_reason = {r: int(counted[r]) for r in QUARANTINE_REASONS if r in counted.index}
    report = IngestReport(
        path=where, source_format=source_format,
        rows_read=n + len(raw.malformed) + len(raw.not_features),
        accepted=len(incidents), flagged=flagged,
        quarantined_by_reason=by_reason, flags_by_name=flag_counts,
        columns={k: v for k, v in cols.items()}, sheet=raw.sheet, header_row=raw.header_row,
    )
    if report.accepted + report.quarantined != report.rows_read or len(quarantine) != report.quarantined:
        raise AssertionError(
            f"row accounting broken for {where}: {report.accepted} accepted + "
            f"{report.quarantined} quarantined != {report.rows_read} read"
        )
    log.info("%s: %s (%s)", where, report.summary(), source_format)
    return IngestResult(incidents=incidents, quarantine=quarantine, report=report)


@functools.lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    """Two worker threads for independent column work (the machine has at least two cores)."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="geoconflict-ingest")


_DAY_NS = 86_400_000_000_000
#: the points are made in this many pieces, one pool job each
_POINT_PARTS = 2


def _day_and_time(dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(each date's midnight in ns since 1970, does it carry a time of day); for NaT (the
    smallest int64, False).  What ``.dt.normalize()`` gives, by integer arithmetic: pandas'
    normalize took seconds on millions of rows."""
    values = dates.to_numpy(dtype="datetime64[ns]")
    nat = np.isnat(values)
    ns = np.where(nat, 0, values.view(np.int64))
    time_of_day = np.mod(ns, _DAY_NS)  # numpy's mod takes the divisor's sign: floors before 1970
    day = np.where(nat, np.iinfo(np.int64).min, ns - time_of_day)
    return day, ~nat & (time_of_day != 0)


#: kept rows forming runs at least this long on average are sliced out of arrow-backed text
#: without a copy (a few bad rows in millions); shorter runs are copied by pyarrow's filter
_SLICE_MIN_RUN = 1000


@dataclass(frozen=True)
class _Rows:
    """Which rows of a frame to keep: a mask, and the runs of consecutive kept rows when they
    are long (see :func:`_filter_series`)."""

    mask: np.ndarray
    mask_pa: pa.Array
    runs: list[tuple[int, int]] | None
    everything: bool

    @classmethod
    def of(cls, mask: np.ndarray) -> _Rows:
        n, kept = len(mask), int(mask.sum())
        runs = None
        if kept and kept < n:
            edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
            if kept >= _SLICE_MIN_RUN * (len(edges) // 2):
                runs = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
        return cls(mask=mask, mask_pa=pa.array(mask), runs=runs, everything=kept == n)


def _filter_series(s: pd.Series, rows: _Rows) -> pd.Series:
    """``s[rows.mask]`` with a fresh index.

    Arrow-backed text is filtered by pyarrow (pandas would go through a much slower take on
    the many chunks a large CSV gives), and when the kept rows form long runs it is not
    copied at all: the result is made of slices of the original chunks.  Copying the text of
    millions of rows (gigabytes, mostly notes) cost seconds, most of it the kernel handing out
    fresh memory; the values are the same either way.
    """
    if rows.everything:
        return s.reset_index(drop=True)
    arr = getattr(s.array, "_pa_array", None)
    if isinstance(arr, pa.ChunkedArray) and s.dtype == "str":
        if rows.runs is not None:
            chunks = [c for a, b in rows.runs for c in arr.slice(a, b - a).chunks]
            out = pa.chunked_array(chunks, type=arr.type).to_pandas()
        else:
            out = pc.filter(arr, rows.mask_pa).to_pandas()
        out.name = s.name
        return out
    # the array picked, not the Series: pandas would also pick the index (a fresh array of
    # millions of row numbers) only for reset_index to drop it
    return pd.Series(s.array[rows.mask], name=s.name, copy=False)


#: tables wider than this are filtered as one frame: per column, pandas' overhead (about a
#: millisecond a column and step) took minutes on a valid file of 100,000 columns
_WIDE_COLUMNS = 1000


def _pick_rows(frame: pd.DataFrame, columns: list[Any], mask: np.ndarray, rows: _Rows) -> pd.DataFrame:
    """``frame[columns]`` at the rows in ``mask``, with a fresh 0..n-1 index."""
    if len(columns) > _WIDE_COLUMNS:
        return frame[columns].iloc[np.flatnonzero(mask)].reset_index(drop=True)
    return pd.DataFrame({c: _filter_series(frame[c], rows) for c in columns},
                        index=range(int(mask.sum())))


def _incident_ids(source: pd.Series | None, n: int) -> tuple[pd.Series, np.ndarray]:
    """(the ids as text, trimmed, ``row-<n>`` where missing; an integer code per row, equal for
    equal ids).  Hashing millions of distinct strings is slow, so this runs in the pool while
    the other checks decide which rows compete for an id."""
    ids = (V.clean_text(source, trim=True).reset_index(drop=True) if source is not None
           else pd.Series(pd.NA, index=range(n), dtype="str"))
    noid = ids.isna().to_numpy()
    if noid.any():
        ids = ids.copy()
        ids[noid] = pd.Series(np.arange(1, n + 1)[noid].astype(str), index=ids.index[noid]).radd("row-")
    return ids, _text_codes(V.arrow_text(ids).combine_chunks())


def _text_codes(text: pa.Array) -> np.ndarray:
    """An integer per cell, equal exactly for equal texts (cells not null).

    pyarrow's hash table takes about a second for millions of distinct ids.  Short texts (at
    most 16 bytes, as ACLED's and UCDP's ids) are packed into two integers instead, whose
    numeric hash is sorted to find repeats; only the cells whose hash repeats (the duplicates
    and rare collisions) go through the hash table, to be compared exactly.
    """
    n = len(text)
    packed = _pack_short_text(text) if text.null_count == 0 else None
    if packed is None:
        enc = pc.dictionary_encode(text)
        return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    lo, hi, length = packed
    key = lo * np.uint64(0x9E3779B97F4A7C15) + hi * np.uint64(0xC2B2AE3D27D4EB4F) + length
    codes = np.arange(n, dtype=np.int64)
    ordered = np.sort(key)
    twice = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])  # hashes seen more than once
    if not len(twice):
        return codes
    at = np.minimum(np.searchsorted(twice, key), len(twice) - 1)
    repeated = np.flatnonzero(twice[at] == key)
    if len(repeated):
        enc = pc.dictionary_encode(text.take(pa.array(repeated)))
        codes[repeated] = n + enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes


#: _LOW_BYTES[k]: a mask of the k low bytes of a 64-bit integer
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def _pack_short_text(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(first 8 bytes, next 8 bytes, byte length) of every cell as unsigned integers, zero
    padded; None when a cell is longer than 16 bytes or the array is not plain text."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return None
    bufs = text.buffers()
    wide = pa.types.is_large_string(text.type)
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[
        text.offset: text.offset + len(text) + 1].astype(np.int64)
    start, length = offsets[:-1], np.diff(offsets)
    if len(length) and length.max() > 16:
        return None
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    padded = np.zeros(len(data) + 16, dtype=np.uint8)
    padded[:len(data)] = data
    # 8 bytes read from any byte position (an unaligned view: one step of 1 byte)
    words = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    lo = words[start] & _LOW_BYTES[np.minimum(length, 8)]
    hi = words[start + 8] & _LOW_BYTES[np.clip(length - 8, 0, 8)]
    return lo, hi, length.astype(np.uint64)


def _points_where(x: np.ndarray, y: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Shapely points at the rows in ``where`` (None elsewhere)."""
    pts = np.full(len(x), None, dtype=object)
    pts[where] = shapely.points(x[where], y[where])
    return pts


def _outside_country_where(x: np.ndarray, y: np.ndarray, country: pd.Series,
                           where: np.ndarray) -> np.ndarray:
    """:func:`V.outside_country` for the rows in ``where`` (False elsewhere).  The names need no
    cleaning first: the lookup folds case and white space, and an empty name is unknown."""
    out = np.zeros(len(x), dtype=bool)
    if where.all():
        return V.outside_country(x, y, country.reset_index(drop=True))
    rows = _Rows.of(where)
    out[where] = V.outside_country(x[where], y[where], _filter_series(country, rows))
    return out


def _resolve_columns(
    fmt: str,
    attr_cols: list[str],
    *,
    lon: str | None,
    lat: str | None,
    date: str | None,
    is_vector: bool,
    where: str,
) -> dict[str, str | None]:
    lower: dict[str, str] = {}
    for c in attr_cols:
        lower.setdefault(str(c).strip().lower(), c)
    schema = _SCHEMAS[fmt]
    cols: dict[str, str | None] = {}
    for fld in ("incident_id", "date", "date_end", "date_precision", *_TEXT_FIELDS, "fatalities",
                "geo_precision", "lon", "lat", "country"):
        cols[fld] = next((lower[c] for c in schema.get(fld, ()) if c in lower), None)
    for fld, given in (("lon", lon), ("lat", lat), ("date", date)):
        if given is None:
            continue
        actual = given if given in attr_cols else lower.get(given.strip().lower())
        if actual is None:
            by_lower = {str(c).lower(): str(c) for c in attr_cols}
            close = [by_lower[c] for c in get_close_matches(given.lower(), list(by_lower), n=3,
                                                            cutoff=0.5)]
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise SchemaError(
                f"no column named {given!r} (given with --{fld}); found: {_list_cols(attr_cols)}",
                path=where, fix=f"{hint}name a column of the file with --{fld}",
            )
        cols[fld] = actual
    if is_vector and lon is None and lat is None:
        cols["lon"] = cols["lat"] = None
        required: tuple[str, ...] = ("date",) if fmt in ("acled", "ucdp") else ()
    else:
        required = _REQUIRED[fmt]
    missing = [f for f in required if cols[f] is None]
    if missing:
        raise _schema_error(fmt, missing, attr_cols, where)
    return cols


def _schema_error(fmt: str, missing: list[str], attr_cols: list[str], where: str) -> SchemaError:
    schema = _SCHEMAS[fmt]
    expected = ", ".join(schema[f][0] for f in missing)
    found = _list_cols(attr_cols)
    if fmt == "csv":
        fix = "name the coordinate columns with --lon COL --lat COL (and the date with --date COL)"
        if len(attr_cols) == 1 and any(d in str(attr_cols[0]) for d in ";\t|,"):
            fix = "the delimiter was not recognised; save the file as comma-separated CSV"
        return SchemaError(
            f"no longitude/latitude columns; found: {found}", path=where, fix=fix
        )
    fix = (f"check the file is {_ARTICLE[fmt]} export, or read it as a generic CSV with "
           "--format csv --lon COL --lat COL [--date COL]")
    if missing == ["date"]:
        fix = (f"name the column holding the event dates with --date COLUMN (an export without "
               f"{expected} has no dates to validate)")
    return SchemaError(
        f"required {fmt.upper()} column(s) absent: {expected}; found: {found}",
        path=where,
        fix=fix,
    )


def _list_cols(cols: Sequence[Any], limit: int = 15) -> str:
    names = [str(c) for c in cols]
    text = ", ".join(names[:limit])
    return text + (f", … ({len(names)} columns)" if len(names) > limit else "")


def _vector_xy(frame: gpd.GeoDataFrame, mark: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    gdf = frame
    if gdf.crs is None:
        bounds = gdf.geometry.total_bounds
        if np.all(np.isfinite(bounds)) and (np.abs(bounds[[0, 2]]) > 180).any() | (np.abs(bounds[[1, 3]]) > 90).any():
            raise CRSError(f"{where}: the layer has no CRS and its coordinates are not longitude/latitude."
                           "; fix: add a .prj / CRS to the file")
        log.warning("%s has no CRS; assuming EPSG:4326 (longitude/latitude)", where)
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    missing = shapely.is_missing(geoms)
    empty = missing | shapely.is_empty(geoms)
    tid = shapely.get_type_id(geoms)
    single_multi = (tid == 4) & (shapely.get_num_geometries(geoms) == 1)
    pts = geoms.copy()
    pts[single_multi] = shapely.get_geometry(geoms[single_multi], 0)
    is_point = ((tid == 0) | single_multi) & ~empty
    mark(empty, "empty_geometry")
    mark(~is_point, "non_point_geometry")
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    x[is_point] = shapely.get_x(pts[is_point])
    y[is_point] = shapely.get_y(pts[is_point])
    return x, y


def _points_xy(points: PointCoords, mark: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_vector_xy` for coordinates decoded from GeoParquet (all points, EPSG:4326)."""
    mark(points.empty, "empty_geometry")
    return points.x, points.y


def _date_precision(fmt: str, frame: pd.DataFrame, cols: dict[str, str | None], hint: pd.Series) -> pd.Series:
    n = len(frame)
    col = cols["date_precision"]
    # in place on the parsed array (a fresh one): each np.where made another of millions of rows
    if col is not None:
        v = _whole_in(V.parse_number(frame[col])[0], 1, 4, top=4 if fmt == "ucdp" else None)  # date_prec 4, 5 -> year
    else:
        v = np.full(n, np.nan)
    unset = np.isnan(v)
    if unset.any():
        v[unset] = hint.to_numpy(dtype="float64", na_value=np.nan)[unset]  # 2020-06: a month
        v[np.isnan(v)] = 1  # no precision: a day
    return V.small_ints(v)


def _whole_in(v: np.ndarray, low: float, high: float, *, top: float | None = None) -> np.ndarray:
    """``v`` (changed in place) rounded, capped at ``top`` if given, NaN where not finite or
    outside ``low``..``high``.  A view of other data (a numeric column as read) is copied first."""
    if v.base is not None or not v.flags.writeable:
        v = v.copy()
    v[~np.isfinite(v)] = np.nan
    np.round(v, out=v)
    if top is not None:
        np.minimum(v, top, out=v)  # NaN stays NaN
    v[(v < low) | (v > high)] = np.nan
    return v


def _geo_precision(fmt: str, frame: pd.DataFrame, cols: dict[str, str | None]) -> pd.Series:
    col = cols["geo_precision"]
    if col is None:
        return V.small_ints(np.full(len(frame), np.nan))
    # where_prec 3..7: region or coarser
    return V.small_ints(_whole_in(V.parse_number(frame[col])[0], 1, 9, top=3 if fmt == "ucdp" else None))


def _quarantine(
    frame: pd.DataFrame,
    rej: np.ndarray,
    rows: np.ndarray,
    reasons: Reasons,
    geom_name: str | None,
    malformed: list[tuple[int | None, str, str]],
    extra: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The rejected rows of ``frame`` with their reason and row, then the rows that never
    made it into ``frame`` (``malformed``: row, raw text, reason), in row order."""
    drop = np.zeros(len(frame), dtype=bool)
    drop[rej] = True
    q = _pick_rows(frame, list(frame.columns), drop, _Rows.of(drop))
    if geom_name is not None and geom_name in q.columns:
        column = q[geom_name]
        if isinstance(column.dtype, pd.ArrowDtype):  # WKB from the GeoParquet point reader
            geoms = shapely.from_wkb(column.to_numpy(dtype=object, na_value=None))
        else:
            geoms = np.asarray(column.values, dtype=object)
        q[geom_name] = pd.Series(shapely.to_wkt(geoms), dtype="str")
    for added in ("reason", "source_row"):
        if added in q.columns:
            q = q.rename(columns={added: f"{added}_source"})
    q["reason"] = reasons.names(rej)
    q["source_row"] = pd.Series(rows, dtype="Int64")
    for name, values in (extra or {}).items():
        q[name] = pd.Series(values, dtype="str")
    if malformed:
        m = pd.DataFrame({
            "raw_line": pd.Series([t for _, t, _ in malformed], dtype="str"),
            "reason": pd.Series([why for _, _, why in malformed], dtype="str"),
            "source_row": pd.Series([r if r is not None else pd.NA for r, _, _ in malformed],
                                    dtype="Int64"),
        })
        q = pd.concat([q, m], ignore_index=True) if len(q) else m.reindex(
            columns=[*q.columns, "raw_line"])
        q = q.sort_values("source_row", kind="stable", na_position="last").reset_index(drop=True)
    return q


def _geocode(
    frame: pd.DataFrame,
    cols: dict[str, str | None],
    x: np.ndarray,
    y: np.ndarray,
    missing: np.ndarray,
    places: Sequence[str | Path],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pd.Series, pd.Series]:
    """Place rows without coordinates by their ``location`` against a gazetteer (exact/fuzzy)."""
    n = len(frame)
    status = pd.Series(pd.NA, index=range(n), dtype="str")
    candidates = pd.Series(pd.NA, index=range(n), dtype="str")
    xmiss, ymiss = np.isnan(x) & missing, np.isnan(y) & missing
    if cols["location"] is None or not missing.any():
        return x, y, xmiss, ymiss, status, candidates
    try:
        from .gazetteer import Gazetteer
    except ImportError as exc:  # pragma: no cover - until gazetteer.py lands
        raise InputError("--places needs geoconflict.gazetteer, which is not available in this build",
                         fix="ingest without --places") from exc
    names = V.clean_text(frame[cols["location"]], trim=True)
    todo = missing & names.notna().to_numpy()
    if not todo.any():
        return x, y, xmiss, ymiss, status, candidates
    gaz = Gazetteer.from_files([Path(p) for p in places])
    lower = {str(c).lower(): c for c in frame.columns}
    ctx_cols = [lower[c] for c in _GEOCODE_CONTEXT if c in lower]
    context = None
    if ctx_cols:
        context = pd.DataFrame({c: V.clean_text(frame[c], trim=True)[todo].to_numpy() for c in ctx_cols})
    match = gaz.match(names[todo].reset_index(drop=True), context=context)
    idx = np.flatnonzero(todo)
    st = match["geocode_status"].astype("str").to_numpy(dtype=object)
    placed = np.isin(st, ["exact", "fuzzy"])
    x = x.copy()
    y = y.copy()
    x[idx[placed]] = match["lon"].to_numpy(dtype=float)[placed]
    y[idx[placed]] = match["lat"].to_numpy(dtype=float)[placed]
    status.iloc[idx[placed]] = st[placed]
    if "geocode_candidates" in match.columns:
        cand = match["geocode_candidates"].astype("str").to_numpy(dtype=object)
        candidates.iloc[idx[~placed]] = cand[~placed]
    xmiss = xmiss.copy()
    ymiss = ymiss.copy()
    xmiss[idx[placed]] = False
    ymiss[idx[placed]] = False
    return x, y, xmiss, ymiss, status, candidates


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._p = progress
        self._task = task

    def read(self, done: int, total: int) -> None:
        self._p.update(self._task, completed=done, total=total)

    def stage(self, description: str) -> None:
        self._p.reset(self._task, total=None, description=description)  # pulsing: no known end


@contextlib.contextmanager
def _progress(enabled: bool, description: str) -> Iterator[_Bar | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    with prog:
        yield _Bar(prog, prog.add_task(description, total=None))
