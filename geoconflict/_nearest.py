"""Exact distance from many points to the nearest of a set of line segments (metric CRS).

GEOS answers this with ``STRtree.query_nearest`` at a few microseconds a point, one thread.
Here the segments (in the order they follow along their lines) are cut into runs of
consecutive segments (about the square root of their number) with a bounding box each; for every point a compiled loop (numba,
both cores; :func:`geoconflict._compiled.nearest_segments`) measures the segments of the run
whose box is nearest, then only the runs whose box is nearer than the best distance so far.
The box distance is a lower bound of the distance to any segment in it, so the answer is the
exact minimum; the point-to-segment distance is the formula GEOS uses
(``Distance::pointToSegment``).

Two paths give the same answer, bit for bit (tested): GEOS's tree of the segments below 100,000
points (about 4.5 us a point), which spares the 0.6-1 s it costs a process to import numba
(with scipy.linalg, which numba loads) and load the compiled code; the compiled loop from 100,000
(measured on the benchmark's 50 front lines: 0.77-0.83 s against GEOS's 1.18-1.35 s at 200,000
points, 0.68-0.75 s against 0.73-1.07 s at 100,000; at a million GEOS's tree takes ~5 s).
(A numpy version of the branch-and-bound was tried: no faster than GEOS's tree on front lines,
and 8x slower on detailed admin boundaries, whose overlapping boxes leave many runs to measure
for every point.)
"""

from __future__ import annotations

import numpy as np
import shapely

from ._geometry import dilate

#: consecutive segments per bounding box (None: about the square root of their number, which
#: balances the boxes every point looks at against the segments in the boxes it opens)
CHUNK: int | None = None
#: from this many points the compiled loop is used (importing numba and loading the compiled code
#: cost 0.6-1 s once per process, more than GEOS's tree takes below this size)
COMPILED_FROM = 100_000
#: from this many points with a ``max_distance``, the points out of reach are set aside first
#: (:meth:`SegmentIndex.within_reach`)
REACH_FROM = 10_000


def method_for(n: int) -> str:
    """The path for ``n`` points: ``"geos"`` or ``"compiled"``."""
    return "compiled" if n >= COMPILED_FROM else "geos"



class SegmentIndex:
    """Nearest segment (index into ``segments``) and its distance, for many points."""

    def __init__(self, segments: np.ndarray) -> None:
        """``segments``: 2-point LineStrings in a metric CRS, in their order along the lines
        (consecutive segments are near each other, which keeps the boxes small)."""
        c = shapely.get_coordinates(np.asarray(segments, dtype=object)).reshape(-1, 2, 2)
        self._init(c[:, 0], c[:, 1])
        self._segments: np.ndarray | None = np.asarray(segments, dtype=object)

    @classmethod
    def from_ends(cls, a: np.ndarray, b: np.ndarray) -> SegmentIndex:
        """From the segments' start and end points (two (n, 2) arrays), without building
        LineStrings (GEOS's path builds them when it is taken)."""
        self = cls.__new__(cls)
        self._init(np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"))
        self._segments = None
        return self

    @property
    def segments(self) -> np.ndarray:
        """The segments as 2-point LineStrings."""
        if self._segments is None:
            self._segments = shapely.linestrings(
                np.stack([np.column_stack([self.ax, self.ay]), np.column_stack([self.bx, self.by])], axis=1))
        return self._segments

    def _init(self, a: np.ndarray, b: np.ndarray) -> None:
        self.ax, self.ay = np.ascontiguousarray(a[:, 0]), np.ascontiguousarray(a[:, 1])
        self.bx, self.by = np.ascontiguousarray(b[:, 0]), np.ascontiguousarray(b[:, 1])
        n = len(self.ax)
        self.chunk = CHUNK or max(8, round(n**0.5))
        starts = np.arange(0, n, self.chunk)
        lo_x, hi_x = np.minimum(self.ax, self.bx), np.maximum(self.ax, self.bx)
        lo_y, hi_y = np.minimum(self.ay, self.by), np.maximum(self.ay, self.by)
        self.x0 = np.minimum.reduceat(lo_x, starts) if n else np.zeros(0)
        self.y0 = np.minimum.reduceat(lo_y, starts) if n else np.zeros(0)
        self.x1 = np.maximum.reduceat(hi_x, starts) if n else np.zeros(0)
        self.y1 = np.maximum.reduceat(hi_y, starts) if n else np.zeros(0)

    def nearest(self, px: np.ndarray, py: np.ndarray, *, method: str | None = None,
                max_distance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(distance, segment index) for each point (finite coordinates); among segments at
        the same distance, the lowest index.  ``method``: ``"geos"`` or ``"compiled"``, or by
        the number of points (None: :func:`method_for`).  ``max_distance``: points farther than
        it from every segment get NaN and -1 (GEOS's tree then stops searching them early)."""
        n = len(px)
        if n == 0 or len(self.ax) == 0:
            return np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        if max_distance is not None and n >= REACH_FROM:
            px, py = np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64")
            near = self.within_reach(px, py, max_distance)
            if not near.all():
                dist, seg = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
                if near.any():
                    dist[near], seg[near] = self._search(px[near], py[near], method, max_distance)
                return dist, seg
        return self._search(px, py, method, max_distance)

    def _search(self, px: np.ndarray, py: np.ndarray, method: str | None, max_distance: float | None
                ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`nearest` past the reach filter (which has run, or is not wanted)."""
        n = len(px)
        method = method or method_for(n)
        if method == "geos":
            return self._geos(np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64"), max_distance)
        if method != "compiled":
            raise ValueError(f"unknown method {method!r}")
        if max_distance is not None:
            d, i = self._search(px, py, method, None)
            beyond = ~(d <= max_distance)
            return np.where(beyond, np.nan, d), np.where(beyond, -1, i)
        from ._compiled import nearest_segments

        return nearest_segments(
            np.ascontiguousarray(px, dtype="float64"), np.ascontiguousarray(py, dtype="float64"),
            self.ax, self.ay, self.bx, self.by, self.x0, self.y0, self.x1, self.y1, self.chunk,
        )

    def within_reach(self, px: np.ndarray, py: np.ndarray, max_distance: float) -> np.ndarray:
        """False for points surely farther than ``max_distance`` from every segment (True may be
        near or not).  Segments' boxes are marked on a grid of cells (a quarter of
        ``max_distance``, or coarser on a wide extent: at most 2048 a side); a segment within
        ``max_distance`` of a point has its box within ``reach`` cells of the point's cell
        (``max_distance / cell``, and two more for rounding), so a point with no marked cell that
        near is out of reach.  Exact: it only spares GEOS's search the points outside it (2.5M
        incidents against 272 detailed sub-districts: 357,000 outside every unit, 25,000
        within 2 km; the search took 1.1 s for all of them)."""
        x0 = min(self.ax.min(), self.bx.min())
        y0 = min(self.ay.min(), self.by.min())
        x1 = max(self.ax.max(), self.bx.max())
        y1 = max(self.ay.max(), self.by.max())
        cell = max(float(max_distance) / 4, (x1 - x0) / 2048, (y1 - y0) / 2048, 1e-9)
        pad = int(np.ceil(max_distance / cell)) + 2  # cells within reach, two more for rounding
        nx = int((x1 - x0) // cell) + 1 + 2 * pad
        ny = int((y1 - y0) // cell) + 1 + 2 * pad
        i0 = ((np.minimum(self.ax, self.bx) - x0) // cell).astype(np.int64) + pad
        i1 = ((np.maximum(self.ax, self.bx) - x0) // cell).astype(np.int64) + pad
        j0 = ((np.minimum(self.ay, self.by) - y0) // cell).astype(np.int64) + pad
        j1 = ((np.maximum(self.ay, self.by) - y0) // cell).astype(np.int64) + pad
        marked = np.zeros((ny, nx), dtype=bool)
        wide = np.maximum(i1 - i0, j1 - j0) > 1
        for j, i in ((j0, i0), (j0, i1), (j1, i0), (j1, i1)):  # boxes of 1 or 2 x 2 cells: corners
            marked[j[~wide], i[~wide]] = True
        for k in np.flatnonzero(wide):  # segments longer than a cell (few): their cell ranges
            marked[j0[k]:j1[k] + 1, i0[k]:i1[k] + 1] = True
        reach = marked
        for _ in range(pad):
            reach = dilate(reach)
        ok = np.isfinite(px) & np.isfinite(py)
        ci = np.floor((np.where(ok, px, x0) - x0) / cell).astype(np.int64) + pad
        cj = np.floor((np.where(ok, py, y0) - y0) / cell).astype(np.int64) + pad
        inside = ok & (ci >= 0) & (cj >= 0) & (ci < nx) & (cj < ny)
        out = ~ok  # not finite: left to the search (it answers them as it always did)
        out[inside] = reach[cj[inside], ci[inside]]
        return out

    def _geos(self, px: np.ndarray, py: np.ndarray, max_distance: float | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """GEOS's nearest segment (the same distances; ties: the lowest index); points with none
        within ``max_distance``: NaN, -1."""
        tree = shapely.STRtree(self.segments)
        (pi, si), d = tree.query_nearest(shapely.points(px, py), max_distance=max_distance,
                                         return_distance=True, all_matches=True)
        if max_distance is not None:
            keep = d <= max_distance
            pi, si, d = pi[keep], si[keep], d[keep]
        dist = np.full(len(px), np.nan)
        seg = np.full(len(px), -1, dtype=np.int64)
        if len(pi) == 0:
            return dist, seg
        order = np.lexsort((si, pi))  # per point, the lowest segment index first
        pi, si, d = pi[order], si[order], d[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        dist[pi[first]] = d[first]
        seg[pi[first]] = si[first]
        return dist, seg
