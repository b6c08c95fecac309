"""Points exactly on cell edges and vertices: one documented rule (half-open cells) for every cell
kind and every path (numpy, compiled, dask), checked against the written polygons with GEOS's
robust predicates (the plain way: ``intersects``, then the cell whose centre is furthest east,
then furthest north)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

import geoconflict.grids as grids
from geoconflict.grids import count_by_cell, priogrid_cell, priogrid_gid, priogrid_row_col

UTM37 = "EPSG:32637"
TO_UTM = Transformer.from_crs("EPSG:4326", UTM37, always_xy=True)
TO_LL = Transformer.from_crs(UTM37, "EPSG:4326", always_xy=True)
W = 5000.0  # hex width
R = W / math.sqrt(3)


def incidents_at(lon, lat) -> gpd.GeoDataFrame:
    n = len(lon)
    return gpd.GeoDataFrame({"fatalities": np.ones(n), "geo_precision": pd.array([1] * n, dtype="Int8")},
                            geometry=gpd.points_from_xy(lon, lat), crs=4326)


def by_rule(x: np.ndarray, y: np.ndarray, polys: np.ndarray, east: np.ndarray, north: np.ndarray) -> np.ndarray:
    """Reference: index of the polygon that owns each point, from the polygons alone: of those
    that ``intersects`` the point (GEOS, robust), the one whose centre is furthest east, then
    north.  -1 if none covers it."""
    tree = shapely.STRtree(polys)
    pi, ci = tree.query(shapely.points(x, y), predicate="intersects")
    order = np.lexsort((-north[ci], -east[ci], pi))  # per point: furthest east, then north first
    pi, ci = pi[order], ci[order]
    out = np.full(len(x), -1)
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
    out[pi[first]] = ci[first]
    return out


def cover_count(x, y, polys) -> np.ndarray:
    pi, _ = shapely.STRtree(polys).query(shapely.points(x, y), predicate="intersects")
    return np.bincount(pi, minlength=len(x))


def hex_cells_around(q0: int, r0: int, span: int) -> tuple[np.ndarray, np.ndarray]:
    q, r = np.meshgrid(np.arange(q0 - span, q0 + span + 1), np.arange(r0 - span, r0 + span + 1), indexing="ij")
    return q.ravel(), r.ravel()


# ------------------------------------------------------------------ squares


def test_square_cells_are_half_open_in_float64():
    """[i*size, (i+1)*size): an edge point goes east / north, a vertex north-east, and the float
    just below an edge stays west / south even where ``floor(x / size)`` rounds it up."""
    for size in (1000.0, 0.1, 2.5, 1234.567):
        i = np.arange(-3000, 3000, dtype="int64")
        edge = i * size  # the cells' written vertices
        below = np.nextafter(edge, -np.inf)
        for x, want in ((edge, i), (below, i - 1)):
            got, got_y, dist = grids._indices_and_edge_distance("square", x, x, size)
            assert np.array_equal(got, want) and np.array_equal(got_y, want)
            assert np.all(dist >= 0)
        if size == 0.1:  # the case the correction exists for: the quotient rounds onto the edge
            assert np.any(np.floor(below / size).astype("int64") == i)


def test_square_rule_equals_the_polygons():
    rng = np.random.default_rng(1)
    size = 1000.0
    i, j = rng.integers(200, 260, 400), rng.integers(3900, 3960, 400)
    x = np.r_[i * size, i * size, i * size + rng.uniform(0, size, 400)]
    y = np.r_[j * size, j * size + rng.uniform(0, size, 400), j * size]  # vertices, vertical, horizontal edges
    a, b, _ = grids._indices_and_edge_distance("square", x, y, size)
    ii, jj = np.meshgrid(np.arange(195, 266), np.arange(3895, 3966), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    polys = grids._square_polygons(ii, jj, size)
    assert np.all(cover_count(x, y, polys) >= 2)  # every point is on a shared edge
    k = by_rule(x, y, polys, (ii + 0.5) * size, (jj + 0.5) * size)
    assert np.array_equal(a, ii[k]) and np.array_equal(b, jj[k])
    assert np.array_equal(a[:400], i) and np.array_equal(b[:400], j)  # vertex: the north-east cell


# ------------------------------------------------------------------ hexagons


def hex_edge_points(rng: np.random.Generator, q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and edge midpoints of the given hexagons: a vertical edge's midpoint is a lattice
    point, exactly on the edge; a slanted one's may round off it (callers keep the points GEOS
    finds on two or three cells where they need edge points)."""
    vx, vy = grids._hex_vertices(q, r, W)
    nxt = np.roll(np.arange(6), -1)
    mx, my = (vx + vx[:, nxt]) / 2, (vy + vy[:, nxt]) / 2
    return np.r_[vx.ravel(), mx.ravel()], np.r_[vy.ravel(), my.ravel()]


def test_hex_polygons_tile_the_plane():
    q, r = hex_cells_around(-376, 953, 3)
    polys = grids._hex_polygons(q, r, W)
    assert shapely.union_all(polys).area == pytest.approx(shapely.area(polys).sum(), rel=1e-12)
    vx, vy = grids._hex_vertices(q, r, W)  # a shared vertex is the same float from each cell
    vertices = Counter(zip(vx.ravel().tolist(), vy.ravel().tolist(), strict=False))
    assert max(vertices.values()) == 3 and sum(v == 3 for v in vertices.values()) > 50


def test_hex_points_on_edges_and_vertices_follow_the_rule():
    rng = np.random.default_rng(2)
    x, y = hex_edge_points(rng, *hex_cells_around(-376, 953, 5))
    q, r = hex_cells_around(-376, 953, 8)  # every cell touching those points is drawn
    polys = grids._hex_polygons(q, r, W)
    cx, cy = grids._hex_centres(q, r, W)
    covered = cover_count(x, y, polys)
    on_edge = covered >= 2
    assert on_edge.sum() > 300 and (covered == 3).sum() > 100  # many edge points, many vertices
    x, y = x[on_edge], y[on_edge]
    a, b, dist = grids._indices_and_edge_distance("hex", x, y, W)
    k = by_rule(x, y, polys, cx, cy)
    assert np.all(k >= 0)
    assert np.array_equal(a, q[k]) and np.array_equal(b, r[k])
    assert np.all(dist >= 0)


def test_hex_vertices_by_position():
    """Cell (0, 0) owns its 150° and 210° vertices; its 30°, 330° go east, 90° north-east,
    270° south-east (the neighbour whose centre is furthest east)."""
    vx, vy = grids._hex_vertices(np.array([0]), np.array([0]), W)
    a, b, _ = grids._indices_and_edge_distance("hex", vx[0], vy[0], W)
    assert list(zip(a.tolist(), b.tolist(), strict=False)) == [(1, 0), (0, 1), (0, 0), (0, 0), (1, -1), (1, 0)]


# ------------------------------------------------------------------ longitude 39.0 in UTM zone 37


def lon39_points() -> tuple[np.ndarray, np.ndarray]:
    """Points at longitude 39.0 exactly (UTM 37's central meridian: x = 500000 + 6e-10), with
    latitudes of 4 decimals, many in hex rows whose vertical edge is x = 500000 (odd rows)."""
    lat = np.round(np.linspace(36.6, 37.3, 400), 4)
    lat = np.r_[lat, 37.2861]  # the row 953
    return np.full(len(lat), 39.0), lat


def test_longitude_39_in_zone_37_goes_east():
    lon, lat = lon39_points()
    x, y = TO_UTM.transform(lon, lat)
    assert np.all(x > 500_000) and np.all(x - 500_000 < 1e-8)  # PROJ: just east of the meridian
    sq = count_by_cell(incidents_at(lon, lat), cells="square:1km", crs=UTM37).cells
    assert set(sq["cell_id"].str.split("_").str[2]) == {"500"}
    hexes = count_by_cell(incidents_at(lon, lat), cells="hex:5km", crs=UTM37).cells
    q, r = (hexes["cell_id"].str.split("_", expand=True)[i].astype(int).to_numpy() for i in (2, 3))
    centre_x = W * (q + r / 2)
    odd = r % 2 == 1
    assert odd.sum() >= 8 and np.all(centre_x[odd] == 502_500)  # on the edge: the east cell
    assert np.all(centre_x[~odd] == 500_000)  # even rows: the meridian runs through the centres
    assert "hex5000m_32637_-376_953" in set(hexes["cell_id"])
    assert int(hexes["count"].sum()) == len(lon)


@pytest.mark.parametrize("cells", ["square:1km", "hex:5km"])
def test_compiled_path_applies_the_same_rule(monkeypatch, cells):
    """Large inputs bin on the interpolated projection and decide points near an edge exactly:
    the edge points (longitude 39.0, and exact lattice points of the cells) get the same cells
    as on the numpy path, which are the polygons' own by the rule."""
    rng = np.random.default_rng(3)
    lon39, lat39 = lon39_points()
    size = 1000.0 if cells == "square:1km" else W
    if cells == "hex:5km":
        q, r = hex_cells_around(-380, 950, 6)
        ex, ey = hex_edge_points(rng, q, r)
    else:
        i, j = rng.integers(470, 530, 2000), rng.integers(4070, 4120, 2000)
        ex, ey = i * size, np.r_[j[:1000] * size, j[1000:] * size + rng.uniform(0, size, 1000)]
    elon, elat = TO_LL.transform(ex, ey)
    lon = np.r_[lon39, elon, rng.uniform(38.6, 39.4, 5000)]
    lat = np.r_[lat39, elat, rng.uniform(36.7, 37.2, 5000)]
    g = incidents_at(lon, lat)
    numpy_path = count_by_cell(g, cells=cells, crs=UTM37).cells.set_index("cell_id")["count"]
    monkeypatch.setattr(grids, "APPROX_PROJECTION_FROM", 0)
    compiled = count_by_cell(g, cells=cells, crs=UTM37).cells.set_index("cell_id")["count"]
    assert compiled.sort_index().equals(numpy_path.sort_index())
    # and the polygons' own answer by the rule, on the projected points
    x, y = TO_UTM.transform(lon, lat)
    a, b = grids.metric_cell_indices(lon, lat, grids.to_crs(UTM37), cells.split(":")[0], size)
    ua, ub = np.unique(a), np.unique(b)
    ca, cb = np.meshgrid(np.arange(ua.min() - 1, ua.max() + 2), np.arange(ub.min() - 1, ub.max() + 2), indexing="ij")
    ca, cb = ca.ravel(), cb.ravel()
    if cells == "square:1km":
        polys, east, north = grids._square_polygons(ca, cb, size), (ca + 0.5) * size, (cb + 0.5) * size
    else:
        polys = grids._hex_polygons(ca, cb, W)
        east, north = grids._hex_centres(ca, cb, W)
    k = by_rule(np.asarray(x), np.asarray(y), polys, east, north)
    assert np.all(k >= 0) and np.array_equal(a, ca[k]) and np.array_equal(b, cb[k])
    assert (cover_count(np.asarray(x), np.asarray(y), polys) >= 2).sum() > 50  # edge points included


# ------------------------------------------------------------------ PRIO-GRID


def test_priogrid_half_open_in_degrees():
    below = np.nextafter(0.5, -1.0)  # (lat + 90) * 2 rounds to 181.0 exactly: floor alone says 182
    assert math.floor((below + 90) * 2) == 181
    row, col = priogrid_row_col(np.array([0.0, 36.5, -180.0, 180.0, 180.0, np.nextafter(36.5, 0)]),
                                np.array([below, 35.5, -90.0, 90.0, np.nextafter(90.0, 0), 0.5]))
    assert row.tolist() == [181, 252, 1, 360, 360, 182]
    assert col.tolist() == [361, 434, 1, 720, 720, 433]


def test_priogrid_edges_and_vertices_equal_the_polygons():
    rng = np.random.default_rng(4)
    lon = np.r_[np.round(rng.uniform(35, 42, 500) * 2) / 2, rng.uniform(35, 42, 500), [180.0, -180.0]]
    lat = np.r_[rng.uniform(32, 37.5, 500), np.round(rng.uniform(32, 37.5, 500) * 2) / 2, [90.0, -90.0]]
    lon[:100], lat[:100] = np.round(lon[:100] * 2) / 2, np.round(lat[:100] * 2) / 2  # vertices
    gid = priogrid_gid(lon, lat)
    cand = np.unique(np.r_[gid, gid - 1, gid + 1, gid - 720, gid + 720, gid - 721])
    cand = cand[(cand >= 1) & (cand <= 259_200)]
    polys = priogrid_cell(cand)
    west, south = shapely.bounds(polys)[:, 0], shapely.bounds(polys)[:, 1]
    k = by_rule(lon, lat, polys, west, south)
    assert np.array_equal(gid, cand[k])
    res = count_by_cell(incidents_at(lon, lat), cells="priogrid").cells
    assert dict(zip(res["cell_id"], res["count"], strict=False)) == dict(Counter(gid.tolist()))


# ------------------------------------------------------------------ H3


def h3_edge_points(res: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(res)
    lon, lat = rng.uniform(36.2, 37.4, 400), rng.uniform(35.3, 36.4, 400)
    cells = sorted({h3.latlng_to_cell(la, lo, res) for lo, la in zip(lon, lat, strict=False)})
    verts = np.array([v for c in cells for v in h3.cell_to_boundary(c)])  # (lat, lng)
    return verts[:, 1], verts[:, 0]


@pytest.mark.parametrize("res", [6, 7])
def test_h3_vertices_take_h3s_own_cell_on_every_path(monkeypatch, res):
    vlon, vlat = h3_edge_points(res)
    rng = np.random.default_rng(6)
    lon = np.r_[vlon, np.repeat(39.0, 50), rng.uniform(36.2, 37.4, 30_000)]
    lat = np.r_[vlat, np.linspace(35.4, 36.3, 50), rng.uniform(35.3, 36.4, 30_000)]
    want = dict(Counter(h3.latlng_to_cell(la, lo, res) for lo, la in zip(lon, lat, strict=False)))
    per_point = count_by_cell(incidents_at(lon, lat), cells=f"h3:{res}").cells
    assert dict(zip(per_point["cell_id"], per_point["count"], strict=False)) == want
    monkeypatch.setattr(grids, "H3_RASTER_FROM", 0)
    monkeypatch.setattr(grids, "H3_TILE_MIN_POINTS", 0)
    calls = []
    real = grids._h3_keys_by_raster
    monkeypatch.setattr(grids, "_h3_keys_by_raster", lambda *a: calls.append(1) or real(*a))
    raster = count_by_cell(incidents_at(lon, lat), cells=f"h3:{res}").cells
    assert calls and dict(zip(raster["cell_id"], raster["count"], strict=False)) == want


# ------------------------------------------------------------------ the benchmark's plain way


@pytest.fixture
def bench_grids():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import bench_grids
    finally:
        sys.path.pop(0)
    return bench_grids


def test_bench_plain_way_applies_the_same_rule(bench_grids):
    """The benchmark's plain way (polygons + sjoin intersects + the rule) counts the edge points
    as geoconflict does, cell by cell, for all four cell kinds."""
    rng = np.random.default_rng(8)
    lon39, lat39 = lon39_points()
    q, r = hex_cells_around(-380, 950, 4)
    hx, hy = hex_edge_points(rng, q, r)
    i, j = rng.integers(480, 520, 500), rng.integers(4080, 4110, 500)
    elon, elat = TO_LL.transform(np.r_[hx, i * 1000.0], np.r_[hy, j * 1000.0])
    # PRIO-GRID lines and vertices, and 4-decimal points as in ACLED (H3 vertices, irrational,
    # are left to the tests of geoconflict's own paths above: drawn polygons cannot hold them)
    lon = np.r_[lon39, elon, np.round(rng.uniform(38.6, 39.4, 300) * 2) / 2, np.round(rng.uniform(38.6, 39.4, 600), 4)]
    lat = np.r_[lat39, elat, np.round(rng.uniform(36.6, 37.3, 300) * 2) / 2, np.round(rng.uniform(36.6, 37.3, 600), 4)]
    g = incidents_at(lon, lat)
    plain = {"square:1km": lambda: bench_grids.plain_square(g, UTM37, 1000.0),
             "hex:5km": lambda: bench_grids.plain_hex(g, UTM37, W),
             "h3:7": lambda: bench_grids.plain_h3(g, 7), "priogrid": lambda: bench_grids.plain_priogrid(g)}
    for spec, fn in plain.items():
        ours = count_by_cell(g, cells=spec, crs=UTM37 if spec[0] in "sh" and spec != "h3:7" else None).cells
        got = ours.set_index(ours["cell_id"].astype(str))["count"].sort_index()
        expected = fn()
        expected.index = expected.index.astype(str)
        assert int(expected.sum()) == len(g), spec
        assert got.equals(expected.sort_index().astype("int64")), spec


# ------------------------------------------------------------------ the dask engine


@pytest.mark.slow
def test_dask_count_path_applies_the_same_rule(tmp_path):
    """count_partitioned bins each part with count_by_cell in one CRS: edge points spread over
    three parts land in the same cells, with the same areas, as in one process."""
    from geoconflict import engine_dask as E

    rng = np.random.default_rng(9)
    lon39, lat39 = lon39_points()
    ex, ey = hex_edge_points(rng, *hex_cells_around(-380, 950, 4))
    elon, elat = TO_LL.transform(ex, ey)
    lon = np.r_[lon39, elon, np.round(rng.uniform(38.6, 39.4, 300) * 2) / 2]
    lat = np.r_[lat39, elat, np.round(rng.uniform(36.6, 37.3, 300) * 2) / 2]
    g = incidents_at(lon, lat).iloc[rng.permutation(len(lon))].reset_index(drop=True)
    for k, part in enumerate(np.array_split(np.arange(len(g)), 3)):
        g.iloc[part].to_parquet(tmp_path / f"part.{k:05d}.parquet", index=False)
    client = E.get_client(n_workers=1, threads_per_worker=2, processes=False, memory_limit="1GB")
    try:
        for cells in ("square:1km", "hex:5km", "priogrid"):
            ref = count_by_cell(g, cells=cells)
            got = E.count_partitioned(tmp_path, cells=cells, client=client)
            pd.testing.assert_frame_equal(got.cells, ref.cells)
            assert int(got.cells["count"].sum()) == len(g)
            if cells != "priogrid":
                assert np.array_equal(got.cells["area_km2"], ref.cells["area_km2"])  # exactly
                assert "plane_area_km2" in got.cells.columns
    finally:
        client.close()
