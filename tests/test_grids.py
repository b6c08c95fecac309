"""Tests for geoconflict.grids: square, hex, H3 and PRIO-GRID counts."""

from __future__ import annotations

import math
from collections import Counter

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer

from geoconflict import crs as crs_module
from geoconflict.errors import InputError, SchemaError
from geoconflict.grids import (
    CellSpec,
    cell_polygons,
    count_by_cell,
    month_id,
    parse_cells,
    priogrid_cell,
    priogrid_gid,
)

UTM37 = "EPSG:32637"
GEOD = Geod(ellps="WGS84")
TO_LL = Transformer.from_crs(UTM37, "EPSG:4326", always_xy=True)


def incidents_at(lon, lat, **cols) -> gpd.GeoDataFrame:
    n = len(lon)
    data = {
        "incident_id": [f"row-{i}" for i in range(n)],
        "date": pd.to_datetime(cols.pop("date", ["2020-06-08"] * n)),
        "event_type": cols.pop("event_type", ["Explosions/Remote violence"] * n),
        "fatalities": np.asarray(cols.pop("fatalities", np.zeros(n)), dtype=float),
        "geo_precision": pd.array(cols.pop("geo_precision", [1] * n), dtype="Int8"),
    }
    data.update(cols)
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def incidents_utm(x, y, **cols) -> gpd.GeoDataFrame:
    lon, lat = TO_LL.transform(np.asarray(x, float), np.asarray(y, float))
    return incidents_at(lon, lat, **cols)


def geodesic_area_km2(polys_4326, segment_deg: float = 0.002) -> np.ndarray:
    dense = shapely.segmentize(np.asarray(polys_4326), segment_deg)
    return np.array([abs(GEOD.geometry_area_perimeter(p)[0]) / 1e6 for p in dense])


@pytest.fixture
def places(ocha_places) -> gpd.GeoDataFrame:
    df = pd.read_csv(ocha_places)
    return incidents_at(df["lon"].to_numpy(), df["lat"].to_numpy())


# ------------------------------------------------------------------ specs


@pytest.mark.parametrize(
    "text, spec",
    [
        ("hex:5km", CellSpec("hex", size_m=5000.0)),
        ("square:1000m", CellSpec("square", size_m=1000.0)),
        ("SQUARE: 2.5km", CellSpec("square", size_m=2500.0)),
        ("h3:7", CellSpec("h3", resolution=7)),
        ("priogrid", CellSpec("priogrid")),
    ],
)
def test_parse_cells(text, spec):
    assert parse_cells(text) == spec


@pytest.mark.parametrize("bad", ["hex", "hex:five", "h3:16", "h3:x", "circle:5km", "priogrid:1", "square:0km"])
def test_parse_cells_rejects(bad):
    with pytest.raises(InputError):
        parse_cells(bad)


# ------------------------------------------------------------------ PRIO-GRID


@pytest.mark.parametrize(
    "lat, lon, gid",
    [(0.0, 0.0, 129961), (10.51, 2.29, 145085), (-8.75, 179.25, 117359), (35.9306, 36.6339, 181154),
     (-90.0, -180.0, 1), (89.99, 179.99, 259200), (-89.9, 179.9, 720), (-89.4, -179.9, 721)],
)
def test_priogrid_gid_test_values(lat, lon, gid):
    assert priogrid_gid(lon, lat) == gid


@pytest.mark.parametrize("gid, west, south", [(1, -180.0, -90.0), (720, 179.5, -90.0), (721, -180.0, -89.5),
                                              (1440, 179.5, -89.5), (259200, 179.5, 89.5),
                                              (181154, 36.5, 35.5)])
def test_priogrid_cell_inverse(gid, west, south):
    assert priogrid_cell(gid).equals(shapely.box(west, south, west + 0.5, south + 0.5))


def test_priogrid_round_trip_random():
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(-180, 180, 2000), rng.uniform(-90, 90, 2000)
    gids = priogrid_gid(lon, lat)
    cells = priogrid_cell(gids)
    assert shapely.covers(cells, shapely.points(lon, lat)).all()


def test_month_id():
    assert month_id(pd.Timestamp("1980-01-31")) == 1
    assert month_id(pd.Timestamp("1980-12-01")) == 12
    assert month_id(pd.Timestamp("1981-01-01")) == 13
    assert list(month_id(pd.Series(pd.to_datetime(["2020-06-09", "2020-03-05"])))) == [486, 483]


def test_priogrid_counts_and_month_id():
    g = incidents_at([36.6339, 36.61, 36.2, 0.1], [35.9306, 35.81, 35.4, 0.2],
                     date=["2020-06-08", "2020-06-20", "2020-05-01", "2020-06-01"])
    res = count_by_cell(g, cells="priogrid", period="month", long=True)
    rows = {(int(r.cell_id), r.period): (r["count"], r.month_id) for _, r in res.cells.iterrows()}
    # (36.2, 35.4): row floor(125.4*2)+1 = 251, col floor(216.2*2)+1 = 433
    assert rows == {(181154, "2020-06"): (2, 486), ((251 - 1) * 720 + 433, "2020-05"): (1, 485),
                    (129961, "2020-06"): (1, 486)}
    assert res.metadata["crs"] == "EPSG:4326"
    wide = count_by_cell(g, cells="priogrid", period="month")
    assert wide.metadata["month_ids"] == {"2020-05": 485, "2020-06": 486}
    cell = wide.cells.set_index("cell_id").loc[181154]
    assert (cell["row"], cell["col"]) == (252, 434)  # floor(125.93*2)+1, floor(216.63*2)+1


def test_priogrid_area_is_geodesic():
    g = incidents_at([36.6339], [35.9306])
    res = count_by_cell(g, cells="priogrid")
    expected = geodesic_area_km2(res.cells.geometry.values)[0]
    assert res.cells["area_km2"].iloc[0] == pytest.approx(expected, rel=1e-4)


# ------------------------------------------------------------------ square


def test_square_cells_by_hand():
    # points placed in UTM 37N metres: cells are [i*5000, (i+1)*5000)
    x = [200_001.0, 204_999.0, 205_000.0, 212_345.0, 212_000.0]
    y = [3_960_100.0, 3_964_900.0, 3_960_100.0, 3_971_000.0, 3_974_999.0]
    g = incidents_utm(x, y, fatalities=[1, 2, 3, 4, 5])
    res = count_by_cell(g, cells="square:5km", crs=UTM37)
    got = dict(zip(res.cells["cell_id"], zip(res.cells["count"], res.cells["fatalities"], strict=False), strict=False))
    assert got == {
        "sq5000m_32637_40_792": (2, 3.0),
        "sq5000m_32637_41_792": (1, 3.0),
        "sq5000m_32637_42_794": (2, 9.0),
    }
    assert res.metadata["crs"] == "EPSG:32637"
    assert res.metadata["size_m"] == 5000.0
    assert res.cells.crs.to_epsg() == 32637
    cell = res.cells.set_index("cell_id").geometry["sq5000m_32637_42_794"]
    assert cell.equals(shapely.box(210_000, 3_970_000, 215_000, 3_975_000))


def test_square_crs_chosen_for_data_is_utm():
    g = incidents_at([36.6339, 36.7], [35.9306, 36.0])
    assert count_by_cell(g, cells="square:5km").metadata["crs"] == "EPSG:32637"
    g2 = incidents_at([-0.1, 0.1], [51.5, 51.6])
    assert count_by_cell(g2, cells="square:5km").metadata["crs"] == "EPSG:32630"


@pytest.mark.parametrize("cells, km2", [("square:5km", 25.0), ("square:1km", 1.0),
                                        ("hex:5km", math.sqrt(3) / 2 * 25), ("hex:2km", math.sqrt(3) / 2 * 4)])
def test_metric_cells_have_stated_area(cells, km2):
    rng = np.random.default_rng(2)
    g = incidents_at(rng.uniform(35.8, 37.8, 300), rng.uniform(35.0, 36.7, 300))
    res = count_by_cell(g, cells=cells)
    assert np.allclose(res.cells["plane_area_km2"], km2, rtol=1e-12)  # the plane area, named so
    assert np.allclose(res.cells.area / 1e6, km2, rtol=1e-9)  # exact in the stated CRS
    # area_km2 is the ground area: the cell on the ellipsoid (edges densified to ~20 m)
    geodesic = geodesic_area_km2(res.cells.to_crs(4326).geometry.values, 0.0002)
    assert np.allclose(res.cells["area_km2"], geodesic, rtol=2e-6)
    ratio = res.cells["area_km2"] / km2  # UTM 37N: larger than the plane near 39°E, smaller far off
    assert ratio.min() < 0.9995 and ratio.max() > 1.0001 and np.all(np.abs(ratio - 1) < 0.002)


def test_ground_area_of_many_cells_is_interpolated_within_1e6():
    """From AREA_LATTICE_FROM cells the areal scale is interpolated between exact nodes: the
    ground areas stay within 1e-6 of the per-cell computation over a 1000 km extent."""
    import geoconflict.grids as grids

    rng = np.random.default_rng(11)
    cx, cy = rng.uniform(0, 1_000_000, 20_000), rng.uniform(3_600_000, 4_600_000, 20_000)
    utm = grids.to_crs(UTM37)
    many = grids._ground_area_km2(np.full(20_000, 25.0), cx, cy, utm)
    exact = 25.0 / grids._areal_scale(cx, cy, utm)
    assert np.abs(many / exact - 1).max() < 1e-6
    assert np.ptp(exact) > 25.0 * 1e-3  # the scale varies: the interpolation is exercised


def test_alignment_two_datasets_share_cells():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(36, 37, 400), rng.uniform(35.2, 36.2, 400)
    for spec in ("square:5km", "hex:5km"):
        both = count_by_cell(incidents_at(lon, lat), cells=spec).cells.set_index("cell_id")
        a = count_by_cell(incidents_at(lon[:200], lat[:200]), cells=spec).cells.set_index("cell_id")
        b = count_by_cell(incidents_at(lon[200:], lat[200:]), cells=spec).cells.set_index("cell_id")
        summed = a["count"].add(b["count"], fill_value=0).astype(int)
        assert summed.sort_index().equals(both["count"].sort_index())
        common = a.index.intersection(b.index)
        assert len(common) > 0
        assert all(a.geometry[c].equals_exact(b.geometry[c], 1e-6) for c in common)


# ------------------------------------------------------------------ hex


def test_hex_geometry_is_pointy_top_flat_to_flat():
    g = incidents_utm([0.0 + 500_000], [4_000_000.0])
    res = count_by_cell(g, cells="hex:5km", crs=UTM37)
    poly = res.cells.geometry.iloc[0]
    xmin, ymin, xmax, ymax = poly.bounds
    assert xmax - xmin == pytest.approx(5000.0)  # opposite edges 5 km apart
    assert ymax - ymin == pytest.approx(2 * 5000.0 / math.sqrt(3))  # vertex to vertex
    assert poly.contains(shapely.Point(500_000, 4_000_000))
    assert len(poly.exterior.coords) == 7
    q, r = (int(v) for v in res.cells["cell_id"].iloc[0].split("_")[-2:])
    # centre from the documented formula
    cx, cy = 5000 * (q + r / 2), 5000 * math.sqrt(3) / 2 * r
    assert poly.centroid.x == pytest.approx(cx) and poly.centroid.y == pytest.approx(cy)


def test_hex_origin_cell_is_centred_on_false_origin():
    res = count_by_cell(incidents_utm([10.0], [-20.0 + 1e-6]), cells="hex:5km", crs=UTM37)
    assert res.cells["cell_id"].iloc[0] == "hex5000m_32637_0_0"
    assert res.cells.geometry.iloc[0].centroid.distance(shapely.Point(0, 0)) < 1e-6


def hex_counts_by_sjoin(g: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> pd.Series:
    pts = g.to_crs(cells.crs)
    joined = gpd.sjoin(pts, cells[["cell_id", "geometry"]], predicate="within", how="left")
    return joined.groupby("cell_id").size()


def test_hex_counts_equal_sjoin_random_and_near_edges():
    rng = np.random.default_rng(4)
    x = rng.uniform(180_000, 320_000, 5000)
    y = rng.uniform(3_900_000, 4_050_000, 5000)
    g = incidents_utm(x, y)
    res = count_by_cell(g, cells="hex:5km", crs=UTM37)
    expected = hex_counts_by_sjoin(g, res.cells)
    got = res.cells.set_index("cell_id")["count"]
    assert int(expected.sum()) == 5000  # every point fell in exactly one returned cell
    assert got.sort_index().equals(expected.sort_index().astype(got.dtype))


def test_hex_counts_equal_sjoin_on_real_places(places):
    res = count_by_cell(places, cells="hex:5km")
    expected = hex_counts_by_sjoin(places, res.cells)
    got = res.cells.set_index("cell_id")["count"]
    assert int(got.sum()) == len(places) == int(expected.sum())
    assert got.sort_index().equals(expected.sort_index().astype(got.dtype))


def test_square_counts_equal_sjoin_on_real_places(places):
    res = count_by_cell(places, cells="square:2km")
    expected = hex_counts_by_sjoin(places, res.cells)
    got = res.cells.set_index("cell_id")["count"]
    assert got.sort_index().equals(expected.sort_index().astype(got.dtype))


# ------------------------------------------------------------------ H3


def test_h3_ids_equal_h3_own(places):
    res = count_by_cell(places, cells="h3:7")
    expected = Counter(h3.latlng_to_cell(la, lo, 7) for lo, la in zip(places.geometry.x, places.geometry.y, strict=False))
    assert dict(zip(res.cells["cell_id"], res.cells["count"], strict=False)) == dict(expected)
    one = res.cells.iloc[0]
    ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(one["cell_id"])]
    assert one.geometry.equals(shapely.Polygon(ring))
    assert one["area_km2"] == pytest.approx(h3.cell_area(one["cell_id"], unit="km^2"))


def test_h3_ids_with_repeated_coordinates():
    # mostly repeated points (the dedupe path) and unique points give h3's own ids
    lon = np.repeat([36.61, 36.63, 36.8061], 400)
    lat = np.repeat([35.81, 35.93, 35.8611], 400)
    res = count_by_cell(incidents_at(lon, lat), cells="h3:9")
    expected = Counter(h3.latlng_to_cell(la, lo, 9) for lo, la in zip(lon, lat, strict=False))
    assert dict(zip(res.cells["cell_id"], res.cells["count"], strict=False)) == dict(expected)


def _h3_hard_points(res: int, span: float) -> tuple[np.ndarray, np.ndarray]:
    """Random points over north-west Syria plus points on, and a hair off, H3 cell vertices and
    edge midpoints (where the raster's straight outlines and h3's own answer could disagree)."""
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(36.6, 36.6 + span, 20_000), rng.uniform(35.8, 35.8 + span, 20_000)
    cells = {h3.latlng_to_cell(la, lo, res) for lo, la in zip(lon[:3000], lat[:3000], strict=False)}
    verts = np.array([v for c in sorted(cells) for v in h3.cell_to_boundary(c)])  # (lat, lng)
    mids = (verts + np.roll(verts, -1, axis=0)) / 2
    pts = np.vstack([verts, mids])
    jitter = rng.choice([-1, 1], pts.shape) * 10 ** rng.uniform(-12, -6, pts.shape)
    pts = np.vstack([pts, pts + jitter])
    return np.r_[lon, pts[:, 1]], np.r_[lat, pts[:, 0]]


@pytest.mark.parametrize(("res", "span"), [(5, 2.0), (7, 1.3), (9, 0.2)])
def test_h3_raster_classification_equals_h3_on_hard_points(monkeypatch, res: int, span: float):
    import geoconflict.grids as grids

    lon, lat = _h3_hard_points(res, span)
    expected = np.array([h3.str_to_int(h3.latlng_to_cell(la, lo, res)) for lo, la in zip(lon, lat, strict=False)],
                        dtype="uint64").view("int64")
    keys, todo = grids._h3_keys_by_raster(lat, lon, res)
    assert keys is not None and 0 < len(todo) < len(lon)  # the raster answers most, h3 the rest
    sure = np.setdiff1d(np.arange(len(lon)), todo)
    assert np.array_equal(keys[sure], expected[sure])
    monkeypatch.setattr(grids, "H3_RASTER_FROM", 0)
    monkeypatch.setattr(grids, "H3_TILE_MIN_POINTS", 0)
    monkeypatch.setattr(grids, "H3_TILE_PIXELS", 256)  # several tiles, each drawn on its own
    calls = []
    real = grids._h3_keys_by_raster
    monkeypatch.setattr(grids, "_h3_keys_by_raster", lambda *a: calls.append(1) or real(*a))
    res_counts = count_by_cell(incidents_at(lon, lat), cells=f"h3:{res}").cells
    want = Counter(h3.latlng_to_cell(la, lo, res) for lo, la in zip(lon, lat, strict=False))
    assert dict(zip(res_counts["cell_id"], res_counts["count"], strict=False)) == dict(want)
    assert len(calls) > 1


def test_h3_raster_declines_extents_it_cannot_draw():
    import geoconflict.grids as grids

    lon, lat = np.array([-170.0, 170.0]), np.array([10.0, 12.0])  # 340 degrees wide
    assert grids._h3_keys_by_raster(lat, lon, 7)[0] is None
    lon, lat = np.array([10.0, 11.0]), np.array([84.0, 85.0])  # near the pole
    assert grids._h3_keys_by_raster(lat, lon, 7)[0] is None


# ------------------------------------------------------------------ accounting


def test_imprecise_excluded_by_default_and_counted():
    g = incidents_at([36.6, 36.61, 36.62, 36.63], [35.9, 35.9, 35.9, 35.9], geo_precision=[1, 2, 3, 3])
    res = count_by_cell(g, cells="priogrid")
    assert res.report.counted == 2
    assert res.report.excluded == {"imprecise_location": 2}
    assert int(res.cells["count"].sum()) == 2
    assert any("excluded 2: imprecise location" in line for line in res.report.lines())
    kept = count_by_cell(g, cells="priogrid", include_imprecise=True)
    assert kept.report.counted == 4 and int(kept.cells["count"].sum()) == 4


def test_counts_conserved_with_bad_rows():
    g = incidents_at([36.6, 36.61, 36.62], [35.9, 35.91, 35.92])
    g = pd.concat([g, gpd.GeoDataFrame({"incident_id": ["x", "y"], "geo_precision": pd.array([1, 1], dtype="Int8")},
                                       geometry=[None, shapely.LineString([(36, 35), (36.1, 35.1)])], crs=4326)],
                  ignore_index=True)
    res = count_by_cell(g, cells="hex:5km")
    assert res.report.rows_in == 5
    assert res.report.counted == 3
    assert res.report.excluded == {"no_geometry": 1, "not_a_point": 1}
    assert int(res.cells["count"].sum()) == 3


def test_ucdp_low_high_sums():
    g = incidents_at([36.6, 36.601], [35.9, 35.9], fatalities=[5, 7], low=[4, 6], high=[9, 10])
    res = count_by_cell(g, cells="square:5km")
    row = res.cells.iloc[0]
    assert (row["count"], row["fatalities"], row["fatalities_low"], row["fatalities_high"]) == (2, 12, 10, 19)


def test_non_wgs84_input_is_reprojected():
    g = incidents_at([36.6339], [35.9306]).to_crs(3857)
    assert int(count_by_cell(g, cells="priogrid").cells["cell_id"].iloc[0]) == 181154


# ------------------------------------------------------------------ by / period


def grouped() -> gpd.GeoDataFrame:
    return incidents_at(
        [36.6, 36.601, 36.602, 36.9, 36.9],
        [35.9, 35.9, 35.9, 35.5, 35.5],
        date=["2020-06-01", "2020-06-08", "2020-07-02", "2020-06-03", "2020-06-04"],
        event_type=["Air/drone strike", "Shelling", "Shelling", "Air/drone strike", None],
        fatalities=[1, 2, 3, 4, 5],
    )


def test_by_and_period_wide():
    res = count_by_cell(grouped(), cells="square:5km", by="event_type", period="month")
    c = res.cells.sort_values("count", ascending=False).reset_index(drop=True)
    assert list(c["count"]) == [3, 2]
    assert c.loc[0, "count_Air/drone strike_2020-06"] == 1
    assert c.loc[0, "count_Shelling_2020-06"] == 1
    assert c.loc[0, "count_Shelling_2020-07"] == 1
    assert c.loc[1, "count_(none)_2020-06"] == 1
    per = [col for col in c.columns if col.startswith("count_")]
    assert (c[per].sum(axis=1) == c["count"]).all()


def test_period_week_labels_are_iso():
    res = count_by_cell(grouped(), cells="square:5km", period="week")
    assert {"count_2020-W23", "count_2020-W24", "count_2020-W27"} <= set(res.cells.columns)
    per = [col for col in res.cells.columns if col.startswith("count_")]
    assert int(res.cells[per].to_numpy().sum()) == 5


def test_long_table():
    res = count_by_cell(grouped(), cells="square:5km", by="event_type", period="day", long=True)
    t = res.cells
    assert len(t) == 5 and int(t["count"].sum()) == 5 and t["fatalities"].sum() == 15
    assert set(t.columns) >= {"cell_id", "event_type", "period", "count", "fatalities", "geometry"}
    assert set(t["period"]) == {"2020-06-01", "2020-06-08", "2020-07-02", "2020-06-03", "2020-06-04"}


def test_by_missing_column():
    with pytest.raises(SchemaError, match="controller"):
        count_by_cell(grouped(), cells="hex:5km", by="controller")


# ------------------------------------------------------------------ all cells


def test_all_cells_over_extent():
    extent = gpd.GeoDataFrame(geometry=[shapely.box(36.4, 35.6, 36.8, 36.0)], crs=4326)
    g = incidents_at([36.5, 36.5, 36.7, 38.0], [35.7, 35.7, 35.9, 35.0])  # last one outside
    res = count_by_cell(g, cells="square:5km", all_cells=True, extent=extent)
    cells = res.cells
    assert int(cells["count"].sum()) == 4  # nothing lost outside the extent
    assert (cells["count"] > 0).sum() == 3
    area = extent.to_crs(cells.crs).geometry.iloc[0]
    inside = cells[cells["count"] == 0]
    assert inside.intersects(area).all()
    # every 5 km cell meeting the extent is there: compare with an independent enumeration
    xmin, ymin, xmax, ymax = area.bounds
    ii, jj = np.meshgrid(np.arange(xmin // 5000, xmax // 5000 + 1), np.arange(ymin // 5000, ymax // 5000 + 1))
    boxes = shapely.box(ii * 5000, jj * 5000, ii * 5000 + 5000, jj * 5000 + 5000).ravel()
    expected = int(shapely.intersects(boxes, area).sum())
    assert (cells.intersects(area)).sum() == expected


def test_all_cells_bbox_hex_and_h3():
    rng = np.random.default_rng(5)
    g = incidents_at(rng.uniform(36.5, 36.8, 50), rng.uniform(35.7, 35.9, 50))
    for spec in ("hex:5km", "h3:8", "priogrid"):
        res = count_by_cell(g, cells=spec, all_cells=True)
        assert int(res.cells["count"].sum()) == 50
        assert res.cells["cell_id"].is_unique
        assert (res.cells["count"] == 0).any() or spec == "priogrid"


def test_cell_polygons_helper_matches_output():
    res = count_by_cell(grouped(), cells="hex:5km")
    polys = cell_polygons("hex:5km", res.cells["cell_id"])
    assert all(a.equals_exact(b, 1e-6) for a, b in zip(polys, res.cells.geometry, strict=False))


def test_interpolated_projection_bins_exactly(monkeypatch):
    """Large inputs bin on an interpolated projection; points near edges are re-projected, so
    the cells equal those of the exact projection (here forced on 30,000 points)."""
    import geoconflict.grids as grids

    rng = np.random.default_rng(7)
    # points within micrometres to metres of 1 km square edges and of 5 km hex edges, and random ones
    xe = (np.round(rng.uniform(200_000, 350_000, 10_000) / 1000) * 1000
          + rng.choice([-1, 1], 10_000) * 10 ** rng.uniform(-6, 0, 10_000))
    ye = rng.uniform(3_900_000, 4_050_000, 10_000)
    q, r = rng.integers(-400, -300, 10_000), rng.integers(900, 940, 10_000)
    cx, cy = 5000 * (q + r / 2), 5000 * math.sqrt(3) / 2 * r
    xh = cx + 2500 + rng.choice([-1, 1], 10_000) * 10 ** rng.uniform(-6, 0, 10_000)  # near a vertical edge
    lon, lat = TO_LL.transform(np.r_[xe, xh, rng.uniform(200_000, 350_000, 10_000)],
                               np.r_[ye, cy, rng.uniform(3_900_000, 4_050_000, 10_000)])
    g = incidents_at(lon, lat)
    exact = {s: count_by_cell(g, cells=s, crs=UTM37).cells.set_index("cell_id")["count"] for s in ("square:1km", "hex:5km")}
    monkeypatch.setattr(grids, "APPROX_PROJECTION_FROM", 0)
    monkeypatch.setattr(crs_module, "THREADED_TRANSFORM_FROM", 1000)  # the two-thread projection too
    fast = grids.metric_cell_indices(np.asarray(lon), np.asarray(lat), grids.to_crs(UTM37), "square", 1000.0)
    x, y = Transformer.from_crs("EPSG:4326", UTM37, always_xy=True).transform(lon, lat)
    assert np.array_equal(fast[0], np.floor(np.asarray(x) / 1000).astype("int64"))
    assert np.array_equal(fast[1], np.floor(np.asarray(y) / 1000).astype("int64"))
    for spec, counts in exact.items():
        approx = count_by_cell(g, cells=spec, crs=UTM37).cells.set_index("cell_id")["count"]
        assert approx.sort_index().equals(counts.sort_index())


def test_empty_points_are_excluded_with_a_reason():
    g = incidents_at([36.6, 36.61], [35.9, 35.91])
    g.loc[1, "geometry"] = shapely.Point()
    res = count_by_cell(g, cells="square:5km")
    assert res.report.excluded == {"no_geometry": 1}
    assert res.report.counted == 1 and int(res.cells["count"].sum()) == 1


def test_encode_pairs_compiled_equals_numpy():
    import geoconflict.grids as grids

    rng = np.random.default_rng(12)
    for lo, hi, n in ((-50, 50, 10_000), (-3, 4, 1000), (10**6, 10**6 + 300, 5000), (0, 1, 1)):
        a, b = rng.integers(lo, hi, n), rng.integers(lo - 7, hi + 9, n)
        codes, (ua, ub) = grids._encode_pairs(a, b)
        c2, (ua2, ub2) = grids._encode_pairs(a, b, compiled=True)
        assert np.array_equal(codes, c2) and np.array_equal(ua, ua2) and np.array_equal(ub, ub2)
        assert np.array_equal(ua[codes], a) and np.array_equal(ub[codes], b)
        assert np.all(np.diff(ua * (hi - lo + 20) + ub) > 0)  # distinct pairs in (a, b) order
