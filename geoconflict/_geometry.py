"""Shared geometry helpers: polygon repair (admin, control, zones layers) and raster
pre-classification of points (the join's point locator, H3 cells)."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

POLYGON_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon


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
    """Repair the invalid polygons among ``geoms`` (only where ``where`` is true) with
    ``make_valid``, keeping their polygonal part.

    Returns the repaired array (a copy when anything changed), the indexes repaired and the
    reason each was invalid, for the caller to report feature by feature.
    """
    geoms = np.asarray(geoms, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    candidates = present if where is None else present & where
    invalid = np.flatnonzero(candidates & ~shapely.is_valid(geoms))
    if not len(invalid):
        return geoms, invalid, []
    reasons = [str(r) for r in shapely.is_valid_reason(geoms[invalid])]
    fixed = geoms.copy()
    fixed[invalid] = polygonal(shapely.make_valid(geoms[invalid]))
    return fixed, invalid, reasons


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
        labels = features.rasterize(shapes, out_shape=(nrow, ncol), transform=transform, fill=0,
                                    dtype="int32")
        edges = features.rasterize(((g, 1) for g in outlines), out_shape=(nrow, ncol),
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
