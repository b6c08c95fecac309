"""_geometry.geojson_like: the dicts rasterize is given are the geometries' own GeoJSON (#17)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from geoconflict._geometry import LabelRaster, geojson_like


def test_same_geometry_as_geo_interface_for_every_supported_type():
    holed = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(2, 2), (4, 2), (4, 4)], [(6, 6), (8, 6), (8, 8)]])
    multi = shapely.MultiPolygon([holed, shapely.box(20, 20, 30, 30)])
    line = shapely.LineString([(0, 0), (1, 2), (3, 1)])
    mline = shapely.MultiLineString([[(0, 0), (1, 1)], [(5, 5), (6, 7), (8, 8)]])
    geoms = np.array([holed, None, multi, line, shapely.Polygon(), mline, shapely.Point(1, 1)], dtype=object)
    got = geojson_like(geoms)
    for g, d in zip(geoms, got, strict=True):
        if g is None or g.is_empty or g.geom_type == "Point":
            assert d is None
            continue
        assert d["type"] == g.geom_type
        assert shape(d).equals_exact(g, 0)
        assert d == {"type": g.geom_type, "coordinates": _lists(mapping(g)["coordinates"])}


def _lists(c):
    return [_lists(x) for x in c] if isinstance(c, (list, tuple)) and c and isinstance(c[0], (list, tuple)) else list(c)


def test_label_raster_same_from_shapes_or_dicts():
    polys = [shapely.box(0, 0, 5, 5), shapely.Polygon([(5, 0), (10, 0), (10, 10)], [[(8, 2), (9, 2), (9, 4)]])]
    kw = {"west": -1.0, "north": 11.0, "pixel": 0.25, "nrow": 48, "ncol": 48}
    a = LabelRaster(((g, i + 1) for i, g in enumerate(polys)), (shapely.boundary(g) for g in polys), **kw)
    b = LabelRaster(((mapping(g), i + 1) for i, g in enumerate(polys)), (mapping(shapely.boundary(g)) for g in polys), **kw)
    assert (a.labels == b.labels).all() and (a.labels == 2).any() and (a.labels == -1).any()
