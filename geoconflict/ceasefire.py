"""Strikes before and after a ceasefire: classification, daily counts, lulls, breaks and a report.

Classification (:func:`classify_ceasefire`)
    Each incident of the chosen types (matched on ``sub_event_type`` or ``event_type``) gets
    ``ceasefire_status``:

    * an event with a real time of day (``has_time``) on a single day: ``before`` if its time is
      before the start (e.g. 00:01 on 6 March 2020), else ``after``;
    * a day-precision event without a time: ``before`` on a day before the start's day, ``after``
      on the start's day or later (the start's day counts as after: nothing says otherwise);
    * an event coded to a week, month or year, or with a ``date_end`` (its window from
      :func:`geoconflict.incidents.date_window`): ``before`` if the window ends before the start's
      day, ``after`` if it begins on the start's day or later, else ``uncertain`` (it straddles
      the start).

    With ``end``, incidents that certainly happened after ``end`` (inclusive; a bare date means
    that whole day) are outside the report period and left out (counted in ``counts``).

Daily counts (``ceasefire_daily.csv``)
    Long form, one row per (day, breakdown, value): ``date``, ``by`` (``total``, ``type``,
    ``zone``, ``controller``, ``actor``), ``value``, ``incidents``, ``fatalities``,
    ``locations`` (distinct).  Only ``after`` events resolved to one day are counted (events coded
    to a week or month are counted in the report instead); ``total`` has a row for every day of
    the period, zeros included.  ``actor`` is ``actor1`` (ACLED's actor columns do not say who
    attacked whom); ``controller`` is the controller of the ground struck on the event's day (the
    as-of join, :func:`geoconflict.join.join_control`); ``zone`` the name of the zone polygon
    containing the event (:func:`geoconflict.join.join_areas`, e.g. a corridor side).

Distinct locations in a rolling 24 hours
    A location is a point rounded to 4 decimals of a degree (about 10 m; ``location_key=
    "coordinates"``, the default) or the ``location`` name folded to lower case
    (``location_key="location"``).  Windows are the 24 hours ``(end − 24 h, end]`` ending at each
    whole hour; a timed event counts in the 24 windows ending from its time rounded up to the
    hour; an event with a day but no time counts only in the window that is its calendar day
    (ending at midnight after it).  The maximum is reported with the end of its window; when it
    holds over several consecutive hourly windows, the latest end of the first such run (so "in the
    24 hours to 09:00 on 9 June" when every location struck since 09:00 the day before counts).

Lulls and breaks
    Strike days are the days of ``after`` events resolved to one day.  A lull is a run of at
    least ``lull_days`` days without a strike, counted from the last strike before the start (or
    from the start); a break is the first strike day after a lull.  Breaks whose days are at most
    ``window_days`` apart form a run: "the second break within 6 days".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _dates
from .errors import InputError, SchemaError
from .io import check_output, write_layer, write_table, write_text

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TYPES",
    "Break",
    "CeasefireResult",
    "classify_ceasefire",
    "ceasefire_report",
    "write_ceasefire",
    "parse_moment",
    "OUTPUT_NAMES",
]

DEFAULT_TYPES: tuple[str, ...] = ("Air/drone strike", "Shelling/artillery/missile attack")
OUTPUT_NAMES = ("ceasefire_incidents.geojson", "ceasefire_daily.csv", "ceasefire_report.md")
STATUSES = ("before", "after", "uncertain")
_HOUR = np.int64(3_600_000_000_000)  # ns
_DAY_H = 24
_ORDINALS = (
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
)
_WORDS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
}


# --------------------------------------------------------------------------------------------
# inputs


def parse_moment(value: Any, what: str = "--start") -> pd.Timestamp:
    """A moment from text (``2020-03-06T00:01``, ``2020-03-06``): :func:`geoconflict._dates.parse_moment`
    (kept here as public API)."""
    return _dates.parse_moment(value, what=what)


def _end_moment(end: Any) -> pd.Timestamp | None:
    if end is None:
        return None
    ts = parse_moment(end, "--end")
    if isinstance(end, str):
        has_clock = re.search(r"\d[T ]\d{1,2}:", end.strip()) is not None
    else:
        has_clock = ts != ts.floor("D")
    # a bare date is the whole day
    return ts if has_clock else ts.floor("D") + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")


def _require(incidents: gpd.GeoDataFrame) -> None:
    if not isinstance(incidents, gpd.GeoDataFrame):
        raise SchemaError(
            "incidents must be a GeoDataFrame (see geoconflict.incidents.read_incidents)"
        )
    missing = [c for c in ("incident_id", "date") if c not in incidents.columns]
    if missing:
        raise SchemaError(
            f"the incident table has no {', '.join(repr(m) for m in missing)} column",
            fix="read incidents with geoconflict.incidents.read_incidents (the canonical table)",
        )


def _type_mask(incidents: pd.DataFrame, types: Sequence[str] | None) -> np.ndarray:
    if types is None:
        return np.ones(len(incidents), dtype=bool)
    wanted = {str(t).strip().casefold() for t in types if str(t).strip()}
    mask = np.zeros(len(incidents), dtype=bool)
    for col in ("sub_event_type", "event_type"):
        if col in incidents.columns:
            vals = incidents[col].astype(object).where(incidents[col].notna(), "").astype(str)
            mask |= vals.str.strip().str.casefold().isin(wanted).to_numpy()
    return mask


def _window(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    from .incidents import date_window

    lo, hi = date_window(df)
    lo = pd.to_datetime(pd.Series(lo, index=df.index)).dt.floor("D").to_numpy("datetime64[ns]")
    hi = pd.to_datetime(pd.Series(hi, index=df.index)).dt.floor("D").to_numpy("datetime64[ns]")
    day = pd.to_datetime(df["date"]).dt.floor("D").to_numpy("datetime64[ns]")
    return np.where(np.isnat(lo), day, lo), np.where(np.isnat(hi), day, hi)


def _bool_col(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[col].astype("boolean").fillna(False).to_numpy(dtype=bool)


@dataclass
class _Classified:
    strikes: gpd.GeoDataFrame
    counts: dict[str, int]


def _classify(
    incidents: gpd.GeoDataFrame, *, start: Any, end: Any, types: Sequence[str] | None
) -> _Classified:
    _require(incidents)
    t0 = parse_moment(start, "--start")
    t1 = _end_moment(end)
    if t1 is not None and t1 < t0:
        raise InputError(
            f"--end {t1:%Y-%m-%d %H:%M} is before --start {t0:%Y-%m-%d %H:%M}",
            fix="give an end after the start",
        )
    n = len(incidents)
    is_type = _type_mask(incidents, types)
    df = incidents.loc[is_type]
    when = pd.to_datetime(df["date"]).astype("datetime64[ns]").to_numpy()
    if np.isnat(when).any():
        raise InputError(
            f"{int(np.isnat(when).sum())} incident(s) of these types have no date",
            column="date",
            fix="quarantine or date them before the ceasefire report",
        )
    lo, hi = _window(df)
    single = lo == hi
    timed = _bool_col(df, "has_time") & single
    s_day = np.datetime64(t0.floor("D").to_datetime64(), "ns")
    t0_64 = np.datetime64(t0.to_datetime64(), "ns")
    status = np.where(hi < s_day, "before", np.where(lo >= s_day, "after", "uncertain"))
    status = np.where(timed, np.where(when < t0_64, "before", "after"), status)
    outside = np.zeros(len(df), dtype=bool)
    if t1 is not None:
        t1_64 = np.datetime64(t1.to_datetime64(), "ns")
        e_day = np.datetime64(t1.floor("D").to_datetime64(), "ns")
        outside = np.where(timed, when > t1_64, lo > e_day)
    out = df.loc[~outside].copy()
    out["ceasefire_status"] = pd.Series(status[~outside], index=out.index, dtype=object).astype(str)
    counts = {
        "rows": n,
        "not_of_types": int((~is_type).sum()),
        "after_end": int(outside.sum()),
        **{s: int((out["ceasefire_status"] == s).sum()) for s in STATUSES},
    }
    assert counts["not_of_types"] + counts["after_end"] + sum(counts[s] for s in STATUSES) == n
    out = gpd.GeoDataFrame(out, geometry=incidents.geometry.name, crs=incidents.crs)
    return _Classified(out, counts)


def classify_ceasefire(
    incidents: gpd.GeoDataFrame,
    *,
    start: Any,
    end: Any = None,
    types: Sequence[str] | None = DEFAULT_TYPES,
) -> gpd.GeoDataFrame:
    """The incidents of ``types`` (``None``: all) with ``ceasefire_status`` = ``before`` |
    ``after`` | ``uncertain`` relative to ``start`` (see the module notes for the rules).

    Incidents of other types, and those certainly after ``end``, are left out; the input's order
    and columns are kept.
    """
    return _classify(incidents, start=start, end=end, types=types).strikes


# --------------------------------------------------------------------------------------------
# the report


@dataclass(frozen=True)
class Break:
    """The first strike day after a lull."""

    day: pd.Timestamp
    days_without: int  # full days without a strike before it
    previous_strike: pd.Timestamp | None  # the last strike day before the lull (None: none known)
    number: int  # 1 for the first break after the start, ...
    in_window: int  # how many breaks (this one included) fall within window_days up to this one
    strikes: int
    locations: int
    fatalities: float


@dataclass
class CeasefireResult:
    """Everything the ceasefire report says, as data and as text."""

    incidents: gpd.GeoDataFrame
    daily: pd.DataFrame
    markdown: str
    start: pd.Timestamp
    end: pd.Timestamp | None
    types: tuple[str, ...] | None
    counts: dict[str, int]
    breaks: list[Break] = field(default_factory=list)
    lulls: list[tuple[pd.Timestamp, pd.Timestamp, int]] = field(default_factory=list)
    max_locations_24h: int = 0
    max_locations_window: tuple[pd.Timestamp, pd.Timestamp] | None = None
    max_locations_timed: bool = False  # the maximum window used times of day
    locations_24h: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    fatalities_after: float = 0.0
    fatalities_before: float = 0.0
    coarse_after: int = 0  # after-start events coded to a week or month (not in the daily counts)
    location_key: str = "coordinates"


def _location_keys(df: gpd.GeoDataFrame, how: str) -> np.ndarray:
    if how not in ("coordinates", "location"):
        raise InputError(f"unknown location key {how!r}", fix="use 'coordinates' or 'location'")
    g = df.geometry
    if df.crs is not None and not df.crs.equals("EPSG:4326"):
        g = g.to_crs(4326)
    coords = (
        np.round(g.x.to_numpy(), 4).astype(str).astype(object)
        + ","
        + np.round(g.y.to_numpy(), 4).astype(str).astype(object)
    )
    if how == "location" and "location" in df.columns:
        names = df["location"].astype(object).where(df["location"].notna(), "").astype(str)
        names = names.str.strip().str.casefold().to_numpy(dtype=object)
        return np.where(names != "", names, coords)
    return coords


def _rolling_locations(loc: np.ndarray, when: np.ndarray, timed: np.ndarray) -> pd.Series:
    """Distinct locations in the 24 hours ending at each whole hour (index: window end)."""
    if len(loc) == 0:
        return pd.Series(dtype="int64")
    t = when.astype("int64")
    ceil_h = -((-t) // _HOUR)
    day_h = (t // (_HOUR * _DAY_H)) * _DAY_H  # midnight starting the event's day, in hours
    s = np.where(timed, ceil_h, day_h + _DAY_H)
    e = np.where(timed, ceil_h + _DAY_H, day_h + _DAY_H + 1)
    codes = pd.factorize(pd.Series(loc))[0]
    order = np.lexsort((s, codes))
    codes, s, e = codes[order], s[order], e[order]
    # merge the intervals of each location so a location counts once per window
    run_end = pd.Series(e).groupby(codes).cummax().to_numpy()
    prev_end = np.r_[np.int64(-1), run_end[:-1]]
    new = np.r_[True, codes[1:] != codes[:-1]] | (s > prev_end)
    seg = np.cumsum(new) - 1
    seg_s = s[new]
    seg_e = pd.Series(e).groupby(seg).max().to_numpy()
    base = int(seg_s.min())
    span = int(seg_e.max()) - base + 1
    diff = np.zeros(span + 1, dtype=np.int64)
    np.add.at(diff, seg_s - base, 1)
    np.add.at(diff, seg_e - base, -1)
    counts = np.cumsum(diff)[:span]
    ends = (np.arange(span, dtype=np.int64) + base) * _HOUR
    series = pd.Series(
        counts, index=pd.to_datetime(ends.astype("datetime64[ns]")), name="locations"
    )
    return series[series > 0]


def _plateau_end(rolling: pd.Series, peak: int) -> pd.Timestamp:
    """The last hour of the first run of consecutive hourly windows at the peak count."""
    hours = (rolling.index.asi8 // _HOUR).astype(np.int64)
    at_peak = rolling.to_numpy() == peak
    first = int(np.flatnonzero(at_peak)[0])
    k = first
    while k + 1 < len(hours) and at_peak[k + 1] and hours[k + 1] == hours[k] + 1:
        k += 1  # a walk along one plateau of hourly windows, not over incidents
    return pd.Timestamp(rolling.index[k])


def _strike_days(day: np.ndarray) -> np.ndarray:
    return np.unique(day[~np.isnat(day)])


def _breaks_and_lulls(
    after_days: np.ndarray,
    before_last: np.datetime64 | None,
    start_day: np.datetime64,
    end_day: np.datetime64,
    per_day: pd.DataFrame,
    *,
    lull_days: int,
    window_days: int,
) -> tuple[list[Break], list[tuple[pd.Timestamp, pd.Timestamp, int]]]:
    one = np.timedelta64(1, "D")
    breaks: list[Break] = []
    lulls: list[tuple[pd.Timestamp, pd.Timestamp, int]] = []
    prev = before_last
    # before the first strike after the start, the lull runs from the day after the last strike
    # before the start (or from the start's day when none is known)
    for d in after_days:
        first_quiet = (prev + one) if prev is not None else start_day
        gap = int((d - first_quiet) / one)
        if gap >= lull_days:
            lulls.append((pd.Timestamp(first_quiet), pd.Timestamp(d - one), gap))
            row = per_day.loc[pd.Timestamp(d)]
            days = [b.day for b in breaks] + [pd.Timestamp(d)]
            in_window = sum(1 for x in days if (pd.Timestamp(d) - x).days <= window_days)
            breaks.append(
                Break(
                    day=pd.Timestamp(d),
                    days_without=gap,
                    previous_strike=pd.Timestamp(prev) if prev is not None else None,
                    number=len(breaks) + 1,
                    in_window=in_window,
                    strikes=int(row["incidents"]),
                    locations=int(row["locations"]),
                    fatalities=float(row["fatalities"]),
                )
            )
        prev = d
    # a lull still running at the end of the period
    first_quiet = (prev + one) if prev is not None else start_day
    tail = int((end_day - first_quiet) / one) + 1
    if tail >= lull_days:
        lulls.append((pd.Timestamp(first_quiet), pd.Timestamp(end_day), tail))
    return breaks, lulls


def _fatalities(df: pd.DataFrame) -> pd.Series:
    if "fatalities" not in df.columns:
        return pd.Series(0.0, index=df.index)
    return pd.to_numeric(df["fatalities"], errors="coerce").fillna(0.0).astype(float)


def _text_col(df: pd.DataFrame, col: str, empty: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(empty, index=df.index, dtype=object)
    s = df[col].astype(object).where(df[col].notna(), "").astype(str).str.strip()
    return s.where(s != "", empty)


def ceasefire_report(
    incidents: gpd.GeoDataFrame,
    *,
    start: Any,
    end: Any = None,
    types: Sequence[str] | None = DEFAULT_TYPES,
    control: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    zone_field: str | None = None,
    window_days: int = 6,
    lull_days: int = 3,
    location_key: str = "coordinates",
    title: str | None = None,
) -> CeasefireResult:
    """Classify the strikes, count them per day after the start, find the busiest 24 hours, the
    lulls and the breaks, and phrase it all in Markdown from the data.

    ``control``: a normalised control layer (:func:`geoconflict.control.read_control`) for the
    controller of the ground struck; ``zones``: named polygons (e.g. a corridor layer) for the
    zone of each strike.
    """
    if window_days < 1 or lull_days < 1:
        raise InputError("window_days and lull_days must be at least 1", fix="e.g. 6 and 3")
    cls = _classify(incidents, start=start, end=end, types=types)
    t0 = parse_moment(start, "--start")
    t1 = _end_moment(end)
    strikes = cls.strikes
    if control is not None and len(strikes):
        from .join import join_control

        strikes = join_control(strikes, control)
    if zones is not None and len(strikes):
        from .join import join_areas

        strikes = join_areas(strikes, zones, name_col=zone_field).rename(columns={"area": "zone"})

    status = strikes["ceasefire_status"].to_numpy(dtype=object)
    when = pd.to_datetime(strikes["date"]).astype("datetime64[ns]").to_numpy()
    if len(strikes):
        lo, hi = _window(strikes)
    else:
        lo = hi = np.array([], dtype="datetime64[ns]")
    single = lo == hi
    timed = _bool_col(strikes, "has_time") & single
    day = np.where(single, lo, np.datetime64("NaT", "ns"))
    after = status == "after"
    resolved = after & single
    fat = _fatalities(strikes).to_numpy()
    loc = _location_keys(strikes, location_key) if len(strikes) else np.array([], dtype=object)

    start_day = np.datetime64(t0.floor("D").to_datetime64(), "ns")
    last_after = day[resolved].max() if resolved.any() else start_day
    end_day = (
        np.datetime64(t1.floor("D").to_datetime64(), "ns")
        if t1 is not None
        else max(last_after, start_day)
    )

    # daily counts
    sub = pd.DataFrame(
        {
            "date": pd.to_datetime(day[resolved]),
            "loc": loc[resolved],
            "fatalities": fat[resolved],
            "type": _text_col(strikes, "sub_event_type", "(unknown)").to_numpy()[resolved],
            "actor": _text_col(strikes, "actor1", "(unknown)").to_numpy()[resolved],
        }
    )
    breakdowns = ["type", "actor"]
    if "zone" in strikes.columns:
        sub["zone"] = _text_col(strikes, "zone", "(no zone)").to_numpy()[resolved]
        breakdowns.insert(1, "zone")
    if "controller" in strikes.columns:
        sub["controller"] = _text_col(strikes, "controller", "(none)").to_numpy()[resolved]
        breakdowns.insert(2 if "zone" in breakdowns else 1, "controller")
    days_index = pd.date_range(pd.Timestamp(start_day), pd.Timestamp(end_day), freq="D")
    g = sub.groupby("date")
    per_day = pd.DataFrame(
        {
            "incidents": g.size(),
            "fatalities": g["fatalities"].sum(),
            "locations": g["loc"].nunique(),
        }
    ).reindex(days_index, fill_value=0)
    per_day["incidents"] = per_day["incidents"].astype("int64")
    per_day["locations"] = per_day["locations"].astype("int64")
    per_day["fatalities"] = per_day["fatalities"].astype(float)
    frames = [per_day.rename_axis("date").reset_index().assign(by="total", value="all")]
    for by in breakdowns:
        gb = sub.groupby(["date", by])
        f = (
            pd.DataFrame(
                {
                    "incidents": gb.size(),
                    "fatalities": gb["fatalities"].sum(),
                    "locations": gb["loc"].nunique(),
                }
            )
            .reset_index()
            .rename(columns={by: "value"})
            .assign(by=by)
        )
        frames.append(f)
    daily = pd.concat(frames, ignore_index=True)
    daily["date"] = pd.to_datetime(daily["date"]).dt.strftime("%Y-%m-%d")
    order = {b: i for i, b in enumerate(["total", *breakdowns])}
    daily["_o"] = daily["by"].map(order)
    daily = daily.sort_values(["date", "_o", "value"], kind="stable").drop(columns="_o")
    daily = daily[["date", "by", "value", "incidents", "fatalities", "locations"]].reset_index(
        drop=True
    )
    daily["incidents"] = daily["incidents"].astype("int64")
    daily["locations"] = daily["locations"].astype("int64")

    # rolling 24 hours
    rolling = _rolling_locations(loc[resolved], when[resolved], timed[resolved])
    max_loc, max_win, max_timed = 0, None, False
    if len(rolling):
        max_loc = int(rolling.max())
        end_at = _plateau_end(rolling, max_loc)
        max_win = (end_at - pd.Timedelta(hours=24), end_at)
        in_win = resolved & (
            np.where(
                timed,
                (when > np.datetime64(max_win[0].to_datetime64(), "ns"))
                & (when <= np.datetime64(end_at.to_datetime64(), "ns")),
                False,
            )
        )
        max_timed = bool(in_win.any())

    # lulls and breaks
    before_days = np.where(status == "before", hi, np.datetime64("NaT", "ns"))
    before_days = before_days[~np.isnat(before_days)]
    before_last = before_days.max() if len(before_days) else None
    breaks, lulls = _breaks_and_lulls(
        _strike_days(day[resolved]),
        before_last,
        start_day,
        end_day,
        per_day,
        lull_days=lull_days,
        window_days=window_days,
    )
    result = CeasefireResult(
        incidents=strikes,
        daily=daily,
        markdown="",
        start=t0,
        end=t1,
        types=tuple(types) if types is not None else None,
        counts=cls.counts,
        breaks=breaks,
        lulls=lulls,
        max_locations_24h=max_loc,
        max_locations_window=max_win,
        max_locations_timed=max_timed,
        locations_24h=rolling,
        fatalities_after=float(fat[after].sum()),
        fatalities_before=float(fat[status == "before"].sum()),
        coarse_after=int((after & ~single).sum()),
        location_key=location_key,
    )
    result.markdown = _markdown(
        result, per_day, lull_days=lull_days, window_days=window_days, title=title
    )
    return result


# --------------------------------------------------------------------------------------------
# phrasing


def _md(text: Any) -> str:
    """Untrusted text for Markdown: one line, special characters escaped."""
    s = " ".join(str(text).split())
    for ch in "\\`*_{}[]<>#|!":
        s = s.replace(ch, "\\" + ch)
    return s


def _day_text(ts: pd.Timestamp, weekday: bool = False) -> str:
    d = f"{ts.day} {ts:%B %Y}"
    return f"{ts:%A} {d}" if weekday else d


def _moment_text(ts: pd.Timestamp) -> str:
    return f"{ts:%H:%M} on {_day_text(ts)}"


def _part_of_month(ts: pd.Timestamp) -> str:
    part = "early" if ts.day <= 10 else ("mid-" if ts.day <= 20 else "late")
    return f"{part}{'' if part.endswith('-') else ' '}{ts:%B %Y}"


def _ordinal(n: int) -> str:
    return _ORDINALS[n - 1] if 1 <= n <= len(_ORDINALS) else f"{n}th"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _days(n: int) -> str:
    return _count(n, "day")


def _fmt_num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.1f}"


def _markdown(
    r: CeasefireResult,
    per_day: pd.DataFrame,
    *,
    lull_days: int,
    window_days: int,
    title: str | None,
) -> str:
    c = r.counts
    lines: list[str] = []
    lines.append(f"# {_md(title) if title else 'Ceasefire report'}")
    lines.append("")
    types = ", ".join(_md(t) for t in r.types) if r.types else "all incident types"
    period_end = _moment_text(r.end) if r.end is not None else "the last incident"
    lines.append(
        f"Strikes ({types}) before and after the ceasefire that began at "
        f"{_moment_text(r.start)}; report period to {period_end}."
    )
    lines.append("")
    lines.append("## Incidents")
    lines.append("")
    lines.append(
        f"- {_count(c['rows'], 'incident')} read: {c['after']:,} after the start, "
        f"{c['before']:,} before, "
        f"{c['uncertain']:,} uncertain (coded to a week or month that straddles the start); "
        f"{c['not_of_types']:,} of other types and {c['after_end']:,} after the period "
        "left out."
    )
    if r.coarse_after:
        lines.append(
            f"- {_count(r.coarse_after, 'event')} after the start coded only to a week or "
            "month: counted above, not in the daily counts, lulls or breaks."
        )
    lines.append("")
    lines.append("## Lulls and breaks")
    lines.append("")
    if not r.breaks:
        lines.append(f"No break: no strike after a lull of {_days(lull_days)} or more.")
    for b in r.breaks:
        if b.number == 1 and b.previous_strike is not None:
            since = (
                f"the first strikes since {_part_of_month(b.previous_strike)} "
                f"(last strike on {_day_text(b.previous_strike)}; {_days(b.days_without)} "
                "without one)"
            )
        elif b.previous_strike is None:
            since = (
                f"the first strikes since the ceasefire began ({_days(b.days_without)} without one)"
            )
        else:
            since = (
                f"the first strikes after {_days(b.days_without)} without one "
                f"(last strike on {_day_text(b.previous_strike)})"
            )
        sentence = (
            f"- On {_day_text(b.day, weekday=True)}, {_count(b.strikes, 'strike')} on "
            f"{_count(b.locations, 'location')}: {since}."
        )
        if b.in_window >= 2:
            earlier = [
                x for x in r.breaks if x.number < b.number and (b.day - x.day).days <= window_days
            ]
            first = earlier[0]
            sentence += (
                f" This was the {_ordinal(b.in_window)} break within "
                f"{_WORDS.get(window_days, str(window_days))} days (after "
                f"{_day_text(first.day)})."
            )
        if b.fatalities:
            sentence += f" Reported fatalities that day: {_fmt_num(b.fatalities)}."
        lines.append(sentence)
    if r.lulls:
        lines.append("")
        lines.append(f"Lulls of {_days(lull_days)} or more without a strike:")
        lines.append("")
        broken = {b.day - pd.Timedelta(days=1) for b in r.breaks}
        for a, z, n in r.lulls:
            running = "" if z in broken else " (still running at the end of the period)"
            lines.append(f"- {_day_text(a)} to {_day_text(z)}: {_days(n)}{running}")
    lines.append("")
    lines.append("## Distinct locations struck in 24 hours")
    lines.append("")
    key = (
        "points rounded to 4 decimals of a degree (about 10 m)"
        if r.location_key == "coordinates"
        else "location names"
    )
    if r.max_locations_window is None:
        lines.append("No strike after the start.")
    else:
        s, e = r.max_locations_window
        if r.max_locations_timed:
            lines.append(
                f"The most: in the 24 hours to {_moment_text(e)}, "
                f"{_count(r.max_locations_24h, 'distinct location')} were struck."
            )
        else:
            lines.append(
                f"The most: on {_day_text(s)} (a calendar day; the events carry no time), "
                f"{_count(r.max_locations_24h, 'distinct location')} were struck."
            )
        lines.append("")
        lines.append(
            f"Locations are {key}; windows are the 24 hours ending at each whole hour "
            "(events without a time count in their calendar day); when the maximum holds for "
            "several consecutive windows, the last of the first such run is given."
        )
        lines.append("")
        roll = r.locations_24h
        roll_day = roll.groupby((roll.index - pd.Timedelta(1, "ns")).floor("D")).max()
        lines.append(
            "| day | strikes | distinct locations that day | most in any 24 h ending that day |"
            " fatalities |"
        )
        lines.append("|---|---:|---:|---:|---:|")
        for d, row in per_day.loc[per_day["incidents"] > 0].iterrows():
            lines.append(
                f"| {d:%Y-%m-%d} | {int(row['incidents'])} | {int(row['locations'])} | "
                f"{int(roll_day.get(d, 0))} | {_fmt_num(row['fatalities'])} |"
            )
    lines.append("")
    lines.append("## Casualties")
    lines.append("")
    lines.append(
        f"- Reported fatalities in strikes after the start: {_fmt_num(r.fatalities_after)}; "
        f"before the start (in the data read): {_fmt_num(r.fatalities_before)}."
    )
    if len(per_day) and per_day["fatalities"].max() > 0:
        worst = per_day["fatalities"].idxmax()
        lines.append(
            f"- The deadliest day after the start: {_day_text(worst)} "
            f"({_fmt_num(per_day.loc[worst, 'fatalities'])})."
        )
    lines.append("")
    lines.append(
        "Fatality figures are as reported by the source; strikes are counted by event, "
        "not by munition."
    )
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# writing


def write_ceasefire(
    result: CeasefireResult, outdir: str | Path, *, overwrite: bool = False
) -> list[Path]:
    """Write ``ceasefire_incidents.geojson``, ``ceasefire_daily.csv`` and ``ceasefire_report.md``
    into ``outdir`` (atomic; nothing is written if any exists and ``overwrite`` is false)."""
    out = Path(outdir)
    paths = [out / n for n in OUTPUT_NAMES]
    for p in paths:
        check_output(p, overwrite=overwrite)
    inc = result.incidents.copy()
    for col in inc.columns:
        if pd.api.types.is_datetime64_any_dtype(inc[col].dtype):
            inc[col] = inc[col].dt.strftime("%Y-%m-%dT%H:%M:%S").where(inc[col].notna(), None)
    write_layer(inc, paths[0], overwrite=overwrite)
    write_table(result.daily, paths[1], overwrite=overwrite)
    write_text(result.markdown, paths[2], overwrite=overwrite)
    return paths
