"""Control-zone overlays: area held per controller per admin unit, and ground that changed hands.

Every area is measured in a Lambert azimuthal equal-area CRS centred on the data
(:func:`geoconflict.crs.equal_area_crs_for`), never in degrees.  Both layers are reprojected to
it explicitly before they are intersected.  A control snapshot is first dissolved per controller
(so two touching polygons of one controller are not counted twice), then intersected with the
admin units through an STRtree, one vectorised intersection per (unit, controller) pair.

Outputs
-------
:func:`area_by_controller` returns one feature per (admin unit, controller) with the admin
attributes, ``controller``, ``area_km2``, ``unit_area_km2``, ``share`` (area / unit area) and
``date``; and a summary table with the totals per controller (``controller``, ``area_km2``,
``share`` of all admin units' area, ``admin_units``), plus a ``(not covered)`` row for ground no
controller holds, so the rows add up to the admin units' total area.

:func:`control_change` returns the ground that changed hands between two dates, one feature per
(``from_controller``, ``to_controller``) pair (per admin unit and pair with ``admin``), with
``area_km2``; ground that entered or left the control layer's coverage has ``(none)`` on the empty
side.  Its summary has ``scope`` = ``total`` rows per pair and, with ``admin``, ``admin`` rows per
unit and pair.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._dates import parse_day
from ._geometry import POLYGON_TYPES, checked_polygons, log_repairs, polygonal, repair_polygons
from .crs import align, equal_area_crs_for, require_crs, require_same_crs
from .errors import InputError, LayerError, SchemaError
from .io import source_of

log = logging.getLogger(__name__)

__all__ = [
    "area_by_controller",
    "control_change",
    "net_change",
    "NOT_COVERED",
    "NONE",
    "ALL",
    "parse_day",
    "area_series",
    "plot_series",
]

#: summary row label for admin ground no controller holds
NOT_COVERED = "(not covered)"
#: pieces of area below this (km²) are slivers of two layers' edges, folded in (``--min-area``)
MIN_AREA_KM2 = 0.01
#: from/to label for ground outside the control layer's coverage on one of the two dates
NONE = "(none)"
#: summary row label for the totals over every group (``summary_by``)
ALL = "(all)"
_RESERVED = (
    "controller",
    "from_controller",
    "to_controller",
    "area_km2",
    "unit_area_km2",
    "share",
    "date",
    "date_from",
    "date_to",
    "scope",
)


def _require_control(control: gpd.GeoDataFrame) -> None:
    missing = [c for c in ("controller", "valid_from", "valid_to") if c not in control.columns]
    if missing:
        raise SchemaError(
            f"not a normalised control layer: no {', '.join(repr(m) for m in missing)} column",
            fix="read it with geoconflict.control.read_control (the CLI does this)",
        )
    require_crs(control, "control layer")


def _valid(geoms: np.ndarray, what: str) -> np.ndarray:
    """Empty parts dropped and invalid polygons repaired (each logged), before any other GEOS
    operation on them."""
    geoms, idx, reasons = repair_polygons(geoms)
    log_repairs(what, idx, reasons)
    return geoms


def _checked_admin(admin: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The admin units made safe for GEOS (:func:`geoconflict._geometry.checked_polygons`: CRS,
    coordinates on the Earth, empty parts dropped, invalid polygons repaired, each logged)."""
    src = source_of(admin)
    return checked_polygons(admin, what="admin layer", path=src or None)


def _dissolve_by_controller(snap: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(controller names sorted, one geometry per controller) in the snapshot's CRS."""
    names = snap["controller"].astype(str).to_numpy()
    geoms = _valid(np.asarray(snap.geometry.values, dtype=object), "control layer")
    uniq = np.unique(names)
    merged = np.array(
        [shapely.union_all(geoms[names == n]) for n in uniq], dtype=object
    )  # one union per controller
    return uniq.astype(object), polygonal(merged)


def _admin_frame(
    admin: gpd.GeoDataFrame, admin_fields: Sequence[str] | None
) -> tuple[pd.DataFrame, list[str]]:
    src = source_of(admin)
    require_crs(admin, "admin layer")
    if len(admin) == 0:
        raise LayerError(
            "the admin layer has no features", path=src, fix="give a polygon layer of admin units"
        )
    geom = admin.geometry.name
    fields = (
        list(admin_fields) if admin_fields is not None else [c for c in admin.columns if c != geom]
    )
    absent = [f for f in fields if f not in admin.columns or f == geom]
    if absent:
        raise SchemaError(
            f"admin field(s) not found: {', '.join(absent)}",
            path=src,
            column=absent[0],
            fix=f"choose among {', '.join(str(c) for c in admin.columns if c != geom)}",
        )
    geoms = np.asarray(admin.geometry.values, dtype=object)
    types = shapely.get_type_id(geoms)
    notpoly = ~np.isin(types, POLYGON_TYPES)
    if notpoly.any():
        i = int(np.flatnonzero(notpoly)[0])
        raise LayerError(
            "admin units must be polygons",
            path=src,
            feature=i + 1,
            fix="give the admin boundary polygons, not points or lines",
        )
    empty = shapely.is_empty(geoms)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise LayerError(
            f"an admin unit has an empty polygon ({int(empty.sum())} in all)",
            path=src,
            feature=i + 1,
            fix="remove the feature or draw its polygon",
        )
    attrs = pd.DataFrame(admin[fields]).reset_index(drop=True)
    renamed = {f: f"admin_{f}" for f in fields if f in _RESERVED}
    return attrs.rename(columns=renamed), [renamed.get(f, f) for f in fields]


#: longest edge (degrees) kept straight when longitude/latitude geometry is projected for areas
_MAX_EDGE_DEG = 0.01


def _km2(geoms: np.ndarray, crs: Any, ea: Any) -> np.ndarray:
    """Areas in km², measured in the equal-area CRS ``ea``.

    Longitude/latitude edges are first cut to at most 0.01° so that an edge stays the line it is
    in the data (straight in longitude/latitude) once projected; otherwise a unit and the pieces
    cut from it (which carry extra vertices along its edges) would disagree slightly.
    """
    if len(geoms) == 0:
        return np.array([], dtype=float)
    g = gpd.GeoSeries(geoms, crs=crs)
    if g.crs is not None and g.crs.is_geographic:
        g = gpd.GeoSeries(
            shapely.segmentize(np.asarray(g.values, dtype=object), _MAX_EDGE_DEG), crs=crs
        )
    return np.asarray(g.to_crs(ea).area, dtype=float) / 1e6


def _pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs (i in a, j in b) whose polygons share area, and the intersections."""
    tree = shapely.STRtree(b)
    ia, ib = tree.query(a, predicate="intersects")
    inter = polygonal(shapely.intersection(a[ia], b[ib]))
    keep = shapely.area(inter) > 0
    return ia[keep], ib[keep], inter[keep]


def area_by_controller(
    control: gpd.GeoDataFrame,
    admin: gpd.GeoDataFrame,
    *,
    date: Any,
    admin_fields: Sequence[str] | None = None,
    summary_by: str | None = None,
    min_area_km2: float = MIN_AREA_KM2,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The control snapshot in force on ``date`` intersected with the admin units.

    Pieces smaller than ``min_area_km2`` (slivers where two layers' edges almost meet: a
    controller's piece of a unit, or ground no zone covers) are folded in: left out of the layer
    and the summary, and counted in the log.

    Returns ``(layer, summary)``: the layer has one feature per (admin unit, controller) with the
    admin attributes (``admin_fields``, default all; a field named like an output column gets an
    ``admin_`` prefix), ``controller``, ``area_km2``, ``unit_area_km2``, ``share`` and ``date``,
    in the admin layer's CRS, in admin-unit order; the summary has the totals per controller and
    a ``(not covered)`` row (``share`` of all the units' area, ``admin_units`` counted).

    ``summary_by``: an admin attribute (e.g. ``ADM1_PCODE`` on sub-districts) to total per value
    as well: the summary then has that column, rows per (value, controller) whose shares are of
    that group's area (so they add up to 1 per group), and the overall rows with ``(all)``.
    """
    _require_control(control)
    day = parse_day(date)
    attrs, fields = _admin_frame(admin, admin_fields)
    admin = _checked_admin(admin)
    if summary_by is not None and (
        summary_by not in admin.columns or summary_by == admin.geometry.name
    ):
        raise SchemaError(
            f"summary field not found: {summary_by}",
            column=summary_by,
            fix="name an attribute of the admin layer, e.g. ADM1_PCODE",
        )
    from .control import snapshot_at

    snap = snapshot_at(control, day)
    if len(snap) == 0:
        raise LayerError(
            f"no control zone is in force on {day:%Y-%m-%d}{_coverage(control)}",
            fix="choose a date inside the control layer's validity",
        )
    # intersect in the admin layer's own CRS (the control layer reprojected to it explicitly), so
    # edges shared by both layers stay exactly shared; measure every area in an equal-area CRS
    work = align(snap, admin, "control layer")
    require_same_crs(admin, work, "admin layer", "control layer")
    ea = equal_area_crs_for(admin)

    names, ctrl_geoms = _dissolve_by_controller(work)
    unit_geoms = np.asarray(admin.geometry.values, dtype=object)
    unit_km2 = _km2(unit_geoms, admin.crs, ea)
    iu, ic, inter = _pairs(unit_geoms, ctrl_geoms)
    order = np.lexsort((names[ic].astype(str), iu))
    iu, ic, inter = iu[order], ic[order], inter[order]
    area_km2 = _km2(inter, admin.crs, ea)
    sliver = area_km2 < min_area_km2
    if sliver.any():
        log.info("%d piece(s) under %g km² folded in (slivers along shared edges)",
                 int(sliver.sum()), min_area_km2)
        iu, ic, inter, area_km2 = iu[~sliver], ic[~sliver], inter[~sliver], area_km2[~sliver]

    out = attrs.iloc[iu].reset_index(drop=True)
    out["controller"] = names[ic].astype(str)
    out["area_km2"] = area_km2
    out["unit_area_km2"] = unit_km2[iu]
    out["share"] = area_km2 / unit_km2[iu]
    out["date"] = f"{day:%Y-%m-%d}"
    layer = gpd.GeoDataFrame(out, geometry=inter, crs=admin.crs)

    held = np.bincount(iu, weights=area_km2, minlength=len(unit_km2))
    over = held > unit_km2 * (1 + 1e-4)
    if over.any():
        log.warning(
            "%d admin unit(s) are held more than once (overlapping control zones); "
            "their shares add up to more than 1",
            int(over.sum()),
        )
    uncovered = np.clip(unit_km2 - held, 0.0, None)
    uncovered[(uncovered < unit_km2 * 1e-9) | (uncovered < min_area_km2)] = 0.0  # slivers, rounding noise
    summary = _held_summary(
        iu,
        names[ic].astype(str),
        area_km2,
        unit_km2,
        uncovered,
        None if summary_by is None else admin[summary_by].to_numpy(),
        summary_by,
    )
    log.info(
        "area held on %s: %d admin units, %d controller(s), %.1f km² not covered",
        f"{day:%Y-%m-%d}",
        len(unit_km2),
        len(names),
        float(uncovered.sum()),
    )
    return layer[
        [*fields, "controller", "area_km2", "unit_area_km2", "share", "date", "geometry"]
    ], summary


def _held_summary(
    iu: np.ndarray,
    controllers: np.ndarray,
    area_km2: np.ndarray,
    unit_km2: np.ndarray,
    uncovered: np.ndarray,
    groups: np.ndarray | None,
    by: str | None,
) -> pd.DataFrame:
    """Totals per controller (and ``(not covered)``), overall or per ``by`` group of units."""
    nc = np.flatnonzero(uncovered > 0)
    long = pd.DataFrame(
        {
            "unit": np.concatenate([iu, nc]),
            "controller": np.concatenate(
                [controllers, np.full(len(nc), NOT_COVERED, dtype=object)]
            ),
            "area_km2": np.concatenate([area_km2, uncovered[nc]]),
        }
    )
    long["_last"] = long["controller"] == NOT_COVERED
    cols = ["controller", "area_km2", "share", "admin_units"]

    def totals(frame: pd.DataFrame, unit_total: float) -> pd.DataFrame:
        g = frame.groupby(["_last", "controller"], sort=True)
        out = pd.DataFrame({"area_km2": g["area_km2"].sum(), "admin_units": g["unit"].nunique()})
        out = out.reset_index().drop(columns="_last")
        if not (out["controller"] == NOT_COVERED).any():
            out = pd.concat(
                [
                    out,
                    pd.DataFrame(
                        {"controller": [NOT_COVERED], "area_km2": [0.0], "admin_units": [0]}
                    ),
                ],
                ignore_index=True,
            )
        out["share"] = out["area_km2"] / unit_total if unit_total > 0 else np.nan
        return out[cols]

    if groups is None or by is None:
        return totals(long, float(unit_km2.sum()))
    key = pd.Series(groups, dtype=object).astype(str).to_numpy()
    long["_group"] = key[long["unit"].to_numpy()]
    unit_by_group = pd.Series(unit_km2).groupby(key).sum()
    parts = []
    for value, frame in long.groupby("_group", sort=True):  # one per group (e.g. governorate)
        parts.append(totals(frame, float(unit_by_group[value])).assign(**{by: value}))
    parts.append(totals(long, float(unit_km2.sum())).assign(**{by: ALL}))
    return pd.concat(parts, ignore_index=True)[[by, *cols]]


def _totals(layer: pd.DataFrame, key: str | list[str]) -> pd.DataFrame:
    keys = [key] if isinstance(key, str) else key
    g = pd.DataFrame(layer).groupby(keys, sort=True, dropna=False)
    return pd.DataFrame(
        {
            "area_km2": g["area_km2"].sum(),
            "admin_units": g.size(),
        }
    ).reset_index()


def _coverage(control: gpd.GeoDataFrame) -> str:
    frm, to = control["valid_from"].min(), control["valid_to"].max()
    if control["valid_to"].isna().any():
        to = pd.NaT
    if control["valid_from"].isna().any():
        frm = pd.NaT
    f = ".." if pd.isna(frm) else f"{frm:%Y-%m-%d}"
    t = ".." if pd.isna(to) else f"{to:%Y-%m-%d}"
    return f" (the layer covers {f} to {t})"


def control_change(
    control: gpd.GeoDataFrame,
    *,
    date_from: Any,
    date_to: Any,
    admin: gpd.GeoDataFrame | None = None,
    admin_fields: Sequence[str] | None = None,
    min_area_km2: float = 0.0,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The ground that changed hands between ``date_from`` and ``date_to`` (snapshots in force
    on each day).

    Returns ``(layer, summary)``: the layer has one feature per (``from_controller``,
    ``to_controller``) pair, or per (admin unit, pair) with ``admin``, with ``area_km2``,
    ``date_from``, ``date_to`` (and the admin attributes); ``(none)`` marks ground outside the
    layer's coverage on one date.  Pieces smaller than ``min_area_km2`` are left out (and
    counted in the log).  The summary has ``scope`` ``total`` rows per pair and, with ``admin``,
    ``admin`` rows per unit and pair.
    """
    _require_control(control)
    d1, d2 = parse_day(date_from, what="--from date"), parse_day(date_to, what="--to date")
    if d2 < d1:
        raise InputError(
            f"the --to date {d2:%Y-%m-%d} is before the --from date {d1:%Y-%m-%d}",
            fix="swap the two dates",
        )
    from .control import snapshot_at

    a, b = snapshot_at(control, d1), snapshot_at(control, d2)
    for snap, day in ((a, d1), (b, d2)):
        if len(snap) == 0:
            raise LayerError(
                f"no control zone is in force on {day:%Y-%m-%d}{_coverage(control)}",
                fix="choose dates inside the control layer's validity",
            )
    fields: list[str] = []
    if admin is not None:  # checked (polygons, coordinates in range) before anything uses it
        attrs, fields = _admin_frame(admin, admin_fields)
        admin = _checked_admin(admin)
    # work in the control layer's own CRS (admin reprojected to it explicitly) so that edges the
    # two snapshots share stay exactly shared; measure every area in an equal-area CRS
    crs = control.crs
    ea = equal_area_crs_for(*([control] if admin is None else [admin]))
    na, ga = _dissolve_by_controller(a)
    nb, gb = _dissolve_by_controller(b)
    ia, ib, inter = _pairs(ga, gb)
    moved = na[ia] != nb[ib]
    frm = list(na[ia][moved])
    to = list(nb[ib][moved])
    geoms = list(inter[moved])
    # ground covered on one date only
    ua, ub = shapely.union_all(ga), shapely.union_all(gb)
    lost = polygonal(shapely.difference(ga, ub))
    gained = polygonal(shapely.difference(gb, ua))
    for names, pieces, is_from in ((na, lost, True), (nb, gained, False)):
        for n, g in zip(names, pieces, strict=True):  # one per controller
            if shapely.area(g) > 0:
                frm.append(n if is_from else NONE)
                to.append(NONE if is_from else n)
                geoms.append(g)
    pairs = pd.DataFrame(
        {
            "from_controller": pd.Series(frm, dtype=object).astype(str),
            "to_controller": pd.Series(to, dtype=object).astype(str),
        }
    )
    pair_geoms = np.array(geoms, dtype=object)
    if admin is not None:
        admin_w = align(admin, control, "admin layer")
        require_same_crs(admin_w, control, "admin layer", "control layer")
        units = np.asarray(admin_w.geometry.values, dtype=object)
        iu, ip, pieces = (
            _pairs(units, pair_geoms)
            if len(pair_geoms)
            else (np.array([], int), np.array([], int), np.array([], dtype=object))
        )
        out = pd.concat(
            [attrs.iloc[iu].reset_index(drop=True), pairs.iloc[ip].reset_index(drop=True)], axis=1
        )
        out_geoms = pieces
        order_keys: list[str] = ["_unit", "from_controller", "to_controller"]
        out["_unit"] = iu
    else:
        out = pairs.copy()
        out_geoms = pair_geoms
        order_keys = ["from_controller", "to_controller"]
    out["area_km2"] = _km2(out_geoms, crs, ea)
    small = out["area_km2"].to_numpy() < min_area_km2
    if small.any():
        log.info(
            "left out %d piece(s) under %g km² (%.4f km² in all)",
            int(small.sum()),
            min_area_km2,
            float(out["area_km2"].to_numpy()[small].sum()),
        )
    out["_geom"] = out_geoms
    out = out.loc[~small].sort_values(order_keys, kind="stable").reset_index(drop=True)
    out["date_from"] = f"{d1:%Y-%m-%d}"
    out["date_to"] = f"{d2:%Y-%m-%d}"
    geometry = out.pop("_geom").to_numpy()
    cols = [*fields, "from_controller", "to_controller", "area_km2", "date_from", "date_to"]
    layer = gpd.GeoDataFrame(out[cols], geometry=geometry, crs=crs)

    total = _totals(layer, ["from_controller", "to_controller"]).rename(
        columns={"admin_units": "pieces"}
    )
    total.insert(0, "scope", "total")
    parts = [total]
    if admin is not None:
        per_unit = pd.DataFrame(layer.drop(columns="geometry"))[
            [*fields, "from_controller", "to_controller", "area_km2"]
        ]
        per_unit = per_unit.assign(scope="admin", pieces=1)
        parts.append(per_unit)
    summary = pd.concat(parts, ignore_index=True)
    summary = summary[["scope", *fields, "from_controller", "to_controller", "area_km2", "pieces"]]
    return layer, summary


def net_change(summary: pd.DataFrame) -> pd.DataFrame:
    """Ground gained, lost and net per controller (km²) from a :func:`control_change` summary."""
    total = summary.loc[summary["scope"] == "total"]
    gained = total.groupby("to_controller")["area_km2"].sum()
    lost = total.groupby("from_controller")["area_km2"].sum()
    names = sorted(set(gained.index) | set(lost.index))
    out = pd.DataFrame({"controller": names})
    out["gained_km2"] = gained.reindex(names, fill_value=0.0).to_numpy()
    out["lost_km2"] = lost.reindex(names, fill_value=0.0).to_numpy()
    out["net_km2"] = out["gained_km2"] - out["lost_km2"]
    return out


# --------------------------------------------------------------------------------------------
# area over time


def area_series(
    control: gpd.GeoDataFrame,
    *,
    admin: gpd.GeoDataFrame | None = None,
    admin_fields: Sequence[str] | None = None,
    every: str | None = None,
) -> pd.DataFrame:
    """Area held per controller on every snapshot date (per admin unit with ``admin``).

    One row per (snapshot date, controller), or per (date, admin unit, controller) with the
    admin attributes first: ``date`` (the day the snapshot takes effect, ``YYYY-MM-DD``),
    ``controller``, ``area_km2`` (equal-area CRS), ``change_km2`` (since the previous snapshot
    kept; empty on the first).  A controller (unit and controller) seen on any date has a row on
    every date (0 when it holds nothing), so changes add up.  ``every`` (``week``, ``month``, any
    of :data:`geoconflict.units.PERIODS`) keeps the last snapshot of each period.
    """
    from .control import snapshots
    from .units import check_period, period_start

    _require_control(control)
    states = snapshots(control)
    if not states:
        raise LayerError("the control layer holds no zone", fix="give a control layer with polygons")
    starts = pd.Series([s for s, _e, _st in states], dtype="datetime64[ns]")
    keep = np.arange(len(states))
    if every is not None:
        key = period_start(starts, check_period(every))
        last = pd.Series(np.arange(len(states))).groupby(key.fillna(pd.Timestamp.min).to_numpy()).max()
        keep = np.sort(last.to_numpy())
    fields: list[str] = []
    if admin is not None:
        attrs, fields = _admin_frame(admin, admin_fields)
        admin = _checked_admin(admin)
        work_admin = align(admin, control, "admin layer")
        require_same_crs(work_admin, control, "admin layer", "control layer")
        units = np.asarray(work_admin.geometry.values, dtype=object)
        ea = equal_area_crs_for(admin)
    else:
        ea = equal_area_crs_for(control)
    recs: list[pd.DataFrame] = []
    for k in keep:
        start, _end, state = states[int(k)]
        names, geoms = _dissolve_by_controller(state)
        label = _day_label(start)
        if admin is None:
            recs.append(pd.DataFrame({"_k": k, "date": label, "_unit": -1,
                                      "controller": names.astype(str),
                                      "area_km2": _km2(geoms, control.crs, ea)}))
        else:
            iu, ic, inter = _pairs(units, geoms)
            recs.append(pd.DataFrame({"_k": k, "date": label, "_unit": iu,
                                      "controller": names[ic].astype(str),
                                      "area_km2": _km2(inter, control.crs, ea)}))
    long = pd.concat(recs, ignore_index=True)
    long = long.groupby(["_k", "date", "_unit", "controller"], as_index=False, sort=False)["area_km2"].sum()
    # every (unit, controller) seen on any date, on every date
    dates = pd.DataFrame({"_k": keep, "date": [_day_label(states[int(k)][0]) for k in keep]})
    pairs = long[["_unit", "controller"]].drop_duplicates()
    grid = dates.merge(pairs, how="cross")
    out = grid.merge(long, on=["_k", "date", "_unit", "controller"], how="left")
    out["area_km2"] = out["area_km2"].fillna(0.0)
    out = out.sort_values(["_unit", "controller", "_k"], kind="stable")
    out["change_km2"] = out.groupby(["_unit", "controller"], sort=False)["area_km2"].diff()
    out = out.sort_values(["_k", "_unit", "controller"], kind="stable").reset_index(drop=True)
    cols = ["date", "controller", "area_km2", "change_km2"]
    if admin is not None:
        a = attrs.iloc[out["_unit"].to_numpy()].reset_index(drop=True)
        out = pd.concat([out[["date"]], a, out[cols[1:]]], axis=1)
        return out[["date", *fields, *cols[1:]]]
    return out[cols]


def _day_label(day: Any) -> str:
    return "" if pd.isna(day) else f"{pd.Timestamp(day):%Y-%m-%d}"


def plot_series(series: pd.DataFrame, path: Any, *, overwrite: bool = False,
                title: str = "Area held over time") -> Any:
    """A line per controller of the area held (km², summed over admin units) on each snapshot
    date, 1920 x 1080 px with large type (readable on a slide); written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from .io import atomic_path

    total = series.groupby(["date", "controller"], sort=True)["area_km2"].sum().reset_index()
    total = total[total["date"] != ""]
    fig, ax = plt.subplots(figsize=(16, 9), dpi=120)
    try:
        for name, part in total.groupby("controller", sort=True):
            ax.plot(pd.to_datetime(part["date"]), part["area_km2"], linewidth=3, label=str(name),
                    drawstyle="steps-post",
                    marker="o" if len(part) < 40 else None)
        ax.set_title(title, fontsize=28, pad=16)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("area held (km²)", fontsize=20)
        ax.tick_params(labelsize=16)
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=18, frameon=False)
        fig.tight_layout()
        with atomic_path(path, overwrite=overwrite) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


@dataclass
class ZonesResult:
    """What ``zones`` computes over one or several admin layers: the layer (an ``admin_layer``
    column when several), its summary table, and printable summary lines."""

    kind: str  #: "held" or "change"
    layer: gpd.GeoDataFrame
    summary: pd.DataFrame
    first_layer: str | None = None  #: the admin layer the summary line speaks of, when several
    summary_by: str | None = None
    day: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    n_units: int = 0

    def lines(self) -> list[str]:
        s = self.summary
        if self.first_layer is not None and "admin_layer" in s:
            s = s.loc[s["admin_layer"] == self.first_layer]
        if self.kind == "held":
            totals = s if self.summary_by is None else s.loc[s[self.summary_by] == ALL]
            parts = [f"{r.controller} {r.area_km2:,.1f} km² ({r.share:.1%})" for r in totals.itertuples()
                     if r.controller != NOT_COVERED or r.area_km2 >= 0.05]
            day = self.layer["date"].iloc[0] if len(self.layer) else self.day
            return [f"area held on {day} in {self.n_units} admin units, {len(self.layer)} features: "
                    + "; ".join(parts)]
        total = float(s.loc[s["scope"] == "total", "area_km2"].sum())
        net = "; ".join(f"{r.controller} {r.net_km2:+,.1f} km²" for r in net_change(s).itertuples())
        d1 = self.layer["date_from"].iloc[0] if len(self.layer) else self.date_from
        d2 = self.layer["date_to"].iloc[0] if len(self.layer) else self.date_to
        return [f"{total:,.1f} km² changed hands from {d1} to {d2} in {len(self.layer)} features"
                + (f": {net}" if net else "")]


def _over_layers(run: Any, admins: Sequence[gpd.GeoDataFrame | None], names: Sequence[str]
                 ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """One result per admin layer, concatenated with an ``admin_layer`` column when several."""
    results = [run(a) for a in (admins or [None])]
    if len(results) == 1:
        return results[0]
    for name, (lay, summ) in zip(names, results, strict=True):
        lay.insert(0, "admin_layer", name)
        summ.insert(0, "admin_layer", name)
    lays = gpd.GeoDataFrame(pd.concat([r[0] for r in results], ignore_index=True),
                            geometry="geometry", crs=results[0][0].crs)
    return lays, pd.concat([r[1] for r in results], ignore_index=True)


def held_over_layers(control: gpd.GeoDataFrame, admins: Sequence[gpd.GeoDataFrame], names: Sequence[str], *,
                     date: Any, admin_fields: Sequence[str] | None = None, summary_by: str | None = None,
                     min_area_km2: float = MIN_AREA_KM2) -> ZonesResult:
    """:func:`area_by_controller` over each admin layer (``names`` label them)."""
    layer, summary = _over_layers(lambda a: area_by_controller(
        control, a, date=date, admin_fields=admin_fields, summary_by=summary_by, min_area_km2=min_area_km2),
        admins, names)
    return ZonesResult("held", layer, summary, first_layer=names[0] if len(admins) > 1 else None,
                       summary_by=summary_by, day=str(date), n_units=len(admins[0]))


def change_over_layers(control: gpd.GeoDataFrame, admins: Sequence[gpd.GeoDataFrame | None],
                       names: Sequence[str], *, date_from: Any, date_to: Any,
                       admin_fields: Sequence[str] | None = None, min_area_km2: float = 0.0) -> ZonesResult:
    """:func:`control_change` over each admin layer (or none); with several, the summary keeps
    the first layer's overall totals and every layer's per-unit rows."""
    layer, summary = _over_layers(lambda a: control_change(
        control, date_from=date_from, date_to=date_to, admin=a, admin_fields=admin_fields,
        min_area_km2=min_area_km2), admins, names)
    if len(admins) > 1:
        summary = summary.loc[(summary["scope"] != "total") | (summary["admin_layer"] == names[0])]
    return ZonesResult("change", layer, summary, date_from=str(date_from), date_to=str(date_to))
