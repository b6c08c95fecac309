"""corridor(): side labels, width measured geodesically, areas, errors."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, MultiLineString, Point

from geoconflict.corridor import corridor
from geoconflict.errors import CRSError, InputError, LayerError

GEOD = Geod(ellps="WGS84")


def _line_gdf(coords, crs=4326, **cols):
    return gpd.GeoDataFrame(cols or None, geometry=[LineString(coords)], crs=crs)


def _geodesic_distances_to_line(points_lonlat: np.ndarray, line_lonlat: LineString) -> np.ndarray:
    """Distance (m) from each point to the line, independently: the line densified to ~5 m
    geodesic steps, then the minimum pyproj.Geod distance over its points."""
    coords = np.asarray(line_lonlat.coords)
    dense = []
    for (x0, y0), (x1, y1) in zip(coords[:-1], coords[1:], strict=True):
        _, _, seg = GEOD.inv(x0, y0, x1, y1)
        n = max(int(seg / 5.0), 1)
        pts = GEOD.npts(x0, y0, x1, y1, n)
        dense.append([(x0, y0), *pts])
    dense.append([tuple(coords[-1])])
    d = np.array([p for part in dense for p in part])
    out = np.empty(len(points_lonlat))
    for i, (px, py) in enumerate(points_lonlat):  # few boundary vertices; test-side only
        _, _, dist = GEOD.inv(np.full(len(d), px), np.full(len(d), py), d[:, 0], d[:, 1])
        out[i] = dist.min()
    return out


M4 = Path(__file__).resolve().parents[1] / "boundaries" / "idlib2020_m4.geojson"


def test_m4_corridor_width_is_6km_on_each_side_measured_geodesically():
    line = gpd.read_file(M4)
    zones = corridor(line, width_m=6000, name="M4")
    assert list(zones["side"]) == ["north", "south"]
    assert list(zones["name"]) == ["M4 corridor north", "M4 corridor south"]
    assert (zones["width_m"] == 6000).all()
    assert zones.crs.to_epsg() == 4326
    for geom in zones.geometry:
        boundary = np.asarray(shapely.get_coordinates(geom.exterior))
        # thin out to keep the test fast; the far edge is where the maximum lies
        dist = _geodesic_distances_to_line(boundary[::3], line.geometry.iloc[0])
        assert dist.max() == pytest.approx(6000, rel=0.01)
        assert dist.min() < 1.0  # the side is bounded by the line itself
    # the two sides touch along the line and do not overlap
    m = zones.to_crs(32637)
    assert m.geometry.iloc[0].intersection(m.geometry.iloc[1]).area < 1.0


def test_north_side_lies_north_whichever_way_the_line_runs():
    # an east-west line at 35.8 N; drawn west->east its left is north, east->west its left is south
    for coords in ([(36.3, 35.8), (36.8, 35.8)], [(36.8, 35.8), (36.3, 35.8)]):
        zones = corridor(_line_gdf(coords), width_m=2000)
        north = zones.loc[zones["side"] == "north"].geometry.iloc[0]
        south = zones.loc[zones["side"] == "south"].geometry.iloc[0]
        assert north.contains(Point(36.55, 35.81))
        assert south.contains(Point(36.55, 35.79))
        assert not north.contains(Point(36.55, 35.79))


def test_left_right_follow_the_direction_of_the_line():
    zones = corridor(_line_gdf([(36.3, 35.8), (36.8, 35.8)]), width_m=2000, sides="left-right")
    left = zones.loc[zones["side"] == "left"].geometry.iloc[0]
    assert left.contains(Point(36.55, 35.81))  # heading east, left is north
    rev = corridor(_line_gdf([(36.8, 35.8), (36.3, 35.8)]), width_m=2000, sides=("left", "right"))
    assert rev.loc[rev["side"] == "left"].geometry.iloc[0].contains(Point(36.55, 35.79))


def test_a_south_north_line_gets_east_and_west_sides():
    zones = corridor(_line_gdf([(36.6, 35.5), (36.6, 36.0)]), width_m=3000)
    east = zones.loc[zones["side"] == "east"].geometry.iloc[0]
    assert east.contains(Point(36.61, 35.75))
    assert set(zones["side"]) == {"east", "west"}
    forced = corridor(
        _line_gdf([(36.6, 35.5), (36.6, 36.0)]), width_m=3000, sides=("north", "south")
    )
    assert set(forced["side"]) == {"north", "south"}


def test_area_of_each_side_is_length_times_width():
    coords = [(36.3, 35.8), (36.8, 35.8)]
    # the geodesic length of the line (the parallel is close to the geodesic over 45 km)
    length = GEOD.geometry_length(LineString(coords))
    zones = corridor(_line_gdf(coords), width_m=6000)
    for area in zones["area_km2"]:
        assert area == pytest.approx(length * 6000 / 1e6, rel=0.005)
    # and the area column agrees with pyproj.Geod's geodesic polygon area
    for geom, area in zip(zones.geometry, zones["area_km2"], strict=True):
        geod_area = abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6
        assert area == pytest.approx(geod_area, rel=0.005)


def test_names_come_from_the_layer_or_the_argument_and_features_stay_in_order():
    gdf = gpd.GeoDataFrame(
        {"name": ["A", "B"]},
        geometry=[
            LineString([(36.0, 35.0), (36.2, 35.0)]),
            LineString([(36.0, 36.0), (36.2, 36.0)]),
        ],
        crs=4326,
    )
    zones = corridor(gdf, width_m=1000)
    assert list(zones["line"]) == ["A", "A", "B", "B"]
    assert list(zones["name"]) == [
        "A corridor north",
        "A corridor south",
        "B corridor north",
        "B corridor south",
    ]
    named = corridor(gdf, width_m=1000, name="road")
    assert set(named["line"]) == {"road"}


def test_projected_input_is_returned_in_its_own_crs():
    gdf = _line_gdf([(36.3, 35.8), (36.8, 35.8)]).to_crs(32637)
    zones = corridor(gdf, width_m=6000)
    assert zones.crs.to_epsg() == 32637
    # in UTM metres the far edge is 6 km from the line
    line = gdf.geometry.iloc[0]
    far = max(line.distance(Point(xy)) for xy in zones.geometry.iloc[0].exterior.coords)
    assert far == pytest.approx(6000, rel=0.001)


def test_connected_multilinestring_is_merged_and_disconnected_one_refused():
    joined = MultiLineString([[(36.3, 35.8), (36.5, 35.8)], [(36.5, 35.8), (36.8, 35.8)]])
    zones = corridor(gpd.GeoDataFrame(geometry=[joined], crs=4326), width_m=1000)
    assert len(zones) == 2
    apart = MultiLineString([[(36.3, 35.8), (36.4, 35.8)], [(36.6, 35.8), (36.8, 35.8)]])
    with pytest.raises(LayerError, match="do not connect"):
        corridor(gpd.GeoDataFrame(geometry=[apart], crs=4326), width_m=1000)


def test_errors_name_the_problem():
    with pytest.raises(LayerError, match="needs lines"):
        corridor(gpd.GeoDataFrame(geometry=[Point(36, 35)], crs=4326), width_m=1000)
    with pytest.raises(InputError, match="positive"):
        corridor(_line_gdf([(36.3, 35.8), (36.8, 35.8)]), width_m=0)
    with pytest.raises(InputError, match="unknown sides"):
        corridor(_line_gdf([(36.3, 35.8), (36.8, 35.8)]), width_m=10, sides=("up", "down"))
    with pytest.raises(CRSError, match="no CRS"):
        corridor(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 0)])]), width_m=10)
    with pytest.raises(LayerError, match="no features"):
        corridor(gpd.GeoDataFrame(geometry=[], crs=4326), width_m=10)
