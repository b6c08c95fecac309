"""Corridors: a buffer of a given width on each side of a line, each side labelled.

The buffer is built side by side with shapely's single-sided buffer in a metric CRS chosen for the
data (:func:`geoconflict.crs.metric_crs_for`, UTM 37N for north-west Syria), so the width is in
metres, never degrees.  Each side is labelled by where it lies (``north``/``south`` or
``east``/``west``, compared on the side's centroid) or by the line's direction (``left``/``right``).
The result is a polygon layer usable as a zone layer in joins and maps: one feature per line and
side, with ``name`` (unique per feature, e.g. ``M4 corridor north``), ``line``, ``side``,
``width_m`` and ``area_km2`` (equal-area).

The built-in scenario's approximate M4 line (Jisr-Ash-Shugur to Saraqab) is
``boundaries/idlib2020_m4.geojson``; the scenario builds its 6 km corridor with this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ._geometry import check_coordinates
from .crs import WGS84, equal_area_crs_for, metric_crs_for, require_crs
from .errors import InputError, LayerError
from .io import source_of

SideLabels = Literal["auto", "north-south", "east-west", "left-right"]
SIDE_CHOICES: tuple[str, ...] = ("auto", "north-south", "east-west", "left-right")
#: the deepest corridor (metres each side): the buffer is built in one UTM zone, whose
#: distances stay true to about 0.1 % only within a few hundred kilometres
MAX_WIDTH_M = 100_000.0
#: the shortest line with sides (metres)
MIN_LENGTH_M = 1.0


def _as_layer(line: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry) -> gpd.GeoDataFrame:
    if isinstance(line, gpd.GeoDataFrame):
        gdf = line
    elif isinstance(line, gpd.GeoSeries):
        gdf = gpd.GeoDataFrame(geometry=line)
    elif isinstance(line, BaseGeometry):
        # a bare shapely geometry is taken as WGS84 longitude/latitude
        gdf = gpd.GeoDataFrame(geometry=[line], crs=WGS84)
    else:
        raise InputError(
            f"a line layer or a shapely line is needed, not {type(line).__name__}",
            fix="pass a GeoDataFrame of LineStrings",
        )
    require_crs(gdf, "line layer")
    if len(gdf) == 0:
        raise LayerError("the line layer has no features", path=source_of(gdf),
                         fix="give a layer with one line")
    check_coordinates(gdf.geometry.to_numpy(), gdf.crs, what="line layer", path=source_of(gdf))
    return gdf


def _merge_lines(geoms: np.ndarray) -> np.ndarray:
    """LineStrings as they are; MultiLineStrings merged into one LineString where they connect."""
    out = geoms.copy()
    multi = shapely.get_type_id(out) == 5
    if multi.any():
        out[multi] = shapely.line_merge(out[multi])
    return out


def corridor(
    line: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry,
    *,
    width_m: float,
    sides: SideLabels | Sequence[str] = "auto",
    name: str | None = None,
    quad_segs: int = 16,
) -> gpd.GeoDataFrame:
    """A buffer ``width_m`` metres deep on each side of each line, one polygon per side.

    ``sides``: ``"auto"`` labels ``north``/``south`` when the line runs more west–east than
    south–north (by its end points), else ``east``/``west``; ``"north-south"``, ``"east-west"``
    force that labelling (by the side's centroid); ``"left-right"`` labels by the line's direction.
    A two-item sequence such as ``("north", "south")`` is taken as the corresponding choice.

    The line's name comes from ``name``, else a ``name`` column, else ``line-<n>``.  Returns a
    GeoDataFrame in the line's CRS with ``name`` (``"<line> corridor <side>"``), ``line``, ``side``,
    ``width_m``, ``area_km2`` and the polygon geometry.
    """
    try:
        width_m = float(width_m)
    except (TypeError, ValueError):
        raise InputError(f"width must be a distance in metres, not {width_m!r}", fix="e.g. 6km") from None
    if not np.isfinite(width_m) or width_m <= 0:
        raise InputError(f"width must be a positive distance, not {width_m!r}", fix="e.g. 6km")
    if width_m > MAX_WIDTH_M:
        raise InputError(
            f"a corridor {width_m:,.0f} m deep on each side is wider than {MAX_WIDTH_M / 1000:,.0f} km",
            fix=f"give a width up to {MAX_WIDTH_M / 1000:,.0f}km (a corridor is built in one UTM zone)",
        )
    mode = _side_mode(sides)
    gdf = _as_layer(line)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    bad = ~np.isin(shapely.get_type_id(geoms), [1, 5]) | shapely.is_empty(geoms)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LayerError(
            f"a corridor needs lines; found {getattr(geoms[i], 'geom_type', 'no')} geometry",
            path=source_of(gdf),
            feature=i + 1,
            fix="give a LineString layer (e.g. the road's centre line)",
        )
    metric = metric_crs_for(gdf)
    lines_m = _merge_lines(np.asarray(gdf.geometry.to_crs(metric).values, dtype=object))
    if (shapely.get_type_id(lines_m) != 1).any():
        i = int(np.flatnonzero(shapely.get_type_id(lines_m) != 1)[0])
        raise LayerError(
            "the line has parts that do not connect, so its sides are undefined",
            path=source_of(gdf),
            feature=i + 1,
            fix="give one connected line per feature (or split it into features)",
        )
    left = shapely.buffer(lines_m, width_m, quad_segs=quad_segs, single_sided=True)
    right = shapely.buffer(lines_m, -width_m, quad_segs=quad_segs, single_sided=True)
    # sharp bends can make the two single-sided buffers overlap near the line: give it to one side
    right = shapely.make_valid(shapely.difference(right, left))
    left = shapely.make_valid(left)
    # a line of no length (its points all in one place) has no sides
    flat = (shapely.length(lines_m) < MIN_LENGTH_M) | shapely.is_empty(left) | shapely.is_empty(right)
    if flat.any():
        i = int(np.flatnonzero(flat)[0])
        raise LayerError(
            f"the line is {float(shapely.length(lines_m[i])):.3g} m long: it has no sides to buffer",
            path=source_of(gdf),
            feature=i + 1,
            fix=f"give a line at least {MIN_LENGTH_M:g} m long, with distinct points",
        )

    if name is not None:
        names = [name] * len(gdf)
    elif "name" in gdf.columns:
        names = [
            str(v) if v is not None and v == v else f"line-{i + 1}"
            for i, v in enumerate(gdf["name"])
        ]
    else:
        names = [f"line-{i + 1}" for i in range(len(gdf))]

    label_left, label_right = _labels(mode, lines_m, left, right)
    n = len(gdf)
    side = np.concatenate([label_left, label_right])
    line_names = np.array(names + names, dtype=object)
    order = np.argsort(np.concatenate([np.arange(n) * 2, np.arange(n) * 2 + 1]), kind="stable")
    out = (
        gpd.GeoDataFrame(
            {
                "name": [f"{ln} corridor {s}" for ln, s in zip(line_names, side, strict=True)],
                "line": line_names,
                "side": side,
                "width_m": float(width_m),
            },
            geometry=np.concatenate([left, right]),
            crs=metric,
        )
        .iloc[order]
        .reset_index(drop=True)
    )
    ea = equal_area_crs_for(out)
    out["area_km2"] = out.geometry.to_crs(ea).area.to_numpy() / 1e6
    out = out.to_crs(gdf.crs)
    return out[["name", "line", "side", "width_m", "area_km2", "geometry"]]


def _side_mode(sides: SideLabels | Sequence[str]) -> str:
    if isinstance(sides, str):
        if sides not in SIDE_CHOICES:
            raise InputError(
                f"unknown sides {sides!r}", fix=f"use one of {', '.join(SIDE_CHOICES)}"
            )
        return sides
    pair = {str(s).lower() for s in sides}
    for mode in SIDE_CHOICES[1:]:
        if pair == set(mode.split("-")):
            return mode
    raise InputError(
        f"unknown sides {tuple(sides)!r}",
        fix="use ('north', 'south'), ('east', 'west') or ('left', 'right')",
    )


def _labels(
    mode: str, lines: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = len(lines)
    if mode == "left-right":
        return np.full(n, "left", dtype=object), np.full(n, "right", dtype=object)
    if mode == "auto":
        start = shapely.get_point(lines, 0)
        end = shapely.get_point(lines, -1)
        dx = np.abs(shapely.get_x(end) - shapely.get_x(start))
        dy = np.abs(shapely.get_y(end) - shapely.get_y(start))
        ns = dx >= dy
    else:
        ns = np.full(n, mode == "north-south")
    cl, cr = shapely.centroid(left), shapely.centroid(right)
    left_north = shapely.get_y(cl) >= shapely.get_y(cr)
    left_east = shapely.get_x(cl) >= shapely.get_x(cr)
    lab_l = np.where(
        ns, np.where(left_north, "north", "south"), np.where(left_east, "east", "west")
    )
    lab_r = np.where(
        ns, np.where(left_north, "south", "north"), np.where(left_east, "west", "east")
    )
    return lab_l.astype(object), lab_r.astype(object)
