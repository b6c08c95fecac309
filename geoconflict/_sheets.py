"""Incident tables in spreadsheets (``.xlsx``, ``.xlsm``, ``.xlsb``, ``.xls``, ``.ods``).

Analysts keep their own logs of strikes and shelling in Excel, and ACLED and UCDP offer Excel
downloads.  They are read as they come, with calamine (``python-calamine``), into the same text
table a CSV export gives, so every later step (format detection, validation, quarantine) is the
CSV path's:

- **The sheet**: the only sheet with data, or the one named with ``sheet=`` (``--sheet NAME``);
  a workbook with several is refused, naming each sheet and its row count.
- **The header**: the first row with at least two filled cells and at least half as many as the
  fullest of the sheet's first rows, so title lines, notes and blank rows above the table are
  passed over (the log says which row of the sheet held the header).
- **Cells as a CSV export writes them**: dates ``YYYY-MM-DD`` (with the time when it is not
  midnight), whole numbers without ``.0``, other numbers in their shortest exact form,
  ``TRUE``/``FALSE``, empty cells ``""``.  Formulas give their last computed value.
- **Rows**: wholly empty rows are dropped; the others keep their numbers counted from the first
  row under the header, as in a CSV (sheet row = that number + the header's row).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
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
        if value.is_integer() and abs(value) < 1e15:
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
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def _check_size(p: Path, limit: int) -> None:
    """A zipped workbook (xlsx, xlsm, xlsb, ods) is refused when its members add up to more than
    ``limit`` bytes unpacked, before calamine unpacks it; an .xls is its own size."""
    if zipfile.is_zipfile(p):
        try:
            with zipfile.ZipFile(p) as zf:
                size = sum(i.file_size for i in zf.infolist())
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
    return next(i for i, c in enumerate(counts) if c >= need)


def _rows_under_header(rows: list[list[Any]]) -> int:
    h = find_header(rows)
    return 0 if h is None else sum(1 for r in rows[h + 1:] if _filled(r))


def read_sheet_table(
    p: Path,
    *,
    sheet: str | None = None,
    max_bytes: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, list[str], np.ndarray, str, int]:
    """The sheet's table as text: (frame with positional column names, the header's names as
    written, 1-based row numbers under the header, sheet name, 1-based sheet row of the header).
    Raises :class:`InputError` naming the fix."""
    from python_calamine import CalamineWorkbook

    _check_size(p, max_bytes)
    try:
        wb = CalamineWorkbook.from_path(str(p))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own types for damaged files
        raise InputError(f"cannot open as a workbook: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}",
                         path=p, fix="check the file opens in a spreadsheet program, or export the sheet as CSV"
                         ) from None
    names = list(wb.sheet_names)
    if sheet is not None and sheet not in names:
        raise InputError(f"no sheet named {sheet!r}; the workbook has {', '.join(map(repr, names))}",
                         path=p, fix="name one of them with --sheet NAME")
    tables: dict[str, list[list[Any]]] = {}
    for name in [sheet] if sheet is not None else names:
        try:
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot read sheet {name!r}: {str(exc)[:200]}", path=p,
                             fix="export the sheet as CSV") from None
        tables[name] = [list(r) for r in rows]
    if sheet is None:
        # a sheet holds data when it has a header row and a filled row under it (a sheet of
        # notes, one cell a line, does not)
        rows_under = {n: _rows_under_header(rows) for n, rows in tables.items()}
        with_data = [n for n in names if rows_under[n] > 0]
        if len(with_data) > 1:
            listing = ", ".join(f"{n!r} ({rows_under[n]:,} rows)" for n in with_data)
            raise InputError(f"the workbook has {len(with_data)} sheets with data: {listing}", path=p,
                             fix="name the sheet to read with --sheet NAME (sheet= in Python)")
        if not with_data:
            raise InputError("the workbook has no sheet with a header and data rows", path=p,
                             fix="check the export; there is nothing to read")
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
    # positional names here; the caller names the columns from the header (its own rules for
    # blank and repeated names)
    columns = {
        str(k): pa.array([cell_text(body[i][j]) if j < len(body[i]) else "" for i in keep], type=pa.string())
        for k, j in enumerate(used)
    }
    frame = pa.table(columns).to_pandas() if columns else pd.DataFrame()
    if on_progress is not None:
        on_progress(1, 1)
    if h:
        log.info("%s: sheet %r, header on its row %d (the rows above it are not data)", p, sheet, h + 1)
    return frame, [header[j] for j in used], np.asarray(keep, dtype=np.int64) + 1, sheet, h + 1
