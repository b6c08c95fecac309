"""Exact distance from many points to the nearest of a set of line segments (metric CRS).

GEOS answers this with ``STRtree.query_nearest`` at a few microseconds a point, one thread.
Here the segments (in the order they follow along their lines) are cut into runs of
``CHUNK`` consecutive segments with a bounding box each; for every point a compiled loop (numba,
both cores) measures the segments of the run whose box is nearest, then only the runs whose box
is nearer than the best distance so far.  The box distance is a lower bound of the distance to
any segment in it, so the answer is the exact minimum; the point-to-segment distance is the
formula GEOS uses (``Distance::pointToSegment``).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numba import njit, prange

#: consecutive segments per bounding box
CHUNK = 24


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
def _nearest(
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


def point_segment_distance(
    px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> np.ndarray:
    """Distance from (px, py) to segment (a, b), element-wise (numpy), as GEOS computes it."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ((px - ax) * dx + (py - ay) * dy) / len2
        s = ((ay - py) * dx - (ax - px) * dy) / len2
        perp = np.abs(s) * np.sqrt(len2)
    to_a = np.sqrt((px - ax) ** 2 + (py - ay) ** 2)
    to_b = np.sqrt((px - bx) ** 2 + (py - by) ** 2)
    out = np.where(r <= 0, to_a, np.where(r >= 1, to_b, perp))
    return np.where(len2 == 0, to_a, out)


class SegmentIndex:
    """Nearest segment (index into ``segments``) and its distance, for many points."""

    def __init__(self, segments: np.ndarray) -> None:
        """``segments``: 2-point LineStrings in a metric CRS, in their order along the lines
        (consecutive segments are near each other, which keeps the boxes small)."""
        self.segments = np.asarray(segments, dtype=object)
        c = shapely.get_coordinates(self.segments).reshape(-1, 2, 2)
        self.ax, self.ay = np.ascontiguousarray(c[:, 0, 0]), np.ascontiguousarray(c[:, 0, 1])
        self.bx, self.by = np.ascontiguousarray(c[:, 1, 0]), np.ascontiguousarray(c[:, 1, 1])
        n = len(self.ax)
        starts = np.arange(0, n, CHUNK)
        lo_x, hi_x = np.minimum(self.ax, self.bx), np.maximum(self.ax, self.bx)
        lo_y, hi_y = np.minimum(self.ay, self.by), np.maximum(self.ay, self.by)
        self.x0 = np.minimum.reduceat(lo_x, starts) if n else np.zeros(0)
        self.y0 = np.minimum.reduceat(lo_y, starts) if n else np.zeros(0)
        self.x1 = np.maximum.reduceat(hi_x, starts) if n else np.zeros(0)
        self.y1 = np.maximum.reduceat(hi_y, starts) if n else np.zeros(0)

    def nearest(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance, segment index) for each point (finite coordinates); among segments at
        the same distance, the lowest index."""
        n = len(px)
        if n == 0 or len(self.ax) == 0:
            return np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        return _nearest(
            np.ascontiguousarray(px, dtype="float64"), np.ascontiguousarray(py, dtype="float64"),
            self.ax, self.ay, self.bx, self.by, self.x0, self.y0, self.x1, self.y1, CHUNK,
        )
