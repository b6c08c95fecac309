"""Compiled inner loops (numba) for large inputs, imported only when one is needed.

* :func:`lattice_cells` — square / hex binning (:mod:`geoconflict.grids`): one pass interpolates
  the projection on the lattice of exactly projected nodes (bilinear, the formula of
  ``grids._Lattice``), finds the cell and measures the distance to its nearest edge, so that the
  caller can project the points near an edge exactly and decide them by the half-open rule of
  ``grids`` (a point on an edge belongs to the cell whose centre is furthest east); the cell
  found here is kept only for points farther from every edge than the band.
* :func:`bounds_of_pairs`, :func:`dense_pair_codes` — integer pairs (cell indices) to dense
  codes in (a, b) order, the distinct pairs and their counts, in two passes (``grids._encode_pairs``).
* :func:`nearest_segments` — nearest line segment and its distance (:mod:`geoconflict._nearest`):
  a branch-and-bound over runs of consecutive segments with a bounding box each; the box
  distance is a lower bound, so the answer is the exact minimum, measured with the formula GEOS
  uses (``Distance::pointToSegment``).

Compiled once and cached on disk (``cache=True``); importing numba and loading the cache cost
about a second once per process, which is why small inputs take the numpy / GEOS paths.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from numba import njit, prange

SQRT3 = math.sqrt(3.0)

#: numba's default threading layer (workqueue) aborts the process when two Python threads launch
#: parallel loops at once (a threaded dask worker, a caller's thread pool): the parallel loops
#: run one at a time, each on all cores
_PARALLEL = threading.Lock()


def lattice_cells(*args: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`_lattice_cells` (run under the parallel-loop lock)."""
    with _PARALLEL:
        return _lattice_cells(*args)


def nearest_segments(*args: Any) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`_nearest_segments` (run under the parallel-loop lock)."""
    with _PARALLEL:
        return _nearest_segments(*args)


@njit(cache=True, parallel=True, nogil=True)
def _lattice_cells(
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


@njit(cache=True, inline="always")
def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:  # pragma: no cover
    dx = bx - ax
    dy = by - ay
    len2 = dx * dx + dy * dy
    if len2 == 0.0:
        return math.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    r = ((px - ax) * dx + (py - ay) * dy) / len2
    if r <= 0.0:
        return math.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    if r >= 1.0:
        return math.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    s = ((ay - py) * dx - (ax - px) * dy) / len2
    return abs(s) * math.sqrt(len2)


@njit(cache=True, inline="always")
def _box_distance(x: float, y: float, x0: float, y0: float, x1: float, y1: float) -> float:  # pragma: no cover
    ddx = max(x0 - x, 0.0, x - x1)
    ddy = max(y0 - y, 0.0, y - y1)
    return math.sqrt(ddx * ddx + ddy * ddy)


@njit(cache=True, parallel=True, nogil=True)
def _nearest_segments(
    px: np.ndarray, py: np.ndarray,
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray,
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, chunk: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled (tested through SegmentIndex)
    n = px.shape[0]
    nseg = ax.shape[0]
    nbox = x0.shape[0]
    dist = np.empty(n, dtype=np.float64)
    seg = np.empty(n, dtype=np.int64)
    for k in prange(n):
        x = px[k]
        y = py[k]
        first = 0
        first_lb = np.inf
        for c in range(nbox):  # the run whose box is nearest: a good first answer
            lb = _box_distance(x, y, x0[c], y0[c], x1[c], y1[c])
            if lb < first_lb:
                first, first_lb = c, lb
        best = np.inf
        best_i = -1
        for step in range(nbox + 1):
            if step == 0:
                c = first
            else:
                c = step - 1
                if c == first or _box_distance(x, y, x0[c], y0[c], x1[c], y1[c]) > best:
                    continue
            for i in range(c * chunk, min((c + 1) * chunk, nseg)):
                d = _segment_distance(x, y, ax[i], ay[i], bx[i], by[i])
                if d < best or (d == best and i < best_i):
                    best = d
                    best_i = i
        dist[k] = best
        seg[k] = best_i
    return dist, seg


@njit(cache=True, nogil=True)
def bounds_of_pairs(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:  # pragma: no cover
    """(min a, max a, min b, max b) of non-empty integer arrays."""
    amin, amax, bmin, bmax = a[0], a[0], b[0], b[0]
    for i in range(a.shape[0]):
        amin = min(amin, a[i])
        amax = max(amax, a[i])
        bmin = min(bmin, b[i])
        bmax = max(bmax, b[i])
    return amin, amax, bmin, bmax


@njit(cache=True, nogil=True)
def dense_pair_codes(
    a: np.ndarray, b: np.ndarray, amin: int, bmin: int, nb: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - tested via grids
    """(code per pair, a and b of each distinct pair, its count): codes number the distinct
    pairs in (a, b) order; ``size`` = the number of (a, b) slots in the bounding range."""
    n = a.shape[0]
    occ = np.zeros(size, dtype=np.int64)
    for i in range(n):
        occ[(a[i] - amin) * nb + (b[i] - bmin)] += 1
    rank = np.empty(size, dtype=np.int64)
    k = 0
    for c in range(size):
        if occ[c]:
            rank[c] = k
            k += 1
    ua = np.empty(k, dtype=np.int64)
    ub = np.empty(k, dtype=np.int64)
    counts = np.empty(k, dtype=np.int64)
    for c in range(size):
        if occ[c]:
            r = rank[c]
            ua[r] = c // nb + amin
            ub[r] = c % nb + bmin
            counts[r] = occ[c]
    codes = np.empty(n, dtype=np.int64)
    for i in range(n):
        codes[i] = rank[(a[i] - amin) * nb + (b[i] - bmin)]
    return codes, ua, ub, counts
