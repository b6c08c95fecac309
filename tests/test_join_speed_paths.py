"""The join's speed paths give the answers of the plain ones: shared coordinates and days in
join_all, labels taken as large_string, state groups by radix sort, points out of reach set aside
before the nearest-segment search."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from test_join import DATA, _control_case

from geoconflict import _nearest
from geoconflict._nearest import SegmentIndex
from geoconflict.join import (
    _DAY_NS,
    CONTROL_STATUS,
    _append_flags,
    _flags_changed,
    _group_order,
    _labels_at,
    _searchsorted_days,
    join_admin,
    join_all,
    join_control,
    join_front_line,
)


def _segments(coords: np.ndarray) -> np.ndarray:
    return shapely.linestrings(np.stack([coords[:-1], coords[1:]], axis=1))


def _brute(segs: np.ndarray, px: np.ndarray, py: np.ndarray, reach: float) -> np.ndarray:
    d = shapely.distance(shapely.multilinestrings(segs), shapely.points(px, py))
    return np.where(d <= reach, d, np.nan)


def test_points_out_of_reach_are_never_ones_within_it() -> None:
    rng = np.random.default_rng(3)
    # a short-segment boundary, plus a few segments far longer than a cell
    line = np.column_stack([np.cumsum(rng.uniform(50, 400, 600)), np.cumsum(rng.normal(0, 300, 600))])
    long = np.array([[0.0, -30_000.0], [90_000.0, -30_000.0], [90_000.0, 40_000.0]])
    segs = np.concatenate([_segments(line), _segments(long)])
    index = SegmentIndex(segs)
    reach = 2000.0
    x0, y0, x1, y1 = shapely.total_bounds(segs)
    px = rng.uniform(x0 - 10_000, x1 + 10_000, 4000)
    py = rng.uniform(y0 - 10_000, y1 + 10_000, 4000)
    # points exactly at the reach from a vertex, on cell corners, far outside, not finite
    vx, vy = line[::37, 0], line[::37, 1]
    px = np.concatenate([px, vx + reach, vx, vx - reach, [x0 - 5 * reach, x1 + 1e6, np.nan]])
    py = np.concatenate([py, vy, vy + reach, vy, [y0, y1, 0.0]])
    near = index.within_reach(px, py, reach)
    truth = _brute(segs, px[:-1], py[:-1], reach)
    assert near[:-1][np.isfinite(truth)].all()  # never sets aside a point within reach
    assert (~near).sum() > 1000  # and sets aside most of the far ones
    assert near[-1]  # not finite: left to the search


@pytest.mark.parametrize("method", ["geos", "compiled"])
def test_nearest_with_max_distance_equals_the_search_of_every_point(monkeypatch, method: str) -> None:
    rng = np.random.default_rng(5)
    line = np.column_stack([np.cumsum(rng.uniform(50, 400, 500)), np.cumsum(rng.normal(0, 300, 500))])
    segs = _segments(line)
    x0, y0, x1, y1 = shapely.total_bounds(segs)
    px = rng.uniform(x0 - 8000, x1 + 8000, 3000)
    py = rng.uniform(y0 - 8000, y1 + 8000, 3000)
    monkeypatch.setattr(_nearest, "REACH_FROM", 0)
    d_fast, s_fast = SegmentIndex(segs).nearest(px, py, method=method, max_distance=1500.0)
    monkeypatch.setattr(_nearest, "REACH_FROM", 10**12)
    d_all, s_all = SegmentIndex(segs).nearest(px, py, method=method, max_distance=1500.0)
    assert np.isnan(d_all).sum() > 300 and np.isfinite(d_all).sum() > 300
    np.testing.assert_array_equal(d_fast, d_all)
    np.testing.assert_array_equal(s_fast, s_all)
    np.testing.assert_array_equal(d_fast, _brute(segs, px, py, 1500.0))


def test_labels_are_large_string_str_with_a_real_null() -> None:
    codes = np.array([2, -1, 0, 1, -1])
    index = pd.Index([10, 11, 12, 13, 14])
    empty = _labels_at(CONTROL_STATUS, codes, index)
    assert empty.dtype == "str" and empty.tolist() == ["none", "", "in_force", "uncertain", ""]
    assert empty.array._pa_array.type == pa.large_string()
    null = _labels_at(["a", 7], np.array([0, -1, 0, 1]), index[:4], missing=None)
    assert null.dtype == "str" and null.isna().tolist() == [False, True, False, False]
    assert null.dropna().tolist() == ["a", "a", "7"] and list(null.index) == [10, 11, 12, 13]


@pytest.mark.parametrize("groups", [50, 40_000])
def test_group_order_is_the_stable_sort(groups: int) -> None:
    keys = np.random.default_rng(1).integers(-1, groups, 10_000)
    np.testing.assert_array_equal(_group_order(keys, groups), np.argsort(keys, kind="stable"))


def test_join_all_shares_its_points_and_answers_as_the_joins_one_by_one() -> None:
    inc = _control_case()
    adm = gpd.read_file(DATA / "admin_utm.gpkg")
    ctl = DATA / "control_dated.geojson"
    out, _ = join_all(inc, admin=[adm], control=ctl)
    step = join_admin(inc, adm, prefix="admin1_", notes=[])
    step = join_control(step, ctl)
    step = join_front_line(step, control=ctl)
    pd.testing.assert_frame_equal(out, step)
    assert out["control_status"].tolist().count("uncertain") == 2


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_days_equals_numpy_with_nat_and_times_of_day(side: str) -> None:
    rng = np.random.default_rng(2)
    edges = np.sort(rng.choice(np.arange(18_000, 19_500), 40, replace=False)) * _DAY_NS
    days = rng.integers(17_900, 19_600, 150_000) * _DAY_NS  # before, between, on and after edges
    days[::97] = np.iinfo(np.int64).min  # NaT
    got = _searchsorted_days(edges, days, side)
    np.testing.assert_array_equal(got, np.searchsorted(edges, days, side=side))
    timed = days + np.where(days == np.iinfo(np.int64).min, 0, 3_600_000_000_000)  # not whole days
    np.testing.assert_array_equal(_searchsorted_days(edges, timed, side),
                                  np.searchsorted(edges, timed, side=side))


def test_flags_kept_as_they_are_and_changes_counted_in_arrow() -> None:
    flags = pd.Series(["", "future_date", ""], dtype="str")
    none = pd.Series(["", "", ""], dtype=object)
    assert _append_flags(flags, none) is flags
    added = _append_flags(flags, pd.Series(["", ";admin_name_mismatch:admin1", ""], dtype=object))
    assert added.tolist() == ["", "future_date;admin_name_mismatch:admin1", ""]
    assert _flags_changed(flags, added) == 1 and _flags_changed(None, added) == 1
    with_null = pd.Series(["", None, "x"], dtype="str")  # the text comparison, as before
    assert _append_flags(with_null, none).tolist() == ["", "", "x"]
    assert _flags_changed(with_null, with_null) == 1  # a null is never equal to itself



def test_segment_ends_owner_is_each_segments_line():
    """The owner of each segment comes with its ends (no Python loop over lines and parts)."""
    import shapely

    from geoconflict.join import _segment_ends

    lines = np.array([
        shapely.LineString([(0, 0), (1, 0), (2, 1)]),
        shapely.MultiLineString([[(5, 5), (6, 6)], [(7, 7), (8, 8), (9, 9), (9, 10)]]),
        shapely.LineString([(3, 3), (4, 3)]),
    ], dtype=object)
    a, b, owner = _segment_ends(lines)
    expected = [i for i, g in enumerate(lines) for p in shapely.get_parts(g)
                for _ in range(len(shapely.get_coordinates(p)) - 1)]
    assert owner.tolist() == expected == [0, 0, 1, 1, 1, 1, 2]
    assert a[3].tolist() == [7.0, 7.0] and b[3].tolist() == [8.0, 8.0]
