"""Dates: one parser for a column of dates, one for a day or a moment given as an option.

- :func:`parse_date_column`: a whole column (ACLED ``2020-06-08``, ``08 June 2020``,
  ``08-06-2020``, ISO 8601 with a time, spreadsheet date cells) to datetime64[ns] with the masks
  of missing and unreadable cells: vectorised, each distinct text parsed once.  Used by
  incidents (unreadable rows are quarantined) and flows (``lenient``: also ``Jan-20`` and the
  other forms pandas can guess, day first).
- :func:`require_dates`: the same parse for layers whose dates must all be readable (control
  layers): one error naming the file, the row or feature, the column and the fix.
- :func:`parse_day`, :func:`parse_moment`: one day / one day and time from an option
  (``--on 2020-03-06``, ``--start 2020-03-06T00:01``), in :data:`DAY_RANGE_TEXT`.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._validate import by_distinct, np_bool, small_ints, trim_missing
from .errors import InputError, describe

__all__ = [
    "DATE_FIX",
    "DATE_FORMATS",
    "DAY_RANGE_TEXT",
    "EARLIEST_DAY",
    "LATEST_DAY",
    "OPEN_TOKENS",
    "ParsedDates",
    "date_error",
    "in_day_range",
    "parse_date_column",
    "parse_day",
    "parse_moment",
    "require_dates",
]

#: day-first and named-month formats tried, in order, on what ISO 8601 could not read
DATE_FORMATS = (
    "%d %B %Y",   # 08 June 2020 (ACLED)
    "%d-%m-%Y",   # 08-06-2020 (ACLED)
    "%d %b %Y",   # 08 Jun 2020
    "%d-%b-%Y",   # 08-Jun-2020 (Excel)
    "%d/%m/%Y",   # 08/06/2020 (day first, as ACLED's own exports)
    "%d.%m.%Y",   # 08.06.2020
    "%Y/%m/%d",   # 2020/06/08
    "%B %d, %Y",  # June 8, 2020
    "%b %d, %Y",  # Jun 8, 2020
    "%d %B %Y %H:%M",
)
_MIN_DATE = pd.Timestamp("1678-01-02")
_MAX_DATE = pd.Timestamp("2261-12-31")

#: formats pyarrow's strptime tries first (fast, C++), in order
_ARROW_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S.000", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M",
)
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")
_DAY_FIRST = r"^(?P<d>[0-9]{1,2})"
_DAY_THIRD = r"^[0-9]{4}[-/][0-9]{1,2}[-/](?P<d>[0-9]{1,2})"




#: the days a control layer, a --date/--on or a ceasefire --start may name (inclusive): far
#: inside pandas' datetime64[ns] range (1677-09-21 .. 2262-04-11), and any real control layer
EARLIEST_DAY = pd.Timestamp("1800-01-01")
LATEST_DAY = pd.Timestamp("2200-12-31")
DAY_RANGE_TEXT = f"{EARLIEST_DAY:%Y-%m-%d} .. {LATEST_DAY:%Y-%m-%d}"
#: cell texts that mean "no end" in a validity column (``valid_to`` left open)
OPEN_TOKENS = frozenset({"", "open", "..", "none", "null", "nan", "nat", "-"})
#: the fix every "cannot read the date" error gives
DATE_FIX = ("write dates as YYYY-MM-DD (2020-06-08), DD Month YYYY (08 June 2020) or DD-MM-YYYY "
            "(08-06-2020)")
#: "Jan-20", "Feb 20": a month and a two-digit year (flows tables)
_MON_YY = re.compile(r"^([A-Za-z]{3,9})[-\s/.']*(\d{2})$")
_ONE_DAY = pd.Timedelta(days=1)


def in_day_range(ts: Any) -> bool:
    """True when the moment ``ts`` (any resolution) falls on a day in EARLIEST_DAY .. LATEST_DAY."""
    return bool(EARLIEST_DAY <= pd.Timestamp(ts) < LATEST_DAY + _ONE_DAY)


class ParsedDates(NamedTuple):
    """:func:`parse_date_column`'s answer (unpacks as a 4-tuple)."""

    dates: pd.Series       #: datetime64[ns], NaT where missing or unreadable
    missing: np.ndarray    #: bool: empty cell (or a null token: ``NA``, ``-``, ...)
    invalid: np.ndarray    #: bool: a value that is not a readable date
    hint: pd.Series        #: Int8 precision hint: 4 for ``2020`` (a year), 3 for ``2020-06``, else <NA>


def parse_date_column(
    values: pd.Series,
    *,
    lenient: bool = False,
    earliest: pd.Timestamp | None = None,
    latest: pd.Timestamp | None = None,
) -> ParsedDates:
    """Dates of a column of text, date cells or datetimes.

    Reads ISO 8601 (with or without a time, ``T`` or space), ``08 June 2020``, ``08-06-2020``
    and the other day-first forms of :data:`DATE_FORMATS`; spreadsheet date cells (``datetime``,
    ``date`` objects) as they are.  ``lenient``: also ``Jan-20`` (a month, two-digit year) and
    what pandas can guess, day first.  Time zones are converted to UTC and dropped.  Dates
    before ``earliest`` or after ``latest`` (days, inclusive) are unreadable.  Each distinct text
    is parsed once; formats are tried in turn on what is still unread.
    """
    s = values
    n = len(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        out = pd.Series(to_ns(s), index=s.index)
        hint = small_ints(np.full(n, np.nan), index=s.index)
        missing = s.isna().to_numpy()
        invalid = out.isna().to_numpy() & ~missing  # outside datetime64[ns]
    else:
        cells = _date_cells(s)
        parsed, missing, hint_code = by_distinct(s if cells is None else s.where(~cells, None),
                                                  _parse_date_texts)
        if cells is not None:  # spreadsheet date cells: read as they are
            parsed[cells] = pd.to_datetime(s[cells].map(pd.Timestamp), utc=True).dt.tz_localize(
                None).to_numpy(dtype="datetime64[s]")
            missing = missing & ~cells
        out = pd.Series(to_ns(parsed), index=s.index)
        invalid = ~missing & out.isna().to_numpy()  # unreadable, or outside datetime64[ns]
        hint = small_ints(np.where(hint_code == 0, np.nan, hint_code), index=s.index)
        if lenient and invalid.any():
            out[invalid] = _guess(s[invalid]).to_numpy()
    if earliest is not None or latest is not None:
        days = out.dt.floor("D")
        far = np.zeros(n, dtype=bool)
        if earliest is not None:
            far |= (days < earliest).to_numpy(bool)
        if latest is not None:
            far |= (days > latest).to_numpy(bool)
        out = out.where(~far)
    invalid = ~missing & out.isna().to_numpy(bool)
    return ParsedDates(out, missing, invalid, hint)


def _date_cells(s: pd.Series) -> np.ndarray | None:
    """Cells holding date objects (a spreadsheet's date cells) in an object column, else None."""
    if s.dtype != object:
        return None
    cells = s.map(lambda v: hasattr(v, "year") and not isinstance(v, str)).to_numpy(bool)
    return cells if cells.any() else None


_NS_LO = np.datetime64(pd.Timestamp.min.ceil("D").to_datetime64(), "s")
_NS_HI = np.datetime64(pd.Timestamp.max.floor("D").to_datetime64(), "s")


def to_ns(values: Any) -> np.ndarray:
    """Dates of any resolution as datetime64[ns]; a date outside that type's range (before
    1677-09-22 or after 2262-04-11) becomes NaT (unreadable) instead of wrapping round or raising."""
    a = np.asarray(values)
    if a.dtype.kind != "M":
        a = np.asarray(pd.to_datetime(values, errors="coerce"))
    a = a.astype("datetime64[s]") if a.dtype != np.dtype("datetime64[ns]") else a
    if a.dtype == np.dtype("datetime64[ns]"):
        return a
    out = np.full(a.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnat(a) & (a >= _NS_LO) & (a <= _NS_HI)
    out[ok] = a[ok].astype("datetime64[ns]")
    return out


def _guess(texts: pd.Series) -> pd.Series:
    """Dates of texts the strict formats could not read: ``Jan-20`` (a month, a two-digit year),
    then pandas' guess, day first."""
    strs = texts.astype(str).str.strip()
    short = strs.str.match(_MON_YY.pattern, flags=_MON_YY.flags).fillna(False).to_numpy(bool)
    got = pd.Series(pd.NaT, index=strs.index, dtype="datetime64[ns]")
    if short.any():
        norm = strs[short].str.replace(_MON_YY.pattern, lambda m: f"{m.group(1)[:3]}-{m.group(2)}",
                                       regex=True, flags=_MON_YY.flags)
        got[short] = to_ns(pd.to_datetime(norm, errors="coerce", format="%b-%y"))
    if (~short).any():
        guessed = pd.to_datetime(strs[~short], errors="coerce", format="mixed", dayfirst=True)
        if isinstance(guessed.dtype, pd.DatetimeTZDtype):
            guessed = guessed.dt.tz_convert("UTC").dt.tz_localize(None)
        got[~short] = to_ns(guessed)
    return got


def date_error(
    values: pd.Series,
    bad: np.ndarray,
    *,
    path: str | None,
    column: str | None,
    rows: np.ndarray | None = None,
    features: np.ndarray | None = None,
    error: type[InputError] = InputError,
) -> InputError:
    """The one "cannot read the date" error: the first bad cell's value, its row (``rows``:
    1-based data rows) or feature, the column, how many in all and :data:`DATE_FIX`."""
    i = int(np.flatnonzero(bad)[0])
    shown = values.iloc[i]
    if isinstance(shown, pd.Timestamp) and shown == shown.floor("D"):
        shown = f"{shown:%Y-%m-%d}"
    count = int(np.count_nonzero(bad))
    return error(
        f"cannot read the date {describe(str(shown))} as a day in {DAY_RANGE_TEXT} "
        f"({count} bad value(s) in all)",
        path=path, column=column,
        row=int(rows[i]) if rows is not None else None,
        feature=int(features[i]) if features is not None else None,
        fix=f"{DATE_FIX}; leave the cell empty where there is no date",
    )


def require_dates(
    values: pd.Series,
    *,
    path: str | None,
    column: str | None,
    rows: np.ndarray | None = None,
    features: np.ndarray | None = None,
    open_ok: bool = False,
    error: type[InputError] = InputError,
) -> pd.Series:
    """Days (datetime64[ns], floored) of a column whose every value must be a readable date in
    :data:`DAY_RANGE_TEXT`; empty cells are NaT (``open_ok``: also ``open``, ``..``, ``-``).

    A number is not a date (pandas would read 43896 as nanoseconds after 1970; it is probably
    an Excel serial day): refused like any other unreadable value.  Raises :func:`date_error`.
    """
    s = values
    number = np.zeros(len(s), dtype=bool)
    if s.dtype == object or pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        number = s.map(lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                       and not pd.isna(v)).to_numpy(bool)
    if open_ok and (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
        blank = s.map(lambda v: isinstance(v, str) and v.strip().lower() in OPEN_TOKENS).to_numpy(bool)
        s = s.where(~blank, None) if blank.any() else s
    parsed = parse_date_column(s.where(~number, None) if number.any() else s,
                               earliest=EARLIEST_DAY, latest=LATEST_DAY)
    bad = parsed.invalid | number
    if bad.any():
        raise date_error(values, bad, path=path, column=column, rows=rows, features=features,
                         error=error)
    return parsed.dates.dt.floor("D").astype("datetime64[ns]")


def _option_timestamp(value: Any) -> pd.Timestamp | Any:
    if isinstance(value, pd.Timestamp):
        return value
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def parse_day(value: Any, *, what: str = "date") -> pd.Timestamp:
    """A day from text or a timestamp (``2020-03-06``) in :data:`DAY_RANGE_TEXT`; an
    :class:`InputError` naming ``what`` (the option) otherwise.  A time zone is dropped."""
    ts = _option_timestamp(value)
    if pd.isna(ts):
        raise InputError(f"cannot read the {what} {value!r}", fix="write it as YYYY-MM-DD")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    if not in_day_range(ts):
        raise InputError(f"the {what} {value!r} is outside {DAY_RANGE_TEXT}",
                         fix=f"give a day in {DAY_RANGE_TEXT} as YYYY-MM-DD")
    return ts.floor("D").as_unit("ns")


def parse_moment(value: Any, *, what: str = "--start") -> pd.Timestamp:
    """A moment from text (``2020-03-06T00:01``, ``2020-03-06 00:01``, ``2020-03-06``) or a
    timestamp, in :data:`DAY_RANGE_TEXT`; a time zone is converted to UTC and dropped."""
    ts = _option_timestamp(value)
    if pd.isna(ts):
        raise InputError(
            f"cannot read the {what} time {value!r}",
            fix="write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM, e.g. 2020-03-06T00:01",
        )
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if not in_day_range(ts):
        raise InputError(
            f"the {what} time {value!r} is outside {DAY_RANGE_TEXT}",
            fix=f"give a time in {DAY_RANGE_TEXT}, e.g. 2020-03-06T00:01",
        )
    return pd.Timestamp(ts).as_unit("ns")


def _parse_date_texts(a: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(a)
    t, missing = trim_missing(a)
    parsed = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    hint = np.zeros(n, dtype=np.int8)
    idx = np.flatnonzero(~missing)
    cur = t.filter(pa.array(~missing))
    if len(idx):
        hint[idx[np_bool(pc.match_substring_regex(cur, r"^[0-9]{4}$"))]] = 4
        hint[idx[np_bool(pc.match_substring_regex(cur, r"^[0-9]{4}-[0-9]{1,2}$"))]] = 3
    for fmt in _ARROW_FORMATS:
        if not len(idx):
            break
        idx, cur = _try_format(cur, idx, parsed, fmt)
    if len(idx):  # month names: "08 June 2020", "8-Jun-2020" -> "08-06-2020"
        named = pc.utf8_lower(cur)
        for i, month in enumerate(_MONTHS):
            named = pc.replace_substring_regex(named, f"[ -]{month[:3]}({month[3:]})?[ -]", f"-{i + 1:02d}-")
        keep_idx, keep_cur = idx, cur
        idx, named = _try_format(named, idx, parsed, "%d-%m-%Y")
        cur = keep_cur.filter(pa.array(np.isin(keep_idx, idx))) if len(idx) < len(keep_idx) else keep_cur
    if len(idx):  # the rest: pandas' ISO 8601 reader (fractions, offsets), then other forms
        rest = pd.Series(cur.to_pandas().to_numpy(dtype=object), dtype=object)
        got = pd.to_datetime(rest, format="ISO8601", errors="coerce", utc=True)
        for fmt in DATE_FORMATS:
            todo = got.isna()
            if not todo.any():
                break
            got[todo] = pd.to_datetime(rest[todo], format=fmt, errors="coerce", utc=True)
        parsed[idx] = got.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
    bad = (parsed < np.datetime64(_MIN_DATE, "s")) | (parsed > np.datetime64(_MAX_DATE, "s"))
    parsed[bad] = np.datetime64("NaT")
    return parsed, missing, hint


def _try_format(
    cur: pa.ChunkedArray, idx: np.ndarray, parsed: np.ndarray, fmt: str
) -> tuple[np.ndarray, pa.ChunkedArray]:
    r = pc.strptime(cur, format=fmt, unit="s", error_is_null=True)
    got = np_bool(pc.is_valid(r))
    if not got.any():
        return idx, cur
    pos = np.flatnonzero(got)
    vals = r.filter(pa.array(got))
    # pyarrow rolls impossible days over (2020-02-30 -> 2020-03-01): a result on day 1-3 must
    # carry the day written in the text, else the cell is left for the strict reader
    sus = np.asarray(pc.less_equal(pc.day(vals), 3).to_numpy(zero_copy_only=False), dtype=bool)
    if sus.any():
        day_re = _DAY_FIRST if fmt.startswith("%d") else _DAY_THIRD
        text = cur.filter(pa.array(got)).filter(pa.array(sus))
        written = pc.cast(pc.struct_field(pc.extract_regex(text, day_re), [0]), pa.int64())
        same = np_bool(pc.equal(written, pc.day(vals.filter(pa.array(sus)))))
        bad = pos[np.flatnonzero(sus)[~same]]
        if len(bad):
            got[bad] = False
            vals = r.filter(pa.array(got))
    parsed[idx[got]] = vals.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    return idx[~got], cur.filter(pa.array(~got))
