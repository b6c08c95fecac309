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
