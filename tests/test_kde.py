"""Tests for geoconflict.kde: the kernel density raster (COG)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer

from geoconflict.errors import InputError, OutputExistsError
from geoconflict.kde import kde_raster, kernel_weights

UTM37 = "EPSG:32637"
TO_LL = Transformer.from_crs(UTM37, "EPSG:4326", always_xy=True)


def incidents_utm(x, y, **cols) -> gpd.GeoDataFrame:
    lon, lat = TO_LL.transform(np.asarray(x, float), np.asarray(y, float))
    n = len(lon)
    data = {"fatalities": np.zeros(n), "geo_precision": pd.array([1] * n, dtype="Int8")}
    data.update(cols)
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1, masked=True), ds.profile, ds.tags(), ds.transform, ds


@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_integral_equals_events(tmp_path, kernel):
    rng = np.random.default_rng(0)
    g = incidents_utm(rng.uniform(200_000, 260_000, 3000), rng.uniform(3_950_000, 4_010_000, 3000))
    res = kde_raster(g, tmp_path / "k.tif", bandwidth_m=5000, kernel=kernel, resolution_m=500)
    data, profile, tags, transform, _ = read(tmp_path / "k.tif")
    pixel_km2 = transform.a * -transform.e / 1e6
    assert pixel_km2 == pytest.approx(0.25)
    integral = float(data.astype("float64").sum()) * pixel_km2
    assert integral == pytest.approx(3000, rel=0.01)
    assert res.total == 3000 and res.integral == pytest.approx(3000, rel=1e-4)
    assert tags["units"] == "events per km2" and tags["kernel"] == kernel and tags["bandwidth_m"] == "5000"


def test_weighted_integral_and_units(tmp_path):
    g = incidents_utm([230_000, 240_000, 241_000], [3_980_000, 3_990_000, 3_990_500], fatalities=[2.0, 0.0, 5.0])
    kde_raster(g, tmp_path / "w.tif", bandwidth_m=3000, weight="fatalities", resolution_m=250)
    data, _, tags, transform, _ = read(tmp_path / "w.tif")
    assert float(data.sum()) * (250 * 250 / 1e6) == pytest.approx(7.0, rel=0.01)
    assert tags["units"] == "fatalities per km2"


def test_cog_structure(tmp_path):
    rng = np.random.default_rng(1)
    g = incidents_utm(rng.uniform(200_000, 300_000, 500), rng.uniform(3_900_000, 4_000_000, 500))
    kde_raster(g, tmp_path / "c.tif", bandwidth_m=5000, resolution_m=250)
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert ds.driver == "GTiff"
        assert ds.profile["tiled"] and ds.block_shapes[0] == (256, 256)
        assert ds.compression is not None
        assert ds.nodata is not None
        assert ds.crs.to_epsg() == 32637
        assert len(ds.overviews(1)) >= 1
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.units[0] == "events per km2"
        assert ds.dtypes[0] == "float32"


def test_raster_covers_kernel_reach(tmp_path):
    x, y = [230_250.0, 250_250.0], [3_980_250.0, 3_990_250.0]
    g = incidents_utm(x, y)
    kde_raster(g, tmp_path / "r.tif", bandwidth_m=5000, resolution_m=500, crs=UTM37)
    with rasterio.open(tmp_path / "r.tif") as ds:
        b = ds.bounds
        arr = ds.read(1)
    assert b.left <= min(x) - 5000 and b.right >= max(x) + 5000
    assert b.bottom <= min(y) - 5000 and b.top >= max(y) + 5000
    # and no further than one pixel beyond it
    assert b.left > min(x) - 5000 - 1000 and b.top < max(y) + 5000 + 1000
    # the border rows/columns carry no density: nothing was cut off
    assert arr[0].sum() == 0 and arr[-1].sum() == 0 and arr[:, 0].sum() == 0 and arr[:, -1].sum() == 0


def test_single_event_matches_quartic_formula(tmp_path):
    # an event at a pixel centre: the density at distance d is 3/(pi h^2) (1 - d^2/h^2)^2
    h, res = 5000.0, 250.0
    x0, y0 = 240_125.0, 3_990_125.0  # (i + 0.5) * 250
    kde_raster(incidents_utm([x0], [y0]), tmp_path / "q.tif", bandwidth_m=h, resolution_m=res, crs=UTM37)
    with rasterio.open(tmp_path / "q.tif") as ds:
        arr = ds.read(1).astype("float64")
        rows, cols = np.indices(arr.shape)
        xs, ys = rasterio.transform.xy(ds.transform, rows.ravel(), cols.ravel())
    d2 = (np.asarray(xs) - x0) ** 2 + (np.asarray(ys) - y0) ** 2
    expected = np.where(d2 < h * h, 3 / (math.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0) * 1e6  # per km2
    assert np.allclose(arr.ravel(), expected, rtol=0.01, atol=1e-4)
    assert arr.max() == pytest.approx(3 / (math.pi * 25), rel=0.01)  # 0.0382 per km2 at the centre


def test_kernel_weights_normalised():
    for kernel in ("quartic", "gaussian"):
        k = kernel_weights(5000, 500, kernel)
        assert k.sum() == pytest.approx(1.0)
        assert np.allclose(k, k.T) and np.allclose(k, k[::-1])
    assert kernel_weights(10, 500).shape == (3, 3)  # tiny bandwidth: all mass in one pixel
    assert kernel_weights(10, 500)[1, 1] == 1.0


def test_imprecise_excluded(tmp_path):
    g = incidents_utm([230_000, 240_000], [3_980_000, 3_990_000])
    g["geo_precision"] = pd.array([1, 3], dtype="Int8")
    res = kde_raster(g, tmp_path / "i.tif", bandwidth_m=2000)
    assert res.total == 1 and res.report.excluded == {"imprecise_location": 1}
    res2 = kde_raster(g, tmp_path / "i2.tif", bandwidth_m=2000, include_imprecise=True)
    assert res2.total == 2


def test_refuses_overwrite_and_bad_input(tmp_path):
    g = incidents_utm([230_000], [3_980_000])
    kde_raster(g, tmp_path / "o.tif", bandwidth_m=2000)
    with pytest.raises(OutputExistsError):
        kde_raster(g, tmp_path / "o.tif", bandwidth_m=2000)
    kde_raster(g, tmp_path / "o.tif", bandwidth_m=2000, overwrite=True)
    with pytest.raises(InputError, match="GeoTIFF"):
        kde_raster(g, tmp_path / "o.png", bandwidth_m=2000)
    with pytest.raises(InputError, match="kernel"):
        kde_raster(g, tmp_path / "k.tif", bandwidth_m=2000, kernel="epanechnikov")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="fatalities"):
        g2 = g.copy()
        g2["fatalities"] = -1.0
        kde_raster(g2, tmp_path / "n.tif", bandwidth_m=2000, weight="fatalities")
    assert not (tmp_path / "k.tif").exists() and not (tmp_path / "n.tif").exists()
