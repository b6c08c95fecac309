"""Compiled inner loop of square / hex binning for large inputs (numba).

One pass over the points does what takes a dozen numpy passes in :mod:`geoconflict.grids`:
interpolate the projection on the lattice of exactly projected nodes (bilinear, the same formula
as ``grids._Lattice.interpolate``), find the cell, and measure the distance to its nearest edge
so that the caller can project the points near an edge exactly.  Compiled once and cached on
disk (``cache=True``); only used from ``grids.APPROX_PROJECTION_FROM`` points, where the
compile time of a first run is small against the work.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

SQRT3 = math.sqrt(3.0)


@njit(cache=True, parallel=True, nogil=True)
def lattice_cells(
    lon: np.ndarray, lat: np.ndarray,
    west: float, south: float, step: float, nx: int, ny: int,
    gx: np.ndarray, gy: np.ndarray,
    hexagons: bool, size: float, band: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled (tested through grids)
    """(a, b, near): square (i, j) or hex axial (q, r) per point, and whether it lies within
    ``band`` metres of an edge of its cell (by the interpolated position)."""
    n = lon.shape[0]
    a = np.empty(n, dtype=np.int64)
    b = np.empty(n, dtype=np.int64)
    near = np.empty(n, dtype=np.bool_)
    radius = size / SQRT3
    half = size / 2.0
    h = SQRT3 / 2.0
    for k in prange(n):
        fi = (lon[k] - west) / step
        fj = (lat[k] - south) / step
        i = min(max(int(math.floor(fi)), 0), nx - 2)
        j = min(max(int(math.floor(fj)), 0), ny - 2)
        tx = fi - i
        ty = fj - j
        f = j * nx + i
        v00, v01, v10, v11 = gx[f], gx[f + 1], gx[f + nx], gx[f + nx + 1]
        x = v00 + tx * (v01 - v00) + ty * (v10 - v00) + tx * ty * (v11 - v10 - v01 + v00)
        v00, v01, v10, v11 = gy[f], gy[f + 1], gy[f + nx], gy[f + nx + 1]
        y = v00 + tx * (v01 - v00) + ty * (v10 - v00) + tx * ty * (v11 - v10 - v01 + v00)
        if not hexagons:
            fx = x / size
            fy = y / size
            ix = math.floor(fx)
            iy = math.floor(fy)
            fx -= ix
            fy -= iy
            d = min(min(fx, 1.0 - fx), min(fy, 1.0 - fy)) * size
            a[k] = np.int64(ix)
            b[k] = np.int64(iy)
        else:  # pointy-top axial coordinates, cube rounding (grids._hex_axial)
            qf = (SQRT3 / 3.0 * x - y / 3.0) / radius
            rf = (2.0 / 3.0 * y) / radius
            sf = -qf - rf
            q = np.round(qf)
            r = np.round(rf)
            s = np.round(sf)
            dq, dr, ds = abs(q - qf), abs(r - rf), abs(s - sf)
            if dq > dr and dq > ds:
                q = -r - s
            elif dr > ds:
                r = -q - s
            cx = radius * SQRT3 * (q + r / 2.0)
            cy = radius * 1.5 * r
            dx, dy = x - cx, y - cy
            reach = max(abs(dx), max(abs(0.5 * dx + h * dy), abs(-0.5 * dx + h * dy)))
            d = half - reach
            a[k] = np.int64(q)
            b[k] = np.int64(r)
        near[k] = d <= band
    return a, b, near
