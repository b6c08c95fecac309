"""Incidents to admin units, control zones in force on the event date, front lines and areas.

Every function keeps every incident, in order, and adds columns:

* :func:`join_admin`: the admin layer's attributes, ``admin_join`` (``within`` | ``nearest`` |
  ``none``) and ``admin_distance_m``.  A point on a shared border gets one answer: the
  lowest-index polygon it *intersects* (the answer of QGIS "join attributes by location", first
  match).  Outside every polygon but within ``snap_distance_m``: the nearest polygon (ties: lowest
  index), distance in metres in the data's UTM zone.  Where the source's own admin names (ACLED
  ``admin1..3``, UCDP ``adm_1``/``adm_2``) disagree with the spatial answer, ``flags`` gets
  ``admin_name_mismatch:<column>`` (transliteration-tolerant comparison, :mod:`geoconflict.names`).
* :func:`join_control`: ``controller``, ``control_valid_from``, ``control_snapshot`` and
  ``control_status`` (``in_force`` | ``uncertain`` | ``none``).
* :func:`join_front_line`: ``front_line_distance_m`` and ``front_line_side``.
* :func:`join_areas`: ``area``.

Point-in-polygon is exact and fast: polygons are rasterised once on a fine grid; a point in a cell
no boundary touches takes the cell's answer, a point near a boundary is tested exactly against the
prepared polygon (see :class:`PointLocator`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from . import control as _control
from ._geometry import LabelRaster, check_coordinates, checked_polygons, segment_ends
from ._nearest import SegmentIndex, method_for
from ._snapshots import snapshot_positions
from .crs import align, metric_crs_for, require_crs, transform_xy
from .errors import InputError, LayerError
from .io import read_layer, source_of

log = logging.getLogger(__name__)

__all__ = [
    "JoinReport",
    "PointLocator",
    "join_admin",
    "join_control",
    "join_front_line",
    "join_areas",
    "join_all",
    "read_front_line",
]

ADMIN_STATUS = ("within", "nearest", "none")
CONTROL_STATUS = ("in_force", "uncertain", "none")
#: incident column -> admin level it names
SOURCE_ADMIN_COLUMNS = {"admin1": 1, "admin2": 2, "admin3": 3, "adm_1": 1, "adm_2": 2}

Layer: TypeAlias = str | Path | gpd.GeoDataFrame


# --------------------------------------------------------------------------------------------
# point location


#: from this many points the raster pre-classification pays for itself (below it the exact test
#: of every point, on the x-sorted points and prepared polygons, is faster: 272 sub-districts,
#: 200k points 0.13 s against 0.32 s; 2.5M points 4.1 s against 1.2 s)
RASTER_FROM = 300_000


class PointLocator:
    """Which polygon (lowest index) each point intersects; ``-1`` for none.

    A raster pre-classification answers points far from every boundary in O(1); points in cells
    touched by a boundary (dilated by one cell) are tested exactly with prepared polygons, so
    the answer is identical to ``shapely.intersects`` / ``geopandas.sjoin(predicate="intersects")``.
    """

    def __init__(self, geoms: Any, *, max_cells: int | None = None) -> None:
        self.geoms = np.asarray(geoms, dtype=object)
        self.n = len(self.geoms)
        valid = ~(shapely.is_missing(self.geoms) | shapely.is_empty(self.geoms))
        self._valid = valid
        self._bounds = np.zeros((0, 4))
        self._grid: LabelRaster | None = None
        self._max_cells = max_cells
        self._prepared = False

    # raster pre-classification, built on first use with many points
    def _build_grid(self, n_points: int = 1_000_000) -> None:
        g = self.geoms[self._valid]
        x0, y0, x1, y1 = shapely.total_bounds(g)
        w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
        # about two cells per point to classify (building costs in proportion to the cells)
        cells = self._max_cells or int(np.clip(2 * n_points, 1 << 16, 4_000_000))
        cell = float(np.sqrt(w * h / cells))
        cell = max(cell, max(w, h) / 8192)
        idx = np.flatnonzero(self._valid)
        # later shapes overwrite earlier ones: draw in reverse so the lowest index wins
        self._grid = LabelRaster(
            ((self.geoms[i], int(i) + 1) for i in idx[::-1]),
            (b for b in shapely.boundary(g) if not b.is_empty),
            west=x0 - cell, north=y1 + cell, pixel=cell,
            nrow=int(np.ceil(h / cell)) + 2, ncol=int(np.ceil(w / cell)) + 2,
        )

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Exact lowest-index intersecting polygon for each point (finite coordinates): for each
        polygon in index order, the points in its bounding box (found on the points sorted by x,
        no point geometries built) not yet placed are tested against the prepared polygon."""
        out = np.full(len(x), -1, dtype=np.int64)
        if len(x) == 0:
            return out
        if not self._prepared:
            shapely.prepare(self.geoms[self._valid])
            self._bounds = shapely.bounds(self.geoms)
            self._prepared = True
        order = np.argsort(x, kind="stable")
        xs = x[order]
        for gi in np.flatnonzero(self._valid):  # a loop over polygons, not incidents
            bx0, by0, bx1, by1 = self._bounds[gi]
            lo, hi = np.searchsorted(xs, bx0, "left"), np.searchsorted(xs, bx1, "right")
            if lo == hi:
                continue
            cand = order[lo:hi]
            cy = y[cand]
            cand = cand[(cy >= by0) & (cy <= by1) & (out[cand] < 0)]  # the lowest index wins
            if len(cand):
                cand = cand[shapely.intersects_xy(self.geoms[gi], x[cand], y[cand])]
                out[cand] = gi
        return out

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.full(len(x), -1, dtype=np.int64)
        if self.n == 0 or not self._valid.any() or len(x) == 0:
            return out
        ok = np.isfinite(x) & np.isfinite(y)
        if len(x) < RASTER_FROM and self._grid is None:
            out[ok] = self._exact(x[ok], y[ok])
            return out
        if self._grid is None:
            self._build_grid(int(ok.sum()))
        assert self._grid is not None
        val = self._grid.lookup(x, y)  # label = index + 1; 0 none; -1 near a boundary; -2 outside
        out[:] = np.where(val >= 1, val - 1, -1)
        need = val == -1
        out[need] = self._exact(x[need], y[need])
        return out


def _xy(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    g = gdf.geometry.to_numpy()
    pts = np.where(shapely.get_type_id(g) == 0, g, None)  # points only; others get NaN
    return shapely.get_x(pts), shapely.get_y(pts)


class _Points:
    """What every join reads from the incidents, each computed once on first use: coordinates
    (from the geometry array), event days, the metric CRS and the coordinates in it.
    :func:`join_all` shares one between its joins (they add columns, never change the rows)."""

    def __init__(self, incidents: gpd.GeoDataFrame) -> None:
        self.incidents = incidents
        self._xy: tuple[np.ndarray, np.ndarray] | None = None
        self._day: np.ndarray | None = None
        self._crs: Any = None
        self._metric_xy: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        if self._xy is None:
            self._xy = _xy(self.incidents)
        return self._xy

    @property
    def day(self) -> np.ndarray:
        """The event day (``date`` floored), datetime64[ns]."""
        if self._day is None:
            self._day = pd.to_datetime(self.incidents["date"]).dt.floor("D").to_numpy("datetime64[ns]")
        return self._day

    @property
    def metric_crs(self) -> Any:
        """The incidents' UTM CRS (:func:`geoconflict.crs.metric_crs_for`)."""
        if self._crs is None:
            self._crs = metric_crs_for(self.incidents)
        return self._crs

    @property
    def metric_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """The coordinates in :attr:`metric_crs`."""
        if self._metric_xy is None:
            self._metric_xy = transform_xy(*self.xy, self.incidents.crs, self.metric_crs)
        return self._metric_xy


def _group_order(keys: np.ndarray, groups: int) -> np.ndarray:
    """Positions sorted by group (``keys`` in ``-1 .. groups - 1``), the original order kept
    within a group: a radix sort on 16-bit keys when they fit (numpy's stable sort of int64
    keys is a merge sort: 0.2 s for 2.5M incidents)."""
    if groups < np.iinfo(np.int16).max:
        keys = keys.astype(np.int16)
    return np.argsort(keys, kind="stable")


def _boundary_segments(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end point ((n, 2) arrays) of every boundary segment of the polygons, in polygon
    order, and the position of its polygon."""
    rings, of_poly = shapely.get_rings(polys, return_index=True)
    a, b, of_ring = segment_ends(rings)
    return a, b, of_poly[of_ring]


def _incident_points(incidents: gpd.GeoDataFrame) -> None:
    if not isinstance(incidents, gpd.GeoDataFrame):
        raise InputError("incidents must be a GeoDataFrame (read them with read_incidents)")
    require_crs(incidents, "incidents")


def _load(layer: Layer, what: str) -> gpd.GeoDataFrame:
    """A layer from a file or a frame, checked: admin units and areas are polygons, front lines
    are lines, and none may be empty (the message names the file and the feature)."""
    from .io import check_layer

    family = "line" if "front" in what else "polygon"
    if isinstance(layer, gpd.GeoDataFrame):
        gdf = check_layer(layer, None, what=what, geometry=family, allow_empty=False)
    else:
        gdf = read_layer(layer, what=what, geometry=family, allow_empty=False)
    check_coordinates(gdf.geometry.to_numpy(), gdf.crs, what=what, path=source_of(gdf))
    return gdf


def _load_polygons(layer: Layer, what: str) -> gpd.GeoDataFrame:
    """A polygon layer (admin units, areas) checked feature by feature: it must have features, a
    CRS, polygons and (in longitude/latitude) coordinates in range; empty parts are dropped and
    invalid polygons repaired with ``make_valid``, each change logged."""
    gdf = _load(layer, what)  # polygons, not empty (io.check_layer)
    path = source_of(gdf) or (None if isinstance(layer, gpd.GeoDataFrame) else str(layer))
    # a CRS, coordinates on the Earth, empty parts dropped and invalid polygons repaired (logged)
    return checked_polygons(gdf, what=what, path=path)


def _aligned(layer: gpd.GeoDataFrame, incidents: gpd.GeoDataFrame, what: str,
             notes: list[str] | None = None) -> gpd.GeoDataFrame:
    """The layer in the incidents' CRS; a mismatch is reprojected explicitly and noted."""
    require_crs(layer, what)
    if not layer.crs.equals(incidents.crs):
        msg = f"{what} reprojected from {layer.crs.to_string()} to the incidents' {incidents.crs.to_string()}"
        log.info(msg)
        if notes is not None:
            notes.append(msg)
        return align(layer, incidents, what)
    return layer


# --------------------------------------------------------------------------------------------
# admin


def _date_window(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """First and last possible day of each incident (``incidents.date_window``, floored to days)."""
    from .incidents import date_window

    start, end = date_window(df)
    return (start.dt.floor("D").to_numpy("datetime64[ns]"), end.dt.floor("D").to_numpy("datetime64[ns]"))


def _admin_level(col: str) -> int | None:
    m = re.match(r"^adm(?:in)?_?(\d)_?(?:en|name|name_en)?$", col.lower())
    if m and not col.lower().endswith("pcode"):
        return int(m.group(1))
    return None


def _name_columns(admin_cols: Sequence[str]) -> dict[int, str]:
    """Admin level -> the layer's English-name column (``ADM3_EN``, ``adm3_name``...)."""
    out: dict[int, str] = {}
    for c in admin_cols:
        lvl = _admin_level(c)
        low = c.lower()
        if lvl is not None and ("en" in low.split("_")[-1] or "name" in low):
            out.setdefault(lvl, c)
    return out


def _check_names(result: pd.DataFrame, name_cols: dict[int, str], matched: np.ndarray) -> pd.Series:
    """Flags for source admin names that disagree with the spatial answer."""
    from .names import same_place

    tokens = pd.Series("", index=result.index, dtype=object)
    for src, level in SOURCE_ADMIN_COLUMNS.items():
        if src not in result.columns or level not in name_cols:
            continue
        a = result[src].astype(object).where(result[src].notna(), "").astype(str).str.strip()
        b = result[name_cols[level]].astype(object).where(result[name_cols[level]].notna(), "").astype(str)
        test = matched & (a != "").to_numpy() & (b != "").to_numpy()
        if not test.any():
            continue
        pairs = pd.MultiIndex.from_arrays([a[test], b[test]])
        codes, uniq = pd.factorize(pairs)
        same = np.array([same_place(_bare(x), _bare(y)) for x, y in uniq])  # distinct pairs only
        bad = np.zeros(len(result), bool)
        bad[np.flatnonzero(test)] = ~same[codes]
        tokens[bad] = tokens[bad] + ";" + f"admin_name_mismatch:{src}"
    return tokens


_UNIT_WORDS = re.compile(
    r"\b(governorate|province|muhafazah?|mohafaza|district|sub-?district|nahiy[ae]h?|mintaqa)\b",
    re.IGNORECASE,
)


def _bare(name: str) -> str:
    """A name without the unit word UCDP and others append (``Idlib governorate`` -> ``Idlib``)."""
    bare = _UNIT_WORDS.sub(" ", name).strip(" ,-")
    return bare or name


def _append_flags(flags: pd.Series | None, tokens: pd.Series) -> pd.Series:
    if flags is not None and not (tokens != "").any():  # nothing to add (the usual case)
        if flags.dtype == "str" and not flags.hasnans:  # as they are (no object round trip)
            return flags
        return flags.astype(object).where(flags.notna(), "").astype(str)
    base = (flags.astype(object).where(flags.notna(), "").astype(str) if flags is not None
            else pd.Series("", index=tokens.index, dtype=object))
    add = tokens.astype(str).str.lstrip(";")
    out = pd.Series(np.where(add == "", base, np.where(base == "", add, base + ";" + add)),
                    index=tokens.index, dtype=object)
    todo = (add != "").to_numpy()
    if todo.any():  # a token already there (from another admin layer) is not repeated
        out[todo] = out[todo].map(lambda f: ";".join(dict.fromkeys(t for t in f.split(";") if t)))
    return out.astype(str)


def _flags_changed(before: pd.Series | None, now: pd.Series) -> int:
    """Rows whose flags (as text) differ from ``before`` (``None``: rows with any flag);
    compared in Arrow when both are ``str`` without nulls (no object arrays of every row)."""
    if (before is not None and before.dtype == "str" and now.dtype == "str"
            and not before.hasnans and not now.hasnans):
        return int((now != before).sum())
    b = before.astype(str).to_numpy() if before is not None else None
    n = now.astype(str).to_numpy()
    return int((n != b).sum()) if b is not None else int((n != "").sum())


def _labels_at(labels: Sequence[Any], codes: np.ndarray, index: pd.Index, *,
               missing: str | None = "") -> pd.Series:
    """``labels[codes]`` as a ``str`` Series (``missing`` where ``codes < 0``: ``""``, or
    ``None`` for a real null), built with one Arrow take instead of an object array of millions
    of Python strings.  The labels are ``large_string`` already, the type pandas' ``str`` holds
    (a ``string`` take is cast afterwards, copying every value again: 0.3 s at 2.5M rows)."""
    table = pa.array([str(v) for v in labels] + [missing], type=pa.large_string())
    pick = np.where(codes >= 0, codes, len(labels))
    return pd.Series(table.take(pa.array(pick)), index=index, dtype="str")


def _take(col: pd.Series, idx: np.ndarray) -> pd.Series:
    """``col`` at positions ``idx``, missing (None / NaN / NaT) where ``idx < 0``."""
    if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        values = col.astype(object).to_numpy()
        out = np.full(len(idx), None, dtype=object)
        hit = idx >= 0
        out[hit] = values[idx[hit]]
        return pd.Series(out, dtype=object)
    return pd.Series(pd.api.extensions.take(col.array, idx, allow_fill=True))


def join_admin(
    incidents: gpd.GeoDataFrame,
    admin: Layer,
    *,
    fields: Sequence[str] | None = None,
    snap_distance_m: float = 2000.0,
    prefix: str | None = None,
    status_suffix: str = "",
    check_names: bool = True,
    notes: list[str] | None = None,
    _points: _Points | None = None,
) -> gpd.GeoDataFrame:
    """Carry an admin polygon layer's attributes onto each incident.

    ``fields`` picks attributes (case-insensitive; default all).  An attribute whose name is
    already a column of ``incidents`` (ignoring case) is written as ``prefix + name`` (``prefix`` defaults to
    ``"admin_"``).  Adds ``admin_join{status_suffix}`` and ``admin_distance_m{status_suffix}``
    (0 within, metres to the polygon when snapped, NaN for none).
    """
    _incident_points(incidents)
    layer = _aligned(_load_polygons(admin, "admin layer"), incidents, "admin layer", notes)
    geom_col = layer.geometry.name
    attrs = [c for c in layer.columns if c != geom_col]
    if fields is not None:
        lower = {c.lower(): c for c in attrs}
        missing = [f for f in fields if f.lower() not in lower]
        if missing:
            raise InputError(f"admin layer has no field(s) {', '.join(missing)}",
                             column=missing[0], fix=f"choose among: {', '.join(attrs)}")
        attrs = [lower[f.lower()] for f in fields]
    n = len(incidents)
    x, y = (_points or _Points(incidents)).xy
    locator = PointLocator(layer.geometry.to_numpy())
    idx = locator.locate(x, y)
    status = np.where(idx >= 0, 0, 2)  # positions in ADMIN_STATUS: within, nearest, none
    dist = np.where(idx >= 0, 0.0, np.nan)
    out_pts = np.flatnonzero((idx < 0) & np.isfinite(x) & np.isfinite(y))
    if len(out_pts) and snap_distance_m and snap_distance_m > 0 and len(layer):
        metric = metric_crs_for(gpd.GeoDataFrame(geometry=incidents.geometry.values[out_pts]), layer)
        polys_m = layer.geometry.to_crs(metric).to_numpy()
        px, py = transform_xy(x[out_pts], y[out_pts], incidents.crs, metric)
        # a point outside every polygon is nearest to a boundary segment: search the segments
        # (a tree of short pieces), not whole detailed polygons; the nearest segment at a tie
        # is the lowest, so the unit is the lowest-numbered one at that distance
        a, b, owner = _boundary_segments(polys_m)
        # GEOS's tree stops early for points with nothing within reach: the compiled loop,
        # which measures every point to its nearest segment, is not used here
        d, si = SegmentIndex.from_ends(a, b).nearest(px, py, max_distance=snap_distance_m, method="geos")
        hit = si >= 0
        rows = out_pts[hit]
        idx[rows] = owner[si[hit]]
        status[rows] = 1
        dist[rows] = d[hit]
    # attributes: taken by position, empty where none
    taken = pd.DataFrame(layer[attrs]).reset_index(drop=True)
    if len(taken):
        vals = pd.DataFrame({c: _take(taken[c], idx) for c in attrs}, columns=attrs)
    else:
        vals = pd.DataFrame(index=range(n), columns=attrs, dtype=object)
    pre = prefix if prefix is not None else "admin_"
    # case-insensitive: GeoPackage and Shapefile column names are
    taken_names = {str(c).lower() for c in incidents.columns}
    rename = {c: (pre + c if c.lower() in taken_names else c) for c in attrs}
    vals = vals.rename(columns=rename)
    vals.index = incidents.index
    result = incidents.copy(deep=False)  # copy-on-write: new columns do not touch the input
    for c in vals.columns:
        col = vals[c]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            col = col.astype(object).where(col.notna(), None)
        result[c] = col
    result[f"admin_join{status_suffix}"] = _labels_at(ADMIN_STATUS, status, incidents.index)
    result[f"admin_distance_m{status_suffix}"] = dist
    if check_names:
        name_cols = {lvl: rename[c] for lvl, c in _name_columns(attrs).items()}
        tokens = _check_names(result, name_cols, idx >= 0)
        if (tokens != "").any() or "flags" in result.columns:
            result["flags"] = _append_flags(result.get("flags"), tokens)
    assert len(result) == n, "join_admin changed the number of rows"
    return result


# --------------------------------------------------------------------------------------------
# control


def _as_control(control: Layer | Sequence[Layer] | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if isinstance(control, gpd.GeoDataFrame) and {"controller", "valid_from", "valid_to"} <= set(
        control.columns
    ) and pd.api.types.is_datetime64_any_dtype(control["valid_from"].dtype):
        return control
    return _control.read_control(control)


_DAY_NS = 86_400_000_000_000
_NAT = np.iinfo(np.int64).min


def _searchsorted_days(edges: np.ndarray, values: np.ndarray, side: str) -> np.ndarray:
    """``np.searchsorted(edges, values, side)`` for many whole days (int64 ns; NaT as the int64
    minimum): searched once per day of their range and gathered (a search per incident is
    0.1 s at 2.5M; incidents span a few thousand days).  Other values: searched directly."""
    n = len(values)
    if n < 100_000:
        return np.searchsorted(edges, values, side=side)  # type: ignore[call-overload]
    nat = values == _NAT
    v = values[~nat] if nat.any() else values
    if not len(v):
        return np.searchsorted(edges, values, side=side)  # type: ignore[call-overload]
    lo = v.min()
    span = (v.max() - lo) // _DAY_NS + 1
    if span > n or ((v - lo) % _DAY_NS).any():
        return np.searchsorted(edges, values, side=side)  # type: ignore[call-overload]
    table = np.searchsorted(edges, lo + np.arange(span, dtype=np.int64) * _DAY_NS, side=side)  # type: ignore[call-overload]
    if not nat.any():
        return table[(v - lo) // _DAY_NS]
    out = np.empty(n, dtype=table.dtype)
    out[~nat] = table[(v - lo) // _DAY_NS]
    out[nat] = np.searchsorted(edges, values[nat], side=side)  # type: ignore[call-overload]
    return out


def _state_index(states: list[tuple[pd.Timestamp, pd.Timestamp, Any]],
                 day: np.ndarray) -> np.ndarray:
    """For each day, the index of the state in force (``-1`` when none)."""
    lo = np.array([np.datetime64("NaT", "ns") if pd.isna(s) else np.datetime64(s, "ns")
                   for s, _, _ in states], dtype="datetime64[ns]")
    hi = np.array([np.datetime64("NaT", "ns") if pd.isna(e) else np.datetime64(e, "ns")
                   for _, e, _ in states], dtype="datetime64[ns]")
    lo_i = np.where(np.isnat(lo), np.iinfo(np.int64).min, lo.astype(np.int64))
    hi_i = np.where(np.isnat(hi), np.iinfo(np.int64).max, hi.astype(np.int64))
    d = day.astype("datetime64[ns]").astype(np.int64)
    k = _searchsorted_days(lo_i, d, "right") - 1
    ok = (k >= 0) & ~np.isnat(day)
    kk = np.where(ok, k, 0)
    ok &= d <= hi_i[kk]
    return np.where(ok, k, -1)


def _states_overlapping(states: list[tuple[pd.Timestamp, pd.Timestamp, Any]], start: np.ndarray,
                        end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last state index overlapping each [start, end] (``kf > kl`` when none)."""
    lo = np.array([np.iinfo(np.int64).min if pd.isna(s) else pd.Timestamp(s).value for s, _, _ in states])
    hi = np.array([np.iinfo(np.int64).max if pd.isna(e) else pd.Timestamp(e).value for _, e, _ in states])
    s = start.astype("datetime64[ns]").astype(np.int64)
    e = end.astype("datetime64[ns]").astype(np.int64)
    kf = _searchsorted_days(hi, s, "left")  # first state ending on/after start
    kl = _searchsorted_days(lo, e, "right") - 1  # last state starting on/before end
    return kf, kl


class _StateLocator:
    """Per state of a control layer: a PointLocator and the features' global positions."""

    def __init__(self, control: gpd.GeoDataFrame) -> None:
        self.control = control
        self.states = snapshot_positions(control)
        self.members = [p for _, _, p in self.states]
        self._loc: dict[int, PointLocator] = {}

    def locate(self, k: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Global feature position covering each point in state ``k`` (``-1`` none)."""
        if k not in self._loc:
            self._loc[k] = PointLocator(self.control.geometry.to_numpy()[self.members[k]])
        local = self._loc[k].locate(x, y)
        return np.where(local >= 0, self.members[k][np.maximum(local, 0)], -1)


def join_control(
    incidents: gpd.GeoDataFrame,
    control: Layer | Sequence[Layer],
    *,
    notes: list[str] | None = None,
    _points: _Points | None = None,
) -> gpd.GeoDataFrame:
    """The controller in force at each incident's place on its date.

    Adds ``controller`` (null when none), ``control_valid_from``, ``control_snapshot`` and
    ``control_status``: ``in_force``; ``uncertain`` when the event's date window
    (:func:`geoconflict.incidents.date_window`: week, month or year precision) spans a change of
    controller at its place; ``none`` when no zone covers it on that date.
    """
    _incident_points(incidents)
    ctl = _aligned(_as_control(control), incidents, "control layer", notes)
    n = len(incidents)
    pts = _points or _Points(incidents)
    x, y = pts.xy
    day = pts.day
    start_a, end_a = _date_window(incidents)
    start_a = np.where(np.isnat(start_a), day, start_a)
    end_a = np.where(np.isnat(end_a), day, end_a)
    sl = _StateLocator(ctl)
    at = np.full(n, -1, dtype=np.int64)
    result = incidents.copy(deep=False)  # copy-on-write: new columns do not touch the input
    if sl.states:
        k_day = _state_index(sl.states, day)
        kf, kl = _states_overlapping(sl.states, start_a, end_a)
        kf = np.minimum(kf, np.where(k_day >= 0, k_day, kf))
        kl = np.maximum(kl, k_day)
        span = np.maximum(kl - kf + 1, 0)
        # (incident, state) pairs to evaluate; most incidents have exactly one
        if (span == 1).all():  # every incident in one state: the pairs are the incidents
            inc, st = np.arange(n), kf
        else:
            inc = np.repeat(np.arange(n), span)
            offs = np.arange(len(inc)) - np.repeat(np.cumsum(span) - span, span)
            st = np.repeat(kf, span) + offs
        feat = np.full(len(inc), -1, dtype=np.int64)
        order = _group_order(st, len(sl.states))
        st_sorted = st[order]
        bounds: np.ndarray | list[int] = np.flatnonzero(np.r_[True, st_sorted[1:] != st_sorted[:-1], True]) if len(st) else []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):  # a loop over states, not incidents
            sel = order[a:b]
            pts = inc[sel]
            feat[sel] = sl.locate(int(st_sorted[a]), x[pts], y[pts])
        names = ctl["controller"].astype(str).to_numpy()
        codes = np.where(feat >= 0, pd.factorize(names)[0][np.maximum(feat, 0)], -1)
        is_day = st == k_day[inc]
        at[inc[is_day]] = feat[is_day]
        at_code = np.full(n, -2, dtype=np.int64)
        at_code[inc[is_day]] = codes[is_day]
        at_code[k_day < 0] = -1
        diff = codes != at_code[inc]
        changes = np.bincount(inc[diff], minlength=n) > 0
    else:
        changes = np.zeros(n, bool)
    found = at >= 0
    pos = np.maximum(at, 0)
    feature = np.where(found, at, -1)
    vf = ctl["valid_from"].to_numpy("datetime64[ns]")[pos] if len(ctl) else np.full(n, np.datetime64("NaT"))
    status = np.where(changes, 1, np.where(found, 0, 2))  # positions in CONTROL_STATUS
    result["controller"] = _labels_at(ctl["controller"].astype(str).tolist(), feature, incidents.index,
                                      missing=None)
    result["control_valid_from"] = pd.Series(np.where(found, vf, np.datetime64("NaT", "ns")),
                                             index=incidents.index).astype("datetime64[ns]")
    result["control_snapshot"] = _labels_at(ctl["snapshot"].astype(str).tolist(), feature, incidents.index,
                                            missing=None)
    result["control_status"] = _labels_at(CONTROL_STATUS, status, incidents.index)
    assert len(result) == n, "join_control changed the number of rows"
    return result


# --------------------------------------------------------------------------------------------
# front lines


def read_front_line(source: Layer) -> gpd.GeoDataFrame:
    """Front lines, dated like control layers (``valid_from``/``valid_to`` or ``date``; none =
    always in force), normalised to ``valid_from``, ``valid_to`` (datetime64[ns]), geometry."""
    gdf = _load(source, "front-line layer").copy()
    path = None if isinstance(source, gpd.GeoDataFrame) else str(source)
    require_crs(gdf, "front-line layer")
    types = set(gdf.geometry.geom_type.dropna().unique())
    if not types <= {"LineString", "MultiLineString"}:
        raise LayerError(f"front lines must be lines, found {', '.join(sorted(types))}", path=path,
                         fix="give a LineString layer (or leave --front-line out to derive it "
                             "from --control)")
    feats = np.arange(1, len(gdf) + 1)
    frm = _control.find_column(gdf.columns, _control.FROM_ALIASES)
    to = _control.find_column(gdf.columns, _control.TO_ALIASES)
    dt = _control.find_column(gdf.columns, _control.DATE_ALIASES)
    nat = pd.Series(pd.NaT, index=gdf.index, dtype="datetime64[ns]")
    if frm or to:
        gdf["valid_from"] = _control.parse_dates(gdf[frm], path=path, column=frm, features=feats) if frm else nat
        gdf["valid_to"] = _control.parse_dates(gdf[to], path=path, column=to, features=feats) if to else nat
    elif dt:
        d = _control.parse_dates(gdf[dt], path=path, column=dt, features=feats)
        dates = np.sort(d.dropna().unique())
        nxt = pd.Series(list(dates[1:]) + [pd.NaT], index=dates, dtype="datetime64[ns]")
        gdf["valid_from"] = d.to_numpy()
        gdf["valid_to"] = nxt.reindex(d.to_numpy()).to_numpy() - _control.ONE_DAY
    else:
        gdf["valid_from"], gdf["valid_to"] = nat, nat
    gdf["valid_from"] = gdf["valid_from"].astype("datetime64[ns]")
    gdf["valid_to"] = gdf["valid_to"].astype("datetime64[ns]")
    bad = (gdf["valid_to"] < gdf["valid_from"]).to_numpy()
    if bad.any():
        raise LayerError("valid_to is before valid_from", path=path,
                         feature=int(feats[np.flatnonzero(bad)[0]]), fix="swap or correct the dates")
    return gdf


def _segment_ends(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end point ((n, 2) arrays) of every segment of the lines, in their order, and
    the position of the line each came from."""
    parts, of_line = shapely.get_parts(lines, return_index=True)
    parts, of_part = shapely.get_parts(parts, return_index=True)
    a, b, of_path = segment_ends(parts)
    return a, b, of_line[of_part[of_path]]


def _side_of(a: np.ndarray, b: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """+1 left of the direction of segment a→b, -1 right, 0 on it."""
    (ax, ay), (bx, by) = a.T, b.T
    return np.sign((bx - ax) * (py - ay) - (by - ay) * (px - ax))


def join_front_line(
    incidents: gpd.GeoDataFrame,
    *,
    front_line: Layer | None = None,
    control: Layer | Sequence[Layer] | None = None,
    notes: list[str] | None = None,
    _points: _Points | None = None,
) -> gpd.GeoDataFrame:
    """Distance (metres, UTM) to the front line in force on each incident's date, and its side.

    With ``front_line`` the given (dated) lines; otherwise the line derived from the control
    snapshot in force (shared boundaries between different controllers).  ``front_line_side``
    is the controller in force at the incident's place (``control`` needed; reused from a
    ``controller`` column when :func:`join_control` ran first); without control, lines carrying
    ``controller_left``/``controller_right`` give the side of the line's digitised direction.
    """
    _incident_points(incidents)
    if front_line is None and control is None:
        raise InputError("a front line needs --front-line or --control to derive it from",
                         fix="pass front_line= or control=")
    n = len(incidents)
    pts = _points or _Points(incidents)
    ctl = _aligned(_as_control(control), incidents, "control layer", notes) if control is not None else None
    metric = pts.metric_crs if n else None
    if front_line is not None:
        lines = _aligned(read_front_line(front_line), incidents, "front-line layer", notes)
        states = _control.snapshots(lines)
    else:
        assert ctl is not None
        states = []
        for s, e, st in _control.snapshots(ctl):
            fl = _control.front_lines(st, metric_crs=metric)
            if len(fl):
                states.append((s, e, fl))
    day = pts.day
    dist = np.full(n, np.nan)
    side = np.full(n, "", dtype=object)
    if states and n:
        k = _state_index(states, day)
        px, py = pts.metric_xy
        has_lr = {"controller_left", "controller_right"} <= set(states[0][2].columns)
        k = np.where(np.isfinite(px), k, -1)
        method = method_for(int((k >= 0).sum()))  # one path for all the states
        order = _group_order(k, len(states))
        ks = k[order]
        cuts = np.searchsorted(ks, np.arange(len(states) + 1))
        for j, (_, _, st) in enumerate(states):  # a loop over line states, not incidents
            sel = order[cuts[j]:cuts[j + 1]]
            if not len(sel):
                continue
            geoms = st.geometry.to_crs(metric).to_numpy()
            a, b, seg_owner = _segment_ends(geoms)
            if not len(a):
                continue
            d, si = SegmentIndex.from_ends(a, b).nearest(px[sel], py[sel], method=method)
            dist[sel] = d
            if ctl is None and front_line is not None and has_lr:
                sgn = _side_of(a[si], b[si], px[sel], py[sel])
                left = st["controller_left"].astype(str).to_numpy()[seg_owner[si]]
                right = st["controller_right"].astype(str).to_numpy()[seg_owner[si]]
                side[sel] = np.where(sgn > 0, left, np.where(sgn < 0, right, ""))
    if ctl is None:
        side_col = pd.Series(side, index=incidents.index).astype(str)
    elif "controller" in incidents.columns and "control_status" in incidents.columns:
        side_col = incidents["controller"].astype("str")
    else:
        side_col = join_control(incidents, ctl, _points=pts)["controller"]
    result = incidents.copy(deep=False)  # copy-on-write: new columns do not touch the input
    result["front_line_distance_m"] = dist
    result["front_line_side"] = side_col
    assert len(result) == n, "join_front_line changed the number of rows"
    return result


# --------------------------------------------------------------------------------------------
# areas


def join_areas(
    incidents: gpd.GeoDataFrame,
    areas: Layer,
    *,
    name_col: str | None = None,
    notes: list[str] | None = None,
    _points: _Points | None = None,
) -> gpd.GeoDataFrame:
    """``area``: the name of the (lowest-index) named area containing each incident, "" if none."""
    _incident_points(incidents)
    layer = _aligned(_load_polygons(areas, "areas layer"), incidents, "areas layer", notes)
    col = name_col or _control.find_column(layer.columns, ("name", "area", "name_en", "label", "title"))
    if col is None or col not in layer.columns:
        raise LayerError("the areas layer has no 'name' column",
                         fix="name the column 'name' (e.g. Jabal al-Zawiya, al-Ghab plain)")
    x, y = (_points or _Points(incidents)).xy
    idx = PointLocator(layer.geometry.to_numpy()).locate(x, y)
    names = layer[col].astype(object).where(layer[col].notna(), "").astype(str).to_numpy()
    result = incidents.copy(deep=False)  # copy-on-write: new columns do not touch the input
    vals = np.where(idx >= 0, names[np.maximum(idx, 0)] if len(names) else "", "")
    result["area"] = pd.Series(vals, index=incidents.index).astype(str)
    return result


# --------------------------------------------------------------------------------------------
# everything at once


@dataclass
class JoinReport:
    """What a join did: counts that add up to the rows read, and notes."""

    rows_in: int
    rows_out: int = 0
    admin: list[dict[str, Any]] = field(default_factory=list)
    control_status: dict[str, int] = field(default_factory=dict)
    control_problems: list[str] = field(default_factory=list)
    front_line: dict[str, Any] = field(default_factory=dict)
    areas: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in, "rows_out": self.rows_out, "admin": self.admin,
            "control_status": self.control_status, "control_problems": self.control_problems,
            "front_line": self.front_line, "areas": self.areas, "notes": self.notes,
        }

    def summary(self) -> str:
        parts = [f"{self.rows_out} incidents"]
        for a in self.admin:
            parts.append(f"{a['layer']}: {a['within']} within, {a['nearest']} nearest, {a['none']} none"
                         + (f", {a['name_mismatch']} name mismatches" if a.get("name_mismatch") else ""))
        if self.control_status:
            parts.append("control: " + ", ".join(f"{v} {k}" for k, v in self.control_status.items()))
        if self.front_line:
            parts.append(f"front line: {self.front_line.get('measured', 0)} measured")
        if self.areas:
            parts.append(f"areas: {sum(v for k, v in self.areas.items() if k)} in a named area")
        return "; ".join(parts)


def layer_name(layer: Layer, i: int) -> str:
    """The name an admin layer gives its columns: the file stem, or ``admin<i+1>`` for a frame."""
    if isinstance(layer, gpd.GeoDataFrame):
        return f"admin{i + 1}"
    return Path(layer).stem


def join_all(
    incidents: gpd.GeoDataFrame,
    *,
    admin: Sequence[Layer] = (),
    admin_fields: Sequence[str] | None = None,
    snap_distance_m: float = 2000.0,
    control: Layer | Sequence[Layer] | None = None,
    front_line: Layer | None = None,
    areas: Layer | None = None,
    derive_front_line: bool = True,
    admin_names: Sequence[str] | None = None,
) -> tuple[gpd.GeoDataFrame, JoinReport]:
    """Every join at once.  Admin layers are joined in the order given: the first writes
    ``admin_join``/``admin_distance_m``, the i-th (i >= 2) ``admin_join_<i>``/``admin_distance_m_<i>``;
    an attribute that clashes with an earlier column gets the layer's name as a prefix
    (``syr_adm2_ADM1_EN``).  With ``control`` and no ``front_line``, the front line is derived
    from the control snapshots (``derive_front_line``).  ``admin_names`` names the admin layers
    (report, prefixes); default: the file's stem, ``admin<i>`` for a GeoDataFrame."""
    _incident_points(incidents)
    n = len(incidents)
    report = JoinReport(rows_in=n)
    out = incidents
    points = _Points(incidents)  # the joins add columns, never change the rows: shared
    if admin_names is not None and len(admin_names) != len(admin):
        raise InputError(f"{len(admin_names)} admin_names for {len(admin)} admin layers")
    names = list(admin_names) if admin_names is not None else [layer_name(a, i) for i, a in enumerate(admin)]
    layers = [(names[i], _load_polygons(layer, "admin layer")) for i, layer in enumerate(admin)]
    if admin_fields is not None:
        found = {c.lower() for _, gdf in layers for c in gdf.columns}
        missing = [f for f in admin_fields if f.lower() not in found]
        if missing:
            raise InputError(f"no admin layer has the field(s) {', '.join(missing)}", column=missing[0],
                             fix="check --admin-fields against the layers' attribute names")
    for i, (name, gdf) in enumerate(layers):
        fields = None
        if admin_fields is not None:
            wanted = {f.lower() for f in admin_fields}
            fields = [c for c in gdf.columns if c.lower() in wanted]
        suffix = "" if i == 0 else f"_{i + 1}"
        before = out["flags"] if "flags" in out.columns else None
        out = join_admin(out, gdf, fields=fields, snap_distance_m=snap_distance_m,
                         prefix=f"{name}_", status_suffix=suffix, notes=report.notes, _points=points)
        counts = out[f"admin_join{suffix}"].value_counts()
        mism = 0  # rows this layer flagged
        if "flags" in out.columns:
            mism = _flags_changed(before, out["flags"])
        report.admin.append({"layer": name, **{s: int(counts.get(s, 0)) for s in ADMIN_STATUS},
                             "name_mismatch": mism})
    if control is not None:
        if isinstance(control, gpd.GeoDataFrame):
            ctl = _as_control(control)
            checked = _control.validate_control(ctl, strict=False)
        else:  # read once, validate once (errors raise, as read_control does)
            checked = _control.validate_control(_control.read_control(control, validate=False))
            for p in checked.warnings:
                log.warning("control layer: %s", p.describe())
            ctl = checked.control
        report.control_problems = [p.describe() for p in checked.problems]
        out = join_control(out, ctl, notes=report.notes, _points=points)
        counts = out["control_status"].value_counts()
        report.control_status = {s: int(counts.get(s, 0)) for s in CONTROL_STATUS}
        control = ctl
    if front_line is not None or (control is not None and derive_front_line):
        out = join_front_line(out, front_line=front_line, control=control, notes=report.notes,
                              _points=points)
        d = out["front_line_distance_m"]
        report.front_line = {"measured": int(d.notna().sum()),
                             "median_m": float(d.median()) if d.notna().any() else None,
                             "source": "file" if front_line is not None else "derived from control"}
    if areas is not None:
        out = join_areas(out, areas, notes=report.notes, _points=points)
        report.areas = {str(k): int(v) for k, v in out["area"].value_counts().items()}
    report.rows_out = len(out)
    assert report.rows_out == n, "join_all changed the number of rows"
    return out, report
