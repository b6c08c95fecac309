"""Exact distance from many points to the nearest of a set of line segments (metric CRS).

GEOS answers this with ``STRtree.query_nearest`` at a few microseconds a point.  Here a k-d
tree (scipy) over vertices sampled along the segments at most ``spacing`` apart finds, for
almost every point, a handful of candidate segments that provably contain the nearest one; the
exact point-to-segment distance is then numpy arithmetic (the formula GEOS uses).  Points for
which the candidates are not provably complete go to ``STRtree.query_nearest``.

Why the candidates are complete: let ``d*`` be the true distance, reached on segment ``s``.
``s`` has a sample vertex within ``spacing / 2`` of its nearest point, so one of ``s``'s
vertices lies within ``sqrt(d*² + spacing²/4) <= R = sqrt(d_v² + spacing²/4)`` of the point,
where ``d_v >= d*`` is the distance to the nearest sample vertex.  If the k-th nearest vertex
is farther than ``R``, every vertex within ``R`` is among the k found, hence ``s`` is among
their segments.
"""

from __future__ import annotations

import numpy as np
import shapely

#: candidate vertices per point
K = 5
#: sample vertices at most this many in all (sets the spacing for long lines)
MAX_SAMPLES = 1_000


def point_segment_distance(
    px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> np.ndarray:
    """Distance from (px, py) to segment (a, b), element-wise, as GEOS computes it
    (``Distance::pointToSegment``)."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ((px - ax) * dx + (py - ay) * dy) / len2
        s = ((ay - py) * dx - (ax - px) * dy) / len2
        perp = np.abs(s) * np.sqrt(len2)
    to_a = np.hypot(px - ax, py - ay)
    to_b = np.hypot(px - bx, py - by)
    out = np.where(r <= 0, to_a, np.where(r >= 1, to_b, perp))
    return np.where(len2 == 0, to_a, out)


class SegmentIndex:
    """Nearest segment (index into ``segments``) and distance for many points."""

    def __init__(self, segments: np.ndarray) -> None:
        """``segments``: 2-point LineStrings in a metric CRS."""
        from scipy.spatial import cKDTree

        self.segments = np.asarray(segments, dtype=object)
        c = shapely.get_coordinates(self.segments).reshape(-1, 2, 2)
        self.ax, self.ay, self.bx, self.by = c[:, 0, 0], c[:, 0, 1], c[:, 1, 0], c[:, 1, 1]
        length = np.hypot(self.bx - self.ax, self.by - self.ay)
        total = float(length.sum())
        spacing = max(total / MAX_SAMPLES, 1e-3) if total > 0 else 1.0
        pieces = np.maximum(np.ceil(length / spacing), 1).astype(np.int64)
        owner = np.repeat(np.arange(len(length)), pieces + 1)
        start = np.repeat(np.cumsum(pieces + 1) - (pieces + 1), pieces + 1)
        t = (np.arange(len(owner)) - start) / pieces[owner]
        sx = self.ax[owner] + t * (self.bx - self.ax)[owner]
        sy = self.ay[owner] + t * (self.by - self.ay)[owner]
        self.owner = owner
        self.spacing = float((length / pieces).max()) if len(length) else 0.0
        self.tree = cKDTree(np.column_stack([sx, sy]))
        self._strtree: shapely.STRtree | None = None

    def nearest(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance, segment index) for each point (finite coordinates)."""
        n = len(px)
        dist = np.full(n, np.nan)
        seg = np.full(n, -1, dtype=np.int64)
        if n == 0 or len(self.segments) == 0:
            return dist, seg
        k = min(K, self.tree.n)
        d, i = self.tree.query(np.column_stack([px, py]), k=k, workers=2)
        if k == 1:
            d, i = d[:, None], i[:, None]
        reach2 = d[:, 0] ** 2 + (self.spacing / 2) ** 2 * (1 + 1e-9) + 1e-12
        complete = np.ones(n, dtype=bool) if k == self.tree.n else d[:, -1] ** 2 > reach2
        cand = self.owner[i[complete]]  # (m, k) segment candidates
        ok = np.flatnonzero(complete)
        cd = point_segment_distance(px[ok, None], py[ok, None], self.ax[cand], self.ay[cand],
                                    self.bx[cand], self.by[cand])
        best = np.argmin(cd, axis=1)
        rows = np.arange(len(ok))
        dist[ok] = cd[rows, best]
        seg[ok] = cand[rows, best]
        rest = np.flatnonzero(~complete)
        if len(rest):
            if self._strtree is None:
                self._strtree = shapely.STRtree(self.segments)
            (pi, si), dd = self._strtree.query_nearest(shapely.points(px[rest], py[rest]),
                                                       return_distance=True, all_matches=False)
            dist[rest[pi]] = dd
            seg[rest[pi]] = si
        return dist, seg
