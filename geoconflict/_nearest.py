"""Exact distance from many points to the nearest of a set of line segments (metric CRS).

GEOS answers this with ``STRtree.query_nearest`` at a few microseconds a point, one thread.
Here the segments (in the order they follow along their lines) are cut into runs of
consecutive segments (about the square root of their number) with a bounding box each; for every point a compiled loop (numba,
both cores; :func:`geoconflict._compiled.nearest_segments`) measures the segments of the run
whose box is nearest, then only the runs whose box is nearer than the best distance so far.
The box distance is a lower bound of the distance to any segment in it, so the answer is the
exact minimum; the point-to-segment distance is the formula GEOS uses
(``Distance::pointToSegment``).

Three paths give the same answer (tested against each other and GEOS): GEOS's tree for a few
points; the same branch-and-bound in numpy (whole arrays: the nearest box's run for every point,
then the runs whose box is nearer than that answer) for mid sizes, which spares the second it
costs a process to import numba and load the compiled code; the compiled loop for millions.
"""

from __future__ import annotations

import numpy as np
import shapely

#: consecutive segments per bounding box (None: about half the square root of their number, which
#: balances the boxes every point looks at against the segments in the boxes it opens; measured
#: on 2,000-segment front lines, runs of 24 beat runs of 45 and of 12 in the numpy path)
CHUNK: int | None = None
#: from this many points the numpy branch-and-bound is used (below it, GEOS's tree)
NUMPY_FROM = 5_000
#: from this many points the compiled loop is used (importing numba and loading the compiled code
#: cost about a second once per process, more than the numpy path takes below this size)
COMPILED_FROM = 1_000_000
#: numbers per numpy temporary (bounds the point-by-box and point-by-segment matrices: 32 MB)
CELLS = 1 << 22


def method_for(n: int) -> str:
    """The path for ``n`` points: ``"geos"``, ``"numpy"`` or ``"compiled"``."""
    return "compiled" if n >= COMPILED_FROM else "numpy" if n >= NUMPY_FROM else "geos"



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
        self.chunk = CHUNK or max(8, round(n**0.5 / 2))
        self._dx, self._dy = self.bx - self.ax, self.by - self.ay
        self._len2 = self._dx * self._dx + self._dy * self._dy
        self._len = np.sqrt(self._len2)
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
        the same distance, the lowest index.  ``method``: ``"geos"``, ``"numpy"``,
        ``"compiled"``, or by the number of points (None: :func:`method_for`).
        ``max_distance``: points farther than it from every segment get NaN and -1 (the numpy
        path then skips them as soon as every box is farther)."""
        n = len(px)
        if n == 0 or len(self.ax) == 0:
            return np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        method = method or method_for(n)
        if max_distance is not None:
            if method == "numpy":
                d, i = self._near_only(np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64"),
                                       float(max_distance))
            else:
                d, i = self.nearest(px, py, method=method)
            beyond = ~(d <= max_distance)
            return np.where(beyond, np.nan, d), np.where(beyond, -1, i)
        if method == "geos":
            return self._geos(np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64"))
        if method == "numpy":
            px, py = np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64")
            block = max(1, CELLS // max(len(self.x0), self.chunk))
            parts = [self._numpy(px[i:i + block], py[i:i + block]) for i in range(0, n, block)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if method != "compiled":
            raise ValueError(f"unknown method {method!r}")
        from ._compiled import nearest_segments

        return nearest_segments(
            np.ascontiguousarray(px, dtype="float64"), np.ascontiguousarray(py, dtype="float64"),
            self.ax, self.ay, self.bx, self.by, self.x0, self.y0, self.x1, self.y1, self.chunk,
        )

    def _near_only(self, px: np.ndarray, py: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
        """The numpy path for the points with a box within ``limit`` (the others: NaN, -1)."""
        d = np.full(len(px), np.nan)
        i = np.full(len(px), -1, dtype=np.int64)
        reach = (limit * (1 + 1e-9)) ** 2
        block = max(1, CELLS // len(self.x0))
        near = np.zeros(len(px), dtype=bool)
        for k in range(0, len(px), block):  # the least box distance, in blocks
            x, y = px[k:k + block, None], py[k:k + block, None]
            ddx = np.maximum(np.maximum(self.x0[None, :] - x, 0.0), x - self.x1[None, :])
            ddy = np.maximum(np.maximum(self.y0[None, :] - y, 0.0), y - self.y1[None, :])
            near[k:k + block] = (ddx * ddx + ddy * ddy).min(axis=1) <= reach
        if near.any():
            d[near], i[near] = self.nearest(px[near], py[near], method="numpy")
        return d, i

    def _distances(self, px: np.ndarray, py: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Distance from each point (column vectors) to segments ``i`` (a matrix of valid
        indices), by GEOS's ``pointToSegment``, bit for bit the compiled loop's numbers
        (``(ay - py) * dx - (ax - px) * dy`` is ``-(ex * dy - ey * dx)`` exactly in floating point)."""
        ax, ay, bx, by = self.ax[i], self.ay[i], self.bx[i], self.by[i]
        dx, dy, len2 = self._dx[i], self._dy[i], self._len2[i]
        ex, ey = px - ax, py - ay
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (ex * dx + ey * dy) / len2
            across = np.abs(ex * dy - ey * dx) / len2 * self._len[i]
        fx, fy = px - bx, py - by
        to_a = np.sqrt(ex * ex + ey * ey)
        to_b = np.sqrt(fx * fx + fy * fy)
        return np.where((len2 == 0.0) | (r <= 0.0), to_a, np.where(r >= 1.0, to_b, across))

    def _run(self, px: np.ndarray, py: np.ndarray, run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest segment of run ``run[k]`` to point k: (distance, index; the lowest at a tie)."""
        rows = max(1, CELLS // self.chunk)
        if len(run) > rows:
            parts = [self._run(px[i:i + rows], py[i:i + rows], run[i:i + rows]) for i in range(0, len(run), rows)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        nseg = len(self.ax)
        i = run[:, None] * self.chunk + np.arange(self.chunk)[None, :]
        valid = i < nseg
        d = self._distances(px[:, None], py[:, None], np.minimum(i, nseg - 1))
        d = np.where(valid, d, np.inf)
        k = np.argmin(d, axis=1)  # the first minimum: the lowest index in the run
        at = np.arange(len(run))
        return d[at, k], i[at, k]

    def _numpy(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The compiled loop's branch-and-bound on whole arrays: each round measures, for every
        point still open, the run whose box is the nearest not yet measured, while that box is
        no farther than the answer so far (the box distance is a lower bound of every distance
        in its run; squared here, with a margin that only ever adds runs)."""
        ddx = np.maximum(np.maximum(self.x0[None, :] - px[:, None], 0.0), px[:, None] - self.x1[None, :])
        ddy = np.maximum(np.maximum(self.y0[None, :] - py[:, None], 0.0), py[:, None] - self.y1[None, :])
        box = ddx * ddx + ddy * ddy  # points x runs, squared
        del ddx, ddy
        first = np.argmin(box, axis=1)
        best, best_i = self._run(px, py, first)
        rows = np.arange(len(px))
        box[rows, first] = np.inf
        todo = rows
        while len(todo):
            c = np.argmin(box[todo], axis=1)
            near = box[todo, c] <= best[todo] * best[todo] * (1 + 1e-9)
            todo, c = todo[near], c[near]
            if not len(todo):
                break
            d, i = self._run(px[todo], py[todo], c)
            better = (d < best[todo]) | ((d == best[todo]) & (i < best_i[todo]))
            best[todo[better]] = d[better]
            best_i[todo[better]] = i[better]
            box[todo, c] = np.inf
        return best, best_i.astype(np.int64)

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
