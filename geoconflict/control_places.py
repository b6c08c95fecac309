"""Control from per-place observations: a table of places with a ``date`` and a ``controller``
per observation (VIINA-style village control, town lists) becomes dated control polygons.

On each snapshot date every place holds its latest observation on or before that date; each
observed place holds its Voronoi cell within the extent (built in an equal-area CRS, never in
degrees) or, with ``admin``, the admin unit it lies in when it is the unit's only observed place;
the cells are dissolved per controller.  The result is a control layer (``controller``,
``date``, ``places``) every command reads.  Observations that cannot be used are quarantined
with a ``reason``: ``missing_coordinate``, ``unparseable_date``, ``missing_controller``,
``unresolved_place`` and ``conflicting_observations`` (one place, one day, two controllers:
reported, not guessed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError, SchemaError

log = logging.getLogger(__name__)

__all__ = ["PlacesControl", "control_from_places", "PLACE_REASONS"]

#: why an observation was quarantined
PLACE_REASONS = ("missing_coordinate", "unparseable_date", "missing_controller", "unresolved_place",
                 "conflicting_observations")
_LON = ("lon", "longitude", "long", "x", "lng")
_LAT = ("lat", "latitude", "y")
_NAME = ("place", "name", "place_name", "location", "settlement", "village", "town", "pcode",
         "p_code", "place_id")


@dataclass
class PlacesControl:
    """:func:`control_from_places`' answer: the control layer, the quarantined observations and
    counts for the report."""

    control: gpd.GeoDataFrame
    quarantine: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        r = self.report
        return (f"{r.get('snapshots', 0)} snapshot(s) from {r.get('places', 0)} place(s), "
                f"{r.get('observations', 0)} observation(s) used, {len(self.quarantine)} quarantined")


def _column(df: pd.DataFrame, given: str | None, aliases: Sequence[str], what: str,
            path: str | None) -> str | None:
    from .control import find_column

    if given is not None:
        if given not in df.columns:
            raise SchemaError(f"no column {given!r} ({what})", path=path, column=given,
                              fix=f"choose among {', '.join(map(str, df.columns))}")
        return given
    return find_column(df.columns, aliases)


def control_from_places(
    observations: str | Path | pd.DataFrame,
    *,
    extent: str | Path | gpd.GeoDataFrame,
    admin: str | Path | gpd.GeoDataFrame | None = None,
    every: str = "day",
    lon: str | None = None,
    lat: str | None = None,
    date: str | None = None,
    controller: str | None = None,
    place: str | None = None,
    places: Sequence[str | Path] = (),
) -> PlacesControl:
    """Dated control polygons from per-place observations (see the module docstring).

    ``observations``: a table (CSV, Excel, a point layer) with coordinates (``lon``/``lat``
    columns, found by name when not given), or place names / P-codes resolved with the
    gazetteer ``places``; a ``date`` and a ``controller`` per row.  ``every``: ``day`` (a
    snapshot on each observation day) or ``week``/``month``/... (the last observation day of
    each period).
    """
    from .control import CONTROLLER_ALIASES, DATE_ALIASES
    from .control_sources import read_extent
    from .crs import equal_area_crs_for
    from .units import check_period, period_start

    every = check_period(every)
    path = None if isinstance(observations, pd.DataFrame) else str(observations)
    if isinstance(observations, pd.DataFrame):
        df = observations.copy()
    else:
        from .gazetteer import read_table

        df = read_table(observations, what="observations")
    df = pd.DataFrame(df).reset_index(drop=True)
    if "geometry" in df.columns:
        pts = gpd.GeoSeries(df.pop("geometry"))
        df["_lon"], df["_lat"] = pts.x.to_numpy(), pts.y.to_numpy()
        lon_c: str | None = "_lon"
        lat_c: str | None = "_lat"
    else:
        lon_c = _column(df, lon, _LON, "longitude", path)
        lat_c = _column(df, lat, _LAT, "latitude", path)
    date_c = _column(df, date, DATE_ALIASES, "date", path)
    ctrl_c = _column(df, controller, CONTROLLER_ALIASES, "controller", path)
    name_c = _column(df, place, _NAME, "place", path)
    for col, what, opt in ((date_c, "date", "--date-column"), (ctrl_c, "controller", "--controller-column")):
        if col is None:
            raise SchemaError(f"the observations have no {what} column", path=path,
                              fix=f"name the column '{what}' (or give {opt})")
    n = len(df)
    reason = pd.Series(pd.NA, index=df.index, dtype="object")
    if lon_c is None or lat_c is None:
        if name_c is None or not places:
            raise SchemaError("the observations have no lon/lat columns", path=path,
                              fix="add lon and lat columns, or give place names with --places GAZETTEER")
        from .gazetteer import Gazetteer

        gaz = Gazetteer.from_files(list(places))
        found = gaz.match(df[name_c].astype(str).tolist())
        ok = found["geocode_status"].isin(["exact", "fuzzy"]).to_numpy()
        x = pd.to_numeric(found["lon"], errors="coerce").to_numpy(float)
        y = pd.to_numeric(found["lat"], errors="coerce").to_numpy(float)
        reason[~ok] = "unresolved_place"
    else:
        x = pd.to_numeric(df[lon_c], errors="coerce").to_numpy(float)
        y = pd.to_numeric(df[lat_c], errors="coerce").to_numpy(float)
    badxy = ~np.isfinite(x) | ~np.isfinite(y) | (np.abs(x) > 180) | (np.abs(y) > 90)
    reason[badxy & reason.isna().to_numpy()] = "missing_coordinate"
    from ._dates import EARLIEST_DAY, LATEST_DAY, parse_date_column

    parsed = parse_date_column(df[date_c], earliest=EARLIEST_DAY, latest=LATEST_DAY)
    day = parsed.dates.dt.floor("D")
    reason[day.isna().to_numpy() & reason.isna().to_numpy()] = "unparseable_date"
    who = df[ctrl_c].astype(object).where(df[ctrl_c].notna(), None).map(
        lambda v: "" if v is None else str(v).strip())
    reason[(who == "").to_numpy() & reason.isna().to_numpy()] = "missing_controller"
    obs = pd.DataFrame({"_row": np.arange(n), "x": x, "y": y, "day": day, "controller": who})
    obs["key"] = list(zip(np.round(x, 6), np.round(y, 6), strict=True))
    usable = reason.isna().to_numpy()
    # one place, one day, two controllers: quarantined, not guessed
    u = obs[usable]
    per = u.groupby(["key", "day"])["controller"].transform("nunique")
    conflict_rows = u.loc[per.to_numpy() > 1, "_row"].to_numpy()
    reason.iloc[conflict_rows] = "conflicting_observations"
    usable = reason.isna().to_numpy()
    quarantine = df.loc[~usable].copy()
    quarantine["reason"] = reason[~usable].astype(str).to_numpy()
    quarantine["source_row"] = np.flatnonzero(~usable) + 1
    if len(conflict_rows):
        log.warning("observations %s: %d row(s) with conflicting controllers on the same day "
                    "quarantined", path or "", len(conflict_rows))
    u = obs[usable].drop_duplicates(["key", "day"]).sort_values(["day", "_row"], kind="stable")
    if len(u) == 0:
        raise InputError("no usable observation (every row was quarantined)", path=path,
                         fix="check the lon/lat, date and controller columns")

    ext = read_extent(extent).to_crs(4326)
    ea = equal_area_crs_for(ext)
    # cells are built in an equal-area CRS, then cut to the extent (and units) in lon/lat, where
    # their edges were drawn
    ext_geo = shapely.union_all(ext.geometry.to_numpy())
    ext_m = gpd.GeoSeries([shapely.segmentize(ext_geo, 0.01)], crs=4326).to_crs(ea).iloc[0]
    units_m = None
    if admin is not None:
        from ._geometry import checked_polygons
        from .io import read_layer

        adm = admin if isinstance(admin, gpd.GeoDataFrame) else read_layer(
            admin, what="admin layer", geometry="polygon", allow_empty=False)
        adm = checked_polygons(adm, what="admin layer", path=None if isinstance(admin, gpd.GeoDataFrame) else str(admin))
        units_m = shapely.intersection(adm.to_crs(4326).geometry.to_numpy(), ext_geo)
    keys = list(dict.fromkeys(u["key"]))
    key_pos = {k: i for i, k in enumerate(keys)}
    px, py = np.array([k[0] for k in keys]), np.array([k[1] for k in keys])
    pts_m = gpd.GeoSeries(gpd.points_from_xy(px, py), crs=4326).to_crs(ea).to_numpy()
    unit_of = np.full(len(keys), -1)
    if units_m is not None:
        tree = shapely.STRtree(units_m)
        ip, iu = tree.query(shapely.points(px, py), predicate="intersects")
        first = pd.Series(iu).groupby(ip).min()
        unit_of[first.index.to_numpy()] = first.to_numpy()

    days = np.sort(u["day"].unique())
    if every != "day":
        start = period_start(pd.Series(days), every)
        days = pd.Series(days).groupby(start.to_numpy()).max().to_numpy()
    cache: dict[tuple[int, ...], np.ndarray] = {}
    recs = []
    pos = u["key"].map(key_pos).to_numpy()
    uday = u["day"].to_numpy("datetime64[ns]")
    uctl = u["controller"].to_numpy()
    for d in days:
        seen = uday <= d
        latest = pd.DataFrame({"p": pos[seen], "c": uctl[seen]}).groupby("p")["c"].last()
        members = tuple(int(p) for p in latest.index)
        if members not in cache:
            cache[members] = _regions(np.array(members), pts_m, ext_m, ext_geo, ea, units_m, unit_of)
        regions = cache[members]
        names = latest.to_numpy().astype(str)
        for name in np.unique(names):
            geom = shapely.union_all(regions[names == name])
            if not shapely.is_empty(geom):
                recs.append({"controller": name, "date": f"{pd.Timestamp(d):%Y-%m-%d}",
                             "places": int((names == name).sum()), "geometry": geom})
    out = gpd.GeoDataFrame(recs, columns=["controller", "date", "places", "geometry"],
                           geometry="geometry", crs=4326)
    report = {"snapshots": len(days), "places": len(keys), "observations": int(len(u)),
              "quarantined": int(len(quarantine)), "conflicts": int(len(conflict_rows))}
    return PlacesControl(out, quarantine.reset_index(drop=True), report)


def _regions(members: np.ndarray, pts_m: np.ndarray, ext_m: Any, ext_geo: Any, ea: Any,
             units_m: np.ndarray | None, unit_of: np.ndarray) -> np.ndarray:
    """The ground each of ``members`` holds: its Voronoi cell within the extent or, with admin
    units, the unit it lies in when it is the unit's only observed place (the cells of the other
    places then leave those units out)."""
    pts = pts_m[members]
    if len(pts) == 1:
        cells = np.array([ext_geo], dtype=object)
    else:
        # the diagram reaches well beyond the extent, so that once back in lon/lat (where its
        # outer edges are no longer straight) the cells still cover it
        x0, y0, x1, y1 = shapely.bounds(ext_m)
        margin = max(x1 - x0, y1 - y0)
        reach = shapely.box(x0 - margin, y0 - margin, x1 + margin, y1 + margin)
        coll = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=reach, ordered=True)
        cells = np.array(shapely.get_parts(coll), dtype=object)
        if len(cells) != len(pts):  # a safety net: match cells to points by position
            tree = shapely.STRtree(cells)
            ip, ic = tree.query(pts, predicate="intersects")
            order = pd.Series(ic).groupby(ip).min()
            cells = cells[order.reindex(range(len(pts))).to_numpy()]
        # back to lon/lat vertex by vertex: neighbouring cells keep exactly the same shared edges
        cells = gpd.GeoSeries(cells, crs=ea).to_crs(4326).to_numpy()
    cells = shapely.intersection(cells, ext_geo)
    if units_m is not None:
        units = unit_of[members]
        counts = pd.Series(units[units >= 0]).value_counts()
        single = units >= 0
        single &= np.array([counts.get(int(k), 0) == 1 for k in units])
        if single.any():
            taken = shapely.union_all(units_m[units[single]])
            cells = np.where(single, units_m[np.maximum(units, 0)], shapely.difference(cells, taken))
    from ._geometry import polygonal

    return polygonal(np.asarray(cells, dtype=object))
