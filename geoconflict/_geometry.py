"""Polygon repair shared by every module that reads polygon layers (admin, control, zones)."""

from __future__ import annotations

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
