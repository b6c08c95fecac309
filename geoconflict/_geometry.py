"""Shared geometry helpers: polygon repair (admin, control, zones layers) and raster
pre-classification of points (the join's point locator, H3 cells).

Every polygon layer read (admin units, control zones, areas, extents) goes through
:func:`repair_polygons` (or :func:`drop_empty_parts` first of all) before any other GEOS
operation: GEOS crashes the process on an empty part (``MULTIPOLYGON(EMPTY, ((...)))``) or an
empty ring in some operations (``segmentize`` exits with a segmentation fault).
:func:`check_coordinates` refuses coordinates that cannot be on the Earth (longitude/latitude
outside [-180, 180] x [-90, 90] in a geographic CRS, farther than 1e8 m in a projected one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from .errors import LayerError

log = logging.getLogger(__name__)

POLYGON_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon
EMPTY_PARTS = "empty part(s) or ring(s) dropped"


def drop_empty_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polygons and multipolygons without their empty parts and empty rings.

    Returns the cleaned array (a copy when anything changed) and the indexes changed.  Only
    safe GEOS calls are made on the input (type, emptiness, parts, rings); a geometry whose
    every part is empty becomes an empty polygon (left for the caller to refuse).
    """
    geoms = np.asarray(geoms, dtype=object)
    cand = np.flatnonzero(np.isin(shapely.get_type_id(geoms), POLYGON_TYPES))
    if not len(cand):
        return geoms, cand
    sub = geoms[cand]
    parts, pidx = shapely.get_parts(sub, return_index=True)
    bad = np.zeros(len(cand), dtype=bool)
    # an empty part of a multipolygon (an empty polygon on its own is just empty)
    multi = shapely.get_type_id(sub) == 6
    bad[pidx[shapely.is_empty(parts) & multi[pidx]]] = True
    # an empty ring (a hole with no points) in any part
    rings, ridx = shapely.get_rings(parts, return_index=True)
    bad[pidx[ridx[shapely.is_empty(rings)]]] = True
    changed = cand[bad]
    if not len(changed):
        return geoms, changed
    out = geoms.copy()
    for i in changed:  # only the damaged features: few
        polys = []
        for part in shapely.get_parts(out[i]):
            if shapely.is_empty(part):
                continue
            holes = [r for r in shapely.get_interior_ring(part, range(shapely.get_num_interior_rings(part)))
                     if not shapely.is_empty(r)]
            polys.append(shapely.Polygon(shapely.get_exterior_ring(part), holes))
        if not polys:
            out[i] = shapely.Polygon()
        elif shapely.get_type_id(out[i]) == 6:
            out[i] = shapely.MultiPolygon(polys)
        else:
            out[i] = polys[0]
    return out, changed


#: no projected coordinate lies this far from the origin (the Earth's circumference is 4e7 m)
MAX_PROJECTED_M = 1e8


def check_coordinates(geoms: np.ndarray, crs: Any, *, what: str, path: str | None = None,
                      features: Sequence[int] | np.ndarray | None = None) -> None:
    """Refuse coordinates that cannot be on the Earth, naming the file and the first feature:
    outside longitude [-180, 180] / latitude [-90, 90] in a geographic CRS, farther than
    :data:`MAX_PROJECTED_M` from the origin in a projected one, or not finite in either."""
    if crs is None:
        return
    geoms = np.asarray(geoms, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return
    b = shapely.bounds(geoms[present])
    geographic = bool(getattr(crs, "is_geographic", False))
    if geographic:
        limits = np.array([-180.0, -90.0, 180.0, 90.0])
    else:
        try:
            metres = float(crs.axis_info[0].unit_conversion_factor) if crs.axis_info else 1.0
        except (AttributeError, IndexError, TypeError, ValueError):
            metres = 1.0
        far = MAX_PROJECTED_M / (metres if metres > 0 else 1.0)
        limits = np.array([-far, -far, far, far])
    with np.errstate(invalid="ignore"):
        bad = (~np.isfinite(b).all(axis=1) | (b[:, 0] < limits[0]) | (b[:, 2] > limits[2])
               | (b[:, 1] < limits[1]) | (b[:, 3] > limits[3]))
    # a NaN vertex can hide from the bounds (GEOS's envelope skips it): look at every coordinate
    xy, owner = shapely.get_coordinates(geoms[present], return_index=True)
    nonfinite = ~np.isfinite(xy).all(axis=1)
    if nonfinite.any():
        bad[np.unique(owner[nonfinite])] = True
    if not bad.any():
        return
    k = int(np.flatnonzero(bad)[0])
    i = int(np.flatnonzero(present)[k])
    feature = int(features[i]) if features is not None else i + 1
    x0, y0, x1, y1 = (float(v) for v in b[k])
    if geographic:
        raise LayerError(
            f"coordinates out of range for longitude/latitude ({crs.to_string()}): longitude "
            f"{x0:g}..{x1:g}, latitude {y0:g}..{y1:g} ({int(bad.sum())} feature(s) in all)",
            path=path, feature=feature,
            fix="longitude must be within -180..180 and latitude within -90..90; swapped columns or "
                "a projected layer labelled EPSG:4326? fix the coordinates or the layer's CRS",
        )
    raise LayerError(
        f"coordinates off the Earth for {crs.to_string()}: x {x0:g}..{x1:g}, y {y0:g}..{y1:g} "
        f"({int(bad.sum())} feature(s) in all)",
        path=path, feature=feature,
        fix=f"coordinates must be finite and within {MAX_PROJECTED_M:g} m of the origin; fix the "
            "coordinates, or the layer's CRS if it is wrong",
    )


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep the polygonal part of each geometry (a repair or an intersection may add lines or
    points); a geometry with no polygonal part becomes an empty polygon."""
    out = np.asarray(geoms, dtype=object).copy()
    mixed = ~np.isin(shapely.get_type_id(out), POLYGON_TYPES) & ~shapely.is_empty(out) & ~shapely.is_missing(out)
    for i in np.flatnonzero(mixed):  # only geometry collections: few, not one per incident
        parts = [p for p in shapely.get_parts(out[i]) if shapely.get_type_id(p) in POLYGON_TYPES]
        out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def repair_polygons(geoms: np.ndarray, where: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Drop empty parts and rings from every polygon (:func:`drop_empty_parts`, before any
    other GEOS call), then repair the invalid polygons among ``geoms`` (only where ``where`` is
    true) with ``make_valid``, keeping their polygonal part.

    Returns the repaired array (a copy when anything changed), the indexes changed (sorted) and
    what was done to each (``"invalid geometry (<reason>); repaired with make_valid"`` and/or
    :data:`EMPTY_PARTS`), for the caller to report feature by feature (:func:`log_repairs`).
    """
    geoms, emptied = drop_empty_parts(geoms)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    candidates = present if where is None else present & where
    invalid = np.flatnonzero(candidates & ~shapely.is_valid(geoms))
    done: dict[int, list[str]] = {int(i): [EMPTY_PARTS] for i in emptied}
    if len(invalid):
        reasons = [str(r) for r in shapely.is_valid_reason(geoms[invalid])]
        geoms = geoms.copy()
        geoms[invalid] = polygonal(shapely.make_valid(geoms[invalid]))
        for i, why in zip(invalid, reasons, strict=True):
            done.setdefault(int(i), []).insert(0, f"invalid geometry ({why}); repaired with make_valid")
    idx = np.array(sorted(done), dtype=np.int64)
    return geoms, idx, ["; ".join(done[int(i)]) for i in idx]


def log_repairs(what: str, idx: np.ndarray, reasons: list[str], *, limit: int = 10) -> None:
    """One warning naming the features :func:`repair_polygons` changed (the first ``limit``)."""
    if not len(idx):
        return
    detail = "; ".join(f"feature {int(i) + 1}: {r}" for i, r in zip(idx[:limit], reasons[:limit], strict=True))
    log.warning("%s: %d polygon(s) repaired (%s%s)", what, len(idx), detail,
                ", ..." if len(idx) > limit else "")


def checked_polygons(gdf: Any, *, what: str, path: str | None = None) -> Any:
    """A polygon layer made safe for GEOS, the one way every reader does it: a CRS, coordinates
    on the Earth (:func:`check_coordinates`), empty parts dropped and invalid polygons repaired
    (:func:`repair_polygons`, each change logged).  Returns a GeoDataFrame (a copy if changed)."""
    import geopandas as gpd

    if gdf.crs is None:
        raise LayerError(f"the {what} has no CRS", path=path,
                         fix="add a .prj / CRS to the file, or set one with GeoDataFrame.set_crs(...)")
    geoms = gdf.geometry.to_numpy()
    check_coordinates(geoms, gdf.crs, what=what, path=path)
    fixed, idx, reasons = repair_polygons(geoms)
    log_repairs(path or what, idx, reasons)
    if not len(idx):
        return gdf
    return gdf.set_geometry(gpd.GeoSeries(fixed, index=gdf.index, crs=gdf.crs))


def dilate(mask: np.ndarray) -> np.ndarray:
    """A boolean raster grown by one pixel in all 8 directions (``scipy.ndimage.binary_dilation``
    with a 3 x 3 square, in two separable passes of array ORs: several times faster)."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    rows = out.copy()
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out


def segment_ends(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end point ((n, 2) arrays) of every segment of ``paths`` (LineStrings or
    LinearRings, single-part), in their order, and the position in ``paths`` of the path each
    segment belongs to."""
    coords, ix = shapely.get_coordinates(np.asarray(paths, dtype=object), return_index=True)
    same = ix[1:] == ix[:-1]  # consecutive vertices of one path
    return coords[:-1][same], coords[1:][same], ix[:-1][same]


def geojson_like(geoms: np.ndarray) -> list[dict[str, Any] | None]:
    """GeoJSON-like dicts of (multi)polygons and (multi)linestrings, built from whole coordinate
    arrays (``__geo_interface__`` walks every coordinate in Python: 0.15 s on 272 sub-districts).
    Other geometry types (and missing or empty ones) come back as ``None``."""
    geoms = np.asarray(geoms, dtype=object)
    out: list[dict[str, Any] | None] = [None] * len(geoms)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    types = np.full(len(geoms), -1)
    types[ok] = shapely.get_type_id(geoms[ok])
    parts, owner = shapely.get_parts(geoms[ok], return_index=True)
    owner = np.flatnonzero(ok)[owner]
    ptypes = shapely.get_type_id(parts)
    body: list[list[Any]] = [[] for _ in range(len(parts))]
    poly = np.flatnonzero(ptypes == 3)
    if len(poly):
        rings, ring_of = shapely.get_rings(parts[poly], return_index=True)
        coords, c_of = shapely.get_coordinates(rings, return_index=True)
        for r, pts in zip(ring_of, np.split(coords, np.flatnonzero(np.diff(c_of)) + 1), strict=True):
            body[poly[r]].append(pts.tolist())
    line = np.flatnonzero(ptypes == 1)
    if len(line):
        coords, c_of = shapely.get_coordinates(parts[line], return_index=True)
        for k, pts in zip(line[np.unique(c_of)], np.split(coords, np.flatnonzero(np.diff(c_of)) + 1), strict=True):
            body[k] = pts.tolist()
    grouped: list[list[Any]] = [[] for _ in range(len(geoms))]
    for k, g in enumerate(owner):
        grouped[g].append(body[k])
    kinds = {3: "Polygon", 6: "MultiPolygon", 1: "LineString", 5: "MultiLineString"}
    for g, t in enumerate(types):
        if t in (3, 1):
            out[g] = {"type": kinds[t], "coordinates": grouped[g][0]}
        elif t in (6, 5):
            out[g] = {"type": kinds[t], "coordinates": grouped[g]}
    return out


class LabelRaster:
    """Polygons drawn on a north-up raster, to classify many points in O(1) each.

    ``shapes`` are ``(geometry, label)`` pairs (labels >= 1; a later shape overwrites an earlier
    one), ``outlines`` their boundaries (shapely geometries or GeoJSON-like dicts).  A pixel
    takes the label of the shape holding its centre; every pixel an outline touches, and its 8
    neighbours, is unsure, so a point in a sure pixel is more than a pixel from every outline.
    """

    def __init__(self, shapes: Any, outlines: Any, *, west: float, north: float, pixel: float,
                 nrow: int, ncol: int) -> None:
        from rasterio import features
        from rasterio.transform import Affine

        transform = Affine(pixel, 0, west, 0, -pixel, north)
        shapes = _as_geojson(list(shapes))
        outlines = _as_geojson([(g, 1) for g in outlines])
        labels = features.rasterize(shapes, out_shape=(nrow, ncol), transform=transform, fill=0,
                                    dtype="int32")
        edges = features.rasterize(outlines, out_shape=(nrow, ncol),
                                   transform=transform, fill=0, dtype="uint8", all_touched=True)
        labels[dilate(edges.astype(bool))] = -1
        self.labels, self.west, self.north, self.pixel = labels, west, north, pixel

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per point: its pixel's label (>= 1), 0 in no shape, -1 unsure, -2 off the raster
        (or not finite)."""
        ok = np.isfinite(x) & np.isfinite(y)
        col = np.floor((np.where(ok, x, self.west) - self.west) / self.pixel).astype(np.int64)
        row = np.floor((self.north - np.where(ok, y, self.north)) / self.pixel).astype(np.int64)
        nrow, ncol = self.labels.shape
        inside = ok & (col >= 0) & (row >= 0) & (col < ncol) & (row < nrow)
        out = np.full(len(x), -2, dtype=np.int64)
        out[inside] = self.labels[row[inside], col[inside]]
        return out


def _as_geojson(pairs: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """(shape, value) pairs with shapely shapes turned into GeoJSON-like dicts in one pass
    (dicts and other shapes are passed through as they are)."""
    at = [k for k, (g, _) in enumerate(pairs) if isinstance(g, shapely.Geometry)]
    if not at:
        return pairs
    dicts = geojson_like(np.array([pairs[k][0] for k in at], dtype=object))
    out = list(pairs)
    for k, d in zip(at, dicts, strict=True):
        if d is not None:
            out[k] = (d, pairs[k][1])
    return out
