"""Exact distance from many points to the nearest of a set of line segments (metric CRS).

GEOS answers this with ``STRtree.query_nearest`` at a few microseconds a point, one thread.
Here the segments (in the order they follow along their lines) are cut into runs of
consecutive segments (about the square root of their number) with a bounding box each; for every point a compiled loop (numba,
both cores; :func:`geoconflict._compiled.nearest_segments`) measures the segments of the run
whose box is nearest, then only the runs whose box is nearer than the best distance so far.
The box distance is a lower bound of the distance to any segment in it, so the answer is the
exact minimum; the point-to-segment distance is the formula GEOS uses
(``Distance::pointToSegment``).  Small inputs go to GEOS's tree (same distances).
"""

from __future__ import annotations

import numpy as np
import shapely

#: consecutive segments per bounding box (None: about the square root of their number, which
#: balances the boxes every point looks at against the segments in the boxes it opens)
CHUNK: int | None = None
#: from this many points the compiled loop is used (below it, GEOS's tree: no numba import and
#: no loading of the compiled code, which cost about a second once per process)
COMPILED_FROM = 50_000



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
        self.chunk = CHUNK or max(8, round(n**0.5))
        starts = np.arange(0, n, self.chunk)
        lo_x, hi_x = np.minimum(self.ax, self.bx), np.maximum(self.ax, self.bx)
        lo_y, hi_y = np.minimum(self.ay, self.by), np.maximum(self.ay, self.by)
        self.x0 = np.minimum.reduceat(lo_x, starts) if n else np.zeros(0)
        self.y0 = np.minimum.reduceat(lo_y, starts) if n else np.zeros(0)
        self.x1 = np.maximum.reduceat(hi_x, starts) if n else np.zeros(0)
        self.y1 = np.maximum.reduceat(hi_y, starts) if n else np.zeros(0)

    def nearest(self, px: np.ndarray, py: np.ndarray, *, compiled: bool | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """(distance, segment index) for each point (finite coordinates); among segments at
        the same distance, the lowest index.  ``compiled``: the compiled loop (True), GEOS's
        tree (False), or by the number of points (None: from ``COMPILED_FROM``)."""
        n = len(px)
        if n == 0 or len(self.ax) == 0:
            return np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        if not (n >= COMPILED_FROM if compiled is None else compiled):
            return self._geos(np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64"))
        from ._compiled import nearest_segments

        return nearest_segments(
            np.ascontiguousarray(px, dtype="float64"), np.ascontiguousarray(py, dtype="float64"),
            self.ax, self.ay, self.bx, self.by, self.x0, self.y0, self.x1, self.y1, self.chunk,
        )

    def _geos(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """GEOS's nearest segment (the same distances; ties: the lowest index)."""
        tree = shapely.STRtree(self.segments)
        (pi, si), d = tree.query_nearest(shapely.points(px, py), return_distance=True, all_matches=True)
        dist = np.full(len(px), np.nan)
        seg = np.full(len(px), -1, dtype=np.int64)
        order = np.lexsort((si, pi))  # per point, the lowest segment index first
        pi, si, d = pi[order], si[order], d[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        dist[pi[first]] = d[first]
        seg[pi[first]] = si[first]
        return dist, seg
