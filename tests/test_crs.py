"""CRS rules: metric and equal-area CRSs chosen for the data, mismatches refused."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from geoconflict.crs import align, equal_area_crs_for, metric_crs_for, require_same_crs
from geoconflict.errors import CRSError


def _pts(lon: float, lat: float, crs: int | str = 4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[Point(lon, lat)], crs=4326).to_crs(crs)


@pytest.mark.parametrize(("lon", "lat", "epsg"), [
    (36.63, 35.93, 32637),   # Idleb city: UTM 37N
    (32.5, 15.6, 32636),     # Khartoum: 36N
    (-74.0, 4.6, 32618),     # Bogota: 18N
    (28.0, -26.2, 32735),    # Johannesburg: 35S
])
def test_metric_crs_is_the_utm_zone(lon: float, lat: float, epsg: int) -> None:
    assert metric_crs_for(_pts(lon, lat)).to_epsg() == epsg
    # the same answer from a layer in another CRS
    assert metric_crs_for(_pts(lon, lat, 3857)).to_epsg() == epsg


def test_equal_area_crs_preserves_area() -> None:
    from pyproj import Geod

    cell = gpd.GeoDataFrame(geometry=[box(36.0, 35.0, 37.0, 36.0)], crs=4326)
    laea = equal_area_crs_for(cell)
    area = cell.to_crs(laea).area.iloc[0]
    geod_area, _ = Geod(ellps="WGS84").geometry_area_perimeter(cell.geometry.iloc[0])
    assert area == pytest.approx(abs(geod_area), rel=1e-4)


def test_mismatch_is_an_error_naming_both() -> None:
    a, b = _pts(36, 35), _pts(36, 35, 32637)
    with pytest.raises(CRSError) as err:
        require_same_crs(a, b, "incidents", "admin")
    assert "EPSG:4326" in str(err.value) and "32637" in str(err.value) and "fix" in str(err.value)
    assert align(b, a, "admin").crs.equals(a.crs)


def test_missing_crs_is_named() -> None:
    bare = gpd.GeoDataFrame(geometry=[Point(0, 0)])
    with pytest.raises(CRSError, match="admin has no CRS"):
        require_same_crs(_pts(1, 1), bare, "incidents", "admin")
