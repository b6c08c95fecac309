"""Units and vocabularies shared by the library and the command line: distances, periods.

One meaning each: a distance is text with a unit (``6km``, ``500m``) or a number of metres; a
period is one of :data:`PERIODS` and is labelled the same way by every stage (grids, flows,
ceasefire tables): ``2020-03-06`` (day), ``2020-W10`` (ISO week), ``2020-03`` (month),
``2020-Q1`` (quarter), ``2020`` (year).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported inside the period functions: the CLI's options import this module, and
# ``geoconflict COMMAND --help`` should not load pandas (0.6 s) to print its help.

_DIST = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(m|km)?\s*$", re.IGNORECASE)

#: the period vocabulary of every command (``--period``, ``--every``)
PERIODS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")


def parse_distance_m(value: str | float | int) -> float:
    """'6km' -> 6000.0, '500m' -> 500.0, '250' -> 250.0 (metres); a number is metres.

    Raises :class:`ValueError` (an :class:`~geoconflict.errors.InputError`) for anything else,
    including non-finite numbers.
    """
    if isinstance(value, bool):
        raise InputError(f"{value!r} is not a distance", fix="write e.g. 5km or 500m")
    if isinstance(value, (int, float)):
        metres = float(value)
    else:
        m = _DIST.match(str(value))
        if not m:
            raise InputError(f"{value!r} is not a distance", fix="write e.g. 5km or 500m")
        number, unit = float(m.group(1)), (m.group(2) or "m").lower()
        metres = number * (1000.0 if unit == "km" else 1.0)
    if not math.isfinite(metres):
        raise InputError(f"{value!r} is not a finite distance", fix="write e.g. 5km or 500m")
    return metres


def check_period(period: str) -> str:
    """``period`` in lower case, or an InputError naming the vocabulary."""
    key = str(period).strip().lower()
    if key not in PERIODS:
        raise InputError(f"unknown period {period!r}", fix=f"use one of {', '.join(PERIODS)}")
    return key


def period_start(dates: pd.Series, period: str) -> pd.Series:
    """The first day of each date's period (NaT stays NaT); weeks start on Monday (ISO 8601)."""
    import pandas as pd

    key = check_period(period)
    d = pd.to_datetime(dates).dt.normalize()
    if key == "day":
        return d
    if key == "week":
        return d - pd.to_timedelta(d.dt.day_of_week, unit="D")
    freq = {"month": "M", "quarter": "Q", "year": "Y"}[key]
    return d.dt.to_period(freq).dt.start_time


def period_label(dates: pd.Series, period: str) -> pd.Series:
    """Each date's period label (see the module docstring); missing dates give ``<NA>``."""
    import pandas as pd

    key = check_period(period)
    d = pd.to_datetime(dates)
    if key == "day":
        out = d.dt.strftime("%Y-%m-%d")
    elif key == "week":
        iso = d.dt.isocalendar()
        out = iso["year"].astype("string") + "-W" + iso["week"].astype("Int64").astype("string").str.zfill(2)
    elif key == "month":
        out = d.dt.strftime("%Y-%m")
    elif key == "quarter":
        out = d.dt.year.astype("Int64").astype("string") + "-Q" + d.dt.quarter.astype("Int64").astype("string")
    else:
        out = d.dt.year.astype("Int64").astype("string")
    return out.astype("string").where(d.notna(), pd.NA)
