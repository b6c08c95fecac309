"""Incident tables in spreadsheets (``.xlsx``, ``.xlsm``, ``.xlsb``, ``.xls``, ``.ods``).

Analysts keep their own logs of strikes and shelling in Excel, and ACLED and UCDP offer Excel
downloads.  They are read as they come, with calamine (``python-calamine``), into the same text
table a CSV export gives, so every later step (format detection, validation, quarantine) is the
CSV path's:

- **The sheet**: the only sheet with data, or the one named with ``sheet=`` (``--sheet NAME``);
  a workbook with several is refused, naming each sheet and its row count.
- **The header**: the first row with at least two filled cells and at least half as many as the
  fullest of the sheet's first rows, and not followed by a row twice as full, so title lines,
  notes ("Compiled by:", "J. Smith"), group headers and blank rows above the table are passed
  over (the summary says which row of the sheet held the header).
- **Hidden sheets** are read only when named.
- **Cells as a CSV export writes them**: dates ``YYYY-MM-DD`` (with the time when it is not
  midnight), whole numbers without ``.0``, other numbers in their shortest exact form,
  ``TRUE``/``FALSE``, durations ``[h]:mm:ss``, empty cells ``""``.  Formulas give their last
  computed value; error cells (``#N/A``, ``#REF!``) read as empty, as calamine gives them, so a
  row holding nothing but errors reads as a blank row.
- **Rows**: wholly empty rows are dropped; the others keep their numbers counted from the first
  row under the header, as in a CSV (sheet row = that number + the header's row).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import InputError, SchemaError, SizeLimitError

log = logging.getLogger(__name__)

#: rows looked at to find the header
HEADER_SCAN_ROWS = 50


def cell_text(value: Any) -> str:
    """One cell as a CSV export holds it (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 2.0**53:  # exact as an integer
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if not value.microsecond else "microseconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # as Excel shows a duration: [h]:mm:ss
        seconds = round(value.total_seconds())
        sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return str(value)


def _check_size(p: Path, limit: int) -> None:
    """A zipped workbook (xlsx, xlsm, xlsb, ods) is refused when its members (but embedded
    pictures) add up to more than ``limit`` bytes unpacked, before calamine unpacks it; an .xls
    is its own size."""
    if zipfile.is_zipfile(p):
        try:
            with zipfile.ZipFile(p) as zf:  # pictures and thumbnails are not read
                size = sum(i.file_size for i in zf.infolist()
                           if not re.search(r"(^|/)(media|Pictures|Thumbnails|embeddings)/", i.filename))
        except (zipfile.BadZipFile, OSError):
            return  # calamine says what is wrong with it
    else:
        size = p.stat().st_size
    if size > limit:
        raise SizeLimitError(
            f"the workbook unpacks to {size / 1e6:,.0f} MB, over the input limit of {limit / 1e6:,.0f} MB",
            path=p, fix="raise the limit with --max-input-mb MB (ingest) or the environment variable "
                        "GEOCONFLICT_MAX_INPUT_MB=MB, or export the sheet as CSV")


def _filled(row: list[Any]) -> int:
    return sum(1 for v in row if v is not None and v != "")


def find_header(rows: list[list[Any]]) -> int | None:
    """Index of the header row (see the module docstring), or None for a sheet without one."""
    counts = [_filled(r) for r in rows[:HEADER_SCAN_ROWS]]
    most = max(counts, default=0)
    if most < 2:
        return None
    need = max(2, math.ceil(most / 2))
    for i, c in enumerate(counts):
        if c < need:
            continue
        after = next((n for n in counts[i + 1:] if n), 0)
        if after >= 2 * c:  # a note ("Compiled by:", "J. Smith") or a group header over the real one
            continue
        return i
    return next(i for i, c in enumerate(counts) if c >= need)


def _sheet_rows(wb: Any, name: str, p: Path, *, max_cells: int, max_columns: int) -> list[list[Any]]:
    """A sheet's cells as Python values, refused when its used area is past the limits (one
    stray cell far from the table makes calamine's grid, and the lists built from it, huge)."""
    try:
        ws = wb.get_sheet_by_name(name)
        height, width = ws.height, ws.width
        if width > max_columns:
            raise SizeLimitError(f"sheet {name!r} is {width:,} columns wide, over the limit of {max_columns:,}",
                                 path=p, fix="delete the stray cells right of the table, or export it as CSV")
        if height * width > max_cells:
            raise SizeLimitError(
                f"sheet {name!r} spans {height:,} rows x {width:,} columns ({height * width:,} cells, over "
                f"the limit of {max_cells:,}): a stray cell far from the table?", path=p,
                fix="delete the cells outside the table (Ctrl+End shows the last used cell), export the "
                    "sheet as CSV, or raise GEOCONFLICT_MAX_INPUT_MB")
        rows = ws.to_python(skip_empty_area=False)
    except SizeLimitError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read sheet {name!r}: {str(exc)[:200]}", path=p,
                         fix="export the sheet as CSV") from None
    return [list(r) for r in rows]


def _rows_under_header(rows: list[list[Any]]) -> int:
    h = find_header(rows)
    return 0 if h is None else sum(1 for r in rows[h + 1:] if _filled(r))


def read_sheet_table(
    p: Path,
    *,
    sheet: str | None = None,
    max_bytes: int,
    max_columns: int = 250_000,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, list[str], np.ndarray, str, int]:
    """The sheet's table as text: (frame with positional column names, the header's names as
    written, 1-based row numbers under the header, sheet name, 1-based sheet row of the header).
    Raises :class:`InputError` naming the fix."""
    from python_calamine import CalamineWorkbook

    _check_size(p, max_bytes)
    with open(p, "rb") as fh:
        magic = fh.read(8)
    if magic == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" and p.suffix.lower() in (".xlsx", ".xlsm", ".xlsb"):
        raise InputError("the workbook is password-protected (encrypted), or an old .xls under a new name",
                         path=p, fix="save it without a password (or as .xlsx), or export the sheet as CSV")
    try:
        wb = CalamineWorkbook.from_path(str(p))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own types for damaged files
        raise InputError(f"cannot open as a workbook: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}",
                         path=p, fix="check the file opens in a spreadsheet program, or export the sheet as CSV"
                         ) from None
    names = list(wb.sheet_names)
    if sheet is not None and sheet not in names:
        folded = [n for n in names if n.casefold() == sheet.strip().casefold()]  # Excel's own rule
        if len(folded) != 1:
            raise InputError(f"no sheet named {sheet!r}; the workbook has {', '.join(map(repr, names))}",
                             path=p, fix="name one of them with --sheet NAME")
        sheet = folded[0]
    hidden = {m.name for m in wb.sheets_metadata if not str(m.visible).endswith(".Visible")}
    tables: dict[str, list[list[Any]]] = {}
    for name in [sheet] if sheet is not None else [n for n in names if n not in hidden]:
        tables[name] = _sheet_rows(wb, name, p, max_cells=max(1_000_000, max_bytes // 32),
                                   max_columns=max_columns)
    if sheet is None:
        # a sheet holds data when it has a header row and a filled row under it (a sheet of
        # notes, one cell a line, does not)
        rows_under = {n: _rows_under_header(rows) for n, rows in tables.items()}
        with_data = [n for n in names if rows_under.get(n, 0) > 0]
        if len(with_data) > 1:
            listing = ", ".join(f"{n!r} ({rows_under[n]:,} rows)" for n in with_data)
            raise InputError(f"the workbook has {len(with_data)} sheets with data: {listing}", path=p,
                             fix="name the sheet to read with --sheet NAME (sheet= in Python)")
        if not with_data:
            also = f" (hidden sheets, read only when named: {', '.join(map(repr, sorted(hidden)))})" if hidden else ""
            raise InputError(f"the workbook has no sheet with a header and data rows{also}", path=p,
                             fix="check the export, or name a hidden sheet with --sheet NAME")
        sheet = with_data[0]
    rows = tables[sheet]
    h = find_header(rows)
    if h is None:
        raise SchemaError(f"sheet {sheet!r} has no header row (no row with two or more filled cells)",
                          path=p, fix="put the column names in one row above the data")
    width = max(len(r) for r in rows)
    header = [cell_text(v).strip() for v in rows[h]] + [""] * (width - len(rows[h]))
    body = rows[h + 1:]
    keep = [i for i, r in enumerate(body) if _filled(r)]
    # columns with neither a name nor a value are the sheet's empty area, not data
    used = [j for j in range(width) if header[j] or any(j < len(body[i]) and body[i][j] not in (None, "")
                                                        for i in keep)]
    # positional names here; the caller names the columns (its rule for repeated names)
    columns = {
        str(k): pa.array([cell_text(body[i][j]) if j < len(body[i]) else "" for i in keep], type=pa.string())
        for k, j in enumerate(used)
    }
    frame = pa.table(columns).to_pandas() if columns else pd.DataFrame()
    if on_progress is not None:
        on_progress(1, 1)
    if h:
        log.info("%s: sheet %r, header on its row %d (the rows above it are not data)", p, sheet, h + 1)
    # a blank name is named by its sheet column, as in the sheet's CSV export (column_5 is column E)
    names_out = [header[j] or f"column_{j + 1}" for j in used]
    return frame, names_out, np.asarray(keep, dtype=np.int64) + 1, sheet, h + 1
