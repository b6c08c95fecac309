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


def test_utm_zone_by_formula_equals_proj_database():
    """The band formula (#17: no 0.1 s database query per extent) gives PROJ's answer inside a
    band; edges, the equator and the polar caps still ask the database."""
    import numpy as np
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    from geoconflict.crs import _utm_at

    rng = np.random.default_rng(5)
    points = list(zip(rng.uniform(-179.9, 179.9, 25).round(4), rng.uniform(-79.9, 83.9, 25).round(4), strict=True))
    points += [(36.0, 35.0), (39.0, 35.0), (36.5, 0.0), (-180.0, 10.0), (10.0, 85.0), (38.2, -5.0)]
    for lon, lat in points:
        infos = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))
        expected = infos[0].code if infos else ("3413" if lat > 0 else "3031")
        assert _utm_at(float(lon), float(lat)).to_epsg() == int(expected), (lon, lat)
