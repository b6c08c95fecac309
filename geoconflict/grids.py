"""Strike density grids: square, hex, H3 and PRIO-GRID cell counts.

Cell systems
------------
``square:<size>``  squares of ``size`` × ``size`` metres in a UTM zone chosen for the data
    (:func:`geoconflict.crs.metric_crs_for`, or ``crs=`` to force one).  Cell ``(i, j)`` covers
    ``[i·size, (i+1)·size) × [j·size, (j+1)·size)`` in that zone's false-origin grid, so two runs or
    two data sets *in the same CRS* share cells.  Data sets in different UTM zones cannot share
    cells: pass the same ``crs=`` to both.
``hex:<size>``  pointy-top regular hexagons in the same UTM zone; ``size`` is the distance between
    opposite **edges** (flat-to-flat width ``w``), so a cell's area is ``√3/2 · w²``
    (21.65 km² for ``hex:5km``) and its circumradius ``w/√3``.  The hexagon with axial coordinates
    ``(0, 0)`` is centred on the zone's false origin (0, 0).
``h3:<res>``  Uber H3 cells of resolution ``res``; ``cell_id`` is the h3 library's string.
``priogrid``  PRIO-GRID 0.5° cells; ``cell_id`` is the gid ``(row-1)·720 + col`` with
    ``row = ⌊(lat+90)·2⌋+1``, ``col = ⌊(lon+180)·2⌋+1``.

Points on an edge or a vertex
-----------------------------
Every point lands in exactly one cell; none is lost or counted twice.  The rule is that of
half-open cells: a point on the boundary of several cells belongs to the one whose centre is
furthest east, and among those (squares on a horizontal edge) the furthest north.  Equivalently,
it belongs to the cell that a tiny step east (then a tinier one north) from it enters.

* Square cells are ``[x0, x0+size) × [y0, y0+size)``: a point on a vertical edge goes east, on a
  horizontal edge north, on a vertex to the north-east cell.
* Hex cells (pointy-top) own their west, north-west and south-west edges and their two western
  vertices (150° and 210°); a point on a vertical edge goes to the cell east of it, on a
  slanted edge to the cell east of that edge, on the top vertex to the north-east neighbour,
  on the bottom vertex to the south-east one, on the 30° and 330° vertices to the east one.
* "On the edge" is decided exactly, on float64 numbers: the point's coordinates are those PROJ
  gives (longitude 39.0 in UTM zone 37 is x = 500000.0000000006, 0.6 nm east of the 500 km
  edge, so it belongs to the cells east of it), and the cell's vertices are the float64
  products written in its polygon (square: ``i·size``; hex: ``w/2 · k``, ``R/2 · m`` on one
  vertex lattice, so neighbours share bit-identical vertices and the polygons tile the plane).
  Points within a micrometre of a hex edge are decided in exact rational arithmetic, as GEOS's
  robust predicates would on the written polygons.
* PRIO-GRID cells are ``[lon0, lon0+0.5) × [lat0, lat0+0.5)`` in degrees (the edges are exact in
  float64); the last column (lon 180) and row (lat 90) are closed.
* H3: h3's own ``latlng_to_cell`` is the rule; every path (the raster pre-classification of
  large inputs included) gives h3's answer.

The rule is the same for small inputs (numpy), large ones (compiled binning on an interpolated
projection, whose points near an edge are projected exactly and decided by the numpy rule) and
the dask engine (which runs :func:`count_by_cell` on each part in one CRS).

Areas
-----
``area_km2`` is the cell's area **on the ground** (the WGS84 ellipsoid) for every cell kind.
Square and hex cells also have ``plane_area_km2``, their area on the projected plane (the same
for every cell: ``size²`` or ``√3/2 · w²``, 21.6506 km² for ``hex:5km``); the ground area is the
plane area divided by the projection's areal scale factor at the cell's centre (PROJ;
interpolated between exactly computed nodes from 10,000 cells, within 1e-6), so it differs from
the plane one by the UTM scale (-0.13 % to +0.08 % across north-west Syria).  H3
areas are h3's ``cell_area``; PRIO-GRID ones the ellipsoidal band formula.

Points are binned with numpy (floor division, hex cube rounding) or h3's own indexing, never with
a spatial join; polygons are built only for the cells returned, and only when ``GridResult.cells``
is first read (``GridResult.table`` has the counts without them).  Large inputs are projected by
interpolation on a lattice of exactly projected nodes, and every point nearer a cell edge than the
interpolation's measured error allows is projected exactly, so the cells are those of PROJ's own
projection (see :func:`metric_cell_indices`).  H3 has no array API: points are grouped by the
hexagon of H3's own face lattice they fall in (numpy), and h3's C function runs once per group and
once for each point within a micrometre-scale band of a hexagon's edge or of a face boundary
(:func:`_h3_lattice_cells`).  Cells near the antimeridian are not split.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod, Transformer

from ._geometry import LabelRaster
from ._points import (
    GridReport,
    PreparedPoints,
    numeric_column,
    prepare_points,
)
from .crs import WGS84, metric_crs_for, require_crs, to_crs, transform_xy
from .errors import InputError, SchemaError, SizeLimitError
from .units import period_label, period_start

log = logging.getLogger(__name__)

__all__ = [
    "CellSpec",
    "GridReport",
    "GridResult",
    "parse_cells",
    "count_by_cell",
    "priogrid_gid",
    "priogrid_cell",
    "priogrid_row_col",
    "month_id",
    "cell_polygons",
]

CellKind = Literal["square", "hex", "h3", "priogrid"]
Period = Literal["day", "week", "month", "quarter", "year"]

#: largest number of cells a grid may have (all-cells mode or wide columns)
MAX_CELLS = 20_000_000
#: most per-group / per-period columns in the wide table (use long=True beyond)
MAX_WIDE_COLUMNS = 2_000
SQRT3 = math.sqrt(3.0)
NONE_LABEL = "(none)"
#: the hex size of ``grid`` and of a scenario's grids stage when none is given
DEFAULT_HEX_SIZE = "5km"
DEFAULT_CELLS = f"hex:{DEFAULT_HEX_SIZE}"


# --------------------------------------------------------------------------------------------
# cell specification


@dataclass(frozen=True)
class CellSpec:
    """A cell system: ``kind`` and its size (metres) or H3 resolution."""

    kind: CellKind
    size_m: float | None = None
    resolution: int | None = None

    def __post_init__(self) -> None:
        if self.kind in ("square", "hex"):
            if self.size_m is None or not (self.size_m > 0) or not math.isfinite(self.size_m):
                raise InputError(f"{self.kind} cells need a positive size", fix="write e.g. hex:5km")
        elif self.kind == "h3":
            if self.resolution is None or not 0 <= self.resolution <= 15:
                raise InputError("H3 resolution must be 0..15", fix="write e.g. h3:7")
        elif self.kind != "priogrid":
            raise InputError(
                f"unknown cell kind {self.kind!r}", fix="use square:SIZE, hex:SIZE, h3:RES or priogrid"
            )

    @property
    def label(self) -> str:
        if self.kind in ("square", "hex"):
            assert self.size_m is not None
            size = f"{self.size_m / 1000:g}km" if self.size_m >= 1000 else f"{self.size_m:g}m"
            return f"{self.kind}:{size}"
        if self.kind == "h3":
            return f"h3:{self.resolution}"
        return "priogrid"

    @property
    def metric(self) -> bool:
        return self.kind in ("square", "hex")


_SPEC = re.compile(r"^\s*(square|hex|h3|priogrid)\s*(?::\s*(.+?))?\s*$", re.IGNORECASE)


def parse_cells(value: str | CellSpec) -> CellSpec:
    """``"hex:5km"``, ``"square:1000m"``, ``"h3:7"``, ``"priogrid"`` -> :class:`CellSpec`."""
    if isinstance(value, CellSpec):
        return value
    m = _SPEC.match(str(value))
    fix = "use square:SIZE, hex:SIZE (e.g. hex:5km), h3:RES (e.g. h3:7) or priogrid"
    if not m:
        raise InputError(f"cannot read cell system {value!r}", fix=fix)
    kind, arg = m.group(1).lower(), m.group(2)
    if kind == "priogrid":
        if arg:
            raise InputError(f"priogrid takes no size ({value!r})", fix="write priogrid")
        return CellSpec("priogrid")
    if arg is None:
        raise InputError(f"{kind} cells need a {'resolution' if kind == 'h3' else 'size'}", fix=fix)
    if kind == "h3":
        try:
            res = int(arg)
        except ValueError:
            raise InputError(f"H3 resolution {arg!r} is not an integer", fix=fix) from None
        return CellSpec("h3", resolution=res)
    from .units import parse_distance_m

    try:
        size = parse_distance_m(arg)
    except ValueError as exc:
        raise InputError(str(exc), fix=fix) from None
    return CellSpec(kind, size_m=size)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# PRIO-GRID and ViEWS month ids


def priogrid_row_col(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """PRIO-GRID (row, col), both 1-based: half-open 0.5° cells [west, west + 0.5) ×
    [south, south + 0.5); lat 90 / lon 180 fall in the last row / column (closed there)."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if np.any(bad):
        raise InputError("coordinates out of range for PRIO-GRID (need -180..180, -90..90)")
    return _half_degree_index(lat, -90.0, 360), _half_degree_index(lon, -180.0, 720)


def _half_degree_index(v: np.ndarray, origin: float, last: int) -> np.ndarray:
    """1-based k with ``origin + (k-1)/2 <= v < origin + k/2`` (exact: the edges are multiples
    of 0.5, exact in float64, while ``(v - origin) * 2`` can round up onto the next edge); the
    last cell is closed (lon 180, lat 90)."""
    k = np.floor((v - origin) * 2.0)
    k = np.where(v < origin + k * 0.5, k - 1, k)
    k = np.where(v >= origin + (k + 1) * 0.5, k + 1, k)
    return np.clip(k.astype("int64") + 1, 1, last)


def priogrid_gid(lon: Any, lat: Any) -> Any:
    """PRIO-GRID gid of (lon, lat): ``(row-1)*720 + col``; scalars in, int out; arrays in, arrays out.

    >>> int(priogrid_gid(0.0, 0.0)), int(priogrid_gid(36.6339, 35.9306))
    (129961, 181154)
    """
    row, col = priogrid_row_col(lon, lat)
    gid = (row - 1) * 720 + col
    return int(gid) if gid.ndim == 0 else gid


def priogrid_cell(gid: Any) -> Any:
    """The 0.5° cell of a gid: a shapely Polygon for a scalar, an array of polygons for an array."""
    g = np.asarray(gid, dtype="int64")
    if np.any((g < 1) | (g > 259_200)):
        raise InputError("PRIO-GRID gid must be 1..259200")
    row = (g - 1) // 720 + 1
    col = (g - 1) % 720 + 1
    west = (col - 1) * 0.5 - 180.0
    south = (row - 1) * 0.5 - 90.0
    boxes = shapely.box(west, south, west + 0.5, south + 0.5)
    return boxes  # shapely.box gives a Polygon for scalars, an array for arrays


def month_id(dates: Any) -> Any:
    """ViEWS month id: 1 = January 1980 (``(year-1980)*12 + month``); NaT -> -1 in arrays."""
    scalar = not isinstance(dates, (pd.Series, pd.Index, np.ndarray, list, tuple))
    d = pd.DatetimeIndex(pd.to_datetime([dates] if scalar else dates))
    ids = np.where(d.isna(), -1, (d.year - 1980) * 12 + d.month).astype("int64")
    return int(ids[0]) if scalar else ids


# --------------------------------------------------------------------------------------------
# binning: points -> integer cell keys (vectorised)


#: from this many points, the last projections are kept (read-only) and found again by a digest of
#: the coordinates: the square and hex grids and the KDE of one run project the same points to
#: the same UTM zone (hashing costs 1/25 of projecting)
PROJECTION_CACHE_FROM = 50_000
PROJECTION_CACHE_SIZE = 2
_projections: OrderedDict[tuple[str, int, bytes], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_projections_lock = threading.Lock()


def project(lon: np.ndarray, lat: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat -> x/y in ``crs`` (float64 arrays); large inputs in two threads.  Large
    inputs come back read-only (they may be shared with the next call on the same points)."""
    key = None
    if len(lon) >= PROJECTION_CACHE_FROM:
        digest = hashlib.sha1(np.ascontiguousarray(lon, dtype="float64").data, usedforsecurity=False)
        digest.update(np.ascontiguousarray(lat, dtype="float64").data)
        key = (crs.srs, len(lon), digest.digest())
        with _projections_lock:
            hit = _projections.get(key)
            if hit is not None:
                _projections.move_to_end(key)
                return hit[0].view(), hit[1].view()  # views of read-only arrays stay read-only
    x, y = transform_xy(lon, lat, WGS84, crs)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError(f"some points cannot be projected to {crs.to_string()}",
                         fix="choose another --crs, or check the coordinates")
    if key is not None:
        x.setflags(write=False)
        y.setflags(write=False)
        with _projections_lock:
            _projections[key] = (x, y)
            while len(_projections) > PROJECTION_CACHE_SIZE:
                _projections.popitem(last=False)
        return x.view(), y.view()  # a caller cannot make the cached arrays writeable again
    return x, y


#: from this many points, square / hex binning interpolates the projection on a lon/lat lattice
#: and projects exactly (PROJ) only the points that land near a cell edge
APPROX_PROJECTION_FROM = 200_000
#: lattice nodes at most (each projected exactly, with the lattice cells' centres), and at most
#: one per this many points (the answer does not depend on it: a coarser lattice only sends more
#: points to the exact projection)
LATTICE_NODES = 20_000
POINTS_PER_NODE = 25


def metric_cell_indices(
    lon: np.ndarray, lat: np.ndarray, crs: CRS, kind: str, size: float
) -> tuple[np.ndarray, np.ndarray]:
    """Integer cell indices — square (i, j) or hex axial (q, r) — of lon/lat points in ``crs``.

    The answer is that of the exact projection.  For large inputs the projection is first
    interpolated (bilinear on a lattice of exactly projected nodes, whose error is measured at
    every lattice cell's centre); any point closer to a cell edge than 8 × that error (at least
    1 mm) is then projected exactly and binned again.
    """
    n = len(lon)
    lattice = _Lattice.build(lon, lat, crs) if n >= APPROX_PROJECTION_FROM else None
    if lattice is None:
        x, y = project(lon, lat, crs)
        a, b, _ = _indices_and_edge_distance(kind, x, y, size)
        return a, b
    band = max(8.0 * lattice.err, 1e-3)
    from ._compiled import lattice_cells

    a, b, is_near = lattice_cells(
        np.ascontiguousarray(lon, dtype="float64"), np.ascontiguousarray(lat, dtype="float64"),
        lattice.west, lattice.south, lattice.step, lattice.nx, lattice.ny, lattice.gx, lattice.gy,
        kind == "hex", float(size), band,
    )
    near = np.flatnonzero(is_near)
    if len(near):
        xe, ye = project(lon[near], lat[near], crs)
        a[near], b[near], _ = _indices_and_edge_distance(kind, xe, ye, size)
    log.debug("interpolated projection: error %.2e m, %d of %d points projected exactly",
              lattice.err, len(near), n)
    return a, b


def _indices_and_edge_distance(
    kind: str, x: np.ndarray, y: np.ndarray, size: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j) or (q, r) per point, by the half-open rule (module docstring, "Points on an edge"),
    and its distance (m) to the nearest edge of its cell (0 on an edge)."""
    if kind == "square":
        ix, iy = _square_index(x, size), _square_index(y, size)
        dist = np.minimum(np.minimum(x - ix * size, (ix + 1) * size - x),
                          np.minimum(y - iy * size, (iy + 1) * size - y))
        return ix.astype("int64"), iy.astype("int64"), dist
    q, r = _hex_axial(x, y, size)
    cx, cy = _hex_centres(q, r, size)
    dx, dy = x - cx, y - cy
    h = SQRT3 / 2.0
    reach = np.maximum(np.abs(dx), np.maximum(np.abs(0.5 * dx + h * dy), np.abs(-0.5 * dx + h * dy)))
    dist = size / 2.0 - reach
    # cube rounding is exact away from edges; within float noise of one (a few nanometres at
    # UTM magnitudes, bounded here with a margin of 1000x), the cell is decided exactly
    tie = np.flatnonzero(dist <= EXACT_BAND_M + 1e-12 * (np.abs(x) + np.abs(y) + size))
    if len(tie):
        q[tie], r[tie] = _hex_exact(x[tie], y[tie], q[tie], r[tie], size)
        dist[tie] = np.maximum(dist[tie], 0.0)
    return q, r, dist


#: points nearer a hex edge than this (plus 1e-12 of the coordinates' magnitude) are assigned
#: by exact (integer) arithmetic on the cells' float64 vertices
EXACT_BAND_M = 1e-6


def _square_index(v: np.ndarray, size: float) -> np.ndarray:
    """``i`` with ``i*size <= v < (i+1)*size``, the products as float64 (the cells' vertices)."""
    i = np.floor(v / size)
    i = np.where(v < i * size, i - 1, i)  # the quotient rounded up to an integer
    return np.where(v >= (i + 1) * size, i + 1, i)


#: pointy-top hexagon vertices relative to the centre, counter-clockwise from 30°, in units of
#: (w/2, R/2) where R = w/√3 is the circumradius: vertex = (w/2 · (2q + r + dk), R/2 · (3r + dm))
_HEX_DK = np.array([1, 0, -1, -1, 0, 1])
_HEX_DM = np.array([1, 2, 1, -1, -2, -1])
#: the six neighbours (dq, dr) of an axial cell
_HEX_NEIGHBOURS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1))


def _hex_vertices(q: np.ndarray, r: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the 6 vertices of each hexagon, shape (n, 6), counter-clockwise from 30°.

    Vertices lie on one lattice (x = w/2 · k, y = R/2 · m for integers k, m, each a single float
    product), so neighbouring cells share bit-identical vertices and the polygons tile the plane
    with neither gap nor overlap."""
    hx, hy = width / 2.0, width / SQRT3 / 2.0
    k = (2 * np.asarray(q, dtype="int64") + np.asarray(r, dtype="int64"))[:, None] + _HEX_DK[None, :]
    m = (3 * np.asarray(r, dtype="int64"))[:, None] + _HEX_DM[None, :]
    return hx * k.astype("float64"), hy * m.astype("float64")


def _hex_exact(x: np.ndarray, y: np.ndarray, q: np.ndarray, r: np.ndarray, width: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """The cell of points at (or within float noise of) a hexagon edge, decided exactly.

    Candidates are the rounded cell and its six neighbours; a candidate covers the point when
    the point is on or left of each of its counter-clockwise edges (the orientation computed
    exactly, in integers, from the float64 vertices, as GEOS's robust predicates do).  Of the
    cells covering the point, the one whose centre is furthest east owns it (the half-open
    rule; no two neighbouring pointy-top cells share a centre x).  Each distinct (x, y) once."""
    qo, ro = np.asarray(q, dtype="int64"), np.asarray(r, dtype="int64")
    pairs, first, inverse = np.unique(np.column_stack([x, y]), axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    uq, ur = qo[first].copy(), ro[first].copy()
    hx, hy = width / 2.0, width / SQRT3 / 2.0
    dk, dm = _HEX_DK.tolist(), _HEX_DM.tolist()
    for k, (px, py) in enumerate(pairs.tolist()):
        best: tuple[int, int, int] | None = None
        for dq, dr in _HEX_NEIGHBOURS:
            cq, cr = int(uq[k]) + dq, int(ur[k]) + dr
            kc, mc = 2 * cq + cr, 3 * cr
            # the same float64 products as _hex_vertices, then exact integers on one scale
            vx = [hx * float(kc + d) for d in dk]
            vy = [hy * float(mc + d) for d in dm]
            ix, iy, (jx, jy) = _exact_ints(vx + [px], vy + [py])
            ax, ay = ix[:6], iy[:6]
            covers = all(
                (ax[(e + 1) % 6] - ax[e]) * (jy - ay[e]) - (ay[(e + 1) % 6] - ay[e]) * (jx - ax[e]) >= 0
                for e in range(6)
            )
            if covers and (best is None or kc > best[0]):
                best = (kc, cq, cr)
        if best is None:  # pragma: no cover - the seven cells cover a disc around the rounded one
            raise AssertionError(f"no hexagon covers ({px!r}, {py!r})")
        uq[k], ur[k] = best[1], best[2]
    return uq[inverse], ur[inverse]


def _exact_ints(xs: list[float], ys: list[float]) -> tuple[list[int], list[int], tuple[int, int]]:
    """Finite floats as integers on one common power-of-two scale (exact: floats are dyadic);
    returns (x ints but the last, y ints but the last, (last x, last y))."""
    ratios = [v.as_integer_ratio() for v in xs + ys]
    den = max(d for _, d in ratios)
    ints = [n * (den // d) for n, d in ratios]
    nx = len(xs)
    return ints[: nx - 1], ints[nx: nx + len(ys) - 1], (ints[nx - 1], ints[-1])


@dataclass
class _Lattice:
    """Exactly projected nodes of a lon/lat lattice, for bilinear interpolation."""

    west: float
    south: float
    step: float
    nx: int
    ny: int
    gx: np.ndarray  # (ny * nx,) projected x of the nodes, row-major from the south-west
    gy: np.ndarray
    err: float  # largest interpolation error measured at the lattice cells' centres (m)

    @classmethod
    def build(cls, lon: np.ndarray, lat: np.ndarray, crs: CRS) -> _Lattice | None:
        west, east = float(lon.min()), float(lon.max())
        south, north = float(lat.min()), float(lat.max())
        if east - west > 30 or north - south > 30 or max(abs(south), abs(north)) > 84:
            return None
        nodes = min(LATTICE_NODES, max(len(lon) // POINTS_PER_NODE, 1_000))
        step = max(0.002, math.sqrt(max(east - west, 1e-9) * max(north - south, 1e-9) / nodes))
        nx = int(math.ceil((east - west) / step)) + 2
        ny = int(math.ceil((north - south) / step)) + 2
        glon = west + step * np.arange(nx)
        glat = south + step * np.arange(ny)
        lo, la = np.meshgrid(glon, glat)
        gx, gy = project(lo.ravel(), la.ravel(), crs)
        # the lattice cells' centres, exactly and interpolated (the mean of the 4 corners)
        mlo, mla = np.meshgrid(glon[:-1] + step / 2, glat[:-1] + step / 2)
        mx, my = project(mlo.ravel(), mla.ravel(), crs)
        if not all(np.isfinite(v).all() for v in (gx, gy, mx, my)):
            return None
        gx2, gy2 = gx.reshape(ny, nx), gy.reshape(ny, nx)
        ix = (gx2[:-1, :-1] + gx2[:-1, 1:] + gx2[1:, :-1] + gx2[1:, 1:]).ravel() / 4
        iy = (gy2[:-1, :-1] + gy2[:-1, 1:] + gy2[1:, :-1] + gy2[1:, 1:]).ravel() / 4
        err = float(max(np.abs(mx - ix).max(), np.abs(my - iy).max()))
        return cls(west, south, step, nx, ny, gx, gy, err)


def _hex_axial(x: np.ndarray, y: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial (q, r) of the pointy-top hexagon (flat-to-flat ``width``) containing each point."""
    radius = width / SQRT3
    qf = (SQRT3 / 3.0 * x - y / 3.0) / radius
    rf = (2.0 / 3.0 * y) / radius
    sf = -qf - rf
    q, r, s = np.round(qf), np.round(rf), np.round(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype("int64"), r.astype("int64")


def _hex_centres(q: np.ndarray, r: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    radius = width / SQRT3
    return radius * SQRT3 * (q + r / 2.0), radius * 1.5 * r


def _encode_pairs(a: np.ndarray, b: np.ndarray, *, compiled: bool = False
                  ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """(code per point, (a, b) of each distinct pair, sorted by a then b) for integer pairs.

    Uses a dense count over the pairs' bounding range when it is small (no hashing, no sort;
    with ``compiled``, numba's two passes instead of numpy's dozen), else ``pandas.factorize``
    of a packed key.
    """
    n = len(a)
    if n == 0:
        return np.zeros(0, dtype="int64"), (np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64"))
    if compiled:
        from ._compiled import bounds_of_pairs, dense_pair_codes

        amin, amax, bmin, bmax = (int(v) for v in bounds_of_pairs(a, b))
    else:
        amin, amax, bmin, bmax = int(a.min()), int(a.max()), int(b.min()), int(b.max())
    na, nb = amax - amin + 1, bmax - bmin + 1
    dense = na * nb <= max(4 * n, 1 << 22)
    if dense and compiled:
        codes, ua, ub, _counts = dense_pair_codes(a, b, amin, bmin, nb, na * nb)
        return codes, (ua, ub)
    if dense:
        lin = (a - amin) * nb + (b - bmin)
        occ = np.bincount(lin, minlength=na * nb)
        nz = np.flatnonzero(occ)
        rank = np.empty(na * nb, dtype="int64")
        rank[nz] = np.arange(len(nz))
        return rank[lin], (nz // nb + amin, nz % nb + bmin)
    codes, uniq = pd.factorize(_pack(a, b), sort=True)
    return np.asarray(codes), _unpack(np.asarray(uniq, dtype="int64"))


def _pack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two int64 arrays (|v| < 2**31) -> one int64 key."""
    return (a.astype("int64") << 32) + (b.astype("int64") + (1 << 31))


def _unpack(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = (key & 0xFFFFFFFF) - (1 << 31)
    a = (key - (b + (1 << 31))) >> 32
    return a, b


#: from this many points, H3 cells are first read off a raster of the cells' outlines
H3_RASTER_FROM = 200_000
#: pixels per H3 edge length, and pixels / cells at most for the raster
H3_PIXELS_PER_EDGE = 24
H3_MAX_PIXELS = 30_000_000
H3_MAX_CELLS = 300_000


#: a square tile of this many pixels a side is rasterised when it holds at least this many points
#: (drawing a tile costs about as much as classifying 150,000 points on H3's face lattice)
H3_TILE_PIXELS = 1024
H3_TILE_MIN_POINTS = 150_000
#: from this many points, the points left to classify are grouped on H3's face lattice first (reading
#: the lattice from h3 costs ~10 ms once per resolution and process, 10,000 points asked one by one)
H3_LATTICE_FROM = 10_000


def _h3_keys(lat: np.ndarray, lon: np.ndarray, res: int) -> np.ndarray:
    """h3 cell (uint64 as int64) per point.  h3 4 has no array API: very large inputs are first
    classified, tile by tile where points are very dense, on a raster of the cells
    (:func:`_h3_keys_by_raster`); the rest are grouped by the hexagon of H3's face lattice they
    fall in (:func:`_h3_lattice_cells`), h3's C function running once per group, and once per
    point only for points at a hair's breadth from a hexagon edge or a face boundary."""
    n = len(lat)
    if n < H3_RASTER_FROM:
        return _h3_keys_grouped(lat, lon, res)
    import h3

    keys = np.zeros(n, dtype="int64")
    todo = np.ones(n, dtype=bool)
    tile = h3.average_hexagon_edge_length(res, unit="km") / 111.32 / H3_PIXELS_PER_EDGE * H3_TILE_PIXELS
    tx = np.floor((lon - lon.min()) / tile).astype(np.int64)
    ty = np.floor((lat - lat.min()) / tile).astype(np.int64)
    code = tx * (int(ty.max()) + 1) + ty
    order = np.argsort(code, kind="stable")
    bounds = np.flatnonzero(np.r_[True, code[order][1:] != code[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):  # a loop over tiles, not points
        if b - a < H3_TILE_MIN_POINTS:
            continue
        idx = order[a:b]
        k, unsure = _h3_keys_by_raster(lat[idx], lon[idx], res)
        if k is not None:
            keys[idx] = k
            todo[idx] = False
            todo[idx[unsure]] = True
    rest = np.flatnonzero(todo)
    keys[rest] = _h3_keys_grouped(lat[rest], lon[rest], res)
    return keys


def _h3_keys_grouped(lat: np.ndarray, lon: np.ndarray, res: int) -> np.ndarray:
    """h3's cell per point: h3 asked once per group of points sharing a hexagon of H3's face
    lattice (:func:`_h3_lattice_cells`), and once per point near an edge."""
    n = len(lat)
    lattice = _h3_lattice_cells(lat, lon, res) if n >= H3_LATTICE_FROM else None
    if lattice is None:
        return _h3_keys_per_point(lat, lon, res)
    group, unsure = lattice
    keys = np.empty(n, dtype="int64")
    sure = np.flatnonzero(~unsure)
    codes, _uniq = pd.factorize(group[sure])
    member = np.empty(len(_uniq), dtype="int64")
    member[codes] = sure  # any member stands for its group (the last one here)
    keys[sure] = _h3_keys_per_point(lat[member], lon[member], res)[codes]
    near = np.flatnonzero(unsure)
    keys[near] = _h3_keys_per_point(lat[near], lon[near], res)
    return keys


#: largest distance (radians) from a point on the sphere to the nearest icosahedron face centre
#: (the centre-to-vertex angle, 37.38°), with a margin
_FACE_REACH = math.radians(37.5)


@lru_cache(maxsize=16)
def _h3_face_frames(res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """H3's 20 icosahedron face centres (unit vectors) and, per face, the two tangent vectors that
    map a point's gnomonic projection about the face centre to coordinates in which the centres
    of resolution ``res``'s hexagons on that face are the lattice ``a·(1, 0) + b·(1/2, √3/2)``.

    Everything is read from h3 itself: the face centres are the centres of the res-0 cells
    that lie on one face only, nearest the centroid of the face's three pentagons; the lattice's
    scale and rotation (Class II / III) are those of the six neighbours of the face-centre cell at
    ``res``.  None when the resolution is outside 1..12 or the measured lattice is not regular
    within 1e-9 (the caller then asks h3 for every point)."""
    import h3

    if not 1 <= res <= 12:
        return None
    base = h3.get_res0_cells()
    faces_of = {c: list(h3.get_icosahedron_faces(c)) for c in base}
    pentagons = [c for c in base if h3.is_pentagon(c)]
    centres, eus, evs = [], [], []
    for f in range(20):
        corners = _unit_vectors(*np.array([h3.cell_to_latlng(c) for c in pentagons if f in faces_of[c]]).T)
        middle = corners.sum(axis=0) / np.linalg.norm(corners.sum(axis=0))
        inner = [c for c in base if faces_of[c] == [f]]
        units = _unit_vectors(*np.array([h3.cell_to_latlng(c) for c in inner]).T)
        k = int(np.argmax(units @ middle))
        centre = units[k]
        if len(corners) != 3 or np.linalg.norm(centre - middle) > 1e-9:  # pragma: no cover - h3 changed
            return None
        cell = h3.latlng_to_cell(*h3.cell_to_latlng(inner[k]), res)
        ring = [c for c in h3.grid_disk(cell, 1) if c != cell]
        nb = _unit_vectors(*np.array([h3.cell_to_latlng(c) for c in ring]).T)
        east = np.cross([0.0, 0.0, 1.0], centre)
        east /= np.linalg.norm(east)
        north = np.cross(centre, east)
        gnomonic = nb / (nb @ centre)[:, None] - centre
        gx, gy = gnomonic @ east, gnomonic @ north
        rho, phi = np.hypot(gx, gy), np.arctan2(gy, gx)
        turn = np.mod(phi - phi[0] + 1e-9, math.pi / 3) - 1e-9  # multiples of 60°
        if len(ring) != 6 or np.ptp(rho) > 1e-9 * rho.mean() or np.abs(turn).max() > 1e-9:
            return None
        step, angle = float(rho.mean()), float(phi[0])
        centres.append(centre)
        eus.append((math.cos(angle) * east + math.sin(angle) * north) / step)
        evs.append((-math.sin(angle) * east + math.cos(angle) * north) / step)
    return np.array(centres), np.array(eus), np.array(evs)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _h3_lattice_cells(lat: np.ndarray, lon: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(group per point, unsure per point): points of one group lie in one H3 cell.

    H3 puts a point on the icosahedron face whose centre is nearest, projects it gnomonically
    about that centre and takes the nearest centre of the face's hexagon lattice (its cells
    are the lattice's Voronoi hexagons).  The same is done here in numpy with the frames of
    :func:`_h3_face_frames`; the group is (face, lattice hexagon), so every point of a group
    gets the same H3 index from h3.  A point is unsure (left to h3 itself) when it lies within
    1e-6 of a hexagon's inradius (plus 1e-9 of its lattice coordinates: the frames' float
    error) of an edge, or when its two nearest face centres are within 1e-12 in cosine."""
    frames = _h3_face_frames(res)
    if frames is None:
        return None
    centre, eu, ev = frames
    n = len(lat)
    la, lo = np.radians(lat), np.radians(lon)
    cos_lat = np.cos(la)
    x, y, z = cos_lat * np.cos(lo), cos_lat * np.sin(lo), np.sin(la)
    # only faces that can be nearest to some point: within the data's cap + the face reach
    mid = np.array([x.mean(), y.mean(), z.mean()])
    mid /= max(float(np.linalg.norm(mid)), 1e-300)
    spread = math.acos(max(-1.0, min(1.0, float((x * mid[0] + y * mid[1] + z * mid[2]).min()))))
    candidates = np.flatnonzero(centre @ mid >= math.cos(min(math.pi, spread + _FACE_REACH))).tolist()
    top, second = np.full(n, -2.0), np.full(n, -2.0)
    face = np.zeros(n, dtype="int64")
    for f in candidates:
        d = x * centre[f, 0] + y * centre[f, 1] + z * centre[f, 2]
        better = d > top
        second = np.where(better, top, np.maximum(second, d))
        top = np.where(better, d, top)
        face[better] = f
    u, v = np.empty(n), np.empty(n)
    for f in candidates:
        sel: np.ndarray | slice = slice(None) if len(candidates) == 1 else face == f
        xs, ys, zs, ts = x[sel], y[sel], z[sel], top[sel]
        u[sel] = (xs * eu[f, 0] + ys * eu[f, 1] + zs * eu[f, 2]) / ts - float(centre[f] @ eu[f])
        v[sel] = (xs * ev[f, 0] + ys * ev[f, 1] + zs * ev[f, 2]) / ts - float(centre[f] @ ev[f])
    h = SQRT3 / 2.0
    # nearest lattice centre: cube rounding of (a, b) with u = a + b/2, v = h·b
    bf = v / h
    af = u - 0.5 * bf
    cf = -af - bf
    a, b, c = np.round(af), np.round(bf), np.round(cf)
    da, db, dc = np.abs(a - af), np.abs(b - bf), np.abs(c - cf)
    fix_a = (da > db) & (da > dc)
    fix_b = ~fix_a & (db >= dc)
    a = np.where(fix_a, -b - c, a)
    b = np.where(fix_b, -a - c, b)
    du, dv = u - (a + 0.5 * b), h * (v - h * b)
    reach = np.maximum(np.abs(du), np.maximum(np.abs(0.5 * du + dv), np.abs(0.5 * du - dv)))
    unsure = (0.5 - reach < 1e-6 + 1e-9 * (np.abs(u) + np.abs(v))) | (top - second < 1e-12)
    if n and max(float(np.abs(a).max()), float(np.abs(b).max())) >= 1 << 21:  # pragma: no cover
        return None  # a face spans ~2.4e5 lattice steps at resolution 12
    group = (face << 44) + ((a.astype("int64") + (1 << 21)) << 22) + (b.astype("int64") + (1 << 21))
    return group, unsure


def _h3_keys_by_raster(lat: np.ndarray, lon: np.ndarray, res: int) -> tuple[np.ndarray | None, np.ndarray]:
    """(cell per point, positions still to ask h3) from a lon/lat raster of the H3 cells.

    The cells around the points' extent are drawn with rasterio (a pixel gets the cell holding
    its centre); every pixel that any cell outline touches, and its 8 neighbours, is marked
    unsure.  A point in a sure pixel is more than a pixel (~90 m at resolution 7) from every
    outline, so it lies in that pixel's cell: the outlines' straight lon/lat edges stand in
    for H3's great-circle edges, which differ from them by millimetres.  Points in unsure
    pixels (or outside the raster) are left to h3 itself.  ``(None, ...)`` when the extent is
    too large, crosses the antimeridian or comes near a pole.
    """
    import h3

    west, east = float(lon.min()), float(lon.max())
    south, north = float(lat.min()), float(lat.max())
    nothing = (None, np.zeros(0, dtype=np.int64))
    if east - west > 40 or north - south > 40 or max(abs(south), abs(north)) > 80:
        return nothing
    edge_deg = h3.average_hexagon_edge_length(res, unit="km") / 111.32  # degrees of latitude
    margin = 3 * edge_deg / max(math.cos(math.radians(max(abs(south), abs(north)))), 0.2)
    w, e, s, n = west - margin, east + margin, south - margin, north + margin
    # pixels as fine as H3_PIXELS_PER_EDGE allows within H3_MAX_PIXELS, and no coarser than an
    # eighth of an edge (coarser, too few points would land in sure pixels to pay for the raster)
    pixel = max(edge_deg / H3_PIXELS_PER_EDGE, math.sqrt((e - w) * (n - s) / H3_MAX_PIXELS))
    ncol, nrow = int(math.ceil((e - w) / pixel)), int(math.ceil((n - s) / pixel))
    if pixel > edge_deg / 8 or (e - w) * (n - s) / (2.6 * edge_deg**2) > H3_MAX_CELLS:
        return nothing
    box = h3.LatLngPoly([(s, w), (s, e), (n, e), (n, w)])
    cells = np.array(sorted(h3.h3shape_to_cells(box, res)), dtype=object)
    if not 0 < len(cells) <= H3_MAX_CELLS:
        return nothing
    rings = [[(lng, la) for la, lng in h3.cell_to_boundary(c)] for c in cells]
    for r in rings:
        r.append(r[0])
    # GeoJSON-like shapes straight from h3's vertices (no shapely objects to convert)
    raster = LabelRaster((({"type": "Polygon", "coordinates": [r]}, i + 1) for i, r in enumerate(rings)),
                         ({"type": "LineString", "coordinates": r} for r in rings),
                         west=w, north=n, pixel=pixel, nrow=nrow, ncol=ncol)
    label = raster.lookup(lon, lat)
    sure = label >= 1
    ids = np.array([h3.str_to_int(c) for c in cells], dtype="uint64").view("int64")
    keys = np.zeros(len(lat), dtype="int64")
    keys[sure] = ids[label[sure] - 1]
    return keys, np.flatnonzero(~sure)


def _h3_keys_per_point(lat: np.ndarray, lon: np.ndarray, res: int) -> np.ndarray:
    """h3's own cell for each point (its C function once per distinct coordinate pair)."""
    # h3's public integer API: as fast per call as its compiled module (1.6 us a point)
    from h3.api.basic_int import latlng_to_cell as _to_cell

    n = len(lat)
    sample = np.linspace(0, n - 1, min(n, 20_000)).astype("int64") if n else np.zeros(0, "int64")
    dedupe = n > 0 and len(np.unique(lon[sample] + 1j * lat[sample])) < 0.8 * len(sample)
    if dedupe:  # repeated coordinates: index each distinct pair once
        codes, uniq = pd.factorize(lon + 1j * lat)
        ulat, ulon = np.asarray(uniq).imag, np.asarray(uniq).real
    else:
        codes, ulat, ulon = None, lat, lon
    cells = np.fromiter(
        (_to_cell(a, b, res) for a, b in zip(ulat.tolist(), ulon.tolist(), strict=False)),
        dtype="uint64",
        count=len(ulat),
    )
    if codes is None:
        return cells.view("int64")
    return cells.view("int64")[codes]


# --------------------------------------------------------------------------------------------
# polygons for cells


def _square_polygons(ix: np.ndarray, iy: np.ndarray, size: float) -> np.ndarray:
    """Boxes [i·size, (i+1)·size] × [j·size, (j+1)·size], each edge one float product, so
    neighbours share their edges exactly."""
    ix, iy = np.asarray(ix, dtype="int64"), np.asarray(iy, dtype="int64")
    return shapely.box(ix * size, iy * size, (ix + 1) * size, (iy + 1) * size, ccw=True)


def _hex_polygons(q: np.ndarray, r: np.ndarray, width: float) -> np.ndarray:
    """Pointy-top hexagons on the shared vertex lattice (:func:`_hex_vertices`), closed rings,
    counter-clockwise from the 30° vertex."""
    xs, ys = _hex_vertices(q, r, width)
    xs, ys = np.concatenate([xs, xs[:, :1]], axis=1), np.concatenate([ys, ys[:, :1]], axis=1)
    return shapely.polygons(np.stack([xs, ys], axis=-1))


def _h3_polygons(cells: np.ndarray) -> np.ndarray:
    import h3

    if len(cells) == 0:
        return np.zeros(0, dtype=object)
    bounds = [h3.cell_to_boundary(h3.int_to_str(int(c))) for c in cells.view("uint64")]
    sizes = np.fromiter((len(b) + 1 for b in bounds), dtype=np.int64, count=len(bounds))
    latlng = np.array([v for b in bounds for v in (*b, b[0])], dtype="float64")  # closed rings
    rings = shapely.linearrings(latlng[:, ::-1], indices=np.repeat(np.arange(len(bounds)), sizes))
    return shapely.polygons(rings)


def cell_polygons(spec: str | CellSpec, cell_keys: Sequence[Any]) -> np.ndarray:
    """Polygons of cells given by their ``cell_id`` values (square / hex ones in the CRS named
    in their id, H3 and PRIO-GRID ones in EPSG:4326), the same as :class:`GridResult`'s: the dask
    engine builds the merged cells' polygons with it, and checks use it."""
    spec = parse_cells(spec)
    if len(cell_keys) == 0:
        return np.zeros(0, dtype=object)
    if spec.kind == "priogrid":
        return priogrid_cell(np.asarray([int(k) for k in cell_keys]))
    if spec.kind == "h3":
        import h3

        return _h3_polygons(np.array([h3.str_to_int(str(k)) for k in cell_keys], dtype="uint64").view("int64"))
    parts = np.array([[int(p) for p in str(k).rsplit("_", 2)[1:]] for k in cell_keys], dtype="int64")
    a, b = parts[:, 0], parts[:, 1]
    assert spec.size_m is not None
    return _square_polygons(a, b, spec.size_m) if spec.kind == "square" else _hex_polygons(a, b, spec.size_m)


def _ellipsoid_band_area_km2(south: np.ndarray, north: np.ndarray, dlon_deg: float) -> np.ndarray:
    """Area (km²) on the WGS84 ellipsoid of lat-lon rectangles (authalic formula)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    e = math.sqrt(e2)

    def q(phi: np.ndarray) -> np.ndarray:
        s = np.sin(np.deg2rad(phi))
        return s / (1 - e2 * s * s) + (1 / (2 * e)) * np.log((1 + e * s) / (1 - e * s))

    b2 = a * a * (1 - e2)
    return b2 * np.deg2rad(dlon_deg) * (q(north) - q(south)) / 2 / 1e6


# --------------------------------------------------------------------------------------------
# results


class GridResult:
    """Counts per cell: ``table`` (a plain DataFrame, no geometry), ``cells`` (the same rows and
    columns as a GeoDataFrame with each cell's polygon, in the CRS the cells are exact in), the row
    accounting (``report``) and metadata incl. the CRS.

    The polygons are built on the first access to ``cells`` (a caller that only reads the counts
    never pays for them).  ``GridResult(cells=gdf, report=..., metadata=...)`` also works (the
    dask engine); ``table`` is then the cells without their geometry."""

    def __init__(
        self,
        cells: gpd.GeoDataFrame | None = None,
        report: GridReport | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        table: pd.DataFrame | None = None,
        polygons: Callable[[], np.ndarray] | None = None,
        crs: CRS | None = None,
    ) -> None:
        if (cells is None) == (table is None):
            raise TypeError("GridResult takes either cells or a table (with its polygons)")
        if table is not None and polygons is None:
            raise TypeError("GridResult(table=...) needs polygons=, the function that builds them")
        if report is None or metadata is None:
            raise TypeError("GridResult needs report= and metadata=")
        self.report = report
        self.metadata = metadata
        self._table = table
        self._cells = cells
        self._polygons = polygons
        self._crs = crs

    @property
    def table(self) -> pd.DataFrame:
        """The counts per cell (``cells`` without its geometry column)."""
        if self._table is None:
            assert self._cells is not None
            self._table = pd.DataFrame(self._cells.drop(columns=self._cells.geometry.name))
        return self._table

    @property
    def cells(self) -> gpd.GeoDataFrame:
        """The counts per cell with each cell's polygon (built on first access)."""
        if self._cells is None:
            assert self._table is not None and self._polygons is not None
            self._cells = gpd.GeoDataFrame(self._table.copy(), geometry=self._polygons(), crs=self._crs)
            self._polygons = None  # the closure holds the keys: free them
        return self._cells

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its polygons (the function that builds them is a closure)."""
        _ = self.cells
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"GridResult({len(self.table):,} rows, report={self.report!r})"


def _period_labels(dates: pd.Series, period: Period) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes per row, labels, ViEWS month ids or -1) for the period of each date; sorted.
    Periods and labels are :mod:`geoconflict.units`' (``2020-W10``, ``2020-Q1``, ...)."""
    d = pd.to_datetime(dates)
    if d.dt.tz is not None:
        d = d.dt.tz_localize(None)
    codes, uniq = pd.factorize(period_start(d, period), sort=True)
    uniq = pd.DatetimeIndex(uniq)
    labels = period_label(pd.Series(uniq), period).to_numpy(dtype=object)
    mids = month_id(uniq) if period == "month" else np.full(len(uniq), -1, dtype="int64")
    return np.asarray(codes), labels, np.asarray(mids)


# --------------------------------------------------------------------------------------------
# the main entry point


def count_by_cell(
    incidents: gpd.GeoDataFrame,
    *,
    cells: str | CellSpec = "hex:5km",
    by: str | None = None,
    period: Period | None = None,
    all_cells: bool = False,
    extent: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    include_imprecise: bool = False,
    long: bool = False,
    crs: Any = None,
) -> GridResult:
    """Count incidents (and sum fatalities) per cell.

    One row per non-empty cell (every cell over ``extent`` — or over the counted incidents'
    bounding box — with ``all_cells=True``), with ``cell_id``, ``count``, ``fatalities``
    (UCDP: ``best``), ``fatalities_low`` / ``fatalities_high`` when the input has UCDP ``low`` /
    ``high``, ``area_km2``, and ``count_<group>`` / ``count_<period>`` /
    ``count_<group>_<period>`` columns for ``by`` / ``period``.  With ``long=True`` there is one
    row per cell × group × period instead (columns ``<by>``, ``period``, and ``month_id`` for
    PRIO-GRID months).

    Imprecise locations (``geo_precision`` ≥ 3) are excluded and counted in the report unless
    ``include_imprecise``.  ``crs`` forces the projected CRS of square / hex cells (default: the
    UTM zone of the data).  The cells come back in the CRS they are exact in (UTM for square and
    hex, EPSG:4326 for H3 and PRIO-GRID); ``metadata["crs"]`` names it.
    """
    spec = parse_cells(cells)
    prep = prepare_points(incidents, include_imprecise=include_imprecise, need_date=period is not None)
    report = prep.report
    if by is not None and by not in prep.columns:
        raise SchemaError(
            f"incidents have no column {by!r} to group by",
            column=by,
            fix="name one of: " + ", ".join(str(c) for c in prep.columns if c != prep.source.geometry.name)[:300],
        )
    n = len(prep.lon)

    # --- cell key per incident -------------------------------------------------------------
    cell_crs: CRS
    cell_code: np.ndarray
    cell_keys: np.ndarray
    if spec.metric:
        if crs is not None:
            cell_crs = to_crs(crs)
            if not cell_crs.is_projected:
                raise InputError(f"CRS {cell_crs.to_string()} is not projected", fix="give a metric CRS, e.g. EPSG:32637")
        elif n:
            cell_crs = prep.metric_crs()
        elif extent is not None:
            cell_crs = metric_crs_for(gpd.GeoDataFrame(geometry=_extent_geoseries(extent)))
        else:  # nothing counted: the zone of the input as given, else UTM 37N
            try:
                cell_crs = metric_crs_for(prep.source)
            except Exception:  # noqa: BLE001 - no finite geometry at all
                cell_crs = CRS.from_epsg(32637)
        assert spec.size_m is not None
        a, b = metric_cell_indices(prep.lon, prep.lat, cell_crs, spec.kind, spec.size_m)
        if n and (np.abs(a).max() >= 2**31 or np.abs(b).max() >= 2**31):
            raise SizeLimitError(f"cell size {spec.size_m:g} m is too small for this extent")
        # the compiled loops are loaded when the binning used them (large inputs)
        cell_code, key_pairs = _encode_pairs(a, b, compiled=n >= APPROX_PROJECTION_FROM)
        cell_keys = _pack(*key_pairs)
    else:
        cell_crs = WGS84
        if spec.kind == "h3":
            assert spec.resolution is not None
            codes, ukeys = pd.factorize(_h3_keys(prep.lat, prep.lon, spec.resolution), sort=True)
            cell_code, cell_keys = np.asarray(codes), np.asarray(ukeys, dtype="int64")
        else:
            row, col = priogrid_row_col(prep.lon, prep.lat)
            cell_code, (urow, ucol) = _encode_pairs(row, col)
            cell_keys = (urow - 1) * 720 + ucol
    n_cells = len(cell_keys)

    # --- all cells over the extent -------------------------------------------------------
    if all_cells:
        extra = _extent_keys(spec, cell_crs, extent, prep)
        all_keys = np.union1d(cell_keys, extra)
        if len(all_keys) > MAX_CELLS:
            raise SizeLimitError(f"{len(all_keys):,} cells over the extent (limit {MAX_CELLS:,})",
                                 fix="use larger cells or a smaller --extent")
        # remap codes from cell_keys into all_keys positions
        pos = np.searchsorted(all_keys, cell_keys)
        cell_code = pos[cell_code] if n else cell_code
        cell_keys = all_keys
        n_cells = len(all_keys)

    # --- sums ------------------------------------------------------------------------------
    fat = numeric_column(prep, "fatalities", report) if "fatalities" in prep.columns else np.zeros(n)
    ucdp_bounds = "low" in prep.columns and "high" in prep.columns
    low = numeric_column(prep, "low", report) if ucdp_bounds else None
    high = numeric_column(prep, "high", report) if ucdp_bounds else None

    group_codes = group_labels = None
    if by is not None:
        vals = prep.col(by)
        vals = vals.astype(object).where(vals.notna(), NONE_LABEL)
        vals = vals.map(lambda v: NONE_LABEL if isinstance(v, str) and not v.strip() else str(v))
        group_codes, group_labels = pd.factorize(vals, sort=True)
        group_codes, group_labels = np.asarray(group_codes), np.asarray(group_labels, dtype=object)
    period_codes = period_labels = period_mids = None
    if period is not None:
        period_codes, period_labels, period_mids = _period_labels(prep.col("date"), period)
        if "date_precision" in prep.columns:
            dp = pd.to_numeric(prep.col("date_precision"), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            limit = {"day": 1, "week": 2, "month": 3, "quarter": 3, "year": 4}[period]
            coarse = int((dp > limit).sum())
            if coarse:
                report.notes.append(
                    f"{coarse:,} incidents have a date coarser than a {period}; counted at their stated date"
                )

    base: dict[str, np.ndarray] = {
        "count": np.bincount(cell_code, minlength=n_cells).astype("int64"),
        "fatalities": np.bincount(cell_code, weights=fat, minlength=n_cells),
    }
    if ucdp_bounds:
        base["fatalities_low"] = np.bincount(cell_code, weights=low, minlength=n_cells)
        base["fatalities_high"] = np.bincount(cell_code, weights=high, minlength=n_cells)
    report.nonempty_cells = int((base["count"] > 0).sum())

    cell_ids, area, plane_area = _cell_attributes(spec, cell_keys, cell_crs)
    meta = _metadata(spec, cell_crs, by=by, period=period, all_cells=all_cells,
                     include_imprecise=include_imprecise, long=long)

    if long and (by is not None or period is not None):
        table, row_cells = _long_table(cell_code, cell_ids, area, plane_area, fat, low, high, by,
                                       group_codes, group_labels, period, period_codes, period_labels,
                                       period_mids, spec, base["count"])
    else:
        data: dict[str, Any] = {"cell_id": cell_ids}
        if spec.kind == "priogrid":
            g = cell_keys
            data["row"], data["col"] = (g - 1) // 720 + 1, (g - 1) % 720 + 1
        data.update(base)
        data["area_km2"] = area
        if plane_area is not None:
            data["plane_area_km2"] = plane_area
        wide = _wide_keys(group_codes, group_labels, period_codes, period_labels)
        if wide is not None:
            wide_codes, wide_labels = wide
            if len(wide_labels) > MAX_WIDE_COLUMNS:
                raise SizeLimitError(
                    f"{len(wide_labels):,} group/period columns (limit {MAX_WIDE_COLUMNS:,})",
                    fix="write a long table with --long (long=True), or use a coarser --period",
                )
            k = len(wide_labels)
            mat = np.bincount(cell_code * k + wide_codes, minlength=n_cells * k).reshape(n_cells, k)
            for j, lab in enumerate(wide_labels):
                data[f"count_{lab}"] = mat[:, j].astype("int64")
            if period == "month" and spec.kind == "priogrid":
                assert period_labels is not None and period_mids is not None  # set with period
                meta["month_ids"] = {str(lab): int(m) for lab, m in zip(period_labels, period_mids, strict=False)}
        table, row_cells = pd.DataFrame(data), None

    report.cells = len(cell_keys)
    report.cells_label = spec.label
    report.crs = cell_crs.to_string()
    report.check()
    if int(base["count"].sum()) != report.counted:  # pragma: no cover - internal bug
        raise AssertionError("cell counts do not add up to the incidents counted")
    meta["report"] = report.as_dict()

    def polygons() -> np.ndarray:
        polys = _cell_polygons_of(spec, cell_keys)
        return polys if row_cells is None else np.asarray(polys, dtype=object)[row_cells]

    return GridResult(table=table, polygons=polygons, crs=cell_crs, report=report, metadata=meta)


def _wide_keys(gc: np.ndarray | None, gl: np.ndarray | None, pc: np.ndarray | None, pl: np.ndarray | None
               ) -> tuple[np.ndarray, list[Any]] | None:
    """(code per row, column labels) of the wide table's count columns: per group, per period,
    or per group × period that occurs; None without groups or periods."""
    if gc is None and pc is None:
        return None
    if pc is None:
        assert gc is not None and gl is not None  # codes and labels come in pairs
        return gc, list(gl)
    assert pl is not None
    if gc is None:
        return pc, list(pl)
    assert gl is not None
    k = len(pl)
    codes = gc * k + pc
    labels = [f"{g}_{p}" for g in gl for p in pl]
    # keep only combinations that occur
    used, inv = np.unique(codes, return_inverse=True)
    return inv.reshape(-1), [labels[u] for u in used]


def _long_table(cell_code: np.ndarray, cell_ids: np.ndarray,
                area: np.ndarray, plane_area: np.ndarray | None, fat: np.ndarray, low: np.ndarray | None,
                high: np.ndarray | None, by: str | None, gc: np.ndarray | None, gl: np.ndarray | None,
                period: Period | None, pc: np.ndarray | None, pl: np.ndarray | None, pmids: np.ndarray | None,
                spec: CellSpec, counts: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The long table: one row per cell × group × period that occurs (and, with all cells, one
    row of zeros per empty cell), and the cell (position in the cell keys) of each row."""
    n = len(cell_code)
    ng = len(gl) if gl is not None else 1  # group codes and labels come in pairs, as period ones
    npd = len(pl) if pl is not None else 1
    combo = cell_code.astype("int64") * (ng * npd)
    if gc is not None:
        combo = combo + gc.astype("int64") * npd
    if pc is not None:
        combo = combo + pc.astype("int64")
    used, inv = np.unique(combo, return_inverse=True) if n else (np.zeros(0, "int64"), np.zeros(0, "int64"))
    inv = inv.reshape(-1)
    cells_i = used // (ng * npd)
    data: dict[str, Any] = {"cell_id": np.asarray(cell_ids)[cells_i]}
    if by is not None:
        data[by] = np.asarray(gl, dtype=object)[(used // npd) % ng]
    if period is not None:
        data["period"] = np.asarray(pl, dtype=object)[used % npd]
        if period == "month" and spec.kind == "priogrid":
            data["month_id"] = np.asarray(pmids)[used % npd]
    data["count"] = np.bincount(inv, minlength=len(used)).astype("int64")
    data["fatalities"] = np.bincount(inv, weights=fat, minlength=len(used))
    if low is not None:
        data["fatalities_low"] = np.bincount(inv, weights=low, minlength=len(used))
        data["fatalities_high"] = np.bincount(inv, weights=high, minlength=len(used))
    data["area_km2"] = np.asarray(area)[cells_i]
    if plane_area is not None:
        data["plane_area_km2"] = np.asarray(plane_area)[cells_i]
    df = pd.DataFrame(data)
    row_cells = cells_i
    empty = np.flatnonzero(counts == 0)
    if len(empty):  # all-cells: one row of zeros per empty cell
        z: dict[str, Any] = {"cell_id": np.asarray(cell_ids)[empty]}
        for col in df.columns[1:]:
            if col in ("count", "fatalities", "fatalities_low", "fatalities_high"):
                z[col] = np.zeros(len(empty), dtype=df[col].dtype)
            elif col in ("area_km2", "plane_area_km2"):
                z[col] = np.asarray(area if col == "area_km2" else plane_area)[empty]
            elif col == "month_id":
                z[col] = np.full(len(empty), -1, dtype="int64")
            else:
                z[col] = np.full(len(empty), None, dtype=object)
        df = pd.concat([df, pd.DataFrame(z)], ignore_index=True)
        row_cells = np.concatenate([row_cells, empty])
    return df, row_cells


def _joined_ids(tag: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``f"{tag}_{a}_{b}"`` for integer arrays, built by Arrow (an object array of str)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(a) == 0:
        return np.zeros(0, dtype=object)
    joined = pc.binary_join_element_wise(pa.scalar(tag), pc.cast(pa.array(a), pa.string()),
                                         pc.cast(pa.array(b), pa.string()), "_")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def _cell_attributes(spec: CellSpec, keys: np.ndarray, cell_crs: CRS
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(cell_id values, ground area_km2, plane area km² or None) for integer keys (no polygons:
    :func:`_cell_polygons_of` builds those when someone asks for them)."""
    if spec.metric:
        assert spec.size_m is not None
        a, b = _unpack(keys)
        size = spec.size_m
        tag = f"{'sq' if spec.kind == 'square' else 'hex'}{size:g}m_{cell_crs.to_epsg() or 'crs'}"
        ids = _joined_ids(tag, a, b)
        if spec.kind == "square":
            plane = np.full(len(keys), size * size / 1e6)
            cx, cy = (a + 0.5) * size, (b + 0.5) * size
        else:
            plane = np.full(len(keys), SQRT3 / 2 * size * size / 1e6)
            cx, cy = _hex_centres(a, b, size)
        return ids, _ground_area_km2(plane, cx, cy, cell_crs), plane
    if spec.kind == "h3":
        from h3.api.basic_int import cell_area

        ints = keys.view("uint64").tolist()
        # h3's string id is the index in lower-case hex (h3.int_to_str)
        ids = np.array([format(c, "x") for c in ints], dtype=object)
        area = np.fromiter((cell_area(c, unit="km^2") for c in ints), dtype="float64", count=len(ints))
        return ids, area, None
    row = (keys - 1) // 720 + 1
    south = (row - 1) * 0.5 - 90.0
    area = _ellipsoid_band_area_km2(south, south + 0.5, 0.5)
    return keys.astype("int64"), area, None


def _cell_polygons_of(spec: CellSpec, keys: np.ndarray) -> np.ndarray:
    """The polygons of cells given by integer keys (square / hex ones in their UTM CRS)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=object)
    if spec.metric:
        assert spec.size_m is not None
        a, b = _unpack(keys)
        return _square_polygons(a, b, spec.size_m) if spec.kind == "square" else _hex_polygons(a, b, spec.size_m)
    if spec.kind == "h3":
        return _h3_polygons(keys)
    return priogrid_cell(keys)


#: from this many cells, the areal scale factor is interpolated (bilinear) between exactly
#: computed nodes, AREA_NODES a side, over the cells' extent (relative error < 1e-6 over 1000 km)
AREA_LATTICE_FROM = 10_000
AREA_NODES = 96


def _ground_area_km2(plane: np.ndarray, cx: np.ndarray, cy: np.ndarray, cell_crs: CRS) -> np.ndarray:
    """Ground (ellipsoid) area of projected cells: plane area / the areal scale factor at the
    centre (PROJ's ``proj_factors``); its variation across a 5 km cell changes the answer by
    less than 1e-7.  Many cells: the factor is interpolated between exact lattice nodes."""
    if len(plane) == 0:
        return plane.astype("float64")
    if len(plane) < AREA_LATTICE_FROM:
        return plane / _areal_scale(cx, cy, cell_crs)
    gx = np.linspace(cx.min(), cx.max(), AREA_NODES)
    gy = np.linspace(cy.min(), cy.max(), AREA_NODES)
    mx, my = np.meshgrid(gx, gy)
    nodes = _areal_scale(mx.ravel(), my.ravel(), cell_crs).reshape(AREA_NODES, AREA_NODES)
    fx = np.clip((cx - gx[0]) / max(gx[-1] - gx[0], 1e-9) * (AREA_NODES - 1), 0, AREA_NODES - 1)
    fy = np.clip((cy - gy[0]) / max(gy[-1] - gy[0], 1e-9) * (AREA_NODES - 1), 0, AREA_NODES - 1)
    i, j = np.minimum(fx.astype("int64"), AREA_NODES - 2), np.minimum(fy.astype("int64"), AREA_NODES - 2)
    tx, ty = fx - i, fy - j
    scale = ((1 - tx) * (1 - ty) * nodes[j, i] + tx * (1 - ty) * nodes[j, i + 1]
             + (1 - tx) * ty * nodes[j + 1, i] + tx * ty * nodes[j + 1, i + 1])
    return plane / scale


def _areal_scale(x: np.ndarray, y: np.ndarray, cell_crs: CRS) -> np.ndarray:
    """PROJ's areal scale factor of ``cell_crs`` at projected points."""
    from pyproj import Proj

    lon, lat = transform_xy(x, y, cell_crs, WGS84)
    scale = np.asarray(Proj(cell_crs).get_factors(lon, lat, errcheck=False).areal_scale, dtype="float64")
    if not np.isfinite(scale).all():  # pragma: no cover - a CRS PROJ cannot differentiate
        raise InputError(f"cannot measure the ground area of cells in {cell_crs.to_string()}",
                         fix="use the UTM zone of the data (leave --crs out)")
    return scale


def _metadata(spec: CellSpec, cell_crs: CRS, **options: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "cells": spec.label,
        "cell_kind": spec.kind,
        "crs": cell_crs.to_string(),
        "crs_name": cell_crs.name,
        "written_crs_note": "GeoJSON output is reprojected to EPSG:4326 (RFC 7946); cells are exact in 'crs'",
        "fatalities": "sum of fatalities (UCDP: best); fatalities_low/high sum UCDP low/high",
        "area_km2": "area on the ground (WGS84 ellipsoid); square / hex cells also have "
                    "plane_area_km2, the area on the projected plane of 'crs'",
        "imprecise_rule": "geo_precision >= 3 (ACLED geo_precision 3, UCDP where_prec >= 3)",
    }
    if spec.kind == "square":
        meta.update(size_m=spec.size_m, origin=[0.0, 0.0],
                    plane_area_km2=spec.size_m**2 / 1e6,  # type: ignore[operator]
                    alignment="cell (i, j) = [i*size, (i+1)*size) x [j*size, (j+1)*size) in 'crs'",
                    edge_rule="half-open: a point on a vertical edge belongs to the cell east of it, "
                              "on a horizontal edge to the cell north of it")
    elif spec.kind == "hex":
        meta.update(size_m=spec.size_m, origin=[0.0, 0.0], orientation="pointy-top",
                    size_meaning="distance between opposite edges (flat-to-flat width)",
                    plane_area_km2=SQRT3 / 2 * spec.size_m**2 / 1e6,  # type: ignore[operator]
                    alignment="hexagon (q=0, r=0) centred on (0, 0) of 'crs'; centre x = w*(q + r/2), y = w*sqrt(3)/2*r",
                    edge_rule="a point on an edge or vertex belongs to the cell whose centre is furthest east")
    elif spec.kind == "h3":
        meta.update(h3_resolution=spec.resolution, edge_rule="h3.latlng_to_cell")
    else:
        meta.update(cell_degrees=0.5, gid="(row-1)*720 + col; row = floor((lat+90)*2)+1, col = floor((lon+180)*2)+1",
                    month_id="ViEWS: 1 = January 1980",
                    edge_rule="half-open [west, west+0.5) x [south, south+0.5); lon 180 / lat 90 closed")
    meta.update({k: v for k, v in options.items()})
    return meta


# --------------------------------------------------------------------------------------------
# all cells over an extent


def _extent_geoseries(extent: Any) -> gpd.GeoSeries:
    if isinstance(extent, gpd.GeoDataFrame):
        require_crs(extent, "extent")
        return extent.geometry
    if isinstance(extent, gpd.GeoSeries):
        if extent.crs is None:
            from .errors import CRSError

            raise CRSError("extent has no CRS; fix: set one with GeoSeries.set_crs(...)")
        return extent
    raise InputError("extent must be a GeoDataFrame or GeoSeries (a polygon layer)")


def _extent_keys(spec: CellSpec, cell_crs: CRS, extent: Any, prep: PreparedPoints) -> np.ndarray:
    """Integer keys of every cell over the extent (or over the counted incidents' bbox)."""
    if extent is not None:
        gs = _extent_geoseries(extent)
        gs = gs[~(gs.is_empty | gs.isna())]
        if len(gs) == 0:
            raise InputError("the extent layer has no geometry")
        area = shapely.union_all(gs.to_crs(cell_crs).values)
    else:
        if len(prep.lon) == 0:
            return np.zeros(0, dtype="int64")
        if spec.metric:
            tr = Transformer.from_crs(WGS84, cell_crs, always_xy=True)
            x, y = tr.transform(prep.lon, prep.lat)
            area = shapely.box(np.min(x), np.min(y), np.max(x), np.max(y))
        else:
            area = shapely.box(prep.lon.min(), prep.lat.min(), prep.lon.max(), prep.lat.max())
    xmin, ymin, xmax, ymax = shapely.bounds(area)
    if spec.kind == "h3":
        import h3

        gj = shapely.geometry.mapping(area if area.area > 0 else area.buffer(1e-9))
        # estimate before asking h3 for the cells: it would build all of them in memory
        geod_area_km2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(area)[0]) / 1e6
        _check_cell_count(int(geod_area_km2 / h3.average_hexagon_area(spec.resolution, unit="km^2")))
        cells = h3.geo_to_cells(gj, spec.resolution)
        return np.array(sorted(h3.str_to_int(c) for c in cells), dtype="uint64").view("int64")
    if spec.kind == "priogrid":
        r0, c0 = priogrid_row_col(np.array([xmin]), np.array([ymin]))
        r1, c1 = priogrid_row_col(np.array([xmax]), np.array([ymax]))
        rows, cols = np.meshgrid(np.arange(r0[0], r1[0] + 1), np.arange(c0[0], c1[0] + 1), indexing="ij")
        gids = ((rows - 1) * 720 + cols).ravel()
        _check_cell_count(len(gids))
        keep = shapely.intersects(priogrid_cell(gids), area) if extent is not None else np.ones(len(gids), bool)
        return np.sort(gids[keep])
    size = spec.size_m
    assert size is not None
    if spec.kind == "square":
        i0, j0 = math.floor(xmin / size), math.floor(ymin / size)
        i1, j1 = math.floor(xmax / size), math.floor(ymax / size)
        _check_cell_count((i1 - i0 + 1) * (j1 - j0 + 1))
        ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
        a, b = ii.ravel(), jj.ravel()
        polys = _square_polygons(a, b, size)
    else:
        radius = size / SQRT3
        r0 = math.floor(ymin / (1.5 * radius)) - 1
        r1 = math.ceil(ymax / (1.5 * radius)) + 1
        rr = np.arange(r0, r1 + 1)
        q0 = math.floor(xmin / size - rr.max() / 2) - 1
        q1 = math.ceil(xmax / size - rr.min() / 2) + 1
        _check_cell_count((q1 - q0 + 1) * len(rr))
        qq, rr2 = np.meshgrid(np.arange(q0, q1 + 1), rr, indexing="ij")
        a, b = qq.ravel(), rr2.ravel()
        polys = _hex_polygons(a, b, size)
    shapely.prepare(area)
    keep = shapely.intersects(polys, area)
    if extent is None:  # bbox: drop cells touching it only along an edge
        keep &= ~shapely.touches(polys, area)
    return np.sort(_pack(a[keep], b[keep]))


def _check_cell_count(n: int) -> None:
    if n > MAX_CELLS:
        raise SizeLimitError(f"{n:,} cells over the extent (limit {MAX_CELLS:,})",
                             fix="use larger cells or a smaller --extent")
