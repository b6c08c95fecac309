"""The fast paths of ingest (issue #8) give the answers of the plain ones they replace.

GeoParquet points decoded from WKB vs geopandas' reader; accepted rows sliced vs copied; text
cleaning, number parsing, duplicate ids, day/time, the country distance: each against the
straightforward computation it stands in for.
"""

from __future__ import annotations

import random

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely

from geoconflict import _validate as V
from geoconflict import incidents as inc
from geoconflict._readers import read_raw
from geoconflict._rules import duplicated_among
from geoconflict.incidents import incidents_from_frame, read_incidents


def _same_result(a: inc.IngestResult, b: inc.IngestResult) -> None:
    pd.testing.assert_frame_equal(a.incidents, b.incidents)
    pd.testing.assert_frame_equal(a.quarantine, b.quarantine)
    assert a.report.quarantined_by_reason == b.report.quarantined_by_reason
    assert a.report.flags_by_name == b.report.flags_by_name
    assert (a.report.accepted, a.report.flagged) == (b.report.accepted, b.report.flagged)


def _acled_points(n: int = 40) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(8)
    lon, lat = rng.uniform(35.5, 42.5, n), rng.uniform(32.0, 37.5, n)
    geoms = list(shapely.points(lon, lat))
    geoms[3] = None  # missing
    geoms[5] = shapely.Point()  # POINT EMPTY
    geoms[7] = shapely.Point(np.nan, 36.0)  # a point with one NaN coordinate: out of range
    dates = [f"2020-06-{1 + i % 28:02d}" for i in range(n)]
    dates[9] = "2020-02-30"
    fat = [str(i % 4) for i in range(n)]
    fat[11] = "-2"
    ids = [f"SYR{i}" for i in range(n)]
    ids[13] = ids[12]
    return gpd.GeoDataFrame(
        {"event_id_cnty": ids, "event_date": dates, "time_precision": ["1"] * n,
         "event_type": ["Battles"] * n, "sub_event_type": ["Armed clash"] * n,
         "country": ["Syria"] * (n - 1) + ["Iraq"], "fatalities": fat,
         "notes": [f"note {i}" if i % 3 else "" for i in range(n)]},
        geometry=geoms, crs=4326)


def test_geoparquet_points_read_without_shapely_give_geopandas_answers(tmp_path):
    gdf = _acled_points()
    path = tmp_path / "acled.parquet"
    gdf.to_parquet(path)
    raw = read_raw(path)
    assert raw.points is not None and raw.kind == "vector"
    fast = read_incidents(path)
    plain = incidents_from_frame(gpd.read_parquet(path))
    _same_result(fast, plain)
    reasons = fast.quarantine.set_index("event_id_cnty")["reason"]
    assert reasons["SYR3"] == reasons["SYR5"] == "empty_geometry"
    assert reasons["SYR7"] == "coordinate_out_of_range"
    assert fast.quarantine.loc[fast.quarantine["event_id_cnty"] == "SYR7", "geometry"].item() == "POINT (NaN 36)"


def test_geoparquet_geometry_column_keeps_its_place(tmp_path):
    gdf = _acled_points()
    cols = list(gdf.columns)
    gdf = gdf[cols[:3] + ["geometry"] + cols[3:-1]]
    path = tmp_path / "middle.parquet"
    gdf.to_parquet(path)
    assert read_raw(path).points is not None
    fast = read_incidents(path)
    _same_result(fast, incidents_from_frame(gpd.read_parquet(path)))
    assert list(fast.quarantine.columns[:4]) == cols[:3] + ["geometry"]


@pytest.mark.parametrize("kind", ["polygon", "projected", "3d", "no_crs"])
def test_other_geoparquet_goes_through_geopandas(tmp_path, kind, caplog):
    gdf = _acled_points().iloc[:6].copy()
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    gdf = gdf[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if kind == "polygon":
        gdf.loc[gdf.index[0], "geometry"] = shapely.box(36, 35, 36.1, 35.1)
    elif kind == "projected":
        gdf = gdf.to_crs(32637)
    elif kind == "3d":
        gdf["geometry"] = shapely.force_3d(np.asarray(gdf.geometry.values), 5.0)
    else:
        gdf = gdf.set_crs(None, allow_override=True)
    path = tmp_path / f"{kind}.parquet"
    gdf.to_parquet(path)
    assert read_raw(path).points is None
    res = read_incidents(path)
    _same_result(res, incidents_from_frame(gpd.read_parquet(path)))
    if kind == "polygon":
        assert res.quarantine["reason"].tolist() == ["non_point_geometry"]


def test_few_bad_rows_are_sliced_out_with_the_answers_of_a_copy(monkeypatch):
    n = 6000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "event_id_cnty": [f"SYR{i}" for i in range(n)],
        "event_date": ["2021-03-04"] * n,
        "latitude": rng.uniform(32.5, 37, n).round(4).astype(str),
        "longitude": rng.uniform(36, 42, n).round(4).astype(str),
        "time_precision": "1", "country": "Syria", "fatalities": "0",
        "notes": [f"  note {i} " for i in range(n)], "actor1": [" A ", "B", ""] * (n // 3),
        "extra": "x",
    }).astype("str")
    frame.loc[[10, 2500, 4000], "latitude"] = "north"
    sliced = incidents_from_frame(frame)
    assert sliced.report.quarantined == 3
    assert inc._Rows.of(np.arange(n) % 2500 != 10).runs is not None
    monkeypatch.setattr(inc, "_SLICE_MIN_RUN", 10**9)  # force pyarrow's filter
    assert inc._Rows.of(np.arange(n) % 2500 != 10).runs is None
    _same_result(sliced, incidents_from_frame(frame))


def _clean_text_plain(s: pd.Series, trim: bool) -> pd.Series:
    t = V.arrow_text(s)
    if trim:
        t = pc.utf8_trim_whitespace(t)
    empty = pc.equal(t, "")
    if pc.any(empty).as_py():
        t = pc.if_else(empty, pa.scalar(None, pa.string()), t)
    elif not trim and pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        return s
    out = t.to_pandas()
    out.index = s.index
    return out


def test_clean_text_equals_trimming_every_cell():
    rnd = random.Random(1)
    pieces = ["", " ", "a", "b c", "\u00a0x", "x\u00a0", "é", "é ", "\t", "\u3000z", "zz\u2003",
              "x\x1f", "\x85y", None]
    for _ in range(200):
        vals = [rnd.choice(pieces) for _ in range(rnd.randint(0, 30))]
        s = pd.Series(vals, dtype="str", index=range(3, 3 + len(vals)))
        arr = pa.chunked_array([pa.array(vals[:2], pa.large_string()),
                                pa.array(vals, pa.large_string()).slice(2)])
        chunked = pd.Series(arr.to_pandas().array, index=s.index)
        for series in (s, chunked, s.astype(object)):
            for trim in (False, True):
                pd.testing.assert_series_equal(V.clean_text(series, trim=trim),
                                               _clean_text_plain(series, trim))


def _parse_number_plain(s: pd.Series, decimal_comma: bool) -> tuple[np.ndarray, ...]:
    t, missing = V.trim_missing(V.arrow_text(s).combine_chunks())
    ok = pc.match_substring_regex(t, V._NUM_RE)
    if decimal_comma:
        comma = pc.match_substring_regex(t, V._COMMA_RE)
        t = pc.if_else(comma, pc.replace_substring(t, ",", "."), t)
        ok = pc.or_(ok, comma)
    num = pc.cast(pc.if_else(ok, t, pa.scalar(None, pa.string())), pa.float64())
    vals = np.array(pc.fill_null(num, np.nan).to_numpy(zero_copy_only=False), dtype="float64")
    invalid = ~missing & np.isnan(vals)
    vals[missing] = np.nan
    return vals, missing, invalid


@pytest.mark.parametrize("block", [4096, 3])
def test_parse_number_equals_the_number_pattern(monkeypatch, block):
    monkeypatch.setattr(V, "_CAST_BLOCK", block)
    rnd = random.Random(2)
    pieces = ["1", "+1", "-1", "1.", "-.5", ".5", "1e5", "1e+5", "inf", "-inf", "Infinity", "nan",
              "1e400", "1,5", "36,61", "x", "", " ", "NA", "-", None, " 12.5 ", "\u00a07", "1 5",
              "0", "-0", "5e", "١", "0x10", "1_0"]
    for _ in range(150):
        vals = [rnd.choice(pieces) for _ in range(rnd.choice([0, 1, 7, 40, 2500]))]
        s = pd.Series(vals, dtype="str")
        for comma in (False, True):
            for got, want in zip(V.parse_number(s, decimal_comma=comma), _parse_number_plain(s, comma),
                                 strict=True):
                np.testing.assert_array_equal(got, want)


def test_text_codes_equal_exactly_for_equal_texts():
    rnd = random.Random(3)
    alphabet = ["a", "b", "\x00", "é", "1", "Z", " ", "中"]
    for _ in range(300):
        n = rnd.choice([0, 1, 2, 10, 300])
        pool = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, rnd.choice([3, 8, 9, 16, 17]))))
                for _ in range(max(1, n // 3))]
        vals = [rnd.choice(pool) for _ in range(n)]
        for typ in (pa.string(), pa.large_string()):
            arr = pa.array(vals, typ)
            if n > 3:
                arr = pa.concat_arrays([pa.array(["pad"], typ), arr]).slice(1)
            codes = inc._text_codes(arr)
            pairs = set(zip(vals, codes.tolist(), strict=True))
            assert len(pairs) == len(set(vals)) == len(set(codes.tolist()))


def test_duplicated_among_equals_pandas():
    rng = np.random.default_rng(4)
    ids = pd.Series(rng.integers(0, 300, 2000).astype(str), dtype="str")
    ok = rng.random(2000) > 0.2
    want = np.zeros(2000, dtype=bool)
    want[ok] = ids[ok].duplicated(keep="first").to_numpy()
    codes = inc._text_codes(V.arrow_text(ids).combine_chunks())
    np.testing.assert_array_equal(duplicated_among(codes, ok), want)


def test_day_and_time_equal_pandas_normalize():
    rng = np.random.default_rng(5)
    ns = rng.integers(pd.Timestamp("1700-01-01").value, pd.Timestamp("2200-01-01").value, 5000)
    ns[::5] = ns[::5] // 86_400_000_000_000 * 86_400_000_000_000
    d = pd.Series(ns.astype("datetime64[ns]"))
    d[::7] = pd.NaT
    today = pd.Timestamp("2026-01-01")
    day, has_time = inc._day_and_time(d)
    np.testing.assert_array_equal(has_time, (d.notna() & (d != d.dt.normalize())).to_numpy())
    np.testing.assert_array_equal(day > today.value,
                                  (d.dt.normalize() > today).fillna(False).to_numpy(dtype=bool))


@pytest.mark.parametrize("country", ["Syria", "Chile", "Indonesia", "Russia", "Norway"])
def test_country_distance_by_numpy_equals_geos(monkeypatch, country):
    geoms, index = V._countries()
    x0, y0, x1, y1 = shapely.bounds(geoms[index[V.fold_country(country)]])
    rng = np.random.default_rng(6)
    n = 25_000
    x, y = rng.uniform(x0 - 1, x1 + 1, n), rng.uniform(max(y0 - 1, -89), min(y1 + 1, 89), n)
    names = pd.Series([country] * n)
    fast = V.outside_country(x, y, names)
    monkeypatch.setattr(V, "_MAX_NUMPY_SEGMENTS", -1)  # every distance by GEOS
    np.testing.assert_array_equal(fast, V.outside_country(x, y, names))
    assert fast.any() and not fast.all()


def test_release_gives_memory_back_only_for_large_tables(monkeypatch) -> None:
    """Past RELEASE_FROM rows the freed memory goes back (pyarrow's pool, glibc's malloc_trim);
    below, nothing is called; read_incidents calls it with the rows it read."""
    from geoconflict import _memory

    calls: list[str] = []

    class Pool:
        def release_unused(self) -> None:
            calls.append("arrow")

    import pyarrow as pa

    monkeypatch.setattr(pa, "default_memory_pool", lambda: Pool())
    monkeypatch.setattr(_memory, "_malloc_trim", lambda: (lambda pad: calls.append(f"trim {pad}")))
    assert _memory.release(_memory.RELEASE_FROM - 1) is False and calls == []
    assert _memory.release(_memory.RELEASE_FROM) is True
    assert calls == ["arrow", "trim 0"]
    monkeypatch.setattr(_memory, "_malloc_trim", lambda: None)  # no glibc: pyarrow's pool only
    calls.clear()
    assert _memory.release(10**7) is True and calls == ["arrow"]


def test_read_incidents_releases_after_reading(tmp_path, monkeypatch) -> None:
    from geoconflict import incidents as incidents_module

    seen: list[int] = []
    monkeypatch.setattr(incidents_module, "release", lambda rows: seen.append(rows) or False)
    p = tmp_path / "e.csv"
    p.write_text("event_id_cnty,event_date,latitude,longitude\nA1,2020-03-06,35.7,36.6\nA2,2020-03-07,x,36.6\n")
    res = incidents_module.read_incidents(p)
    assert seen == [res.report.rows_read] == [2]


def test_malloc_trim_found_on_glibc() -> None:
    import platform

    from geoconflict import _memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _memory._malloc_trim() is not None
