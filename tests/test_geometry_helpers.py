"""geoconflict._geometry: small shared helpers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from geoconflict._geometry import dilate


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (40, 55)])
def test_dilate_equals_scipy_binary_dilation(shape):
    rng = np.random.default_rng(sum(shape))
    for density in (0.0, 0.02, 0.3, 1.0):
        mask = rng.random(shape) < density
        mask.flat[0] = density > 0  # a corner pixel too
        expected = ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool))
        assert np.array_equal(dilate(mask), expected)
    assert not dilate(np.zeros(shape, bool)).any()


def test_label_raster_sure_pixels_agree_with_containment():
    import shapely

    from geoconflict._geometry import LabelRaster

    a, b = shapely.box(0, 0, 10, 10), shapely.Polygon([(10, 0), (20, 0), (15, 10), (10, 10)])
    raster = LabelRaster([(a, 1), (b, 2)], [a.boundary, b.boundary], west=-1, north=11, pixel=0.1,
                         nrow=120, ncol=220)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-2, 22, 20_000), rng.uniform(-2, 12, 20_000)
    got = raster.lookup(x, y)
    inside_a, inside_b = shapely.contains_xy(a, x, y), shapely.contains_xy(b, x, y)
    assert np.array_equal(got == 1, (got >= 1) & inside_a) and np.array_equal(got == 2, (got >= 1) & inside_b)
    assert not ((got == 0) & (inside_a | inside_b)).any()  # "no shape" only outside both
    near = np.minimum(shapely.distance(a.boundary, shapely.points(x, y)), shapely.distance(b.boundary, shapely.points(x, y)))
    assert (got[near < 0.1] < 1).all()  # within a pixel of an outline: never a label
    off = (x < -1) | (x >= 21) | (y > 11) | (y <= -1)
    assert np.array_equal(got == -2, off) and (got[~off] >= -1).all()
    assert list(raster.lookup(np.array([np.nan, 5.0]), np.array([5.0, np.inf]))) == [-2, -2]


def test_segment_ends_of_paths_and_their_owner() -> None:
    """Every consecutive vertex pair of each path, in order, with the path's position; a path's
    last vertex never pairs with the next path's first (the shared copy in join and _validate)."""
    import numpy as np
    import shapely

    from geoconflict._geometry import segment_ends

    paths = np.array([shapely.LineString([(0, 0), (1, 0), (1, 1)]),
                      shapely.LinearRing([(5, 5), (6, 5), (6, 6)]),
                      shapely.LineString([(9, 9), (9, 10)])], dtype=object)
    a, b, owner = segment_ends(paths)
    want = [(tuple(c[i]), tuple(c[i + 1]), k) for k, p in enumerate(paths)
            for c in [shapely.get_coordinates(p)] for i in range(len(c) - 1)]
    assert [(tuple(x), tuple(y), int(k)) for x, y, k in zip(a, b, owner, strict=True)] == want
    assert len(want) == 2 + 3 + 1  # the ring's closing segment included
    e = segment_ends(np.array([], dtype=object))
    assert all(len(x) == 0 for x in e)
