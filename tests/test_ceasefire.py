"""ceasefire: classification edge cases, rolling 24-hour distinct locations, lulls and breaks,
daily counts, the report's facts, the built-in scenario's facts."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geoconflict.ceasefire import (
    DEFAULT_TYPES,
    ceasefire_report,
    classify_ceasefire,
    write_ceasefire,
)
from geoconflict.errors import InputError, OutputExistsError, SchemaError

START = "2020-03-06T00:01"
AIR, SHELL = DEFAULT_TYPES
ROOT = Path(__file__).resolve().parents[1]


def incidents(rows: list[dict]) -> gpd.GeoDataFrame:
    """A canonical incident table from short rows (date text, optional time, precision...)."""
    recs = []
    for i, r in enumerate(rows):
        date = pd.Timestamp(r["date"])
        recs.append(
            {
                "incident_id": r.get("id", f"e{i + 1}"),
                "date": date,
                "has_time": bool(r.get("has_time", "T" in r["date"] or " " in r["date"])),
                "date_precision": r.get("precision", 1),
                "event_type": r.get("event_type", "Explosions/Remote violence"),
                "sub_event_type": r.get("type", AIR),
                "actor1": r.get("actor", "Military Forces of Russia (2000-)"),
                "actor2": "Civilians (Syria)",
                "fatalities": float(r.get("fatalities", 0)),
                "location": r.get("location", f"place{i}"),
                "geometry": Point(r.get("xy", (36.0 + i * 0.01, 35.5))),
            }
        )
    gdf = gpd.GeoDataFrame(recs, geometry="geometry", crs=4326)
    gdf["date"] = gdf["date"].astype("datetime64[ns]")
    gdf["date_precision"] = gdf["date_precision"].astype("Int8")
    if any("date_end" in r for r in rows):
        gdf["date_end"] = pd.to_datetime([r.get("date_end") for r in rows]).astype("datetime64[ns]")
    return gdf


def statuses(rows: list[dict], **kw) -> dict[str, str]:
    out = classify_ceasefire(incidents(rows), start=kw.pop("start", START), **kw)
    return dict(zip(out["incident_id"], out["ceasefire_status"], strict=True))


# ---------------------------------------------------------------------------------------------
# classification


def test_day_precision_and_times_around_the_start():
    got = statuses(
        [
            {"id": "day-before", "date": "2020-03-05"},
            {
                "id": "day-of-start",
                "date": "2020-03-06",
            },  # no time: the start's day counts as after
            {"id": "day-after", "date": "2020-03-07"},
            {"id": "midnight", "date": "2020-03-06T00:00"},  # its time says before 00:01
            {"id": "at-start", "date": "2020-03-06T00:01"},
            {"id": "late-eve", "date": "2020-03-05T23:59"},
            {"id": "morning", "date": "2020-03-06T08:30"},
        ]
    )
    assert got == {
        "day-before": "before",
        "day-of-start": "after",
        "day-after": "after",
        "midnight": "before",
        "at-start": "after",
        "late-eve": "before",
        "morning": "after",
    }


def test_week_month_year_precision_straddling_the_start_is_uncertain():
    got = statuses(
        [
            {"id": "week-straddles", "date": "2020-03-04", "precision": 2},  # 1-7 March
            {"id": "week-ends-before", "date": "2020-03-02", "precision": 2},  # 28 Feb - 5 March
            {"id": "week-starts-on-day", "date": "2020-03-09", "precision": 2},  # 6-12 March
            {"id": "week-ends-on-day", "date": "2020-03-03", "precision": 2},  # 29 Feb - 6 March
            {"id": "month-march", "date": "2020-03-15", "precision": 3},
            {"id": "month-feb", "date": "2020-02-10", "precision": 3},
            {"id": "month-april", "date": "2020-04-01", "precision": 3},
            {"id": "year-2020", "date": "2020-07-01", "precision": 4},
            {"id": "year-2019", "date": "2019-07-01", "precision": 4},
        ]
    )
    assert got == {
        "week-straddles": "uncertain",
        "week-ends-before": "before",
        "week-starts-on-day": "after",
        "week-ends-on-day": "uncertain",
        "month-march": "uncertain",
        "month-feb": "before",
        "month-april": "after",
        "year-2020": "uncertain",
        "year-2019": "before",
    }


def test_a_source_date_end_spanning_the_start_is_uncertain():
    got = statuses(
        [
            {"id": "span", "date": "2020-03-04", "date_end": "2020-03-07"},
            {"id": "span-before", "date": "2020-03-01", "date_end": "2020-03-05"},
            {"id": "one-day", "date": "2020-03-07", "date_end": "2020-03-07"},
        ]
    )
    assert got == {"span": "uncertain", "span-before": "before", "one-day": "after"}


def test_a_start_later_in_the_day_still_counts_a_day_only_event_as_after():
    got = statuses(
        [{"id": "d", "date": "2020-03-06"}, {"id": "t", "date": "2020-03-06T11:00"}],
        start="2020-03-06T12:00",
    )
    assert got == {"d": "after", "t": "before"}


def test_types_filter_and_end_leave_rows_out_but_count_them():
    rows = [
        {"id": "air", "date": "2020-03-07"},
        {"id": "shell", "date": "2020-03-07", "type": SHELL},
        {"id": "clash", "date": "2020-03-07", "type": "Armed clash", "event_type": "Battles"},
        {"id": "late", "date": "2020-06-10"},
        {"id": "last-evening", "date": "2020-06-09T23:30"},
    ]
    r = ceasefire_report(incidents(rows), start=START, end="2020-06-09")
    assert sorted(r.incidents["incident_id"]) == ["air", "last-evening", "shell"]
    assert r.counts == {
        "rows": 5,
        "not_of_types": 1,
        "after_end": 1,
        "before": 0,
        "after": 3,
        "uncertain": 0,
    }
    # an end with a time is a moment
    r2 = ceasefire_report(incidents(rows), start=START, end="2020-06-09T09:00")
    assert r2.counts["after_end"] == 2
    # matching an event type, and types=None for everything
    got = classify_ceasefire(incidents(rows), start=START, types=["Battles"])
    assert list(got["incident_id"]) == ["clash"]
    assert len(classify_ceasefire(incidents(rows), start=START, types=None)) == 5


def test_input_errors():
    with pytest.raises(InputError, match="cannot read the --start"):
        classify_ceasefire(incidents([{"date": "2020-03-07"}]), start="sixth of March")
    with pytest.raises(InputError, match="before --start"):
        classify_ceasefire(incidents([{"date": "2020-03-07"}]), start=START, end="2020-03-01")
    with pytest.raises(SchemaError, match="'date'"):
        classify_ceasefire(incidents([{"date": "2020-03-07"}]).drop(columns="date"), start=START)


# ---------------------------------------------------------------------------------------------
# distinct locations in a rolling 24 hours


def _brute_force_max(df: gpd.GeoDataFrame) -> tuple[int, list[pd.Timestamp]]:
    """Independent: for every whole hour, the set of points struck in (hour - 24 h, hour]."""
    after = df.loc[df["ceasefire_status"] == "after"]
    t = list(after["date"])
    keys = [(round(p.x, 4), round(p.y, 4)) for p in after.geometry]
    hours = pd.date_range(min(t).floor("h"), max(t).ceil("h") + pd.Timedelta(hours=24), freq="h")
    counts = [
        len({k for k, tt in zip(keys, t, strict=True) if h - pd.Timedelta(hours=24) < tt <= h})
        for h in hours
    ]
    best = max(counts)
    return best, [h for h, c in zip(hours, counts, strict=True) if c == best]


def test_rolling_24_hours_by_hand():
    a, b, c = (36.1, 35.6), (36.2, 35.6), (36.3, 35.6)
    rows = [
        {"date": "2020-06-08T10:30", "xy": a},
        {"date": "2020-06-08T11:00", "xy": b},
        {"date": "2020-06-09T09:15", "xy": c},
        {"date": "2020-06-09T09:50", "xy": a},  # a again: still one location
    ]
    r = ceasefire_report(incidents(rows), start=START)
    # (10:00 8 June, 10:00 9 June] holds a, b, c; the window to 11:00 has lost b (11:00 exactly)
    assert r.max_locations_24h == 3
    assert r.max_locations_window == (
        pd.Timestamp("2020-06-08 10:00"),
        pd.Timestamp("2020-06-09 10:00"),
    )
    assert r.max_locations_timed
    assert "in the 24 hours to 10:00 on 9 June 2020, 3 distinct locations were struck" in r.markdown
    assert r.locations_24h[pd.Timestamp("2020-06-09 11:00")] == 2
    assert r.locations_24h[pd.Timestamp("2020-06-09 09:00")] == 2


def test_rolling_24_hours_agrees_with_brute_force_on_random_data():
    rng = np.random.default_rng(7)
    n = 120
    base = pd.Timestamp("2020-06-01")
    minutes = np.sort(rng.integers(0, 5 * 24 * 60, n))
    pts = [(36.0 + 0.01 * k, 35.5) for k in rng.integers(0, 40, n)]
    rows = [
        {"date": (base + pd.Timedelta(minutes=int(m))).strftime("%Y-%m-%dT%H:%M"), "xy": p}
        for m, p in zip(minutes, pts, strict=True)
    ]
    r = ceasefire_report(incidents(rows), start=START)
    best, ends = _brute_force_max(r.incidents)
    assert r.max_locations_24h == best
    assert r.max_locations_window[1] in ends
    # the reported end is the last hour of the first run of hours at the maximum
    first = ends[0]
    run = [first]
    for h in ends[1:]:
        if h - run[-1] == pd.Timedelta(hours=1):
            run.append(h)
        else:
            break
    assert r.max_locations_window[1] == run[-1]


def test_day_only_events_count_in_their_calendar_day():
    rows = [{"date": "2020-06-08", "xy": (36.0 + 0.1 * k, 35.5)} for k in range(5)]
    rows += [{"date": "2020-06-09T01:00", "xy": (37.0, 35.5)}]
    r = ceasefire_report(incidents(rows), start=START)
    assert r.max_locations_24h == 5
    assert r.max_locations_window == (pd.Timestamp("2020-06-08"), pd.Timestamp("2020-06-09"))
    assert not r.max_locations_timed
    assert (
        "on 8 June 2020 (a calendar day; the events carry no time), 5 distinct locations"
        in r.markdown
    )


def test_location_names_as_the_key():
    rows = [
        {"date": "2020-06-08T10:00", "xy": (36.0, 35.5), "location": "Bara"},
        {"date": "2020-06-08T11:00", "xy": (36.001, 35.5), "location": " bara "},
        {"date": "2020-06-08T12:00", "xy": (36.2, 35.5), "location": "Kansafra"},
    ]
    assert ceasefire_report(incidents(rows), start=START).max_locations_24h == 3
    assert (
        ceasefire_report(incidents(rows), start=START, location_key="location").max_locations_24h
        == 2
    )


# ---------------------------------------------------------------------------------------------
# lulls and breaks


def _break_rows() -> list[dict]:
    days = [
        "2020-03-01",
        "2020-03-05",  # before the start
        "2020-03-06",  # a violation on the first day: no lull before it
        "2020-03-20",  # 13 days without: break 1
        "2020-03-22",  # 1 day without
        "2020-03-26",  # 3 days without: break 2, 6 days after break 1
        "2020-04-10",
    ]  # 14 days without: break 3, 15 days after break 2
    return [{"date": d, "fatalities": k} for k, d in enumerate(days)]


def test_breaks_and_lulls_by_hand():
    r = ceasefire_report(incidents(_break_rows()), start=START, lull_days=3, window_days=6)
    got = [(b.day.strftime("%Y-%m-%d"), b.days_without, b.number, b.in_window) for b in r.breaks]
    assert got == [("2020-03-20", 13, 1, 1), ("2020-03-26", 3, 2, 2), ("2020-04-10", 14, 3, 1)]
    assert r.breaks[0].previous_strike == pd.Timestamp("2020-03-06")
    assert r.breaks[1].fatalities == 5
    assert [(a.strftime("%m-%d"), z.strftime("%m-%d"), n) for a, z, n in r.lulls] == [
        ("03-07", "03-19", 13),
        ("03-23", "03-25", 3),
        ("03-27", "04-09", 14),
    ]
    assert "This was the second break within six days (after 20 March 2020)" in r.markdown
    # a longer lull threshold: 26 March is no break any more
    r7 = ceasefire_report(incidents(_break_rows()), start=START, lull_days=7)
    assert [b.day.strftime("%Y-%m-%d") for b in r7.breaks] == ["2020-03-20", "2020-04-10"]
    assert all(b.in_window == 1 for b in r7.breaks)


def test_first_break_counts_from_the_last_strike_before_the_start():
    rows = [{"date": "2020-03-05T23:40", "type": SHELL}, {"date": "2020-06-03T09:10"}]
    r = ceasefire_report(incidents(rows), start=START)
    (b,) = r.breaks
    assert b.previous_strike == pd.Timestamp("2020-03-05")
    assert b.days_without == 89  # 6 March to 2 June
    assert (
        "On Wednesday 3 June 2020, 1 strike on 1 location: the first strikes since early March "
        "2020 (last strike on 5 March 2020; 89 days without one)."
    ) in r.markdown


def test_no_strike_before_the_start_counts_from_the_start():
    r = ceasefire_report(incidents([{"date": "2020-03-16"}]), start=START)
    (b,) = r.breaks
    assert b.previous_strike is None and b.days_without == 10
    assert "the first strikes since the ceasefire began (10 days without one)" in r.markdown


def test_uncertain_and_coarse_events_make_no_break():
    rows = [{"date": "2020-03-04", "precision": 2}, {"date": "2020-04-15", "precision": 3}]
    r = ceasefire_report(incidents(rows), start=START)
    assert r.breaks == [] and r.coarse_after == 1
    assert r.counts["uncertain"] == 1 and r.counts["after"] == 1
    assert (r.daily.loc[r.daily["by"] == "total", "incidents"] == 0).all()


# ---------------------------------------------------------------------------------------------
# daily counts, control and zones


def test_daily_counts_by_type_zone_controller_actor():
    west, east = (36.2, 35.8), (36.8, 35.8)
    rows = [
        {"date": "2020-03-07T10:00", "xy": west, "fatalities": 2},
        {
            "date": "2020-03-07T11:00",
            "xy": west,
            "type": SHELL,
            "actor": "Military Forces of Syria (2000-)",
        },
        {"date": "2020-03-07", "xy": east, "fatalities": 1},
        {
            "date": "2020-03-09",
            "xy": east,
            "type": SHELL,
            "actor": "Military Forces of Syria (2000-)",
        },
        {"date": "2020-03-05", "xy": east},  # before: not in the daily counts
    ]
    from geoconflict.control import read_control

    control = read_control(
        gpd.GeoDataFrame(
            {"controller": ["Opp", "Gov"], "date": ["2020-01-01"] * 2},
            geometry=[box(36.0, 35.5, 36.5, 36.0), box(36.5, 35.5, 37.0, 36.0)],
            crs=4326,
        )
    )
    zones = gpd.GeoDataFrame(
        {"name": ["West zone"]}, geometry=[box(36.0, 35.7, 36.4, 35.9)], crs=4326
    )
    r = ceasefire_report(incidents(rows), start=START, control=control, zones=zones)
    d = r.daily.set_index(["date", "by", "value"])
    assert d.loc[("2020-03-07", "total", "all"), "incidents"] == 3
    assert d.loc[("2020-03-07", "total", "all"), "locations"] == 2
    assert d.loc[("2020-03-07", "total", "all"), "fatalities"] == 3
    assert d.loc[("2020-03-08", "total", "all"), "incidents"] == 0  # every day of the period
    assert d.loc[("2020-03-07", "type", AIR), "incidents"] == 2
    assert d.loc[("2020-03-07", "type", SHELL), "incidents"] == 1
    assert d.loc[("2020-03-07", "controller", "Opp"), "incidents"] == 2
    assert d.loc[("2020-03-07", "controller", "Gov"), "incidents"] == 1
    assert d.loc[("2020-03-07", "zone", "West zone"), "incidents"] == 2
    assert d.loc[("2020-03-07", "zone", "(no zone)"), "incidents"] == 1
    assert d.loc[("2020-03-09", "actor", "Military Forces of Syria (2000-)"), "incidents"] == 1
    assert list(r.daily["date"].unique()) == [
        "2020-03-06",
        "2020-03-07",
        "2020-03-08",
        "2020-03-09",
    ]
    # totals agree with the classification
    assert r.daily.loc[r.daily["by"] == "total", "incidents"].sum() == r.counts["after"]
    for by in ("type", "zone", "controller", "actor"):
        assert r.daily.loc[r.daily["by"] == by, "incidents"].sum() == r.counts["after"]
    assert r.fatalities_after == 3
    assert {"controller", "control_status", "zone"} <= set(r.incidents.columns)


def test_write_ceasefire_refuses_to_overwrite_and_writes_all_three(tmp_path):
    r = ceasefire_report(incidents(_break_rows()), start=START)
    paths = write_ceasefire(r, tmp_path / "out")
    assert [p.name for p in paths] == [
        "ceasefire_incidents.geojson",
        "ceasefire_daily.csv",
        "ceasefire_report.md",
    ]
    back = gpd.read_file(paths[0])
    assert list(back["ceasefire_status"]) == list(r.incidents["ceasefire_status"])
    assert set(back["incident_id"]) == set(r.incidents["incident_id"])
    assert pd.read_csv(paths[1]).shape[0] == len(r.daily)
    assert paths[2].read_text(encoding="utf-8") == r.markdown
    with pytest.raises(OutputExistsError):
        write_ceasefire(r, tmp_path / "out")
    write_ceasefire(r, tmp_path / "out", overwrite=True)


# ---------------------------------------------------------------------------------------------
# the built-in scenario


def test_builtin_scenario_facts_come_from_the_data():
    from geoconflict.control import read_control
    from geoconflict.corridor import corridor
    from geoconflict.incidents import read_incidents

    read = read_incidents(ROOT / "geoconflict" / "scenarios" / "idlib-2020" / "incidents.csv")
    control = read_control(ROOT / "boundaries" / "idlib2020_control.geojson")
    m4 = corridor(
        gpd.read_file(ROOT / "boundaries" / "idlib2020_m4.geojson"), width_m=6000, name="M4"
    )
    r = ceasefire_report(read.incidents, start=START, control=control, zones=m4)
    days = [b.day for b in r.breaks]
    assert days[:2] == [pd.Timestamp("2020-06-03"), pd.Timestamp("2020-06-08")]
    assert r.breaks[0].previous_strike.month == 3 and r.breaks[0].previous_strike.day <= 10
    assert r.breaks[1].in_window == 2
    assert r.max_locations_24h == 38
    assert r.max_locations_window[1].strftime("%Y-%m-%d") == "2020-06-09"
    assert r.max_locations_window[1].hour < 12  # the morning of 9 June
    md = r.markdown
    assert "On Wednesday 3 June 2020" in md and "the first strikes since early March 2020" in md
    assert "second break within six days" in md
    assert "38 distinct locations were struck" in md and "on 9 June 2020" in md


def test_an_end_at_midnight_written_with_a_time_is_that_moment():
    rows = [{"id": "a", "date": "2020-06-08T23:00"}, {"id": "b", "date": "2020-06-09T00:30"}]
    kept = classify_ceasefire(incidents(rows), start=START, end="2020-06-09T00:00")
    assert list(kept["incident_id"]) == ["a"]
    kept = classify_ceasefire(incidents(rows), start=START, end=pd.Timestamp("2020-06-09"))
    assert list(kept["incident_id"]) == ["a", "b"]  # a bare date (midnight) is the whole day


def test_no_strike_after_the_start():
    r = ceasefire_report(incidents([{"date": "2020-03-01"}]), start=START, end="2020-03-10")
    assert r.breaks == [] and r.max_locations_24h == 0 and r.max_locations_window is None
    assert "No strike after the start." in r.markdown
    # the lull runs from the day after the last strike before the start
    assert (
        "2 March 2020 to 10 March 2020: 9 days (still running at the end of the period)"
        in r.markdown
    )
    assert (r.daily["by"] == "total").all() and len(r.daily) == 5
