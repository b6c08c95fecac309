"""geoconflict._dates: the one parser of date columns and of day / moment options (#16)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from geoconflict._dates import (
    date_error,
    parse_date_column,
    parse_day,
    parse_moment,
    require_dates,
)
from geoconflict.errors import InputError, LayerError


def test_acled_forms_iso_with_time_and_spreadsheet_cells() -> None:
    s = pd.Series(["2020-06-08", "08 June 2020", "08-06-2020", "2020-03-06T00:01", None, "soon",
                   dt.datetime(2020, 1, 2, 3, 4), dt.date(2021, 5, 6)], dtype=object)
    got = parse_date_column(s)
    assert got.dates.tolist()[:4] == [pd.Timestamp("2020-06-08")] * 3 + [pd.Timestamp("2020-03-06 00:01")]
    assert got.dates.iloc[6] == pd.Timestamp("2020-01-02 03:04")
    assert got.dates.iloc[7] == pd.Timestamp("2021-05-06")
    assert got.missing.tolist() == [False] * 4 + [True] + [False] * 3
    assert got.invalid.tolist() == [False] * 5 + [True] + [False] * 2


def test_lenient_reads_month_and_two_digit_year_within_the_bounds() -> None:
    s = pd.Series(["Jan-20", "Feb 21", "1850-01-01"])
    strict = parse_date_column(s)
    assert strict.invalid.tolist() == [True, True, False]
    got = parse_date_column(s, lenient=True, earliest=pd.Timestamp("1900-01-01"))
    assert got.dates.tolist()[:2] == [pd.Timestamp("2020-01-01"), pd.Timestamp("2021-02-01")]
    assert got.invalid.tolist() == [False, False, True]  # before `earliest`


def test_require_dates_one_error_with_feature_column_and_fix() -> None:
    s = pd.Series(["2020-01-01", "open", 43896, "2300-01-01"], dtype=object)
    with pytest.raises(LayerError) as err:
        require_dates(s, path="ctl.gpkg", column="valid_to", features=np.array([1, 2, 3, 4]),
                      open_ok=True, error=LayerError)
    text = str(err.value)
    assert text.startswith("ctl.gpkg, feature 3, column 'valid_to': cannot read the date '43896'")
    assert "(2 bad value(s) in all)" in text and "fix: write dates as YYYY-MM-DD" in text
    ok = require_dates(pd.Series(["2020-01-01 13:00", "open", None]), path=None, column="d",
                       open_ok=True)
    assert ok.iloc[0] == pd.Timestamp("2020-01-01") and ok.iloc[1:].isna().all()


def test_date_error_names_the_row() -> None:
    e = date_error(pd.Series(["x", "2020-01-01"]), np.array([True, False]), path="a.csv",
                   column="event_date", rows=np.array([7, 8]))
    assert isinstance(e, InputError) and "a.csv, row 7, column 'event_date'" in str(e)


def test_day_and_moment_options() -> None:
    assert parse_day("2020-03-06T10:30") == pd.Timestamp("2020-03-06")
    assert parse_moment("2020-03-06T00:01") == pd.Timestamp("2020-03-06 00:01")
    assert parse_moment("2020-03-06T02:00+02:00") == pd.Timestamp("2020-03-06 00:00")
    with pytest.raises(InputError, match="--on"):
        parse_day("tomorrow", what="--on")
    with pytest.raises(InputError, match="outside 1800-01-01 .. 2200-12-31"):
        parse_moment("2201-01-01T00:00", what="--end")
