"""The fast paths of the grids and the KDE (#17) give the answers of the plain ones."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoconflict import grids
from geoconflict.grids import count_by_cell


def _incidents(n: int = 400, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    lon = np.round(rng.uniform(36.0, 37.5, n), 4)
    lat = np.round(rng.uniform(35.0, 36.5, n), 4)
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    return gpd.GeoDataFrame(
        {"date": dates, "fatalities": rng.integers(0, 5, n).astype(float),
         "event_type": rng.choice(["Battles", "Explosions/Remote violence"], n),
         "date_precision": pd.array(rng.choice([1, 2, 3, 4], n), dtype="Int8")},
        geometry=shapely.points(lon, lat), crs="EPSG:4326")


@pytest.mark.parametrize("cells", ["square:5km", "hex:5km", "h3:6", "priogrid"])
@pytest.mark.parametrize("options", [{}, {"by": "event_type", "period": "month", "long": True, "all_cells": True},
                                     {"by": "event_type", "period": "quarter"}])
def test_table_is_cells_without_geometry(cells, options):
    res = count_by_cell(_incidents(), cells=cells, **options)
    table = res.table.copy()
    gdf = res.cells
    assert isinstance(gdf, gpd.GeoDataFrame) and gdf.geometry.name == "geometry" and gdf.columns[-1] == "geometry"
    assert not isinstance(res.table, gpd.GeoDataFrame) and "geometry" not in res.table.columns
    pd.testing.assert_frame_equal(pd.DataFrame(gdf.drop(columns="geometry")), table, check_exact=True)
    assert int(table["count"].sum()) == res.report.counted
    # each row's polygon is its cell's (the one cell_polygons builds from the id)
    expected = grids.cell_polygons(cells, gdf["cell_id"].tolist())
    assert shapely.equals_exact(gdf.geometry.values, expected, tolerance=0).all()
    # editing the GeoDataFrame leaves the table as it was
    gdf["count"] = -1
    assert (res.table["count"] >= 0).all()


def test_polygons_built_only_when_cells_are_read(monkeypatch):
    calls = []
    real = grids._cell_polygons_of

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(grids, "_cell_polygons_of", counting)
    res = count_by_cell(_incidents(), cells="h3:7")
    assert res.table["count"].sum() == res.report.counted and calls == []
    first = res.cells
    assert calls == [1] and res.cells is first  # built once


def test_result_from_cells_has_its_table():
    ref = count_by_cell(_incidents(), cells="hex:10km")
    again = grids.GridResult(cells=ref.cells, report=ref.report, metadata=ref.metadata)
    pd.testing.assert_frame_equal(again.table, ref.table)
    with pytest.raises(TypeError):
        grids.GridResult(report=ref.report, metadata=ref.metadata)


@pytest.mark.parametrize(("period", "coarse"), [("quarter", 4), ("year", None)])
def test_quarter_and_year_with_date_precision(period, coarse):
    inc = _incidents()
    res = count_by_cell(inc, cells="priogrid", period=period, long=True)
    assert int(res.table["count"].sum()) == len(inc)
    notes = [n for n in res.report.notes if "coarser than" in n]
    if coarse is None:
        assert notes == []
    else:
        n_coarse = int((inc["date_precision"] >= coarse).sum())
        assert notes == [f"{n_coarse:,} incidents have a date coarser than a {period}; counted at their stated date"]


# ------------------------------------------------------------------ H3 on its face lattice


def _h3_awkward_points() -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon): random points over the whole globe (every icosahedron face), and points where
    a shortcut would go wrong: the res-0 cells' centres (the 12 pentagons among them), cell
    vertices and centres at several resolutions, the poles, the antimeridian, lon 39.0."""
    import h3

    rng = np.random.default_rng(17)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 6000)))
    lon = rng.uniform(-180, 180, 6000)
    special = [h3.cell_to_latlng(c) for c in h3.get_res0_cells()]
    for res in (2, 7, 11):
        cs = {h3.latlng_to_cell(a, b, res) for a, b in zip(lat[:60], lon[:60], strict=True)}
        special += [v for c in cs for v in h3.cell_to_boundary(c)] + [h3.cell_to_latlng(c) for c in cs]
    special += [(90.0, 0.0), (-90.0, 0.0), (0.0, 180.0), (0.0, -180.0), (35.5, 39.0)]
    sp = np.array(special)
    # and a dense cluster (many points per cell: the groups do the work)
    clat, clon = rng.normal(35.9, 0.05, 4000), rng.normal(36.6, 0.05, 4000)
    return np.r_[lat, sp[:, 0], clat], np.r_[lon, sp[:, 1], clon]


@pytest.mark.parametrize("res", [0, 1, 2, 5, 7, 9, 12, 13, 15])
def test_h3_grouped_keys_are_h3s_own(res):
    from h3.api.basic_int import latlng_to_cell

    lat, lon = _h3_awkward_points()
    want = np.array([latlng_to_cell(a, b, res) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)],
                    dtype="uint64").view("int64")
    got = grids._h3_keys_grouped(lat, lon, res)
    assert np.array_equal(got, want)
    lattice = grids._h3_lattice_cells(lat, lon, res)
    if 1 <= res <= 12:  # the lattice is used, and sends only a few points to h3 one by one
        assert lattice is not None
        group, unsure = lattice
        # the vertices are unsure; random and clustered points almost never are
        assert unsure.any() and unsure[:6000].mean() < 0.01 and unsure[-4000:].mean() < 0.01
        sure = ~unsure
        per_group = pd.Series(want[sure]).groupby(group[sure]).nunique()
        assert (per_group == 1).all()
    else:
        assert lattice is None


def test_h3_count_by_cell_uses_the_lattice(monkeypatch):
    inc = _incidents(grids.H3_LATTICE_FROM + 1000)
    calls = []
    real = grids._h3_lattice_cells
    monkeypatch.setattr(grids, "_h3_lattice_cells", lambda *a: calls.append(1) or real(*a))
    got = count_by_cell(inc, cells="h3:7").table
    assert calls
    import h3

    want = pd.Series([h3.latlng_to_cell(p.y, p.x, 7) for p in inc.geometry]).value_counts()
    assert dict(zip(got["cell_id"], got["count"], strict=True)) == want.to_dict()


# ------------------------------------------------------------------ the KDE's convolution and file


def test_fast_len_is_the_next_5_smooth_number():
    from geoconflict.kde import _fast_len

    def smooth(n: int) -> bool:
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    for n in range(1, 3000):
        m = _fast_len(n)
        assert m >= n and smooth(m) and not any(smooth(k) for k in range(n, m))


@pytest.mark.parametrize("shape", [(1, 1), (7, 40), (53, 31)])
def test_convolution_equals_the_direct_sum(shape):
    from geoconflict.kde import _convolve_same, kernel_weights

    rng = np.random.default_rng(sum(shape))
    a = np.where(rng.random(shape) < 0.3, rng.integers(1, 9, shape), 0).astype(float)
    k = kernel_weights(2000, 500, "quartic")  # 9 x 9
    r = k.shape[0] // 2
    padded = np.pad(a, r)
    direct = np.zeros(shape)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            direct += k[r + dy, r + dx] * padded[r - dy: r - dy + shape[0], r - dx: r - dx + shape[1]]
    got = _convolve_same(a, k)
    assert got.shape == shape
    assert np.allclose(got, direct, rtol=0, atol=1e-12 * a.sum())


def test_kde_file_is_byte_identical_run_to_run(tmp_path):
    from geoconflict.kde import kde_raster

    inc = _incidents(3000)
    a = kde_raster(inc, tmp_path / "a.tif", bandwidth_m=5000, resolution_m=250)
    kde_raster(inc, tmp_path / "b.tif", bandwidth_m=5000, resolution_m=250)
    assert a.width > 256 and a.height > 256  # several tiles, compressed on two threads
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes()


# ------------------------------------------------------------------ projections kept for the next grid


def test_projection_is_reused_only_for_the_same_points_and_crs(monkeypatch):
    from pyproj import CRS

    monkeypatch.setattr(grids, "PROJECTION_CACHE_FROM", 100)
    monkeypatch.setattr(grids, "_projections", type(grids._projections)())
    calls = []
    real = grids.transform_xy
    # points projected (cells' centres going back to lon/lat for their ground areas are not counted)
    monkeypatch.setattr(grids, "transform_xy", lambda *a: calls.append(a[2] is grids.WGS84) or real(*a))
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(36, 37, 500), rng.uniform(35, 36, 500)
    utm37, utm36 = CRS.from_epsg(32637), CRS.from_epsg(32636)
    x, y = grids.project(lon, lat, utm37)
    x2, y2 = grids.project(lon.copy(), lat.copy(), utm37)  # equal values, other arrays
    assert len(calls) == 1 and np.shares_memory(x2, x) and np.shares_memory(y2, y)
    with pytest.raises(ValueError):
        x[0] = 0.0  # shared: read-only
    with pytest.raises(ValueError):
        x2.setflags(write=True)  # a view of the cached array cannot be made writeable
    moved = lon.copy()
    moved[7] += 1e-9
    x3, _ = grids.project(moved, lat, utm37)
    assert len(calls) == 2 and x3[7] != x[7] and np.array_equal(np.delete(x3, 7), np.delete(x, 7))
    x4, _ = grids.project(lon, lat, utm36)
    assert len(calls) == 3 and not np.allclose(x4, x)
    ref = real(lon, lat, grids.WGS84, utm37)
    assert np.array_equal(x, ref[0]) and np.array_equal(y, ref[1])
    # the square grid, the hex grid and the KDE of one run project once
    inc = _incidents(500)
    calls.clear()
    count_by_cell(inc, cells="square:1km", crs=utm37)
    count_by_cell(inc, cells="hex:5km", crs=utm37)
    assert sum(calls) == 1


def test_kde_overviews_are_averages_of_the_full_raster(tmp_path):
    import rasterio

    from geoconflict.kde import kde_raster

    res = kde_raster(_incidents(3000), tmp_path / "k.tif", bandwidth_m=3000, resolution_m=250)
    with rasterio.open(res.path) as ds:
        full = ds.read(1).astype("float64")
        assert ds.overviews(1) == [2, 4] and ds.profile["tiled"] and ds.compression is not None
    for level, factor in ((0, 2), (1, 4)):
        with rasterio.open(res.path, OVERVIEW_LEVEL=level) as ov:
            small = ov.read(1).astype("float64")
        assert small.shape == (-(-full.shape[0] // factor), -(-full.shape[1] // factor))
        # averages: the same mass over pixels `factor` times as wide, never above the full maximum
        assert small.sum() * factor**2 == pytest.approx(full.sum(), rel=0.01)
        assert 0 <= small.min() and small.max() <= full.max()


def test_grid_result_pickles_with_its_polygons():
    import pickle

    res = count_by_cell(_incidents(), cells="h3:6", by="event_type", period="year", long=True)
    again = pickle.loads(pickle.dumps(res))
    pd.testing.assert_frame_equal(again.table, res.table)
    pd.testing.assert_frame_equal(again.cells, res.cells)
    assert again.cells.crs == res.cells.crs and again.metadata == res.metadata
