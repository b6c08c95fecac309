"""Property-based tests (hypothesis) of the invariants that every stage must keep:

- ingest: every row read is accepted or quarantined (with a reason its bad cells explain);
- join: rows in == rows out, in order, each with the polygon that contains it;
- grids: counts conserved, whatever the row order;
- flows: individuals conserved (drawn + self + below --min + cut by --top + quarantined);
- zones: areas conserved (controllers + not covered == the unit's area);
- and running twice gives the same answer.

Each property is small (25-40 examples, no deadline) so the file runs in well under a minute.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from shapely.geometry import box

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)

# ----------------------------------------------------------------------------- ingest

GOOD_DATES = ["2020-06-08", "08 June 2020", "08-06-2020", "2020-03-06"]
BAD_DATES = {"": {"missing_date"}, "not a date": {"unparseable_date"},
             "31 February 2020": {"unparseable_date"}}
COORD_ANY = {"non_numeric_coordinate", "coordinate_out_of_range", "missing_coordinate"}
BAD_LATS = {"": {"missing_coordinate"}, "abc": {"non_numeric_coordinate"}, "inf": COORD_ANY,
            "nan": COORD_ANY, "95.0": {"coordinate_out_of_range"}}
BAD_LONS = {"": {"missing_coordinate"}, "x": {"non_numeric_coordinate"}, "-200": {"coordinate_out_of_range"},
            "-inf": COORD_ANY}
BAD_FATAL = {"-1": {"negative_fatalities"}, "many": {"non_numeric_fatalities"}}


def _cell(good: st.SearchStrategy[str], bad: dict[str, set[str]]) -> st.SearchStrategy[tuple[str, set[str]]]:
    return st.one_of(
        good.map(lambda v: (v, set())),
        st.sampled_from(sorted(bad)).map(lambda v: (v, bad[v])),
    )


ROW = st.tuples(
    _cell(st.sampled_from(GOOD_DATES), BAD_DATES),
    _cell(st.floats(35.0, 36.5).map(lambda v: f"{v:.4f}"), BAD_LATS),
    _cell(st.floats(36.0, 37.0).map(lambda v: f"{v:.4f}"), BAD_LONS),
    _cell(st.sampled_from(["0", "1", "12"]), BAD_FATAL),
)


def _acled_frame(rows: list[tuple], ids: list[str]) -> pd.DataFrame:
    n = len(rows)
    return pd.DataFrame({
        "event_id_cnty": ids,
        "event_date": [r[0][0] for r in rows],
        "time_precision": ["1"] * n,
        "event_type": ["Explosions/Remote violence"] * n,
        "sub_event_type": ["Shelling/artillery/missile attack"] * n,
        "country": ["Syria"] * n,
        "latitude": [r[1][0] for r in rows],
        "longitude": [r[2][0] for r in rows],
        "geo_precision": ["1"] * n,
        "fatalities": [r[3][0] for r in rows],
    })


@SETTINGS
@given(st.lists(ROW, min_size=1, max_size=25))
def test_ingest_every_row_accounted_for(rows: list[tuple]) -> None:
    from geoconflict.incidents import incidents_from_frame

    ids = [f"E{i}" for i in range(len(rows))]
    df = _acled_frame(rows, ids)
    result = incidents_from_frame(df, format="acled")
    inc, q = result.incidents, result.quarantine
    expected_ok = {i for i, r in zip(ids, rows, strict=True) if not any(c[1] for c in r)}
    assert len(inc) + len(q) == len(rows) == result.report.rows_read
    assert set(inc["incident_id"]) == expected_ok
    assert result.report.accepted == len(inc)
    assert sorted(q["event_id_cnty"]) == sorted(set(ids) - expected_ok)
    # each quarantined row's reason is one its bad cells explain; source_row is 1-based
    for _, row in q.iterrows():
        k = int(row["source_row"]) - 1
        assert ids[k] == row["event_id_cnty"]
        allowed = set().union(*(c[1] for c in rows[k]))
        assert row["reason"] in allowed, (rows[k], row["reason"])
    assert sum(result.report.quarantined_by_reason.values()) == len(q)
    # the accepted rows keep their input order and their coordinates
    order = [i for i in ids if i in expected_ok]
    assert list(inc["incident_id"]) == order
    again = incidents_from_frame(df, format="acled")
    assert_frame_equal(pd.DataFrame(again.incidents), pd.DataFrame(inc))
    assert_frame_equal(again.quarantine, q)


@SETTINGS
@given(st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=15))
def test_ingest_duplicate_ids_first_kept(id_list: list[str]) -> None:
    from geoconflict.incidents import incidents_from_frame

    rows = [(("2020-06-08", set()), ("35.8", set()), ("36.6", set()), ("0", set()))] * len(id_list)
    result = incidents_from_frame(_acled_frame(rows, id_list), format="acled")
    first = list(dict.fromkeys(id_list))
    assert list(result.incidents["incident_id"]) == first
    assert len(result.quarantine) == len(id_list) - len(first)
    assert set(result.quarantine["reason"]) <= {"duplicate_id"}
    dup_rows = sorted(int(r) for r in result.quarantine["source_row"])
    seen: set[str] = set()
    expected_rows = []
    for k, i in enumerate(id_list, 1):
        if i in seen:
            expected_rows.append(k)
        seen.add(i)
    assert dup_rows == expected_rows


# ----------------------------------------------------------------------------- join

ADMIN = gpd.GeoDataFrame(
    {"ADM3_PCODE": ["W", "E", "N"]},
    geometry=[box(36.0, 35.0, 36.5, 35.5), box(36.5, 35.0, 37.0, 35.5), box(36.0, 35.5, 37.0, 36.0)],
    crs=4326,
)
# points on a 0.01-degree grid offset by 0.005: never on a border
GRID_PT = st.tuples(st.integers(-20, 119), st.integers(-20, 119)).map(
    lambda ij: (35.9 + ij[0] * 0.01 + 0.005, 34.9 + ij[1] * 0.01 + 0.005))


def _points(xy: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    n = len(xy)
    return gpd.GeoDataFrame(
        {"incident_id": [f"I{i}" for i in range(n)],
         "date": pd.to_datetime(["2020-06-08"] * n), "date_precision": pd.array([1] * n, dtype="Int8"),
         "geo_precision": pd.array([1] * n, dtype="Int8"), "fatalities": np.ones(n),
         "event_type": ["Battles"] * n, "sub_event_type": ["Armed clash"] * n, "flags": [""] * n},
        geometry=gpd.points_from_xy([p[0] for p in xy], [p[1] for p in xy]), crs=4326,
    )


@SETTINGS
@given(st.lists(GRID_PT, min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_join_admin_rows_kept_in_order_and_correct(xy: list[tuple[float, float]], rnd) -> None:
    from geoconflict.join import join_admin

    inc = _points(xy)
    out = join_admin(inc, ADMIN, snap_distance_m=0)
    assert len(out) == len(inc)
    assert list(out["incident_id"]) == list(inc["incident_id"])
    # independent answer: which box contains the point (none outside all three)
    pts = inc.geometry.to_numpy()
    expected = np.full(len(inc), "", dtype=object)
    for code, poly in zip(ADMIN["ADM3_PCODE"], ADMIN.geometry, strict=True):
        expected[shapely.contains(poly, pts)] = code
    got = out["ADM3_PCODE"].astype(object).where(out["ADM3_PCODE"].notna(), "").to_numpy()
    assert list(got) == list(expected)
    assert set(out.loc[expected != "", "admin_join"]) <= {"within"}
    assert set(out.loc[expected == "", "admin_join"]) <= {"none"}
    # the row order of the input does not change any row's answer
    perm = list(range(len(inc)))
    rnd.shuffle(perm)
    shuffled = join_admin(inc.iloc[perm].reset_index(drop=True), ADMIN, snap_distance_m=0)
    a = out.set_index("incident_id")["ADM3_PCODE"].fillna("")
    b = shuffled.set_index("incident_id")["ADM3_PCODE"].fillna("")
    assert a.sort_index().equals(b.sort_index())


# ----------------------------------------------------------------------------- grids

NW_SYRIA_PT = st.tuples(st.floats(35.8, 37.2), st.floats(35.0, 36.6))


@settings(SETTINGS, max_examples=20)
@given(st.lists(NW_SYRIA_PT, min_size=1, max_size=60),
       st.sampled_from(["square:5km", "hex:5km", "h3:6", "priogrid"]),
       st.randoms(use_true_random=False))
def test_grid_counts_conserved_and_order_free(xy: list[tuple[float, float]], cells: str, rnd) -> None:
    from geoconflict.grids import count_by_cell

    inc = _points(xy)
    result = count_by_cell(inc, cells=cells)
    grid = result.cells
    assert int(grid["count"].sum()) == len(inc)
    assert float(grid["fatalities"].sum()) == pytest.approx(len(inc))
    assert grid["cell_id"].is_unique
    assert (grid["count"] > 0).all()
    perm = list(range(len(inc)))
    rnd.shuffle(perm)
    again = count_by_cell(inc.iloc[perm].reset_index(drop=True), cells=cells).cells
    a = grid.set_index("cell_id")["count"].sort_index()
    b = again.set_index("cell_id")["count"].sort_index()
    assert a.equals(b)
    twice = count_by_cell(inc, cells=cells).cells
    assert_frame_equal(pd.DataFrame(twice), pd.DataFrame(grid))


# ----------------------------------------------------------------------------- flows

PLACES = pd.DataFrame({
    "name": ["Ariha", "Saraqab", "Dana", "Sarmada", "Atma"],
    "pcode": ["C4278", "C3916", "C4126", "C4121", "C4130"],
    "lon": [36.6103, 36.8061, 36.7697, 36.7239, 36.6899],
    "lat": [35.8141, 35.8611, 36.2137, 36.1867, 36.3099],
})
FLOW_ROW = st.tuples(
    st.sampled_from(list(PLACES["name"]) + ["Unknown"]),
    st.sampled_from(list(PLACES["name"])),
    st.integers(0, 5000).map(float) | st.floats(0, 5000).map(lambda v: round(v, 1)),
)


@settings(SETTINGS, max_examples=12)
@given(st.lists(FLOW_ROW, min_size=1, max_size=20), st.integers(0, 3000), st.one_of(st.none(), st.integers(1, 5)))
def test_flows_individuals_conserved(rows: list[tuple], min_ind: int, top: int | None) -> None:
    from geoconflict.flows import aggregate_flows, resolve_places

    rec = pd.DataFrame({"date": ["2020-06-09"] * len(rows), "origin": [r[0] for r in rows],
                        "destination": [r[1] for r in rows], "individuals": [r[2] for r in rows]})
    total = float(sum(r[2] for r in rows))
    resolved, quarantine = resolve_places(rec, places=[PLACES])
    table = aggregate_flows(resolved, min_individuals=min_ind, top=top)
    rep = table.report
    assert rep.input_individuals == pytest.approx(total)
    parts = rep.drawn + rep.self_flows + rep.below_min + rep.top_cut + rep.netted + rep.quarantined
    assert parts == pytest.approx(total)
    assert float(table.flows["individuals"].sum()) == pytest.approx(rep.drawn)
    unknown = sum(r[2] for r in rows if r[0] == "Unknown")
    assert rep.quarantined == pytest.approx(unknown)
    self_flows = sum(r[2] for r in rows if r[0] == r[1])
    assert rep.self_flows == pytest.approx(self_flows)
    assert (table.flows["individuals"] >= min_ind).all()
    again = aggregate_flows(resolve_places(rec, places=[PLACES])[0], min_individuals=min_ind, top=top)
    assert_frame_equal(again.flows, table.flows)


# ----------------------------------------------------------------------------- zones

@SETTINGS
@given(
    st.lists(st.integers(1, 99), min_size=0, max_size=4, unique=True),
    st.lists(st.tuples(st.integers(-20, 110), st.integers(-20, 110), st.integers(5, 60), st.integers(5, 60)),
             min_size=1, max_size=5),
)
def test_zones_areas_conserved(cuts: list[int], units: list[tuple[int, int, int, int]]) -> None:
    """Control strips cover [36, 37] x [35, 36]; each admin unit's controller areas plus its
    uncovered part add up to its area, and the shares to the covered fraction."""
    from geoconflict.crs import equal_area_crs_for
    from geoconflict.zones import area_by_controller

    xs = [36.0] + [36.0 + c / 100 for c in sorted(cuts)] + [37.0]
    names = ["Alpha", "Bravo", "Charlie"]
    control = gpd.GeoDataFrame(
        {"controller": [names[i % 3] for i in range(len(xs) - 1)],
         "valid_from": pd.to_datetime(["2020-01-01"] * (len(xs) - 1)),
         "valid_to": pd.to_datetime([None] * (len(xs) - 1))},
        geometry=[box(xs[i], 35.0, xs[i + 1], 36.0) for i in range(len(xs) - 1)], crs=4326,
    )
    admin = gpd.GeoDataFrame(
        {"pcode": [f"U{i}" for i in range(len(units))]},
        geometry=[box(36 + x / 100, 35 + y / 100, 36 + (x + w) / 100, 35 + (y + h) / 100) for x, y, w, h in units],
        crs=4326,
    )
    layer, summary = area_by_controller(control, admin, date="2020-06-01")
    ea = equal_area_crs_for(admin)
    unit_area = admin.to_crs(ea).area / 1e6
    coverage = box(36.0, 35.0, 37.0, 36.0)
    covered = gpd.GeoSeries(admin.geometry.intersection(coverage), crs=4326).to_crs(ea).area / 1e6
    for i, code in enumerate(admin["pcode"]):
        rows = layer[layer["pcode"] == code]
        held = float(rows["area_km2"].sum())
        # independent computation (another equal-area CRS): agree to 1e-4
        assert held == pytest.approx(float(covered.iloc[i]), rel=1e-4, abs=1e-6)
        if len(rows):
            unit = float(rows["unit_area_km2"].iloc[0])
            assert unit == pytest.approx(float(unit_area.iloc[i]), rel=1e-4)
            # internal conservation: exact
            assert float(rows["share"].sum()) == pytest.approx(held / unit, rel=1e-9)
            assert held <= unit * (1 + 1e-9)
            if covered.iloc[i] == pytest.approx(unit_area.iloc[i], rel=1e-9):
                assert float(rows["share"].sum()) == pytest.approx(1.0, abs=1e-9)
    # the summary's controllers plus "(not covered)" add up to all units
    assert float(summary["area_km2"].sum()) == pytest.approx(float(unit_area.sum()), rel=1e-4)
    again, again_summary = area_by_controller(control, admin, date="2020-06-01")
    assert_frame_equal(pd.DataFrame(again), pd.DataFrame(layer))
    assert_frame_equal(again_summary, summary)
