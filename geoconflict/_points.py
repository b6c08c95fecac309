"""Incident points made ready for cell counts and density surfaces: shared by
:mod:`geoconflict.grids`, :mod:`geoconflict.kde` and :mod:`geoconflict.engine_dask`.

:func:`prepare_points` takes the canonical incident table to lon/lat arrays of the rows that can
be counted, and a :class:`GridReport` saying why each other row was left out (no geometry, not a
point, out of range, imprecise, no date).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .crs import WGS84, metric_crs_for, require_crs
from .errors import SchemaError

__all__ = [
    "IMPRECISE_FROM",
    "THREADS_FROM",
    "GridReport",
    "PreparedPoints",
    "metric_crs_at",
    "numeric_column",
    "point_xy",
    "prepare_points",
]

#: geo_precision at or above which a location is imprecise (both ACLED and UCDP, harmonised)
IMPRECISE_FROM = 3
#: points from which x and y are read in two threads
THREADS_FROM = 200_000


@dataclass
class GridReport:
    """What happened to every input row."""

    rows_in: int = 0
    counted: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    cells: int = 0
    nonempty_cells: int = 0
    cells_label: str = ""
    crs: str = ""
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        total = self.counted + sum(self.excluded.values())
        if total != self.rows_in:  # pragma: no cover - an internal bug
            raise AssertionError(f"grid counts not conserved: {total} != {self.rows_in}")

    def lines(self) -> list[str]:
        out = [
            f"{self.cells_label}: {self.counted:,} of {self.rows_in:,} incidents counted in "
            f"{self.nonempty_cells:,} cells ({self.cells:,} cells written; CRS {self.crs})"
        ]
        for reason, n in sorted(self.excluded.items()):
            if n:
                out.append(f"  excluded {n:,}: {reason.replace('_', ' ')}")
        out.extend(f"  {note}" for note in self.notes)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "counted": self.counted,
            "excluded": dict(self.excluded),
            "cells": self.cells,
            "nonempty_cells": self.nonempty_cells,
            "notes": list(self.notes),
        }




@dataclass
class PreparedPoints:
    source: gpd.GeoDataFrame  # the input, EPSG:4326
    idx: np.ndarray | None  # positions of the kept rows (None: all kept)
    lon: np.ndarray
    lat: np.ndarray
    report: GridReport

    @property
    def columns(self) -> pd.Index:
        return self.source.columns

    def col(self, name: str) -> pd.Series:
        """A column's values for the kept rows (no copy of the whole table)."""
        s = self.source[name]
        return s if self.idx is None else s.iloc[self.idx]

    def metric_crs(self) -> CRS:
        """UTM zone of the kept points' extent (from their lon/lat bounds)."""
        # the centre rounded to 0.01° (the zone only changes at 6° boundaries), so repeated
        # calls on the same data hit the cache instead of the PROJ database
        return metric_crs_at(
            round((float(self.lon.min()) + float(self.lon.max())) / 2, 2),
            round((float(self.lat.min()) + float(self.lat.max())) / 2, 2),
        )


@functools.lru_cache(maxsize=64)
def metric_crs_at(lon: float, lat: float) -> CRS:
    """:func:`geoconflict.crs.metric_crs_for` of an extent centred at (lon, lat), cached."""
    return metric_crs_for(gpd.GeoDataFrame(geometry=shapely.points([lon], [lat]), crs=WGS84))


def point_xy(geom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of point geometries (NaN for missing and non-point ones); for large inputs in two
    threads (GEOS's part of the work runs without the GIL: about 20% faster on two cores)."""
    if len(geom) < THREADS_FROM:
        return shapely.get_x(geom), shapely.get_y(geom)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        fx, fy = pool.submit(shapely.get_x, geom), pool.submit(shapely.get_y, geom)
        return fx.result(), fy.result()


def prepare_points(
    incidents: gpd.GeoDataFrame,
    *,
    include_imprecise: bool,
    need_date: bool,
    what: str = "incidents",
) -> PreparedPoints:
    if not isinstance(incidents, gpd.GeoDataFrame):
        raise SchemaError(f"{what} must be a GeoDataFrame (read it with geoconflict.incidents.read_incidents)")
    require_crs(incidents, what)
    gdf = incidents if incidents.crs.equals(WGS84) else incidents.to_crs(WGS84)
    report = GridReport(rows_in=len(gdf))
    geom = gdf.geometry.values
    keep = np.ones(len(gdf), dtype=bool)

    def drop(mask: np.ndarray, reason: str) -> None:
        mask = mask & keep
        n = int(mask.sum())
        if n:
            report.excluded[reason] = report.excluded.get(reason, 0) + n
            keep[mask] = False

    try:  # the usual case: one pass each (NaN for missing and non-point geometry)
        x, y = point_xy(np.asarray(geom))
    except shapely.errors.GEOSException:  # GEOS refuses the x of an empty point
        pts = np.where(~shapely.is_empty(geom), geom, None)
        x, y = shapely.get_x(pts), shapely.get_y(pts)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():  # name the reason: missing / not a point / empty or not finite
        types = np.zeros(len(geom), dtype=np.int64)
        types[bad] = shapely.get_type_id(geom[bad])  # -1 missing, 0 point
        drop(types == -1, "no_geometry")
        drop(types > 0, "not_a_point")
        drop(bad, "no_geometry")
    drop((np.abs(x) > 180) | (np.abs(y) > 90), "coordinate_out_of_range")
    if "geo_precision" in gdf.columns:
        prec = pd.to_numeric(gdf["geo_precision"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        imprecise = prec >= IMPRECISE_FROM
        if include_imprecise:
            n = int((imprecise & keep).sum())
            if n:
                report.notes.append(f"{n:,} imprecise locations (geo_precision ≥ 3) kept (--include-imprecise)")
        else:
            drop(imprecise, "imprecise_location")
    else:
        report.notes.append("no geo_precision column: every location taken as precise")
    if need_date:
        if "date" not in gdf.columns:
            raise SchemaError(f"{what} have no 'date' column; a --period needs one", column="date")
        dates = pd.to_datetime(gdf["date"], errors="coerce")
        drop(dates.isna().to_numpy(), "missing_date")
    report.counted = int(keep.sum())
    if keep.all():
        return PreparedPoints(source=gdf, idx=None, lon=x, lat=y, report=report)
    return PreparedPoints(source=gdf, idx=np.flatnonzero(keep), lon=x[keep], lat=y[keep], report=report)


def numeric_column(prep: PreparedPoints, col: str, report: GridReport) -> np.ndarray:
    """A column as float64 for the kept rows, 0 where it is not a number (counted in a note)."""
    v = pd.to_numeric(prep.source[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if prep.idx is not None:
        v = v[prep.idx]  # a numpy take, not a pandas one
    missing = np.isnan(v)
    bad = int(missing.sum())
    if bad:
        report.notes.append(f"{bad:,} rows without a number in '{col}' add 0 to its sums")
        v = np.where(missing, 0.0, v)
    return v
