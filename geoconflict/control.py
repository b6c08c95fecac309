"""Dated control layers: who held what, and when.

A control layer is a set of polygons with a ``controller`` and a validity period.  Two ways of
dating are accepted:

* ``valid_from`` / ``valid_to`` per feature (inclusive days; either end may be empty = open);
* a ``date`` per snapshot: the snapshot is in force from that date until the day before the next
  snapshot's date (the last one stays open).

Several snapshots may sit in one file, or one file per date (``read_control([p1, p2])``; a file
without a date column takes the date in its name, e.g. ``control_2020-03-05.geojson``).

:func:`read_control` normalises any of these to ``controller`` (str), ``valid_from``, ``valid_to``
(datetime64[ns], NaT = open), ``snapshot`` (a label such as ``2020-03-06/2020-06-02``, ``..`` for an
open end), ``source_feature`` (1-based feature number in its file) and ``source_path``, plus the
source's other columns.  :func:`validate_control` checks every feature and every state in time
(overlaps between different controllers in km², gaps, dates, missing controllers, invalid
geometry) and reports all problems at once; layers with errors are refused with a
:class:`~geoconflict.errors.LayerError` naming the features.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._dates import (
    EARLIEST_DAY,
    LATEST_DAY,
    date_error,
    parse_day,
    require_dates,
)
from ._geometry import check_coordinates, drop_empty_parts, repair_polygons
from ._snapshots import snapshot_at, snapshot_labels, snapshot_positions, snapshots
from .control_sources import ControlSource
from .crs import align, equal_area_crs_for, require_crs
from .errors import LayerError
from .io import read_layer

log = logging.getLogger(__name__)

__all__ = [
    "ControlProblem",
    "ControlReport",
    "read_control",
    "validate_control",
    "snapshots",
    "snapshot_at",
    "front_lines",
    "CONTROLLER_ALIASES",
    "FROM_ALIASES",
    "TO_ALIASES",
    "DATE_ALIASES",
    "find_column",
    "parse_dates",
    "ControlSource",
]

#: column names recognised as the controller (case-insensitive, first match wins)
CONTROLLER_ALIASES = (
    "controller", "control", "controlled_by", "controlledby", "holder", "held_by", "party",
    "faction", "actor", "force",
)
FROM_ALIASES = ("valid_from", "validfrom", "from", "date_from", "start", "start_date", "begin")
TO_ALIASES = ("valid_to", "validto", "to", "date_to", "end", "end_date", "until")
DATE_ALIASES = ("date", "snapshot_date", "as_of", "asof")
ONE_DAY = pd.Timedelta(days=1)

Source: TypeAlias = str | Path | gpd.GeoDataFrame


# --------------------------------------------------------------------------------------------
# reading


def find_column(columns: Iterable[str], aliases: Sequence[str]) -> str | None:
    """The first column whose name (case-insensitive) is one of ``aliases``, or ``None``."""
    lower = {str(c).lower(): c for c in columns}
    for a in aliases:
        if a in lower:
            return lower[a]
    return None


def parse_dates(
    values: pd.Series, *, path: str | None, column: str, features: np.ndarray
) -> pd.Series:
    """A control layer's date column to datetime64[ns] days (:func:`geoconflict._dates.require_dates`,
    the one date parser): empty / 'open' -> NaT; an unreadable value, a number or a day outside
    :data:`DAY_RANGE_TEXT` raises a :class:`LayerError` naming the file, the feature and the column."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        # a reader's datetime column keeps the file's own resolution (a GeoPackage date may be
        # any year): days outside the range are refused before any cast to nanoseconds
        s = values.dt.tz_convert("UTC").dt.tz_localize(None) if isinstance(
            values.dtype, pd.DatetimeTZDtype) else values
        days = s.dt.floor("D")
        far = (days.notna() & ((days < EARLIEST_DAY) | (days > LATEST_DAY))).to_numpy(bool)
        if far.any():
            raise date_error(values, far, path=path, column=column, features=features, error=LayerError)
        return days.astype("datetime64[ns]")
    return require_dates(values, path=path, column=column, features=features, open_ok=True,
                         error=LayerError)


def _read_one(
    source: Source, *, layer: str | int | None, controller_col: str | None,
    controller: str | None = None,
) -> tuple[gpd.GeoDataFrame, str, str]:
    """One source -> frame with controller, valid_from, valid_to, _date (one of the two models),
    its name, and where its dates came from (``period``, ``column``, ``name`` or ``none``)."""
    from .control_sources import name_date

    if isinstance(source, gpd.GeoDataFrame):
        gdf, path = source.copy(), None
    else:
        gdf, path = read_layer(source, layer=layer, what="control layer"), str(source)
    require_crs(gdf, f"control layer {path or ''}".strip())
    features = np.arange(1, len(gdf) + 1)
    check_coordinates(gdf.geometry.to_numpy(), gdf.crs, what="control layer", path=path,
                      features=features)
    # empty parts and rings dropped before any other GEOS call (even with validate=False); the
    # invalid polygons are repaired and reported by validate_control (ControlReport.problems)
    geoms, emptied = drop_empty_parts(gdf.geometry.to_numpy())
    if len(emptied):
        log.warning("control layer %s: feature(s) %s: empty part(s) or ring(s) dropped", path or "",
                    ", ".join(str(int(i) + 1) for i in emptied[:10]) + (", ..." if len(emptied) > 10 else ""))
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    col = controller_col if controller_col is not None else find_column(gdf.columns, CONTROLLER_ALIASES)
    if controller_col is not None and col not in gdf.columns:
        col = None
    if col is None and controller is None:
        raise LayerError(
            f"no controller column (looked for {controller_col or ', '.join(CONTROLLER_ALIASES[:5])})",
            path=path,
            fix="name the holder of a single-actor layer with --controller NAME (library: controller=), "
                "or rename the column to 'controller'",
        )
    if col is not None:
        ctrl = gdf[col].astype(object).where(gdf[col].notna(), None)
        ctrl = ctrl.map(lambda v: "" if v is None else str(v).strip())
        if controller is not None:  # features naming no one are held by the given controller
            ctrl = ctrl.where(ctrl != "", str(controller).strip())
    else:
        ctrl = pd.Series(str(controller).strip(), index=gdf.index, dtype=object)
    frm, to, dt = (find_column(gdf.columns, a) for a in (FROM_ALIASES, TO_ALIASES, DATE_ALIASES))
    out = gdf.drop(columns=[c for c in (col, frm, to) if c is not None and c != "controller"])
    out["controller"] = ctrl.astype(str).to_numpy()
    nat = pd.Series(pd.NaT, index=gdf.index, dtype="datetime64[ns]")
    if frm is not None or to is not None:
        out["valid_from"] = parse_dates(gdf[frm], path=path, column=frm, features=features) if frm else nat
        out["valid_to"] = parse_dates(gdf[to], path=path, column=to, features=features) if to else nat
        out["_date"] = nat
        kind = "period"
    elif dt is not None:
        out["_date"] = parse_dates(gdf[dt], path=path, column=dt, features=features)
        if out["_date"].isna().any():
            i = int(np.flatnonzero(out["_date"].isna().to_numpy())[0])
            raise LayerError("a snapshot has no date", path=path, feature=int(features[i]), column=dt,
                             fix="give every feature the date its snapshot takes effect")
        out = out.drop(columns=[dt])
        out["valid_from"], out["valid_to"] = nat, nat
        kind = "column"
    else:
        when = name_date(path) if path else None
        out["_date"] = pd.Series(pd.NaT if when is None else when, index=gdf.index, dtype="datetime64[ns]")
        out["valid_from"], out["valid_to"] = nat, nat
        kind = "none" if when is None else "name"
    out["source_feature"] = features
    out["source_path"] = path or ""
    return out, path or "(GeoDataFrame)", kind


def read_control(
    source: Source | Sequence[Source] | ControlSource,
    *,
    layer: str | int | None = None,
    controller_col: str | None = None,
    controller: str | None = None,
    extent: str | Path | gpd.GeoDataFrame | None = None,
    remainder: str | None = None,
    validate: bool = True,
    on: Any = None,
) -> gpd.GeoDataFrame:
    """Read one control layer, or several (one per date), into the normalised form.

    ``source``: a file, a GeoDataFrame, a folder (every vector file in it), a glob pattern
    (``archive/*.geojson``), a list of these, or a
    :class:`~geoconflict.control_sources.ControlSource` (which carries the options below).
    A file without dates takes the date in its name (``YYYY-MM-DD``, ``YYYYMMDD`` or
    ``YYYY_MM_DD`` anywhere in the stem); identical consecutive snapshots are merged (logged).

    ``controller``: the holder of features with no controller column or an empty value (a
    single-actor archive).  ``extent`` (a polygon layer, any CRS): pieces outside it are kept
    and reported; with ``remainder``, the part of the extent no controller holds on each date
    is held by ``remainder``.  Notes (merged snapshots, ground outside the extent) are logged and
    kept in ``attrs["control_notes"]``.

    With ``validate=True`` (default) the layer goes through :func:`validate_control`: problems
    are logged, invalid geometry is repaired, and a layer with errors raises
    :class:`~geoconflict.errors.LayerError`.

    ``on`` (a day): only the features in force that day are returned, and overlaps and gaps are
    checked on that day's state only (the area held on one date does not need the other 49
    states' topology); every feature's own checks (controller, dates, geometry) still run.  A
    day no zone covers is refused with the layer's time span.
    """
    from .control_sources import (
        apply_extent,
        expand_sources,
        merge_identical_snapshots,
        name_date,
        read_extent,
    )

    if isinstance(source, ControlSource):
        layer = source.layer if layer is None else layer
        controller = source.controller if controller is None else controller
        extent = source.extent if extent is None else extent
        remainder = source.remainder if remainder is None else remainder
        source = list(source.paths)
    day = parse_day(on) if on is not None else None  # a bad date is refused before any reading
    if remainder is not None and extent is None:
        raise LayerError("a remainder controller needs an extent",
                         fix="add --extent FILE (a country or study-area polygon), or drop --remainder")
    given: list[Source] = (
        list(source) if isinstance(source, (list, tuple)) else [source]
    )
    if not given:
        raise LayerError("no control layer given", fix="pass at least one file")
    sources: list[Source] = []
    collected: set[str] = set()  # files found in a folder or by a pattern: each must carry a date
    for src in given:
        if isinstance(src, gpd.GeoDataFrame):
            sources.append(src)
        else:
            files = expand_sources(src)
            if Path(src).is_dir() or not Path(src).exists():
                collected.update(str(f) for f in files)
            sources.extend(files)
    # files dated by their names are read in date order (the order given does not matter)
    named = [name_date(s) if isinstance(s, (str, Path)) else None for s in sources]
    if len(sources) > 1 and all(d is not None for d in named):
        sources = [s for _d, _i, s in sorted(zip(named, range(len(sources)), sources, strict=True),
                                              key=lambda t: (t[0], t[1]))]
    ext = read_extent(extent) if extent is not None else None
    frames: list[gpd.GeoDataFrame] = []
    crs = None
    by_name_date: dict[pd.Timestamp, str] = {}
    for src in sources:
        frame, name, kind = _read_one(src, layer=layer, controller_col=controller_col,
                                      controller=controller)
        if kind == "none" and name in collected:
            raise LayerError(
                "a file of the archive carries no date (no valid_from/valid_to or date column, no "
                "YYYY-MM-DD, YYYYMMDD or YYYY_MM_DD in its name)",
                path=name,
                fix="put the date in the file name (occupied_2024-08-01.geojson) or add a 'date' column; "
                    "keep other files (an extent, a legend) out of the folder or the pattern",
            )
        if kind == "name":
            when = pd.Timestamp(frame["_date"].iloc[0]) if len(frame) else None
            if when is not None and when in by_name_date:
                raise LayerError(
                    f"two files carry the date {when:%Y-%m-%d}: {by_name_date[when]} and this one",
                    path=name, fix="keep one file per date (remove or rename the duplicate)",
                )
            if when is not None:
                by_name_date[when] = name
        if crs is None:
            crs = frame.crs
        else:
            frame = align(frame, crs, f"control layer {name}")
        frames.append(frame)
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry=frames[0].geometry.name, crs=crs)
    dated = out["_date"].notna().to_numpy()
    undated_model = out["valid_from"].isna().to_numpy() & out["valid_to"].isna().to_numpy() & ~dated
    if len(sources) > 1 and undated_model.any():
        i = int(np.flatnonzero(undated_model)[0])
        raise LayerError(
            "several control files but this one carries no date (no valid_from/valid_to or date "
            "column, no YYYY-MM-DD, YYYYMMDD or YYYY_MM_DD in its name)",
            path=out["source_path"].iloc[i] or None, feature=int(out["source_feature"].iloc[i]),
            fix="add a 'date' column or put the date in the file name (control_2020-03-05.geojson)",
        )
    notes: list[str] = []
    out, merged = merge_identical_snapshots(out)
    out = out.reset_index(drop=True)
    if merged:
        notes.append(f"{len(merged)} snapshot(s) identical to the one before merged into it "
                     f"({', '.join(f'{d:%Y-%m-%d}' for d in merged[:5])}{', ...' if len(merged) > 5 else ''})")
    dated = out["_date"].notna().to_numpy()
    if dated.any():
        dates = np.sort(out.loc[dated, "_date"].unique())
        nxt = pd.Series(list(dates[1:]) + [pd.NaT], index=dates, dtype="datetime64[ns]")
        d = out.loc[dated, "_date"]
        out.loc[dated, "valid_from"] = d.to_numpy()
        out.loc[dated, "valid_to"] = (nxt.reindex(d.to_numpy()).to_numpy() - ONE_DAY)
    out = out.drop(columns=["_date"])
    out["valid_from"] = out["valid_from"].astype("datetime64[ns]")
    out["valid_to"] = out["valid_to"].astype("datetime64[ns]")
    out["snapshot"] = snapshot_labels(out["valid_from"], out["valid_to"])
    if ext is not None:
        out, ext_notes = apply_extent(out, ext, remainder=remainder)
        notes.extend(ext_notes)
    geom = out.geometry.name
    first = ["controller", "valid_from", "valid_to", "snapshot"]
    rest = [c for c in out.columns if c not in first and c != geom]
    out = out[first + rest + [geom]]
    if validate:
        report = validate_control(out, on=day)
        for p in report.warnings:
            log.warning("control layer: %s", p.describe())
        out = report.control
    if day is not None:
        kept = snapshot_at(out, day)
        if len(kept) == 0:
            frm, to = out["valid_from"], out["valid_to"]
            span_from = ".." if frm.isna().any() else f"{frm.min():%Y-%m-%d}"
            span_to = ".." if to.isna().any() else f"{to.max():%Y-%m-%d}"
            raise LayerError(f"no control zone is in force on {day:%Y-%m-%d} "
                             f"(the layer covers {span_from} to {span_to})",
                             fix="choose a date inside the control layer's validity")
        out = kept.reset_index(drop=True)
    for note in notes:
        log.warning("control layer: %s", note)
    out.attrs["control_notes"] = notes
    return out


def _day(ts: Any) -> str:
    return ".." if pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")


# --------------------------------------------------------------------------------------------
# time


# --------------------------------------------------------------------------------------------
# validation


@dataclass(frozen=True)
class ControlProblem:
    """One problem with a feature (or a pair of features) of a control layer."""

    kind: str  # missing_controller, dates_reversed, empty_geometry, not_polygon, invalid_geometry,
    #            empty_parts, overlap, gap
    severity: str  # "error" or "warning"
    features: tuple[int, ...]  # 1-based feature numbers in the source
    snapshot: str
    detail: str
    path: str = ""
    area_km2: float | None = None

    def describe(self) -> str:
        where = f"{self.path}: " if self.path else ""
        feats = ", ".join(str(f) for f in self.features)
        noun = "feature" if len(self.features) == 1 else "features"
        return f"{where}{noun} {feats} (snapshot {self.snapshot}): {self.detail}"


@dataclass
class ControlReport:
    """Every problem found, the repaired layer, and the overlaps/gaps as tables."""

    control: gpd.GeoDataFrame
    problems: list[ControlProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[ControlProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[ControlProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def table(self) -> pd.DataFrame:
        """The problems as a table (one row per problem)."""
        return pd.DataFrame(
            [
                {"kind": p.kind, "severity": p.severity, "features": ";".join(map(str, p.features)),
                 "snapshot": p.snapshot, "area_km2": p.area_km2, "detail": p.detail, "path": p.path}
                for p in self.problems
            ],
            columns=["kind", "severity", "features", "snapshot", "area_km2", "detail", "path"],
        )

    def raise_if_invalid(self) -> None:
        errs = self.errors
        if not errs:
            return
        first = errs[0]
        more = f" (and {len(errs) - 1} more problem(s): " + "; ".join(
            e.describe() for e in errs[1:4]
        ) + (" …" if len(errs) > 4 else "") + ")" if len(errs) > 1 else ""
        raise LayerError(
            f"invalid control layer: {first.detail}{more}",
            path=first.path or None,
            feature=", ".join(map(str, first.features)),
            fix=_FIXES.get(first.kind, "correct the feature and try again"),
        )


_FIXES = {
    "missing_controller": "fill in the controller of every feature",
    "dates_reversed": "valid_to must be on or after valid_from (inclusive days)",
    "empty_geometry": "remove the feature or draw its polygon",
    "not_polygon": "control zones must be polygons",
    "overlap": "make the zones of different controllers meet without overlapping, or raise "
               "max_overlap_km2",
}


def _repair_in_chunks(geoms: np.ndarray, where: np.ndarray, *, size: int = 64
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`repair_polygons` over ``size`` features at a time: an archive of hundreds of
    detailed snapshots is not copied part by part all at once (peak memory stays bounded)."""
    if len(geoms) <= size:
        return repair_polygons(geoms, where)
    out, idx, why = geoms, [], []
    for lo in range(0, len(geoms), size):
        part, i, r = repair_polygons(geoms[lo:lo + size], where[lo:lo + size])
        if len(i):
            if out is geoms:
                out = geoms.copy()
            out[lo:lo + size] = part
            idx.append(i + lo)
            why.extend(r)
    return out, (np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)), why


def validate_control(
    control: gpd.GeoDataFrame,
    *,
    max_overlap_km2: float = 0.5,
    min_gap_km2: float = 0.01,
    strict: bool = True,
    on: pd.Timestamp | None = None,
) -> ControlReport:
    """Check a normalised control layer and report every problem at once.

    Errors: missing controller, ``valid_to`` before ``valid_from``, empty or non-polygon
    geometry, overlaps between different controllers in force at the same time larger than
    ``max_overlap_km2``.  Warnings: smaller overlaps, gaps (holes enclosed by the zones of one
    state) larger than ``min_gap_km2``, invalid geometry (repaired with ``make_valid``).
    With ``strict`` (default) a layer with errors raises :class:`LayerError` naming the feature.
    ``on`` (a day): overlaps and gaps are checked on the state in force that day only.
    """
    for col in ("controller", "valid_from", "valid_to"):
        if col not in control.columns:
            raise LayerError(f"not a normalised control layer: no '{col}' column",
                             fix="read it with geoconflict.control.read_control")
    require_crs(control, "control layer")
    ctl = control.copy()
    if "snapshot" not in ctl.columns:
        ctl["snapshot"] = snapshot_labels(ctl["valid_from"], ctl["valid_to"])
    feats = (ctl["source_feature"].to_numpy() if "source_feature" in ctl.columns
             else np.arange(1, len(ctl) + 1))
    paths = (ctl["source_path"].astype(str).to_numpy() if "source_path" in ctl.columns
             else np.array([""] * len(ctl), dtype=object))
    snaps = ctl["snapshot"].astype(str).to_numpy()
    problems: list[ControlProblem] = []

    def add(kind: str, sev: str, idx: Sequence[int | np.integer], detail: str, area: float | None = None,
            snapshot: str | None = None) -> None:
        problems.append(ControlProblem(
            kind, sev, tuple(int(feats[i]) for i in idx), snapshot or str(snaps[idx[0]]), detail,
            str(paths[idx[0]]), area))

    ctrl = ctl["controller"].astype(object)
    missing = ctrl.isna().to_numpy() | (ctrl.astype(str).str.strip() == "").to_numpy()
    for i in np.flatnonzero(missing):
        add("missing_controller", "error", [i], "no controller")
    frm = ctl["valid_from"].to_numpy("datetime64[ns]")
    to = ctl["valid_to"].to_numpy("datetime64[ns]")
    rev = ~np.isnat(frm) & ~np.isnat(to) & (to < frm)
    for i in np.flatnonzero(rev):
        add("dates_reversed", "error", [i],
            f"valid_to {_day(to[i])} is before valid_from {_day(frm[i])}")
    geoms = ctl.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(empty):
        add("empty_geometry", "error", [i], "empty or missing geometry")
    types = shapely.get_type_id(geoms)
    notpoly = ~empty & ~np.isin(types, [3, 6])  # Polygon, MultiPolygon
    for i in np.flatnonzero(notpoly):
        add("not_polygon", "error", [i], f"geometry is a {shapely.get_type_id(geoms[i])!s} type, "
            "not a polygon")
    ok = ~empty & ~notpoly
    geoms, repaired, reasons = _repair_in_chunks(geoms, ok)
    if len(repaired):
        for i, why in zip(repaired, reasons, strict=True):
            add("invalid_geometry" if "make_valid" in why else "empty_parts", "warning", [i], why)
        ctl = ctl.set_geometry(gpd.GeoSeries(geoms, index=ctl.index, crs=ctl.crs))
    # overlaps and gaps per state in time, measured in an equal-area CRS
    usable = ok & ~missing & ~rev
    if usable.any():
        # topology in the layer's own CRS (where it was drawn); areas in an equal-area CRS
        ea = equal_area_crs_for(ctl[usable])
        src_geoms = ctl.geometry.to_numpy()

        def km2(parts: Any) -> np.ndarray:
            return np.asarray(gpd.GeoSeries(parts, crs=ctl.crs).to_crs(ea).area) / 1e6
        usable_at = np.flatnonzero(usable)
        seen_pairs: set[tuple[int, int]] = set()
        seen_gaps: set[tuple[int, ...]] = set()
        all_names = ctl["controller"].to_numpy()
        for start, end, members in snapshot_positions(ctl[["valid_from", "valid_to"]].iloc[usable_at]):
            if on is not None and not ((pd.isna(start) or start <= on) and (pd.isna(end) or on <= end)):
                continue  # only the state in force on the day asked for
            label = f"{_day(start)}/{_day(end)}"
            idx = usable_at[members]
            g = src_geoms[idx]
            tree = shapely.STRtree(g)
            # a valid coverage (zones meeting edge to edge) has no overlap to measure, and its
            # union is a cheap stitching of edges; anything else takes the general path
            coverage = len(g) < 2 or bool(shapely.coverage_is_valid(g))
            a, b = tree.query(g, predicate="intersects") if not coverage else (np.zeros(0, int),) * 2
            keep = (a < b)
            a, b = a[keep], b[keep]
            names = all_names[idx]
            diff = names[a] != names[b]
            a, b = a[diff], b[diff]
            if len(a):
                inter = km2(shapely.intersection(g[a], g[b]))
                for i, j, area in zip(a, b, inter, strict=True):
                    key = (int(idx[i]), int(idx[j]))
                    if area <= 0 or key in seen_pairs:
                        continue
                    seen_pairs.add(key)
                    sev = "error" if area > max_overlap_km2 else "warning"
                    add("overlap", sev, [idx[i], idx[j]],
                        f"zones of {names[i]!r} and {names[j]!r} overlap by {area:.3f} km²",
                        float(area), snapshot=label)
            union = shapely.coverage_union_all(g) if coverage else shapely.union_all(g)
            holes = [shapely.Polygon(r) for p in shapely.get_parts(union)
                     for r in getattr(p, "interiors", [])]
            hole_km2: np.ndarray | list[float] = km2(holes) if holes else []
            for h, area in zip(holes, hole_km2, strict=True):
                if area < min_gap_km2:
                    continue
                near = tuple(int(idx[k]) for k in tree.query(h, predicate="intersects"))
                if near in seen_gaps:
                    continue
                seen_gaps.add(near)
                add("gap", "warning", list(near) or [idx[0]],
                    f"a gap of {area:.3f} km² covered by no controller", float(area), snapshot=label)
    report = ControlReport(control=ctl, problems=problems)
    if strict:
        report.raise_if_invalid()
    return report


# --------------------------------------------------------------------------------------------
# front lines


def front_lines(
    snapshot: gpd.GeoDataFrame, *, tolerance: float = 0.0, metric_crs: Any = None
) -> gpd.GeoDataFrame:
    """Shared boundaries between zones of different controllers, one line per pair.

    Columns: ``controller_left``, ``controller_right`` (the pair in alphabetical order),
    ``pair`` (``"A | B"``), ``valid_from``, ``valid_to`` (the state's validity when the input
    carries it), ``length_m`` (in the data's UTM zone), geometry (in the input's CRS).
    ``tolerance`` (in CRS units) snaps zones that nearly meet before the boundaries are compared.
    ``metric_crs`` (default: the data's UTM zone) is where ``length_m`` is measured.
    """
    from .crs import metric_crs_for

    crs = require_crs(snapshot, "control snapshot")
    cols = ["controller_left", "controller_right", "pair", "valid_from", "valid_to", "length_m"]
    if len(snapshot) == 0:
        return gpd.GeoDataFrame(columns=[*cols, "geometry"], geometry="geometry", crs=crs)
    g = snapshot.geometry.to_numpy()
    names = snapshot["controller"].astype(str).to_numpy()
    tree = shapely.STRtree(g)
    probe = shapely.buffer(g, tolerance) if tolerance > 0 else g
    a, b = tree.query(probe, predicate="intersects")
    keep = (a != b) & (names[a] != names[b]) & ((a < b) | (tolerance > 0))
    a, b = a[keep], b[keep]
    rows: dict[tuple[str, str], list[Any]] = {}
    if len(a):
        bound_b = shapely.boundary(g[b])
        other = shapely.buffer(bound_b, tolerance) if tolerance > 0 else bound_b
        shared = shapely.intersection(shapely.boundary(g[a]), other)
        for i, j, s in zip(a, b, shared, strict=True):
            lines = [p for p in shapely.get_parts(s) if p.geom_type in ("LineString", "MultiLineString")]
            if not lines:
                continue
            key = tuple(sorted((names[i], names[j])))
            rows.setdefault(key, []).extend(lines)
    # the state's validity: the intersection of its features' validity periods
    vf = snapshot["valid_from"].max() if "valid_from" in snapshot.columns else pd.NaT
    vt = snapshot["valid_to"].min() if "valid_to" in snapshot.columns else pd.NaT
    recs = []
    for (left, right), lines in sorted(rows.items()):
        merged = shapely.line_merge(shapely.union_all(lines))
        recs.append({"controller_left": left, "controller_right": right,
                     "pair": f"{left} | {right}", "valid_from": vf, "valid_to": vt,
                     "geometry": merged})
    out = gpd.GeoDataFrame(recs, columns=[*cols[:5], "geometry"], geometry="geometry", crs=crs)
    out["valid_from"] = pd.to_datetime(out["valid_from"]).astype("datetime64[ns]")
    out["valid_to"] = pd.to_datetime(out["valid_to"]).astype("datetime64[ns]")
    if len(out):
        out["length_m"] = out.geometry.to_crs(metric_crs or metric_crs_for(snapshot)).length.to_numpy()
    else:
        out["length_m"] = pd.Series(dtype=float)
    return out[[*cols, "geometry"]]
