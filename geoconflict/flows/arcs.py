"""Arc geometry: curved arcs built in a metric CRS bending right of travel, arrowheads with the tip
on the destination, the line-width scale and its legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from ..crs import WGS84, metric_crs_for, require_crs, to_crs
from ..errors import InputError
from .aggregate import FlowTable

# ============================================================================================
# geometry
# ============================================================================================

def width_scale(values: Any, *, min_width: float = 1.5, max_width: float = 14.0) -> dict[str, Any]:
    """The line-width scale (CSS pixels) shared with the HTML map
    (:func:`geoconflict.styles.flow_widths`): ``width = min_width + (max_width - min_width) *
    sqrt(value / max_value)``, so a line's width grows with the square root of the people it
    carries.  The legend lists rounded values with their widths."""
    v = np.asarray(pd.to_numeric(pd.Series(values, dtype="float64"), errors="coerce"), dtype=float)
    v = v[np.isfinite(v)]
    vmax = float(v.max()) if len(v) else 0.0
    legend: list[dict[str, float]] = []
    if vmax > 0:
        for frac in (1.0, 0.25, 0.04):
            val = _nice(vmax * frac)
            if val > 0 and all(val != e["value"] for e in legend):
                legend.append({"value": val, "width": float(_width(val, vmax, min_width, max_width))})
    return {"method": "sqrt", "unit": "px", "max_value": vmax, "min_width": min_width,
            "max_width": max_width,
            "formula": "width = min_width + (max_width - min_width) * sqrt(value / max_value)",
            "legend": legend}


def _nice(x: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``x``."""
    if x <= 0:
        return 0.0
    mag = 10 ** math.floor(math.log10(x))
    return float(max(n * mag for n in (1, 2, 5) if n * mag <= x * (1 + 1e-9)))


def _width(value: Any, vmax: float, min_width: float, max_width: float) -> Any:
    from ..styles import flow_widths

    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if vmax <= 0:
        w = np.full(arr.shape, min_width)
    else:  # the map's own formula, against this scale's maximum
        w = flow_widths(np.r_[arr, vmax], min_px=min_width, max_px=max_width)[:-1]
    return w if np.ndim(value) else float(w[0])


def _flows_frame(table: FlowTable | pd.DataFrame) -> pd.DataFrame:
    return table.flows if isinstance(table, FlowTable) else table


def flow_arcs(
    table: FlowTable | pd.DataFrame,
    *,
    crs: Any = None,
    bend: float = 0.2,
    segments: int = 32,
    scale: Mapping[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    """One curved LineString per flow (EPSG:4326), from origin to destination.

    The curve is a quadratic Bézier built in a metric CRS (``crs`` or the UTM zone of the data):
    its control point lies ``bend`` x chord length to the right of travel from the chord's middle,
    so the bend grows with length and A->B and B->A bulge to opposite sides.  Rows are ordered by
    volume, largest last (drawn on top); ``width`` comes from :func:`width_scale`.
    """
    f = _flows_frame(table).copy()
    cols = ["period", "origin", "destination", "origin_name", "destination_name", "individuals",
            "share", "families", "records", "rank"]
    if len(f) == 0:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in cols + ["width"]})
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    if segments < 2:
        raise InputError("segments must be at least 2")
    x0, y0 = f["origin_lon"].to_numpy(float), f["origin_lat"].to_numpy(float)
    x1, y1 = f["destination_lon"].to_numpy(float), f["destination_lat"].to_numpy(float)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(np.r_[x0, x1], np.r_[y0, y1]), crs=WGS84)
    metric = to_crs(crs) if crs is not None else metric_crs_for(pts)
    if metric.is_geographic:
        raise InputError(f"arcs need a projected (metric) CRS, not {metric.to_string()}",
                         fix="pass a projected CRS such as EPSG:32637, or none to choose UTM")
    fwd = Transformer.from_crs(WGS84, metric, always_xy=True)
    inv = Transformer.from_crs(metric, WGS84, always_xy=True)
    X0, Y0 = fwd.transform(x0, y0)
    X1, Y1 = fwd.transform(x1, y1)
    dx, dy = X1 - X0, Y1 - Y0
    # control point: right of travel, i.e. the direction (dx, dy) turned clockwise: (dy, -dx)
    cx, cy = (X0 + X1) / 2 + bend * dy, (Y0 + Y1) / 2 - bend * dx
    t = np.linspace(0.0, 1.0, segments + 1)[None, :]
    a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t ** 2
    BX = a * X0[:, None] + b * cx[:, None] + c * X1[:, None]
    BY = a * Y0[:, None] + b * cy[:, None] + c * Y1[:, None]
    lon, lat = inv.transform(BX.ravel(), BY.ravel())
    lon = np.asarray(lon).reshape(BX.shape)
    lat = np.asarray(lat).reshape(BY.shape)
    lon[:, 0], lat[:, 0], lon[:, -1], lat[:, -1] = x0, y0, x1, y1  # ends exactly on the places
    lines = shapely.linestrings(np.stack([lon, lat], axis=-1))
    sc = dict(scale) if scale is not None else width_scale(f["individuals"])
    f["width"] = _width(f["individuals"].to_numpy(float), sc["max_value"], sc["min_width"], sc["max_width"])
    keep = [c for c in cols if c in f.columns] + ["width"]
    out = gpd.GeoDataFrame(f[keep].reset_index(drop=True), geometry=lines, crs=WGS84)
    out = out.sort_values("individuals", kind="stable").reset_index(drop=True)
    out.attrs["metric_crs"] = metric.to_string()
    return out


def arrowheads(arcs: gpd.GeoDataFrame, *, crs: Any = None, size: float = 1.0) -> gpd.GeoDataFrame:
    """A triangle at the destination end of each arc; its tip is exactly the arc's last point
    (the destination).  The head is built in a metric CRS along the arc's last stretch: length
    between 12% and 35% of the arc (at least 2% of the drawing's extent), half-width growing with
    the flow's width.  Attributes are those of the arc."""
    cols = [c for c in arcs.columns if c != arcs.geometry.name]
    if len(arcs) == 0:
        return gpd.GeoDataFrame(arcs[cols].copy(), geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    require_crs(arcs, "arcs")
    a = arcs if arcs.crs.equals(WGS84) else arcs.to_crs(WGS84)
    metric = to_crs(crs) if crs is not None else (
        CRS.from_user_input(arcs.attrs["metric_crs"]) if "metric_crs" in arcs.attrs else metric_crs_for(a))
    m = a.to_crs(metric).geometry.to_numpy()
    L = shapely.length(m)
    xmin, ymin, xmax, ymax = shapely.total_bounds(m)
    diag = math.hypot(xmax - xmin, ymax - ymin)
    h = np.minimum(0.35 * L, np.maximum(0.12 * L, 0.02 * diag)) * size
    base = shapely.line_interpolate_point(m, L - h)
    tip = shapely.get_point(m, -1)
    bx, by = shapely.get_x(base), shapely.get_y(base)
    tx, ty = shapely.get_x(tip), shapely.get_y(tip)
    ux, uy = tx - bx, ty - by
    norm = np.hypot(ux, uy)
    norm[norm == 0] = 1.0
    px, py = -uy / norm, ux / norm
    w = a["width"].to_numpy(float) if "width" in a.columns else np.full(len(a), 1.0)
    wmax = float(np.nanmax(w)) if len(w) and np.nanmax(w) > 0 else 1.0
    hw = h * (0.3 + 0.3 * w / wmax)
    lx, ly = bx + px * hw, by + py * hw
    rx, ry = bx - px * hw, by - py * hw
    inv = Transformer.from_crs(metric, WGS84, always_xy=True)
    LX, LY = inv.transform(lx, ly)
    RX, RY = inv.transform(rx, ry)
    end = shapely.get_point(a.geometry.to_numpy(), -1)
    TX, TY = shapely.get_x(end), shapely.get_y(end)  # the tip: exactly the destination
    ring = np.stack([np.stack([TX, TY], -1), np.stack([LX, LY], -1), np.stack([RX, RY], -1),
                     np.stack([TX, TY], -1)], axis=1)
    polys = shapely.polygons(ring)
    polys = shapely.orient_polygons(polys) if hasattr(shapely, "orient_polygons") else polys
    return gpd.GeoDataFrame(a[cols].reset_index(drop=True), geometry=polys, crs=WGS84)
