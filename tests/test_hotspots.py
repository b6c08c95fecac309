"""Tests for geoconflict.hotspots: Getis-Ord Gi* with FDR-corrected classes."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import stats

from geoconflict.errors import InputError, SchemaError
from geoconflict.grids import count_by_cell
from geoconflict.hotspots import classify, getis_ord_gi_star, hot_spots, neighbour_matrix


def square_grid(values: np.ndarray, size: float = 5000.0, x0: float = 200_000, y0: float = 3_950_000):
    """A hand-made grid of squares in UTM 37N, row-major, with exact shared corners."""
    nrow, ncol = values.shape
    jj, ii = np.meshgrid(np.arange(ncol), np.arange(nrow))
    boxes = shapely.box(x0 + jj * size, y0 + ii * size, x0 + (jj + 1) * size, y0 + (ii + 1) * size)
    return gpd.GeoDataFrame(
        {"cell_id": [f"c{i}" for i in range(values.size)], "count": values.ravel().astype("int64")},
        geometry=boxes.ravel(),
        crs=32637,
    )


def test_gi_star_equals_esda():
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    rng = np.random.default_rng(0)
    values = rng.poisson(2, size=(9, 11))
    values[3:5, 4:6] += 12
    cells = square_grid(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # libpysal's islands / connectivity notes
        w = libpysal.weights.Queen.from_dataframe(cells, use_index=False)
        ref = esda.G_Local(cells["count"].to_numpy().astype(float), w, transform="B", star=True, permutations=0)
    got = hot_spots(cells)
    assert np.allclose(got["gi_z"].to_numpy(), ref.Zs, atol=1e-10)
    # queen: corner cells 3 neighbours, edges 5, interior 8
    nb = got["neighbours"].to_numpy().reshape(values.shape)
    assert nb[0, 0] == 3 and nb[0, 5] == 5 and nb[4, 4] == 8


def test_gi_star_by_hand():
    # 4 cells in a row, binary weights with self (tri-diagonal)
    x = np.array([0.0, 3.0, 9.0, 4.0])
    w = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]], dtype=float)
    n, mean = 4, 4.0
    s = np.sqrt((x**2).mean() - mean**2)
    wi = w.sum(1)
    expected = (w @ x - mean * wi) / (s * np.sqrt((n * wi - wi**2) / (n - 1)))
    from scipy import sparse

    assert np.allclose(getis_ord_gi_star(x, sparse.csr_matrix(w)), expected)


def bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, written out independently."""
    n = len(p)
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


def test_planted_cluster_is_hot_and_fdr():
    rng = np.random.default_rng(1)
    values = rng.poisson(1, size=(15, 15))
    values[6:9, 6:9] += 15
    got = hot_spots(square_grid(values))
    z, p = got["gi_z"].to_numpy(), got["p_value"].to_numpy()
    assert np.allclose(p, 2 * stats.norm.sf(np.abs(z)))
    assert np.allclose(got["p_fdr"].to_numpy(), bh(p))
    assert (got["p_fdr"] >= got["p_value"] - 1e-15).all()
    centre = got["hotspot"].to_numpy().reshape(values.shape)[7, 7]
    assert centre == "hot 99%"
    far = got["hotspot"].to_numpy().reshape(values.shape)[0, 14]
    assert far == "not significant" or far.startswith("cold")
    # the uncorrected classes are never fewer than the corrected ones
    raw = hot_spots(square_grid(values), fdr=False)
    assert (raw["hotspot"] != "not significant").sum() >= (got["hotspot"] != "not significant").sum()


def test_classify_thresholds():
    z = np.array([3.0, 2.0, 1.7, 1.0, -3.0, -2.0, -1.7, 0.0])
    p = np.array([0.005, 0.03, 0.08, 0.2, 0.009, 0.049, 0.099, 1.0])
    assert list(classify(z, p)) == ["hot 99%", "hot 95%", "hot 90%", "not significant",
                                    "cold 99%", "cold 95%", "cold 90%", "not significant"]


def test_neighbours_survive_geojson_rounding(tmp_path):
    # hex cells written to GeoJSON (EPSG:4326, 6 decimals) still have their 6 neighbours
    rng = np.random.default_rng(2)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rng.uniform(36.4, 36.9, 400), rng.uniform(35.6, 36.0, 400)),
                           crs=4326)
    grid = count_by_cell(pts, cells="hex:5km", all_cells=True).cells
    from geoconflict.io import read_layer, write_layer

    write_layer(grid, tmp_path / "g.geojson")
    back = read_layer(tmp_path / "g.geojson")
    w = neighbour_matrix(back)
    nb = np.asarray(w.sum(axis=1)).ravel() - 1
    assert nb.max() == 6 and (nb == 6).sum() > len(back) / 3
    assert (w != w.T).nnz == 0


def test_distance_band_neighbours():
    cells = square_grid(np.arange(16).reshape(4, 4))
    w = neighbour_matrix(cells, distance_m=5001)  # rook: centres 5 km apart
    nb = np.asarray(w.sum(axis=1)).ravel() - 1
    assert nb.reshape(4, 4)[0, 0] == 2 and nb.reshape(4, 4)[1, 1] == 4


def test_uniform_counts_give_no_hot_spots():
    got = hot_spots(square_grid(np.full((4, 4), 3)))
    assert (got["gi_z"] == 0).all() and (got["hotspot"] == "not significant").all()


def test_errors():
    cells = square_grid(np.ones((2, 2)))
    with pytest.raises(SchemaError):
        hot_spots(cells, count_col="fatalities")
    long = pd.concat([cells, cells], ignore_index=True)
    with pytest.raises(InputError, match="long"):
        hot_spots(gpd.GeoDataFrame(long, crs=cells.crs))


def test_hot_spots_of_reuses_an_all_cells_count_and_recounts_otherwise() -> None:
    """The command and the pipeline share one hot-spot path: the same layer whether the caller's
    count is reused (all cells, wide) or made again (non-empty cells only, or a long table)."""
    import geopandas as gpd

    from geoconflict.grids import count_by_cell
    from geoconflict.hotspots import hot_spot_summary, hot_spots_of

    rng = np.random.default_rng(4)
    n = 600
    x = np.r_[rng.normal(36.6, 0.02, n // 2), rng.uniform(36.2, 37.0, n // 2)]
    y = np.r_[rng.normal(35.8, 0.02, n // 2), rng.uniform(35.4, 36.2, n // 2)]
    inc = gpd.GeoDataFrame({"incident_id": [f"i{i}" for i in range(n)], "fatalities": 0.0,
                            "date": pd.Timestamp("2020-06-01")},
                           geometry=gpd.points_from_xy(x, y), crs=4326)
    fresh, meta = hot_spots_of(inc, cells="hex:5km")
    reused, _ = hot_spots_of(inc, cells="hex:5km", counted=count_by_cell(inc, cells="hex:5km", all_cells=True))
    recount, _ = hot_spots_of(inc, cells="hex:5km", counted=count_by_cell(inc, cells="hex:5km"))
    for other in (reused, recount):
        assert other["cell_id"].tolist() == fresh["cell_id"].tolist()
        assert other["hotspot"].tolist() == fresh["hotspot"].tolist()
    assert "hotspots" in meta and meta["all_cells"] is True
    assert (fresh["hotspot"].astype(str) == "hot 99%").sum() >= 5  # the planted cluster
    assert hot_spot_summary(fresh).startswith(f"hot spots on {len(fresh):,} cells: ")
