"""Readers for displacement data: long records and origin/destination matrices (CSV or Excel).

Both become one *record table*, one row per movement record (or per non-blank matrix cell):

``record_id, source_row, source_cell, date, origin, destination, origin_context,
destination_context, origin_lon, origin_lat, destination_lon, destination_lat, individuals,
families``

Spreadsheets are read as a raw grid first, so title rows above the table, merged header cells
(filled from their top-left cell), leading empty columns and notes under the table are handled by
header-row detection rather than by assuming the header is row 1.  Rows that cannot be used go to a
quarantine table with a machine-readable ``reason`` (counts above ``MAX_COUNT``:
``implausible_count``, left out of every sum and total); ``Grand Total`` rows and columns are never
taken as places: they are checked against the cells and every disagreement is reported.
"""

from __future__ import annotations

import csv
import io as _io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._dates import parse_date_column, parse_day
from ..errors import InputError, SchemaError
from ..io import require_file

log = logging.getLogger(__name__)

#: how far down a sheet the header row is searched for
HEADER_SEARCH_ROWS = 60
#: a stated total may differ from the sum of its cells by this much (rounded fractional estimates)
TOTAL_TOLERANCE = 0.5
#: a count above this (individuals or families in one record or cell) is not a real movement:
#: quarantined as ``implausible_count`` (1e308 would overflow every sum to infinity)
MAX_COUNT = 1e12

RECORD_COLUMNS = [
    "record_id", "source_row", "source_cell", "date", "origin", "destination", "origin_context",
    "destination_context", "origin_lon", "origin_lat", "destination_lon", "destination_lat",
    "individuals", "families",
]

_TOTAL_RE = re.compile(r"^\s*(grand\s+total|total\s+general|totals?|sum|overall\s+total)\s*$", re.I)
_SUBTOTAL_RE = re.compile(r"^.+\s(total|sum)\s*$", re.I)
#: cell text that means "no movement" in a matrix
_BLANK_TEXT = {"", "-", "–", "—", "n/a", "na", "nil", "none", "."}
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
#: the years a flows date may fall in ("Jan-20" is never year 1)
FLOW_EARLIEST, FLOW_LATEST = pd.Timestamp("1900-01-01"), pd.Timestamp("2100-12-31")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class TotalMismatch:
    """A stated total (Grand Total row/column/corner) that disagrees with its own cells."""

    kind: str  # "row" (a row's total column), "column" (the total row under a column), "grand"
    label: str  # the origin (row), destination (column) or "Grand Total"
    cell: str  # spreadsheet cell of the stated total, e.g. "P7"
    stated: float
    computed: float

    @property
    def difference(self) -> float:
        return self.stated - self.computed

    def describe(self) -> str:
        where = {"row": "row", "column": "column", "grand": "grand total"}[self.kind]
        return (
            f"{where} '{self.label}' (cell {self.cell}): Grand Total says {_fmt(self.stated)} but "
            f"its cells sum to {_fmt(self.computed)} (difference {_fmt(self.difference)})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "cell": self.cell, "stated": self.stated,
                "computed": self.computed, "difference": self.difference}


@dataclass
class ReadReport:
    """What the reader found and did."""

    path: str
    kind: str  # "records" or "matrix"
    sheet: str | None
    header_row: int  # 1-based row of the header in the file / sheet
    columns: dict[str, Any] = field(default_factory=dict)  # role -> column label(s)
    rows_read: int = 0  # records + quarantined (matrix: non-blank cells)
    input_individuals: float = 0.0  # numeric individuals of records and quarantined rows
    blank_cells: int = 0
    total_rows: list[str] = field(default_factory=list)  # labels of total/subtotal rows skipped
    total_mismatches: list[TotalMismatch] = field(default_factory=list)
    level_hint: int | None = None  # 1 governorate, 2 district, 3 sub-district, 4 community
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "kind": self.kind, "sheet": self.sheet, "header_row": self.header_row,
            "columns": self.columns, "rows_read": self.rows_read,
            "input_individuals": self.input_individuals, "blank_cells": self.blank_cells,
            "total_rows": self.total_rows,
            "total_mismatches": [m.as_dict() for m in self.total_mismatches],
            "level_hint": self.level_hint, "notes": self.notes,
        }


@dataclass
class FlowRecords:
    """The result of :func:`read_flows`: records, rows quarantined at read, and the report."""

    records: pd.DataFrame
    quarantine: pd.DataFrame
    report: ReadReport

    def __len__(self) -> int:
        return len(self.records)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def fold_label(value: Any) -> str:
    """A column label for comparison: lower case, punctuation to single spaces."""
    text = "" if value is None else str(value)
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def cell_name(row0: int, col0: int) -> str:
    """0-based (row, column) -> spreadsheet cell name, e.g. (4, 2) -> 'C5'."""
    letters = ""
    n = col0 + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row0 + 1}"


# --------------------------------------------------------------------------------------------
# raw grids
# --------------------------------------------------------------------------------------------

def _read_csv_grid(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    sample = text[:20000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    if "\x00" in text[:65536]:
        raise InputError("binary data, not a CSV table", path=path,
                         fix="give a CSV (UTF-8) or an Excel workbook (.xlsx) of flow records or a matrix")
    try:
        rows = list(csv.reader(_io.StringIO(text), dialect))
    except csv.Error as exc:
        raise InputError(f"cannot read as CSV: {exc}", path=path,
                         fix="check the export (one record per line, quotes balanced); save it as CSV again") from None
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        raise InputError("no rows in the file", path=path, fix="export the table again")
    padded = [r + [""] * (width - len(r)) for r in rows]
    return _normalise_grid(pd.DataFrame(padded, dtype=object))


def _read_excel_grid(path: Path, sheet: str | None) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Grids of the named sheet (or of every sheet), merged cells filled from their top-left."""
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - a declared dependency
        raise InputError("reading Excel needs openpyxl", path=path, fix="pip install openpyxl") from None
    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken files
        raise InputError(f"cannot open as an Excel workbook: {exc}", path=path,
                         fix="save it as .xlsx (Excel 2007+)") from None
    names = list(wb.sheetnames)
    if sheet is not None and sheet not in names:
        raise InputError(f"no sheet named {sheet!r}; the workbook has {', '.join(map(repr, names))}",
                         path=path, fix="name one of them with --sheet NAME")
    grids: dict[str, pd.DataFrame] = {}
    for name in [sheet] if sheet is not None else names:
        ws = wb[name]
        values = [list(r) for r in ws.iter_rows(values_only=True)]
        if not values:
            grids[name] = pd.DataFrame(dtype=object)
            continue
        width = max(len(r) for r in values)
        grid = np.array([r + [None] * (width - len(r)) for r in values], dtype=object)
        for rng in ws.merged_cells.ranges:  # fill merged ranges from their top-left cell
            r0, c0, r1, c1 = rng.min_row - 1, rng.min_col - 1, rng.max_row, rng.max_col
            grid[r0:r1, c0:c1] = grid[r0, c0]
        grids[name] = _normalise_grid(pd.DataFrame(grid, dtype=object))
    wb.close()
    return grids, names


def _normalise_grid(grid: pd.DataFrame) -> pd.DataFrame:
    """Strings stripped, empty strings to None, object dtype, positional 0-based labels."""
    grid = grid.astype(object)
    grid.columns = range(grid.shape[1])
    grid.index = range(grid.shape[0])

    def clean(v: Any) -> Any:
        if isinstance(v, str):
            v = v.replace("\u00a0", " ").strip()
            return v or None
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        return v

    if grid.size == 0:
        return grid
    cleaned = np.vectorize(clean, otypes=[object])(grid.to_numpy(dtype=object))
    return pd.DataFrame(cleaned, dtype=object)  # None stays None (DataFrame.map would give NaN)


def _numbers(grid: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, numeric mask, blank mask) of a grid; '-' and friends count as blank."""
    vals = np.full(grid.shape, np.nan)
    numeric = np.zeros(grid.shape, dtype=bool)
    blank = np.zeros(grid.shape, dtype=bool)
    arr = grid.to_numpy(dtype=object)
    for j in range(arr.shape[1]):  # loop over columns only; cells are parsed vectorised
        col = pd.Series(arr[:, j], dtype=object)
        is_none = col.isna().to_numpy()
        is_num = col.map(lambda v: isinstance(v, (int, float, np.integer, np.floating))
                         and not isinstance(v, bool) and bool(np.isfinite(v))).to_numpy(dtype=bool)
        text = col.where(~is_none & ~is_num, None).astype("string")
        parsed = _parse_number_text(text)
        blank[:, j] = is_none | text.str.lower().isin(list(_BLANK_TEXT)).fillna(False).to_numpy(bool)
        num_from_text = parsed.notna().to_numpy(bool)
        v = np.where(is_num, pd.to_numeric(col.where(is_num, None), errors="coerce").to_numpy(float),
                     parsed.to_numpy(dtype=float, na_value=np.nan))
        vals[:, j] = v
        numeric[:, j] = is_num | num_from_text
    return vals, numeric, blank


def _parse_number_text(text: pd.Series) -> pd.Series:
    """'1,234' -> 1234.0, '12.5' -> 12.5, ' 7 ' -> 7.0; anything else -> NA."""
    t = text.str.strip().str.replace(r"[\s\u00a0]", "", regex=True)
    thousands = t.str.match(_THOUSANDS_RE.pattern, flags=_THOUSANDS_RE.flags).fillna(False)
    t = t.where(~thousands, t.str.replace(",", "", regex=False))
    ok = t.str.match(_NUMBER_RE.pattern, flags=_NUMBER_RE.flags).fillna(False)
    vals = pd.to_numeric(t.where(ok, None), errors="coerce")
    return vals.mask(vals.abs() == np.inf)  # '1e999' overflows: not a count


# --------------------------------------------------------------------------------------------
# column roles (records)
# --------------------------------------------------------------------------------------------

_ORIGIN_WORDS = ("origin", "from", "departure", "source location", "place of origin")
_DEST_WORDS = ("destination", "dest", "to", "arrival", "arrival location", "current location")
_INDIV_WORDS = ("individuals", "individual", "idps", "idp", "persons", "people", "movements",
                "idp movements", "individual movements", "value", "count", "number", "total",
                "population", "ind")
_FAMILY_WORDS = ("families", "family", "households", "household", "hh", "hhs")
_DATE_WORDS = ("date", "month", "period", "reporting date", "movement date", "week", "year month",
               "reporting month", "reporting period")
_LON_WORDS = ("lon", "lng", "long", "longitude", "x")
_LAT_WORDS = ("lat", "latitude", "y")
_LEVEL_WORDS: list[tuple[int, tuple[str, ...]]] = [
    (3, ("sub district", "subdistrict", "nahiya", "nahia", "admin3", "adm3", "admin 3")),
    (4, ("community", "village", "town", "location", "place", "site", "camp", "admin4", "adm4")),
    (2, ("district", "mantika", "admin2", "adm2", "admin 2")),
    (1, ("governorate", "province", "muhafaza", "state", "region", "admin1", "adm1", "admin 1")),
]


def level_of_label(label: str) -> int | None:
    """Admin level a column label or title names (1 governorate ... 4 community), or None."""
    f = f" {fold_label(label)} "
    f = f.replace(" sub district ", " subdistrict ")
    for level, words in _LEVEL_WORDS:
        for w in words:
            if f" {w.replace('sub district', 'subdistrict')} " in f:
                return level
    return None


def _tokens(label: str) -> set[str]:
    return set(fold_label(label).split())


def _has_word(label: str, words: tuple[str, ...]) -> bool:
    f = f" {fold_label(label)} "
    return any(f" {w} " in f for w in words)


def _is_code_label(label: str) -> bool:
    toks = _tokens(label)
    return bool(toks & {"pcode", "code", "p", "id", "admin1pcode", "admin2pcode", "admin3pcode"}) or \
        "pcode" in fold_label(label).replace(" ", "")


def _is_coord_label(label: str) -> bool:
    toks = _tokens(label)
    return bool(toks & set(_LON_WORDS + _LAT_WORDS)) or any(
        t.endswith(("lon", "lat", "longitude", "latitude")) for t in toks
    )


def _endpoint_columns(headers: list[str], words: tuple[str, ...]) -> list[str]:
    """Columns naming one side (origin or destination) only: a matrix corner label such as
    'Origin \\ Destination' names both and is not an endpoint column."""
    other = _DEST_WORDS if words is _ORIGIN_WORDS else _ORIGIN_WORDS
    out = []
    for h in headers:
        if not h or _is_coord_label(h) or _has_word(h, other):
            continue
        if _has_word(h, words):
            out.append(h)
    return out


def _pick_endpoint(cands: list[str], values: pd.DataFrame) -> tuple[str | None, list[str], str | None]:
    """The most specific endpoint column (P-code preferred at equal level), the coarser ones as
    context, and a name column of the same level as the fallback for a missing code."""
    if not cands:
        return None, [], None

    def rank(h: str) -> tuple[int, int]:
        lvl = level_of_label(h)
        specificity = 5 if lvl is None else lvl
        return (specificity, 1 if _is_code_label(h) else 0)

    ordered = sorted(cands, key=rank, reverse=True)
    best = ordered[0]
    # a P-code column and a name column of the same level: the code resolves, the name labels
    context = [h for h in ordered[1:] if level_of_label(h) != level_of_label(best)]
    context = sorted(context, key=lambda h: level_of_label(h) or 0)
    fallback = next((h for h in ordered[1:] if level_of_label(h) == level_of_label(best)
                     and _is_code_label(best) and not _is_code_label(h)), None)
    return best, context, fallback


def _pick_one(headers: list[str], words: tuple[str, ...], *, exclude: set[str]) -> str | None:
    exact = [h for h in headers if h not in exclude and fold_label(h) in words]
    if exact:
        return exact[0]
    loose = [h for h in headers if h not in exclude and _has_word(h, words)]
    return loose[0] if loose else None


def _coord_column(headers: list[str], side_words: tuple[str, ...], axis: tuple[str, ...]) -> str | None:
    for h in headers:
        toks = _tokens(h)
        joined = fold_label(h).replace(" ", "")
        side = any(w in toks for w in side_words) or any(joined.startswith(w) for w in side_words)
        ax = bool(toks & set(axis)) or any(joined.endswith(a) for a in axis if len(a) > 1)
        if side and ax:
            return h
    return None


# --------------------------------------------------------------------------------------------
# public reader
# --------------------------------------------------------------------------------------------

def read_flows(
    path: str | Path,
    *,
    sheet: str | None = None,
    origin_col: str | None = None,
    destination_col: str | None = None,
    individuals_col: str | None = None,
    date_col: str | None = None,
    families_col: str | None = None,
    origin_lon: str | None = None,
    origin_lat: str | None = None,
    destination_lon: str | None = None,
    destination_lat: str | None = None,
    kind: str = "auto",
    date: str | None = None,
    total_tolerance: float = TOTAL_TOLERANCE,
) -> FlowRecords:
    """Read displacement records or an origin/destination matrix from CSV or Excel.

    ``kind`` is ``"records"``, ``"matrix"`` or ``"auto"`` (records when origin, destination and
    individuals columns are found in a header row, else a matrix).  Column options name columns
    exactly as in the file; the others are detected.  ``date`` stamps every record of a matrix (a
    matrix has no date column).  A matrix whose ``Grand Total`` row, column or corner disagrees
    with its cells by more than ``total_tolerance`` gets a :class:`TotalMismatch` in the report.
    """
    p = require_file(path, "flows input")
    if kind not in ("auto", "records", "matrix"):
        raise InputError(f"unknown kind {kind!r}", fix="use auto, records or matrix")
    ext = p.suffix.lower()
    opts = dict(origin_col=origin_col, destination_col=destination_col,
                individuals_col=individuals_col, date_col=date_col, families_col=families_col,
                origin_lon=origin_lon, origin_lat=origin_lat, destination_lon=destination_lon,
                destination_lat=destination_lat)
    if ext in (".xlsx", ".xlsm"):
        grids, names = _read_excel_grid(p, sheet)
    elif ext in (".xls", ".ods"):
        raise InputError(f"{ext} workbooks are not supported", path=p,
                         fix="save the workbook as .xlsx, or export the sheet as CSV")
    else:
        if sheet is not None:
            raise InputError("--sheet applies to Excel workbooks only", path=p,
                             fix="drop --sheet for a CSV file")
        grids, names = {None: _read_csv_grid(p)}, []  # type: ignore[dict-item]
    errors: list[str] = []
    for name, grid in grids.items():
        try:
            result = _read_grid(grid, path=p, sheet=name, kind=kind, date=date,
                                tolerance=total_tolerance, **opts)
        except SchemaError as exc:
            if len(grids) == 1:
                raise
            errors.append(f"sheet {name!r}: {exc.detail}")
            continue
        if len(grids) > 1:
            result.report.notes.append(f"read sheet {name!r} of {', '.join(map(repr, names))}")
            log.info("flows: read sheet %r", name)
        return result
    raise SchemaError(
        "no sheet holds flow records or a matrix (" + "; ".join(errors) + ")",
        path=p, fix="name the sheet with --sheet NAME, or the columns with --origin/--destination",
    )


def _read_grid(grid: pd.DataFrame, *, path: Path, sheet: str | None, kind: str, date: str | None,
               tolerance: float, **opts: Any) -> FlowRecords:
    if grid.empty or grid.notna().sum().sum() == 0:
        raise SchemaError("the table is empty", path=path, fix="export the data again")
    header = None if kind == "matrix" else _find_records_header(grid, opts)
    if header is not None:
        return _read_records(grid, *header, path=path, sheet=sheet, tolerance=tolerance, **opts)
    if kind == "records" or any(opts[k] for k in ("origin_col", "destination_col")):
        named = {k: v for k, v in opts.items() if v}
        plain = {k: None for k in opts}
        h2 = _find_records_header(grid, plain)
        if h2 is not None:  # the header is there: say which named column is not
            return _read_records(grid, *h2, path=path, sheet=sheet, tolerance=tolerance, **opts)
        raise SchemaError(
            "no header row with origin, destination and individuals columns"
            + (f" (looked for {named})" if named else ""),
            path=path,
            fix="name the columns with --origin COL --destination COL --individuals COL",
        )
    return _read_matrix(grid, path=path, sheet=sheet, date=date, tolerance=tolerance,
                        individuals_col=opts.get("individuals_col"))


def _row_labels(grid: pd.DataFrame, r: int) -> list[str]:
    return ["" if v is None else str(v) for v in grid.iloc[r].tolist()]


def _is_records_header(labels: list[str], opts: dict[str, Any]) -> bool:
    labels = [h for h in labels if h]
    if len(labels) < 3:
        return False
    folded = {fold_label(h) for h in labels}
    named = [opts[k] for k in ("origin_col", "destination_col", "individuals_col") if opts[k]]
    if named:
        return all(fold_label(n) in folded for n in named) and bool(
            opts["origin_col"] or _endpoint_columns(labels, _ORIGIN_WORDS)
            or _coord_column(labels, ("origin", "from", "o"), _LON_WORDS))
    has_o = bool(_endpoint_columns(labels, _ORIGIN_WORDS)) or bool(
        _coord_column(labels, ("origin", "from"), _LON_WORDS))
    has_d = bool(_endpoint_columns(labels, _DEST_WORDS)) or bool(
        _coord_column(labels, ("destination", "dest", "to"), _LON_WORDS))
    other = [h for h in labels if not _has_word(h, _ORIGIN_WORDS + _DEST_WORDS)
             and not _TOTAL_RE.match(h)]
    has_n = _pick_one(other, _INDIV_WORDS, exclude=set()) is not None
    return has_o and has_d and has_n


def _find_records_header(grid: pd.DataFrame, opts: dict[str, Any]) -> tuple[int, list[str]] | None:
    """The header of a records table: (last header row, 0-based; labels per column).

    A header may span two rows when merged cells group columns, e.g. ``Origin`` over
    ``Governorate | Sub-district`` and ``Destination`` over the same: the labels are joined
    (``Origin Governorate``)."""
    n = min(HEADER_SEARCH_ROWS, len(grid))
    for r in range(n):
        single = _row_labels(grid, r)
        if r + 1 < len(grid):
            top, bottom = single, _row_labels(grid, r + 1)
            filled = [t for t in top if t]
            merged_above = len(set(filled)) >= 2 and len(set(filled)) < len(filled)
            bottom_text = sum(1 for b in bottom if b) >= 2 and not any(
                _NUMBER_RE.match(b.replace(",", "")) for b in bottom if b)
            if merged_above and bottom_text:
                combined = [(f"{t} {b}" if t and b and t != b else (b or t)).strip()
                            for t, b in zip(top, bottom, strict=False)]
                if _is_records_header(combined, opts) and not _is_records_header(bottom, opts):
                    return r + 1, combined
        if _is_records_header(single, opts):
            return r, single
    return None


def _column(labels: list[str], name: str | None, what: str, path: Path) -> str | None:
    if name is None:
        return None
    for h in labels:
        if h == name:
            return h
    for h in labels:
        if fold_label(h) == fold_label(name):
            return h
    raise SchemaError(f"no column named {name!r} for {what}; columns: "
                      + ", ".join(repr(h) for h in labels if h), path=path,
                      fix=f"check the spelling of the {what} column")


def _read_records(grid: pd.DataFrame, h: int, labels: list[str], *, path: Path, sheet: str | None,
                  tolerance: float, **opts: Any) -> FlowRecords:
    body = grid.iloc[h + 1:].copy()
    # unique labels (duplicates get a suffix), empty labels dropped
    seen: dict[str, int] = {}
    names: list[str] = []
    for lab in labels:
        base = lab or ""
        k = seen.get(base, 0)
        seen[base] = k + 1
        names.append(base if k == 0 else f"{base}.{k}")
    body.columns = names
    body = body.loc[:, [n for n in names if n]]
    body = body.loc[body.notna().any(axis=1)]
    heads = list(body.columns)

    o_lon = _column(heads, opts["origin_lon"], "origin longitude", path) or \
        _coord_column(heads, ("origin", "from", "o"), _LON_WORDS)
    o_lat = _column(heads, opts["origin_lat"], "origin latitude", path) or \
        _coord_column(heads, ("origin", "from", "o"), _LAT_WORDS)
    d_lon = _column(heads, opts["destination_lon"], "destination longitude", path) or \
        _coord_column(heads, ("destination", "dest", "to", "d"), _LON_WORDS)
    d_lat = _column(heads, opts["destination_lat"], "destination latitude", path) or \
        _coord_column(heads, ("destination", "dest", "to", "d"), _LAT_WORDS)

    o_col = _column(heads, opts["origin_col"], "origin", path)
    o_ctx: list[str] = []
    o_fb = d_fb = None
    if o_col is None:
        o_col, o_ctx, o_fb = _pick_endpoint(_endpoint_columns(heads, _ORIGIN_WORDS), body)
    d_col = _column(heads, opts["destination_col"], "destination", path)
    d_ctx: list[str] = []
    if d_col is None:
        d_col, d_ctx, d_fb = _pick_endpoint(_endpoint_columns(heads, _DEST_WORDS), body)
    used = {c for c in (o_col, d_col, o_lon, o_lat, d_lon, d_lat, o_fb, d_fb) if c} | set(o_ctx) | set(d_ctx)
    fam_col = _column(heads, opts["families_col"], "families", path) or \
        _pick_one(heads, _FAMILY_WORDS, exclude=used)
    used |= {fam_col} if fam_col else set()
    n_col = _column(heads, opts["individuals_col"], "individuals", path) or \
        _pick_one([h for h in heads if not _has_word(h, _FAMILY_WORDS)], _INDIV_WORDS, exclude=used)
    used |= {n_col} if n_col else set()
    dt_col = _column(heads, opts["date_col"], "date", path) or _pick_one(heads, _DATE_WORDS, exclude=used)

    if (o_col is None and o_lon is None) or (d_col is None and d_lon is None) or n_col is None:
        raise SchemaError(
            f"cannot tell which columns hold origin, destination and individuals (found origin="
            f"{o_col!r}, destination={d_col!r}, individuals={n_col!r})", path=path, row=h + 1,
            fix="name them with --origin COL --destination COL --individuals COL")
    if (o_lon is None) != (o_lat is None) or (d_lon is None) != (d_lat is None):
        raise SchemaError("a longitude column without its latitude (or the reverse)", path=path,
                          fix="give both --origin-lon and --origin-lat (and the destination pair)")

    n = len(body)
    src_row = body.index.to_numpy() + 1
    out = pd.DataFrame({"record_id": [f"row-{r}" for r in src_row], "source_row": src_row,
                        "source_cell": pd.array([None] * n, dtype="string")})

    def text(col: str | None) -> pd.Series:
        if col is None:
            return pd.Series(pd.array([None] * n, dtype="string"))
        s = body[col].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else (
            str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
        return pd.Series(pd.array(s.tolist(), dtype="string"))

    def ctx(cols: list[str]) -> pd.Series:
        if not cols:
            return pd.Series(pd.array([None] * n, dtype="string"))
        parts = [text(c) for c in cols]
        joined = parts[0].fillna("")
        for p_ in parts[1:]:
            joined = joined.str.cat(p_.fillna(""), sep=" | ")
        return joined.str.strip(" |").replace("", pd.NA)

    def num(col: str | None) -> tuple[np.ndarray, np.ndarray]:
        if col is None:
            return np.full(n, np.nan), np.zeros(n, dtype=bool)
        vals, numeric, blank = _numbers(body[[col]].reset_index(drop=True))
        return vals[:, 0], ~numeric[:, 0] & ~blank[:, 0]

    # a missing code falls back to the name column of the same level
    out["origin"] = text(o_col).fillna(text(o_fb)).to_numpy() if o_fb else text(o_col).to_numpy()
    out["destination"] = (text(d_col).fillna(text(d_fb)).to_numpy() if d_fb
                          else text(d_col).to_numpy())
    out["origin_context"] = ctx(o_ctx).to_numpy()
    out["destination_context"] = ctx(d_ctx).to_numpy()
    coord_bad = np.zeros(n, dtype=bool)
    for name, col in (("origin_lon", o_lon), ("origin_lat", o_lat),
                      ("destination_lon", d_lon), ("destination_lat", d_lat)):
        v, bad = num(col)
        out[name] = v
        coord_bad |= bad
    indiv, indiv_bad = num(n_col)
    fam, _ = num(fam_col)
    # counts no source can mean (1e308): left out of every sum (the row's other, plausible count
    # stays, as quarantined), the row quarantined with the value in its detail
    huge_indiv, huge_fam = np.abs(indiv) > MAX_COUNT, np.abs(fam) > MAX_COUNT
    implausible = huge_indiv | huge_fam
    detail = pd.Series(pd.array([None] * n, dtype="string"))
    if implausible.any():
        detail[implausible] = [_implausible_detail(a, b) for a, b in zip(indiv[implausible], fam[implausible], strict=False)]
        indiv = np.where(huge_indiv, np.nan, indiv)
        fam = np.where(huge_fam, np.nan, fam)
    out["individuals"] = indiv
    out["families"] = fam

    raw_dates = text(dt_col)
    parsed = _parse_dates(body[dt_col].reset_index(drop=True) if dt_col else None, n)
    out["date"] = parsed

    # coordinates stand in for a missing name
    for side in ("origin", "destination"):
        lon, lat = out[f"{side}_lon"], out[f"{side}_lat"]
        has_xy = lon.notna() & lat.notna()
        missing = out[side].isna()
        out.loc[missing & has_xy, side] = (
            lon[missing & has_xy].round(5).astype(str) + "," + lat[missing & has_xy].round(5).astype(str))

    # total rows in a records table ("Grand Total" under an Excel export, "Aleppo Total" subtotal
    # rows of a pivot table): never records; a single Grand Total is checked against the rows
    label_cols = [c for c in heads if c not in {n_col, fam_col, o_lon, o_lat, d_lon, d_lat}]
    is_grand = np.zeros(n, dtype=bool)
    is_sub = np.zeros(n, dtype=bool)
    for c in label_cols:
        t = text(c).fillna("").str.strip()
        is_grand |= t.str.match(_TOTAL_RE.pattern, flags=_TOTAL_RE.flags).fillna(False).to_numpy(bool)
        is_sub |= t.str.match(_SUBTOTAL_RE.pattern, flags=_SUBTOTAL_RE.flags).fillna(False).to_numpy(bool)
    is_sub &= ~is_grand
    is_total = is_grand | is_sub
    report = ReadReport(path=str(path), kind="records", sheet=sheet, header_row=h + 1,
                        columns={"origin": o_col, "destination": d_col, "individuals": n_col,
                                 "families": fam_col, "date": dt_col, "origin_context": o_ctx,
                                 "destination_context": d_ctx, "origin_fallback": o_fb,
                                 "destination_fallback": d_fb, "origin_lon": o_lon,
                                 "origin_lat": o_lat, "destination_lon": d_lon,
                                 "destination_lat": d_lat})
    if is_total.any():
        stated = float(np.nansum(indiv[is_grand]))
        computed = float(np.nansum(indiv[~is_total]))
        report.total_rows = [f"row {r}" + (" (subtotal)" if sub else "")
                             for r, sub in zip(src_row[is_total], is_sub[is_total], strict=False)]
        if is_grand.sum() == 1 and abs(stated - computed) > tolerance:
            r = int(src_row[is_grand][0])
            report.total_mismatches.append(TotalMismatch(
                "grand", "Grand Total", cell_name(r - 1, names.index(n_col)), stated, computed))
        out = out.loc[~is_total].reset_index(drop=True)
        raw_dates = raw_dates[~is_total].reset_index(drop=True)
        indiv_bad = indiv_bad[~is_total]
        coord_bad = coord_bad[~is_total]
        implausible = implausible[~is_total]
        detail = detail[~is_total].reset_index(drop=True)

    reasons = pd.Series(pd.array([None] * len(out), dtype="string"))
    date_bad = raw_dates.notna().to_numpy(bool) & out["date"].isna().to_numpy(bool)
    checks = [
        (out["origin"].isna().to_numpy(bool), "missing_origin"),
        (out["destination"].isna().to_numpy(bool), "missing_destination"),
        (coord_bad, "non_numeric_coordinate"),
        (implausible, "implausible_count"),
        (indiv_bad, "non_numeric_individuals"),
        (out["individuals"].isna().to_numpy(bool) & ~indiv_bad, "missing_individuals"),
        (out["individuals"].to_numpy(float) < 0, "negative_individuals"),
        (date_bad, "unparseable_date"),
    ]
    for mask, reason in checks:
        reasons = reasons.where(~(mask & reasons.isna().to_numpy(bool)), reason)
    return _finish(out, reasons, report, raw_individuals=None, detail=detail)


def _implausible_detail(individuals: float, families: float = np.nan) -> str:
    parts = [f"{what} {v:g}" for what, v in (("individuals", individuals), ("families", families))
             if np.isfinite(v) and abs(v) > MAX_COUNT]
    return f"{', '.join(parts)} above {MAX_COUNT:g}: not a count of people"


def _parse_dates(values: pd.Series | None, n: int) -> pd.Series:
    """Dates of a flows table (``Jan-20`` and day-first guesses too; years 1900..2100)."""
    if values is None:
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    return parse_date_column(values, lenient=True, earliest=FLOW_EARLIEST,
                             latest=FLOW_LATEST).dates.set_axis(range(n))


def _finish(out: pd.DataFrame, reasons: pd.Series, report: ReadReport,
            raw_individuals: Any, detail: pd.Series | None = None) -> FlowRecords:
    bad = reasons.notna().to_numpy(bool)
    quarantine = out.loc[bad].copy()
    quarantine["reason"] = reasons[bad].to_numpy()
    if detail is not None and detail[bad].notna().any():
        quarantine["detail"] = detail[bad].fillna(reasons[bad]).to_numpy()
    quarantine["side"] = pd.array([None] * len(quarantine), dtype="string")
    quarantine["candidates"] = pd.array([""] * len(quarantine), dtype="string")
    records = out.loc[~bad].reset_index(drop=True)
    records = records[RECORD_COLUMNS]
    report.rows_read = len(out)
    report.input_individuals = float(np.nansum(out["individuals"].to_numpy(float)))
    q_sum = float(np.nansum(quarantine["individuals"].to_numpy(float)))
    r_sum = float(records["individuals"].sum())
    if len(records) + len(quarantine) != report.rows_read or not (
            abs(r_sum + q_sum - report.input_individuals) <= 1e-6 * max(1.0, report.input_individuals)):
        raise InputError(
            f"rows or individuals do not add up after reading ({len(records)} kept + "
            f"{len(quarantine)} quarantined of {report.rows_read} rows; {r_sum:g} + {q_sum:g} of "
            f"{report.input_individuals:g} individuals)", path=report.path,
            fix="check the counts are plain numbers of people; report the file if they are")
    for m in report.total_mismatches:
        log.warning("flows: %s", m.describe())
    return FlowRecords(records=records, quarantine=quarantine.reset_index(drop=True), report=report)


# --------------------------------------------------------------------------------------------
# matrices
# --------------------------------------------------------------------------------------------

_MONTH_WORD = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\b", re.I)
_MONTH_YEAR = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?[\s,-]+((?:19|20)\d{2})\b", re.I)


def _date_from_title(rows: np.ndarray, report: ReadReport) -> str | None:
    """A matrix's month from the title rows above it ('... February 2020'), only when the title
    names exactly one month (a range such as 'January - March 2020' gives none)."""
    texts = list(dict.fromkeys(v for v in np.ravel(rows) if isinstance(v, str)))
    joined = " ".join(texts)
    if len(_MONTH_WORD.findall(joined)) != 1:
        return None
    m = _MONTH_YEAR.search(joined)
    if not m:
        return None
    stamp = pd.to_datetime(f"{m.group(1)[:3]} {m.group(2)}", format="%b %Y")
    report.notes.append(f"dated {stamp:%Y-%m} from the title {m.group(0)!r} "
                        "(give --matrix-date to override)")
    return f"{stamp:%Y-%m-%d}"


def _read_matrix(grid: pd.DataFrame, *, path: Path, sheet: str | None, date: str | None,
                 tolerance: float, individuals_col: str | None = None) -> FlowRecords:
    vals, numeric, blank = _numbers(grid)
    arr = grid.to_numpy(dtype=object)
    is_text = np.vectorize(lambda v: isinstance(v, str), otypes=[bool])(arr) & ~numeric & ~blank
    nrows, ncols = arr.shape
    has_num = np.asarray(numeric.any(axis=1))
    first_num = np.where(has_num, numeric.argmax(axis=1), ncols)
    # data rows: a text label somewhere before the first number
    label_before = np.array([is_text[r, : first_num[r]].any() for r in range(nrows)])
    data_like = has_num & label_before
    if not data_like.any():
        first = ", ".join(str(v) for v in arr[0] if v is not None)[:200] if nrows else ""
        raise SchemaError("neither flow records (origin, destination, individuals columns) nor an "
                          "origin/destination matrix (labelled rows of numbers) found"
                          + (f"; first row: {first}" if first else ""), path=path,
                          fix="name the columns with --origin/--destination/--individuals, or check "
                              "the sheet with --sheet NAME")
    dc = int(pd.Series(first_num[data_like]).mode().min())  # first data column
    first_data = int(np.argmax(data_like & (first_num >= dc)))
    # header: the last row above the first data row with text in the data columns
    h = None
    for r in range(first_data - 1, -1, -1):
        if is_text[r, dc:].sum() >= 1 and (is_text[r, dc:].sum() >= 2 or is_text[r, :dc].any()):
            h = r
            break
    if h is None:
        raise SchemaError("matrix without a header row of destination names", path=path,
                          row=first_data + 1, fix="add the destination names above the numbers")
    label_cols = [c for c in range(dc) if is_text[first_data:, c].any()]
    if not label_cols:
        raise SchemaError("matrix without origin labels", path=path, fix="label each row")
    lab_c = label_cols[-1]
    ctx_cols = label_cols[:-1]
    heads = arr[h]
    dest_cols = [c for c in range(dc, ncols) if isinstance(heads[c], str) or heads[c] is not None]
    header_text = " ".join(str(v) for v in arr[: h + 1].ravel() if isinstance(v, str))
    report = ReadReport(path=str(path), kind="matrix", sheet=sheet, header_row=h + 1)
    corner = arr[h, lab_c]
    report.columns = {"corner": None if corner is None else str(corner),
                      "origin_labels": cell_name(h, lab_c)[:-len(str(h + 1))],
                      "destinations": [str(heads[c]) for c in dest_cols]}
    report.level_hint = level_of_label(header_text)
    if date is None:
        date = _date_from_title(arr[:h], report)

    head_str = np.array(["" if heads[c] is None else str(heads[c]) for c in range(ncols)], dtype=object)
    total_cols = [c for c in dest_cols if _TOTAL_RE.match(head_str[c])]
    sub_cols = [c for c in dest_cols if c not in total_cols and _SUBTOTAL_RE.match(head_str[c])]
    place_cols = [c for c in dest_cols if c not in total_cols and c not in sub_cols]
    # destination context: a row above the header with group names (merged cells filled)
    dest_ctx = np.array([None] * ncols, dtype=object)
    if h > 0:
        above = arr[h - 1]
        vals_above = [above[c] for c in place_cols if isinstance(above[c], str)]
        if len(set(vals_above)) >= 2:
            filled = pd.Series(above[dc:], dtype=object).ffill().to_numpy()
            dest_ctx[dc:] = filled

    # data block: rows after the header down to the last row with numbers
    # the block ends at the first empty row after the first data row, or at the Grand Total row
    occupied = np.array([any(v is not None for v in arr[r]) for r in range(nrows)], dtype=bool)
    end = nrows
    for r in range(first_data, nrows):
        lab0 = arr[r, lab_c]
        if isinstance(lab0, str) and _TOTAL_RE.match(lab0):
            end = r + 1
            break
        if not occupied[r]:
            end = r
            break
    below = [r + 1 for r in range(end, nrows) if has_num[r]]
    if below:
        note = f"rows under the table not read although they hold numbers: {below[:10]}"
        report.notes.append(note)
        log.warning("flows: %s", note)
    rows = np.arange(h + 1, end)
    rows = rows[(has_num[rows]) | is_text[rows][:, label_cols].any(axis=1)] if len(rows) else rows
    labels = np.array([arr[r, lab_c] if isinstance(arr[r, lab_c], str) else
                       (None if arr[r, lab_c] is None else str(arr[r, lab_c])) for r in rows], dtype=object)
    ctx_vals = None
    if ctx_cols:
        ctx_frame = pd.DataFrame(arr[rows][:, ctx_cols]).ffill()
        ctx_vals = ctx_frame.astype("string").fillna("").agg(" | ".join, axis=1).str.strip(" |").to_numpy()
    lab_str = np.array(["" if v is None else v for v in labels], dtype=object)
    is_total_row = np.array([bool(_TOTAL_RE.match(s)) for s in lab_str], dtype=bool)
    ctx_total = np.zeros(len(rows), dtype=bool)
    if ctx_cols:
        for c in ctx_cols:
            ctx_total |= np.array([isinstance(arr[r, c], str) and bool(_TOTAL_RE.match(arr[r, c]) or
                                   _SUBTOTAL_RE.match(arr[r, c])) for r in rows], dtype=bool)
    is_sub_row = np.array([bool(_SUBTOTAL_RE.match(s)) for s in lab_str], dtype=bool) & ~is_total_row
    is_sub_row |= ctx_total & ~is_total_row & (lab_str == "")
    is_total_row |= ctx_total & np.array([any(isinstance(arr[r, c], str) and bool(_TOTAL_RE.match(arr[r, c]))
                                              for c in ctx_cols) for r in rows], dtype=bool)
    report.total_rows = [
        f"row {r + 1} ({next((v for v in arr[r, label_cols] if isinstance(v, str)), 'total')})"
        for i, r in enumerate(rows) if is_total_row[i] or is_sub_row[i]]
    data_rows = rows[~is_total_row & ~is_sub_row]
    data_idx = np.flatnonzero(~is_total_row & ~is_sub_row)
    if total_cols or sub_cols:
        report.notes.append("total columns not read as destinations: "
                            + ", ".join(head_str[c] for c in total_cols + sub_cols))

    # counts no source can mean (1e308) are left out of every total and quarantined below
    implausible = numeric & (np.abs(vals) > MAX_COUNT)
    raw_vals = vals.copy()
    numeric = numeric & ~implausible
    # one record per non-blank cell of the place block
    pc = np.array(place_cols, dtype=int)
    block_vals = vals[np.ix_(data_rows, pc)] if len(data_rows) and len(pc) else np.zeros((0, 0))
    block_num = numeric[np.ix_(data_rows, pc)] if len(data_rows) and len(pc) else np.zeros((0, 0), bool)
    block_blank = blank[np.ix_(data_rows, pc)] if len(data_rows) and len(pc) else np.zeros((0, 0), bool)
    keep = (block_num & (block_vals != 0)) | (~block_num & ~block_blank)
    report.blank_cells = int(block_blank.sum() + (block_num & (block_vals == 0)).sum())
    ri, ci = np.nonzero(keep)
    grid_r, grid_c = data_rows[ri], pc[ci]
    n = len(ri)
    out = pd.DataFrame({
        "record_id": [cell_name(r, c) for r, c in zip(grid_r, grid_c, strict=False)],
        "source_row": grid_r + 1,
        "source_cell": pd.array([cell_name(r, c) for r, c in zip(grid_r, grid_c, strict=False)], dtype="string"),
        "date": pd.Series(parse_day(date, what="--matrix-date") if date else pd.NaT, index=range(n),
                          dtype="datetime64[ns]"),
        "origin": pd.array(list(labels[data_idx][ri]), dtype="string"),
        "destination": pd.array([head_str[c] or None for c in grid_c], dtype="string"),
        "origin_context": pd.array(list(ctx_vals[data_idx][ri]) if ctx_vals is not None else [None] * n,
                                   dtype="string"),
        "destination_context": pd.array([dest_ctx[c] for c in grid_c], dtype="string"),
        "origin_lon": np.nan, "origin_lat": np.nan, "destination_lon": np.nan, "destination_lat": np.nan,
        "individuals": block_vals[ri, ci] if n else np.zeros(0),
        "families": np.nan,
    })
    if ctx_vals is not None:
        out["origin_context"] = out["origin_context"].replace("", pd.NA)
    # the Grand Total checks
    if total_cols:
        tc = total_cols[0]
        for i, r in zip(data_idx, data_rows, strict=False):
            computed = float(np.nansum(np.where(numeric[r, pc], vals[r, pc], 0.0)))
            stated = vals[r, tc] if numeric[r, tc] else (0.0 if blank[r, tc] else np.nan)
            if np.isnan(stated) or abs(stated - computed) > tolerance:
                report.total_mismatches.append(TotalMismatch(
                    "row", lab_str[i] or f"row {r + 1}", cell_name(r, tc),
                    float(stated), computed))
    total_row_idx = [r for i, r in enumerate(rows) if is_total_row[i]]
    if total_row_idx:
        tr = total_row_idx[-1]
        for c in pc:
            computed = float(np.nansum(np.where(numeric[data_rows, c], vals[data_rows, c], 0.0)))
            stated = vals[tr, c] if numeric[tr, c] else (0.0 if blank[tr, c] else np.nan)
            if np.isnan(stated) or abs(stated - computed) > tolerance:
                report.total_mismatches.append(TotalMismatch(
                    "column", head_str[c], cell_name(tr, c), float(stated), computed))
        if total_cols and numeric[tr, total_cols[0]]:
            computed = float(np.nansum(np.where(block_num, block_vals, 0.0)))
            stated = float(vals[tr, total_cols[0]])
            if abs(stated - computed) > tolerance:
                report.total_mismatches.append(TotalMismatch(
                    "grand", "Grand Total", cell_name(tr, total_cols[0]), stated, computed))

    nonnum = ~block_num[ri, ci] if n else np.zeros(0, bool)
    impl = implausible[grid_r, grid_c] if n else np.zeros(0, bool)
    detail = pd.Series(pd.array([None] * n, dtype="string"))
    if impl.any():
        detail[impl] = [_implausible_detail(v) for v in raw_vals[grid_r[impl], grid_c[impl]]]
    reasons = pd.Series(pd.array([None] * n, dtype="string"))
    checks = [
        (out["origin"].isna().to_numpy(bool), "missing_origin"),
        (out["destination"].isna().to_numpy(bool), "missing_destination"),
        (impl, "implausible_count"),
        (nonnum, "non_numeric_individuals"),
        (out["individuals"].to_numpy(float) < 0, "negative_individuals"),
    ]
    for mask, reason in checks:
        reasons = reasons.where(~(mask & reasons.isna().to_numpy(bool)), reason)
    if nonnum.any():
        out.loc[nonnum, "individuals"] = np.nan
    return _finish(out, reasons, report, raw_individuals=None, detail=detail)
