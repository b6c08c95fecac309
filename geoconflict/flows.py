"""Displacement flows: records or origin/destination matrices -> places -> flows -> arcs and arrows.

The stages, each a function a script can call:

1. :func:`read_flows` (in :mod:`geoconflict._flow_readers`): CSV/Excel records or matrices into one
   record table, with a report (header row, columns, ``Grand Total`` disagreements).
2. :func:`resolve_places`: every origin and destination to a point, by coordinates, by P-code or by
   name against admin layers (a representative point inside the polygon) and places tables
   (the shared gazetteer, tolerant of transliteration).  What cannot be resolved is quarantined
   with the reason and the closest candidates.
3. :func:`aggregate_flows`: flows per period and admin level, gross or net; self-flows (the matrix
   diagonal) reported, not drawn; ``min_individuals`` and ``top`` cut flows but count them.
4. :func:`flow_arcs` and :func:`arrowheads`: curved arcs built in a metric CRS, bending to the right
   of travel by a fixed fraction of their length (so A->B and B->A never overlap), and triangles
   whose tip is exactly the destination; :func:`width_scale` maps volume to line width.

Accounting (:class:`FlowReport`, asserted in code):
``drawn + self_flows + below_min + top_cut + netted + quarantined == input_individuals``.
HNAP counts movements, not unique persons; so do these sums.  A count above ``MAX_COUNT`` (1e12;
``1e308`` would make every sum infinite) is no count of people: its row is quarantined as
``implausible_count`` with the value in ``detail``, and the value is in none of these sums.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from ._flow_readers import (
    MAX_COUNT,
    RECORD_COLUMNS,
    FlowRecords,
    ReadReport,
    TotalMismatch,
    level_of_label,
    read_flows,
)
from ._geometry import EMPTY_PARTS, check_coordinates, drop_empty_parts, log_repairs
from .crs import WGS84, metric_crs_for, require_crs, to_crs
from .errors import InputError, LayerError
from .units import period_label

__all__ = [
    "read_flows",
    "resolve_places",
    "aggregate_flows",
    "flow_arcs",
    "arrowheads",
    "width_scale",
    "flows_html",
    "build_flows",
    "write_flows",
    "flow_outputs",
    "check_flow_outputs",
    "FlowLayers",
    "FlowRecords",
    "ReadReport",
    "TotalMismatch",
    "ResolvedFlows",
    "FlowTable",
    "FlowReport",
    "QUARANTINE_REASONS",
]

log = logging.getLogger(__name__)

#: machine-readable reasons in a flows quarantine file
QUARANTINE_REASONS = (
    "missing_origin", "missing_destination", "non_numeric_individuals", "missing_individuals",
    "negative_individuals", "unparseable_date", "non_numeric_coordinate", "implausible_count",  # reading
    "unknown_place", "no_match", "ambiguous_name", "unknown_pcode", "coordinate_out_of_range",
    "no_gazetteer",  # resolving
)
#: origin/destination values that name no place
_UNKNOWN_RE = re.compile(
    r"^\s*(unknown|unk|n/?a|none|other|others|other .*|.* other|not specified|unspecified|"
    r"undetermined|multiple|various|\?+|-+)\s*$", re.I)
_PCODE_RE = re.compile(r"^\s*([A-Z]{2}\d{2,}|C\d{3,})\s*$", re.I)
_ADM_PCODE = re.compile(r"^adm(?:in)?_?(\d)_?p_?code$", re.I)
_ADM_NAME = re.compile(r"^adm(?:in)?_?(\d)_?(?:en|name|name_en)$", re.I)
_ADM_ALT = re.compile(r"^adm(?:in)?_?(\d)_?(?:ref|ref_?name|alt\d?_?en|alt\d?)$", re.I)
_TOL = 1e-6


# ============================================================================================
# accounting
# ============================================================================================

@dataclass
class FlowReport:
    """Where every input individual went (movements, as counted by the source)."""

    input_rows: int = 0
    input_individuals: float = 0.0
    quarantined_rows: int = 0
    quarantined: float = 0.0
    self_flows: float = 0.0  # movements within one unit (or between two places at one point)
    below_min: float = 0.0
    top_cut: float = 0.0
    netted: float = 0.0  # gross movements cancelled by the reverse direction (net=True)
    drawn: float = 0.0
    flows_drawn: int = 0
    flows_below_min: int = 0
    flows_top_cut: int = 0
    self_flow_units: int = 0
    total_mismatches: list[dict[str, Any]] = field(default_factory=list)

    def check(self) -> None:
        """Assert the invariant drawn + self + below_min + top_cut + netted + quarantined == input."""
        parts = self.drawn + self.self_flows + self.below_min + self.top_cut + self.netted + self.quarantined
        if not math.isclose(parts, self.input_individuals, rel_tol=1e-9, abs_tol=_TOL):
            raise AssertionError(f"flows accounting broken: parts {parts} != input {self.input_individuals}")

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def summary(self) -> str:
        return (f"{_n(self.input_individuals)} individuals in {self.input_rows} rows: drawn "
                f"{_n(self.drawn)} in {self.flows_drawn} flows, self-flows {_n(self.self_flows)}, "
                f"below --min {_n(self.below_min)}, cut by --top {_n(self.top_cut)}"
                + (f", netted {_n(self.netted)}" if self.netted else "")
                + f", quarantined {_n(self.quarantined)} ({self.quarantined_rows} rows)")


def _n(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


# ============================================================================================
# places
# ============================================================================================

@dataclass
class ResolvedFlows:
    """Records with both ends resolved to points, plus what is needed to aggregate them."""

    records: pd.DataFrame
    units: gpd.GeoDataFrame | None  # admin units of every level: level, pcode, name, lon, lat
    input_rows: int
    input_individuals: float
    quarantined_rows: int
    quarantined_individuals: float
    levels: list[int] = field(default_factory=list)
    total_mismatches: list[TotalMismatch] = field(default_factory=list)
    reports: list[ReadReport] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Path, pd.DataFrame)):
        return [value]
    return list(value)


def _admin_layer(src: str | Path | gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, str]:
    from .io import read_layer

    if isinstance(src, gpd.GeoDataFrame):
        gdf, what = src, "admin layer"
    else:
        gdf, what = read_layer(src, what="admin layer"), str(src)
    require_crs(gdf, what)
    # coordinates in range, empty polygon parts dropped, before any other GEOS call
    check_coordinates(gdf.geometry.to_numpy(), gdf.crs, what="admin layer",
                      path=None if isinstance(src, gpd.GeoDataFrame) else what)
    geoms, emptied = drop_empty_parts(gdf.geometry.to_numpy())
    if len(emptied):
        log_repairs(what, emptied, [EMPTY_PARTS] * len(emptied))
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    if not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    return gdf, what


def _admin_units(admin: Sequence[Any]) -> gpd.GeoDataFrame:
    """Admin units of every level found in the layers: level, pcode, name, alternative names,
    parent codes/names, geometry (WGS84) and a representative point (inside the polygon)."""
    rows: list[gpd.GeoDataFrame] = []
    for src in admin:
        gdf, what = _admin_layer(src)
        cols = {str(c): c for c in gdf.columns if c != gdf.geometry.name}
        code_by_level = {int(m.group(1)): c for c in cols if (m := _ADM_PCODE.match(c))}
        name_by_level = {int(m.group(1)): c for c in cols if (m := _ADM_NAME.match(c))}
        alts_by_level: dict[int, list[str]] = {}
        for c in cols:
            if m := _ADM_ALT.match(c):
                alts_by_level.setdefault(int(m.group(1)), []).append(c)
        levels = sorted(k for k in code_by_level if k > 0 and k in name_by_level)
        if not levels:
            raise LayerError(
                "the admin layer has no ADMn_PCODE/ADMn_EN columns (n = 1, 2, 3 ...)", path=what,
                fix="use OCHA COD-AB boundaries, or name the columns ADM1_PCODE and ADM1_EN")
        geom = gdf.geometry
        bad = geom.isna() | geom.is_empty
        if bad.any():
            gdf = gdf.loc[~bad]
        for k in levels:
            keep = [code_by_level[k], name_by_level[k], *alts_by_level.get(k, [])]
            parents = [c for j in levels if j < k for c in (code_by_level[j], name_by_level[j])]
            sub = gdf[[*dict.fromkeys(keep + parents), gdf.geometry.name]]
            if sub[code_by_level[k]].duplicated().any():  # coarser units of a finer layer
                sub = sub.dissolve(by=code_by_level[k], as_index=False, method="coverage", aggfunc="first")
                if not sub.geometry.is_valid.all():
                    sub = sub.set_geometry(shapely.make_valid(sub.geometry.to_numpy()))
            unit = pd.DataFrame({
                "level": k,
                "pcode": sub[code_by_level[k]].astype("string").str.strip().to_numpy(),
                "name": sub[name_by_level[k]].astype("string").str.strip().to_numpy(),
            })
            for i, a in enumerate(alts_by_level.get(k, [])):
                unit[f"ALT{i + 1}"] = sub[a].astype("string").to_numpy()
            for j in levels:
                if j < k:
                    unit[f"ADM{j}_PCODE"] = sub[code_by_level[j]].astype("string").to_numpy()
                    unit[f"ADM{j}_EN"] = sub[name_by_level[j]].astype("string").to_numpy()
            pts = shapely.point_on_surface(sub.geometry.to_numpy())
            unit["lon"] = shapely.get_x(pts)
            unit["lat"] = shapely.get_y(pts)
            rows.append(gpd.GeoDataFrame(unit, geometry=sub.geometry.to_numpy(), crs=WGS84))
    units = pd.concat(rows, ignore_index=True)
    units = units.drop_duplicates(["level", "pcode"], keep="first").reset_index(drop=True)
    return gpd.GeoDataFrame(units, geometry="geometry", crs=WGS84)


def _places_frame(places: Sequence[Any]) -> pd.DataFrame:
    from .gazetteer import read_table

    frames = []
    for src in places:
        df = src if isinstance(src, pd.DataFrame) else read_table(src, what="places table")
        frames.append(df)
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


@dataclass
class _Source:
    """One place of lookup: a gazetteer plus how its rows map to levels and admin codes."""

    label: str
    level: int  # 1..3 admin, 4 places
    gazetteer: Any
    table: pd.DataFrame  # the gazetteer's places (lon, lat, attributes)
    code_col: str | None
    name_col: str


def _sources(units: gpd.GeoDataFrame | None, places_df: pd.DataFrame | None) -> list[_Source]:
    from .gazetteer import Gazetteer

    out: list[_Source] = []
    if units is not None:
        for k in sorted(units["level"].unique(), reverse=True):
            u = pd.DataFrame(units.loc[units["level"] == k].drop(columns="geometry")).reset_index(drop=True)
            frame = u.rename(columns={"name": "NAME"}).drop(columns=["level"])
            frame["gc_row"] = np.arange(len(frame))
            gaz = Gazetteer.from_frame(frame, name_col="NAME", lon="lon", lat="lat")
            out.append(_Source(f"admin{k}", int(k), gaz, gaz.places, "pcode", "NAME"))
    if places_df is not None and len(places_df):
        places_df = places_df.copy()
        places_df["gc_row"] = np.arange(len(places_df))
        gaz = Gazetteer.from_frame(places_df)
        code_col = next((c for c in gaz.places.columns if re.search(r"PCODE|P_CODE", str(c), re.I)
                         and not _ADM_PCODE.match(str(c))), None)
        out.append(_Source("places", 4, gaz, gaz.places, code_col, gaz.name_cols[0]))
    return out


def _order(sources: list[_Source], hint: int | None) -> list[_Source]:
    """Lookup order: the hinted level first, else the finest admin level, then places, then the
    coarser admin levels."""
    if hint is not None:
        first = [s for s in sources if s.level == hint]
        return first + [s for s in sources if s.level != hint]
    admin = [s for s in sources if s.level < 4]
    places = [s for s in sources if s.level == 4]
    return admin[:1] + places + admin[1:]


def _split_context(values: pd.Series) -> dict[str, np.ndarray]:
    """'Idleb | Ariha' context strings -> one array per part (non-empty parts only)."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    if not (text != "").any():
        return {}
    parts = text.str.split(r"\s*\|\s*", regex=True, expand=True).fillna("")
    return {f"context{i}": parts[c].to_numpy(object) for i, c in enumerate(parts.columns)
            if (parts[c] != "").any()}


def _resolve_side(values: pd.Series, context: pd.Series, lon: pd.Series, lat: pd.Series,
                  sources: list[_Source], units: gpd.GeoDataFrame | None, hint: int | None,
                  levels: list[int]) -> pd.DataFrame:
    """Resolve one end (origin or destination) of every record; vectorised over distinct values."""
    n = len(values)
    text = values.astype("string").fillna("").str.strip()
    # object columns while filling (cheap assignments); typed at the end
    none = np.full(n, None, dtype=object)
    out = pd.DataFrame({
        "code": none.copy(), "name": none.copy(),
        "lon": np.full(n, np.nan), "lat": np.full(n, np.nan),
        "match": none.copy(), "score": np.full(n, np.nan), "level": np.full(n, np.nan),
        "reason": none.copy(), "candidates": np.full(n, "", dtype=object),
    })
    for k in levels:
        out[f"adm{k}_pcode"] = none.copy()
        out[f"adm{k}_name"] = none.copy()

    # 1. coordinates given in the records
    x, y = lon.to_numpy(float), lat.to_numpy(float)
    has_xy = np.isfinite(x) & np.isfinite(y)
    bad_xy = has_xy & ((np.abs(x) > 180) | (np.abs(y) > 90) | ((x == 0) & (y == 0)))
    ok_xy = has_xy & ~bad_xy
    out.loc[bad_xy, "reason"] = "coordinate_out_of_range"
    out.loc[ok_xy, "lon"] = x[ok_xy]
    out.loc[ok_xy, "lat"] = y[ok_xy]
    out.loc[ok_xy, "match"] = "coordinates"
    out.loc[ok_xy, "score"] = 100.0
    out.loc[ok_xy, "level"] = 0
    named = text != ""
    coord_code = pd.Series(np.round(x, 5).astype(str), dtype="string") + "," + \
        pd.Series(np.round(y, 5).astype(str), dtype="string")
    out.loc[ok_xy, "code"] = np.where(named[ok_xy], text[ok_xy], coord_code[ok_xy])
    out.loc[ok_xy, "name"] = np.where(named[ok_xy], text[ok_xy], coord_code[ok_xy])

    todo = ~has_xy & named.to_numpy(bool)
    # 2. names that name no place
    unknown = todo & text.str.match(_UNKNOWN_RE.pattern, flags=_UNKNOWN_RE.flags).fillna(False).to_numpy(bool)
    out.loc[unknown, "reason"] = "unknown_place"
    todo &= ~unknown
    if todo.any() and not sources:
        out.loc[todo, "reason"] = "no_gazetteer"
        todo[:] = False

    # 3. P-codes: exact lookup among every source's codes
    if todo.any():
        code_table = []
        for s in sources:
            if s.code_col is None:
                continue
            t = s.table
            codes = t[s.code_col].astype("string").str.strip().str.upper()
            code_table.append(pd.DataFrame({"key": codes, "src": s.label, "row": np.arange(len(t))}))
        lut = (pd.concat(code_table, ignore_index=True).dropna(subset=["key"])
               .drop_duplicates("key") if code_table else pd.DataFrame(columns=["key", "src", "row"]))
        upper = text.str.upper()
        hit = todo & upper.isin(set(lut["key"])).to_numpy(bool)
        if hit.any():
            m = pd.DataFrame({"key": upper[hit].to_numpy()}).merge(lut, on="key", how="left")
            src_by = {s.label: s for s in sources}
            idx = np.flatnonzero(hit)
            for label, grp in m.groupby("src"):
                s = src_by[str(label)]
                rows = grp["row"].to_numpy(int)
                _assign(out, idx[grp.index.to_numpy()], s, rows, match="pcode", score=100.0,
                        levels=levels)
            todo &= ~hit
        looks = todo & upper.str.match(_PCODE_RE.pattern, flags=_PCODE_RE.flags).fillna(False).to_numpy(bool)
        if looks.any():
            out.loc[looks, "reason"] = "unknown_pcode"
            near = pd.Series(np.sort(lut["key"].to_numpy(str)))
            for code in upper[looks].unique():  # distinct unknown codes: codes sharing a prefix
                pref = str(code)[:4]
                out.loc[looks & (upper == code).to_numpy(bool), "candidates"] = "; ".join(
                    near[near.str.startswith(pref)].head(3))
            todo &= ~looks

    # 4. names: sources in order; the first unique exact match wins, else the best fuzzy one.
    #    Worked on distinct (name, context) pairs, then spread back to the rows.
    if todo.any():
        idx = np.flatnonzero(todo)
        keys = pd.DataFrame({"name": text.iloc[idx].to_numpy(object),
                             **_split_context(context.iloc[idx].reset_index(drop=True))})
        group = keys.groupby(list(keys.columns), sort=False, dropna=False).ngroup().to_numpy()
        uniq = keys.drop_duplicates().reset_index(drop=True)
        m = len(uniq)
        best_status = np.full(m, "none", dtype=object)
        best_score = np.zeros(m)
        best_src = np.full(m, -1)
        best_row = np.full(m, -1)
        cands = pd.Series([""] * m, dtype=object)
        ordered = _order(sources, hint)
        ctx_cols = [c for c in uniq.columns if c != "name"]
        for si, s in enumerate(ordered):
            pidx = np.flatnonzero(best_status != "exact")
            if not len(pidx):
                break
            sub = uniq.iloc[pidx]
            res = s.gazetteer.match(sub["name"].reset_index(drop=True),
                                    context={c: sub[c].to_numpy(object) for c in ctx_cols} or None)
            st = res["geocode_status"].to_numpy(object)
            sc = res["geocode_score"].to_numpy(float)
            prow = _gazetteer_rows(s, res)  # row of the matched place in the source's table
            c = res["geocode_candidates"].fillna("").astype(str).to_numpy(object)
            prev = cands.iloc[pidx].to_numpy(object)
            add = np.where(c != "", f"{s.label}: " + c, "")
            cands.iloc[pidx] = np.where(prev == "", add, np.where(add == "", prev, prev + "; " + add))
            hit = np.isin(st, ["exact", "fuzzy"]) & (prow >= 0)
            upd = hit & ((st == "exact") | (best_status[pidx] == "none")
                         | (best_status[pidx] == "ambiguous")
                         | ((best_status[pidx] == "fuzzy") & (sc > best_score[pidx])))
            t = pidx[upd]
            best_status[t], best_score[t], best_src[t], best_row[t] = st[upd], sc[upd], si, prow[upd]
            amb = (st == "ambiguous") & (best_status[pidx] == "none")
            best_status[pidx[amb]] = "ambiguous"
        rs, rsrc, rrow, rsc = best_status[group], best_src[group], best_row[group], best_score[group]
        for si, s in enumerate(ordered):
            sel = rsrc == si
            if sel.any():
                _assign(out, idx[sel], s, rrow[sel], match=rs[sel], score=rsc[sel], levels=levels)
        fail = rsrc < 0
        out.loc[idx[fail], "reason"] = np.where(rs[fail] == "ambiguous", "ambiguous_name", "no_match")
        out.loc[idx[fail], "candidates"] = cands.to_numpy(object)[group][fail]

    # 5. admin codes of points that came with coordinates (or from a table without ADM codes)
    if units is not None and levels:
        need = out["lon"].notna().to_numpy(bool)
        for k in levels:
            need_k = need & out[f"adm{k}_pcode"].isna().to_numpy(bool) & (
                out["level"].fillna(0).to_numpy(int) != k)
            need_k &= (out["level"].fillna(0).to_numpy(int) == 0) | (out["level"].fillna(0).to_numpy(int) > k)
            if not need_k.any():
                continue
            layer = units.loc[units["level"] == k]
            pts = shapely.points(out.loc[need_k, "lon"].to_numpy(float), out.loc[need_k, "lat"].to_numpy(float))
            tree = shapely.STRtree(layer.geometry.to_numpy())
            pi, ui = tree.query(pts, predicate="intersects")
            first = pd.Series(ui, index=pi).groupby(level=0).first()
            rows = np.flatnonzero(need_k)[first.index.to_numpy()]
            out.loc[rows, f"adm{k}_pcode"] = layer["pcode"].to_numpy(object)[first.to_numpy()]
            out.loc[rows, f"adm{k}_name"] = layer["name"].to_numpy(object)[first.to_numpy()]
    for col in out.columns:
        if col in ("lon", "lat", "score"):
            continue
        if col == "level":
            out[col] = out[col].astype("Int8")
        else:
            out[col] = out[col].where(out[col].notna(), None).astype("string")
    return out


def _gazetteer_rows(s: _Source, res: pd.DataFrame) -> np.ndarray:
    """Row positions in the source table of each matched place (-1 when none), through the
    ``gc_row`` id column given to the gazetteer."""
    pos = pd.Series(np.arange(len(s.table)), index=s.table["gc_row"].to_numpy())
    rows = pos.reindex(pd.to_numeric(res["gc_row"], errors="coerce").to_numpy()).to_numpy()
    return np.nan_to_num(rows.astype(float), nan=-1).astype(int)


def _assign(out: pd.DataFrame, rows: np.ndarray, s: _Source, trow: np.ndarray, *, match: Any,
            score: Any, levels: list[int]) -> None:
    """Write the places of ``s`` (table rows ``trow``) into the result rows ``rows``."""
    t = s.table.iloc[trow]
    code = t[s.code_col].astype("string").to_numpy() if s.code_col else pd.array([None] * len(t), dtype="string")
    name = t[s.name_col].astype("string").to_numpy()
    out.loc[rows, "lon"] = t["lon"].to_numpy(float)
    out.loc[rows, "lat"] = t["lat"].to_numpy(float)
    out.loc[rows, "name"] = name
    # a place without a code is known by its name
    out.loc[rows, "code"] = np.where(pd.isna(code), name, code)
    out.loc[rows, "match"] = match
    out.loc[rows, "score"] = score
    out.loc[rows, "level"] = s.level
    out.loc[rows, "reason"] = pd.NA
    for k in levels:
        if s.level == k:
            out.loc[rows, f"adm{k}_pcode"] = code
            out.loc[rows, f"adm{k}_name"] = name
            continue
        pc, nm = f"ADM{k}_PCODE", f"ADM{k}_EN"
        if pc in t.columns:
            out.loc[rows, f"adm{k}_pcode"] = t[pc].astype("string").to_numpy()
        if nm in t.columns:
            out.loc[rows, f"adm{k}_name"] = t[nm].astype("string").to_numpy()


def _records_of(records: Any) -> tuple[pd.DataFrame, pd.DataFrame, list[ReadReport]]:
    items = records if isinstance(records, (list, tuple)) else [records]
    kinds = {isinstance(i, FlowRecords) for i in items}
    if len(kinds) > 1:
        raise InputError("resolve_places takes FlowRecords or plain DataFrames, not a mix",
                         fix="read every input with read_flows")
    recs, quars, reps = [], [], []
    for i, item in enumerate(items):
        if isinstance(item, FlowRecords):
            r, q = item.records.copy(), item.quarantine.copy()
            reps.append(item.report)
            label = item.report.path
        elif isinstance(item, pd.DataFrame):
            r, q = item.copy(), pd.DataFrame()
            label = f"table{i + 1}"
        else:
            raise InputError(f"resolve_places needs FlowRecords or DataFrames, not {type(item).__name__}")
        missing = [c for c in ("origin", "destination", "individuals") if c not in r.columns]
        if missing:
            raise InputError(f"flow records lack columns {missing}",
                             fix="read them with read_flows, or add the columns")
        if not isinstance(item, FlowRecords):
            _check_counts(r["individuals"], label)
        for c in RECORD_COLUMNS:
            if c not in r.columns:
                r[c] = np.nan if c.endswith(("lon", "lat")) or c == "families" else pd.NA
        if len(items) > 1:
            r["input"] = label
            if len(q):
                q["input"] = label
        recs.append(r)
        if len(q):
            quars.append(q)
    rec = pd.concat(recs, ignore_index=True) if len(recs) > 1 else recs[0].reset_index(drop=True)
    quar = pd.concat(quars, ignore_index=True) if quars else pd.DataFrame()
    return rec, quar, reps


def _check_counts(counts: pd.Series, label: str) -> None:
    """Individuals of a table given directly (not read by :func:`read_flows`, which quarantines
    them): numbers, finite, not negative, at most ``MAX_COUNT`` (else every sum overflows)."""
    vals = pd.to_numeric(counts, errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(vals) | (vals < 0) | (vals > MAX_COUNT)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"individuals {counts.iloc[i]!r} is not a count of people ({int(bad.sum())} such row(s))",
            path=label, row=i + 1, column="individuals",
            fix=f"give finite numbers from 0 to {MAX_COUNT:g}, or read the file with read_flows "
                "(which quarantines such rows)")


def resolve_places(
    records: FlowRecords | pd.DataFrame | Sequence[FlowRecords | pd.DataFrame],
    *,
    admin: Any = None,
    places: Any = None,
    level_hint: int | None = None,
) -> tuple[ResolvedFlows, pd.DataFrame]:
    """Resolve every origin and destination to a point (WGS84).

    In order: coordinates given in the records; P-codes (``SY07``, ``SY070500``, ``C4278``) looked
    up in the admin layers and places tables; names through the shared gazetteer
    (:class:`geoconflict.gazetteer.Gazetteer`, transliteration-tolerant), trying the admin level
    the input names (``level_hint``, or the matrix/column headers: governorate, sub-district ...)
    first, else the finest admin level, then the places tables, then coarser admin levels.
    Admin units are placed at a representative point inside the polygon, never a centroid.

    ``admin``: admin polygon layers (paths or GeoDataFrames with ``ADMn_PCODE``/``ADMn_EN``);
    ``places``: places tables (paths or DataFrames with names and lon/lat, e.g. OCHA populated
    places with their alternative spellings).

    Returns ``(resolved, quarantine)``: the quarantine holds the rows rejected when reading plus
    the rows whose origin or destination could not be resolved, with ``reason``, ``side``
    (origin / destination / both), ``detail`` and the closest ``candidates``.
    """
    rec, read_q, reports = _records_of(records)
    admin_list, places_list = _as_list(admin), _as_list(places)
    units = _admin_units(admin_list) if admin_list else None
    places_df = _places_frame(places_list) if places_list else None
    levels = sorted(int(k) for k in units["level"].unique()) if units is not None else []
    if places_df is not None:
        for k in (1, 2, 3):
            if f"ADM{k}_PCODE" in places_df.columns and k not in levels:
                levels.append(k)
        levels.sort()
    sources = _sources(units, places_df)
    hints = {r.level_hint for r in reports if r.level_hint}
    hint = level_hint if level_hint is not None else (hints.pop() if len(hints) == 1 else None)
    sides = {}
    for side in ("origin", "destination"):
        ctx_col = f"{side}_context"
        side_hint = hint
        for r in reports:  # a records column such as "Origin Governorate" names the level
            col = r.columns.get(side) if r.kind == "records" else None
            if col and level_hint is None and level_of_label(str(col)):
                side_hint = level_of_label(str(col))
        sides[side] = _resolve_side(rec[side], rec[ctx_col] if ctx_col in rec else
                                    pd.Series([None] * len(rec), dtype="string"),
                                    rec[f"{side}_lon"], rec[f"{side}_lat"], sources, units,
                                    side_hint, levels)
    o, d = sides["origin"], sides["destination"]
    o_bad, d_bad = o["reason"].notna().to_numpy(bool), d["reason"].notna().to_numpy(bool)
    bad = o_bad | d_bad
    resolved = rec.loc[~bad].copy()
    for side, res in sides.items():
        for col in res.columns:
            if col in ("reason", "candidates"):
                continue
            target = {"lon": f"{side}_lon", "lat": f"{side}_lat"}.get(col, f"{side}_{col}")
            resolved[target] = res.loc[~bad, col].to_numpy()
    resolved = resolved.reset_index(drop=True)

    q = rec.loc[bad].copy()
    side = np.where(o_bad & d_bad, "both", np.where(o_bad, "origin", "destination"))[bad]
    q["reason"] = np.where(o_bad[bad], o["reason"].to_numpy(object)[bad], d["reason"].to_numpy(object)[bad])
    q["side"] = side
    parts_d, parts_c = [], []
    for nm, res, flag in (("origin", o, o_bad), ("destination", d, d_bad)):
        given = rec[nm].astype("string").fillna("").to_numpy(object)
        why = res["reason"].astype("string").fillna("").to_numpy(object)
        cand = res["candidates"].astype("string").fillna("").to_numpy(object)
        parts_d.append(np.where(flag, nm + " '" + given + "': " + why, "")[bad])
        parts_c.append(np.where(flag & (cand != ""), nm + ": " + cand, "")[bad])

    def _join(a: np.ndarray, b: np.ndarray, sep: str) -> list[str]:
        return np.where((a != "") & (b != ""), a + sep + b, a + b).tolist()

    detail = _join(parts_d[0], parts_d[1], "; ")
    cands = _join(parts_c[0], parts_c[1], " | ")
    q["detail"] = detail
    q["candidates"] = cands
    if len(read_q):
        read_q = read_q.copy()
        if "detail" not in read_q.columns:
            read_q["detail"] = read_q["reason"]
        quarantine = pd.concat([read_q, q], ignore_index=True, sort=False)
    else:
        quarantine = q.reset_index(drop=True)
    quarantine = quarantine[[c for c in [*RECORD_COLUMNS, "input", "reason", "side", "detail", "candidates"]
                             if c in quarantine.columns]]
    mismatches = [m for r in reports for m in r.total_mismatches]
    input_ind = float(sum(r.input_individuals for r in reports)) if reports else float(
        np.nansum(rec["individuals"].to_numpy(float)))
    # DataFrames given directly contribute their own rows
    n_plain = 0 if reports else len(rec)
    input_rows = sum(r.rows_read for r in reports) + n_plain
    out = ResolvedFlows(
        records=resolved, units=units, input_rows=input_rows, input_individuals=input_ind,
        quarantined_rows=len(quarantine),
        quarantined_individuals=float(np.nansum(quarantine["individuals"].to_numpy(float)))
        if len(quarantine) else 0.0,
        levels=levels, total_mismatches=mismatches, reports=reports,
    )
    total = float(resolved["individuals"].sum()) + out.quarantined_individuals
    if not (math.isclose(total, out.input_individuals, rel_tol=1e-9, abs_tol=_TOL)
            and len(resolved) + len(quarantine) == out.input_rows):
        raise InputError(
            f"flows do not add up after placing: {len(resolved)} resolved + {len(quarantine)} "
            f"quarantined of {out.input_rows} rows, {total:g} of {out.input_individuals:g} individuals",
            path=", ".join(r.path for r in reports) or None,
            fix="check the counts are plain numbers of people; report the input if they are")
    return out, quarantine


# ============================================================================================
# aggregation
# ============================================================================================

@dataclass
class FlowTable:
    """Aggregated flows, self-flows (not drawn) and totals per unit, with the accounting."""

    flows: pd.DataFrame
    self_flows: pd.DataFrame
    totals: pd.DataFrame
    report: FlowReport
    level: int | None = None
    period: str | None = None
    net: bool = False

    def __len__(self) -> int:
        return len(self.flows)


def _period_labels(dates: pd.Series, period: str | None) -> pd.Series:
    """:func:`geoconflict.units.period_label` of each date (``all`` without a period, ``undated``
    for a record without a date)."""
    if period is None:
        return pd.Series(["all"] * len(dates), index=dates.index, dtype="string")
    return period_label(pd.to_datetime(dates), period).fillna("undated")


def _endpoint(res: pd.DataFrame, side: str, level: int | None,
              units: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Code, name and point of one end at the requested level."""
    code = res[f"{side}_code"].astype("string")
    name = res[f"{side}_name"].astype("string")
    lon, lat = res[f"{side}_lon"].to_numpy(float), res[f"{side}_lat"].to_numpy(float)
    if level is None:
        return pd.DataFrame({"code": code, "name": name, "lon": lon, "lat": lat})
    col = f"{side}_adm{level}_pcode"
    if col not in res.columns or units is None or not (units["level"] == level).any():
        raise InputError(f"cannot aggregate to admin level {level}: no admin layer of that level "
                         "or finer was given", fix=f"pass --admin with ADM{level}_PCODE polygons")
    u = units.loc[units["level"] == level].set_index("pcode")
    unit_code = res[col].astype("string")
    has = unit_code.notna() & unit_code.isin(u.index)
    out = pd.DataFrame({"code": code.where(~has, unit_code), "name": name, "lon": lon, "lat": lat})
    hc = unit_code[has].to_numpy()
    out.loc[has.to_numpy(bool), "name"] = u.loc[hc, "name"].to_numpy()
    out.loc[has.to_numpy(bool), "lon"] = u.loc[hc, "lon"].to_numpy(float)
    out.loc[has.to_numpy(bool), "lat"] = u.loc[hc, "lat"].to_numpy(float)
    if (~has).any():
        log.info("flows: %d endpoints are coarser than admin level %d and stay at their own unit",
                 int((~has).sum()), level)
    return out


def aggregate_flows(
    resolved: ResolvedFlows | pd.DataFrame,
    *,
    period: str | None = None,
    level: int | None = None,
    min_individuals: float = 0,
    top: int | None = None,
    net: bool = False,
) -> FlowTable:
    """Sum resolved records into flows per period (``day``/``week``/``month``/``quarter``/
    ``year``; None = all) between places, or admin units of ``level`` (1, 2, 3).

    Movements within one unit (origin == destination, the matrix diagonal) become ``self_flows``
    and are not drawn.  ``net=True`` keeps, for each pair, the difference in the dominant
    direction (the cancelled movements are counted as ``netted``).  Flows below
    ``min_individuals``, and beyond the ``top`` largest per period, are dropped from the drawing
    but counted.  ``share`` is a flow's gross individuals over all movements between distinct
    units in its period (before netting and the cuts).  Two distinct places at the same point
    count as a self-flow (nothing to draw).  ``totals`` gives, per unit and period, individuals out (to
    other units), in (from other units), within (self) and ``net_in`` = in - out.
    """
    if isinstance(resolved, ResolvedFlows):
        res, units = resolved.records, resolved.units
        report = FlowReport(input_rows=resolved.input_rows, input_individuals=resolved.input_individuals,
                            quarantined_rows=resolved.quarantined_rows,
                            quarantined=resolved.quarantined_individuals,
                            total_mismatches=[m.as_dict() for m in resolved.total_mismatches])
    else:
        res, units = resolved, None
        _check_counts(res["individuals"], "flow table")
        report = FlowReport(input_rows=len(res), input_individuals=float(res["individuals"].sum()))
    if min_individuals < 0:
        raise InputError("--min must be zero or positive", fix="e.g. --min 100")
    if top is not None and top < 1:
        raise InputError("--top must be at least 1", fix="e.g. --top 20")
    o = _endpoint(res, "origin", level, units)
    d = _endpoint(res, "destination", level, units)
    per = _period_labels(res["date"] if "date" in res.columns else pd.Series(pd.NaT, index=res.index), period)
    fam = res["families"].to_numpy(float) if "families" in res.columns else np.full(len(res), np.nan)
    base = pd.DataFrame({
        "period": per.to_numpy(), "origin": o["code"].to_numpy(), "destination": d["code"].to_numpy(),
        "origin_name": o["name"].to_numpy(), "destination_name": d["name"].to_numpy(),
        "origin_lon": o["lon"].to_numpy(float), "origin_lat": o["lat"].to_numpy(float),
        "destination_lon": d["lon"].to_numpy(float), "destination_lat": d["lat"].to_numpy(float),
        "individuals": res["individuals"].to_numpy(float), "families": fam,
    })
    keys = ["period", "origin", "destination"]
    g = base.groupby(keys, sort=True, dropna=False).agg(
        origin_name=("origin_name", "first"), destination_name=("destination_name", "first"),
        origin_lon=("origin_lon", "first"), origin_lat=("origin_lat", "first"),
        destination_lon=("destination_lon", "first"), destination_lat=("destination_lat", "first"),
        individuals=("individuals", "sum"), records=("individuals", "size"),
    )
    g["families"] = base.groupby(keys, sort=True, dropna=False)["families"].sum(min_count=1)
    g = g.reset_index()
    same_point = (np.isclose(g["origin_lon"].to_numpy(float), g["destination_lon"].to_numpy(float),
                             rtol=0, atol=1e-9)
                  & np.isclose(g["origin_lat"].to_numpy(float), g["destination_lat"].to_numpy(float),
                               rtol=0, atol=1e-9))
    is_self = (g["origin"] == g["destination"]).to_numpy(bool) | same_point
    self_flows = g.loc[is_self].rename(columns={"origin": "code", "origin_name": "name",
                                                "origin_lon": "lon", "origin_lat": "lat"})
    self_flows = self_flows[["period", "code", "name", "lon", "lat", "individuals", "families",
                             "records", "destination"]].rename(columns={"destination": "destination_code"})
    self_flows = self_flows.reset_index(drop=True)
    report.self_flows = float(self_flows["individuals"].sum())
    report.self_flow_units = len(self_flows)
    flows = g.loc[~is_self].reset_index(drop=True)

    # totals per unit (before the cuts)
    out_t = flows.groupby(["period", "origin"]).agg(name=("origin_name", "first"),
                                                    out_individuals=("individuals", "sum"))
    in_t = flows.groupby(["period", "destination"]).agg(name=("destination_name", "first"),
                                                        in_individuals=("individuals", "sum"))
    self_t = self_flows.groupby(["period", "code"]).agg(name=("name", "first"),
                                                        self_individuals=("individuals", "sum"))
    out_t.index.names = in_t.index.names = self_t.index.names = ["period", "code"]
    totals = pd.concat([out_t, in_t, self_t], axis=1)
    names = totals["name"].bfill(axis=1).iloc[:, 0] if isinstance(totals["name"], pd.DataFrame) else totals["name"]
    totals = totals.drop(columns="name")
    totals.insert(0, "name", names)
    for c in ("out_individuals", "in_individuals", "self_individuals"):
        totals[c] = totals[c].fillna(0.0)
    totals["net_in"] = totals["in_individuals"] - totals["out_individuals"]
    totals = totals.reset_index().sort_values(["period", "code"]).reset_index(drop=True)

    period_total = flows.groupby("period")["individuals"].transform("sum")
    flows["share"] = np.where(period_total > 0, flows["individuals"] / period_total, 0.0)

    if net and len(flows):
        rev = flows.set_index(["period", "origin", "destination"])["individuals"]
        back = rev.reindex(pd.MultiIndex.from_arrays(
            [flows["period"], flows["destination"], flows["origin"]])).fillna(0.0).to_numpy()
        flows["reverse_individuals"] = back
        flows["gross_individuals"] = flows["individuals"] + back
        netv = flows["individuals"].to_numpy() - back
        keep = (netv > 0)
        report.netted = float(flows["individuals"].sum() - netv[keep].sum())
        flows = flows.loc[keep].copy()
        flows["individuals"] = netv[keep]
        flows["families"] = np.nan  # families do not net meaningfully
        flows = flows.reset_index(drop=True)

    below = flows["individuals"] < min_individuals
    report.below_min = float(flows.loc[below, "individuals"].sum())
    report.flows_below_min = int(below.sum())
    flows = flows.loc[~below]
    flows = flows.sort_values(["period", "individuals", "origin", "destination"],
                              ascending=[True, False, True, True], kind="stable")
    flows["rank"] = flows.groupby("period").cumcount() + 1
    if top is not None:
        cut = flows["rank"] > top
        report.top_cut = float(flows.loc[cut, "individuals"].sum())
        report.flows_top_cut = int(cut.sum())
        flows = flows.loc[~cut]
    flows = flows.reset_index(drop=True)
    report.drawn = float(flows["individuals"].sum())
    report.flows_drawn = len(flows)
    report.check()
    return FlowTable(flows=flows, self_flows=self_flows, totals=totals, report=report,
                     level=level, period=period, net=net)


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
    legend = []
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
    from .styles import flow_widths

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


# ============================================================================================
# HTML (through geoconflict.maps: offline, escaped)
# ============================================================================================

def flows_html(arcs: gpd.GeoDataFrame, arrows: gpd.GeoDataFrame | None, path: str | Path, *,
               scale: Mapping[str, Any] | None = None, title: str = "Displacement flows",
               overwrite: bool = False) -> Path:
    """An offline HTML map of the flows via :func:`geoconflict.maps.write_map`: widths scaled to
    volume (the same scale as :func:`width_scale`), arrowheads, largest flows drawn last (on
    top), tooltips with the numbers; untrusted names are escaped by the map builder.  The width
    scale's legend values go into the subtitle."""
    from .layers import Layer
    from .maps import write_map

    sc = dict(scale) if scale is not None else width_scale(arcs["individuals"] if len(arcs) else [])
    order = arcs.sort_values("individuals", kind="stable").reset_index(drop=True)
    layers = [Layer("Displacement flows", "flows", order)]
    if arrows is not None and len(arrows):
        layers.append(Layer("Flow arrows", "arrows",
                            arrows.sort_values("individuals", kind="stable").reset_index(drop=True)))
    legend = ", ".join(f"{_n(e['value'])} people = {e['width']:.1f} px" for e in sc.get("legend", []))
    subtitle = f"Line width: {legend}" if legend else "No flows to draw"
    report = write_map(layers, path, overwrite=overwrite, title=title, subtitle=subtitle)
    return report.path


# ============================================================================================
# one call: files in, layers out (used by the CLI and the pipeline)
# ============================================================================================

@dataclass
class FlowLayers:
    """Everything :func:`build_flows` makes: arcs, arrowheads, the flow table, the quarantine,
    the width scale and the metadata for the outputs."""

    arcs: gpd.GeoDataFrame
    arrows: gpd.GeoDataFrame
    table: FlowTable
    quarantine: pd.DataFrame
    scale: dict[str, Any]
    metadata: dict[str, Any]


def build_flows(
    inputs: str | Path | FlowRecords | Sequence[str | Path | FlowRecords],
    *,
    admin: Any = None,
    places: Any = None,
    period: str | None = None,
    level: int | None = None,
    min_individuals: float = 0,
    top: int | None = None,
    net: bool = False,
    bend: float = 0.2,
    read_options: Mapping[str, Any] | None = None,
) -> FlowLayers:
    """Read (each input with ``read_options``), resolve, aggregate and draw in one call."""
    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    recs = [i if isinstance(i, FlowRecords) else read_flows(i, **dict(read_options or {})) for i in items]
    resolved, quarantine = resolve_places(recs if len(recs) > 1 else recs[0], admin=admin, places=places)
    table = aggregate_flows(resolved, period=period, level=level, min_individuals=min_individuals,
                            top=top, net=net)
    scale = width_scale(table.flows["individuals"])
    arcs = flow_arcs(table, bend=bend, scale=scale)
    arrows = arrowheads(arcs)
    metadata = {
        "layer": "displacement flows (curved arcs, origin -> destination, bending right of travel)",
        "width_scale": scale,
        "accounting": table.report.as_dict(),
        "inputs": [r.as_dict() for r in resolved.reports],
        "period": period, "level": level, "net": net, "min_individuals": min_individuals,
        "top": top, "bend": bend, "construction_crs": arcs.attrs.get("metric_crs"),
        "note": "HNAP-style counts are movements, not unique persons",
    }
    return FlowLayers(arcs=arcs, arrows=arrows, table=table, quarantine=quarantine, scale=scale,
                      metadata=metadata)


def flow_outputs(output: str | Path) -> dict[str, Path]:
    """The side files written next to ``output``: quarantine, self-flows and totals (CSV)."""
    from .io import sibling

    return {"quarantine": sibling(output, ".quarantine.csv"),
            "self_flows": sibling(output, ".self_flows.csv"),
            "totals": sibling(output, ".totals.csv")}


def check_flow_outputs(output: str | Path, *, arrows: str | Path | None = None,
                       html_path: str | Path | None = None, overwrite: bool = False) -> list[Path]:
    """Every file :func:`write_flows` would write, checked (formats, distinct names, not there
    unless ``overwrite``) before any work is done."""
    from .io import check_output, output_format

    targets = [Path(output), *flow_outputs(output).values(), *(Path(p) for p in (arrows, html_path) if p)]
    output_format(output)
    if arrows:
        output_format(arrows)
    if html_path and Path(html_path).suffix.lower() not in (".html", ".htm"):
        raise InputError("the HTML map needs an .html file name", path=html_path,
                         fix="e.g. --html flows.html")
    if len({str(p.resolve()) for p in targets}) != len(targets):
        raise InputError("two outputs share one file name", fix="choose distinct --output/--arrows/--html")
    for p in targets:
        check_output(p, overwrite=overwrite)
    return targets


def write_flows(layers: FlowLayers, output: str | Path, *, arrows: str | Path | None = None,
                html_path: str | Path | None = None, overwrite: bool = False) -> list[Path]:
    """Write the arcs (with the width scale and accounting as metadata), the quarantine,
    self-flows and totals next to them, and optionally the arrowheads and an HTML map.
    Every output is checked before anything is written."""
    from .io import output_set, write_layer, write_table

    check_flow_outputs(output, arrows=arrows, html_path=html_path, overwrite=overwrite)
    side = flow_outputs(output)
    meta: dict[str, Any] = layers.metadata
    if Path(output).suffix.lower() == ".gpkg":  # GeoPackage metadata values must be strings
        meta = {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in meta.items()}
    with output_set(overwrite=overwrite):  # every output or none (io.output_set)
        written = [write_layer(layers.arcs, output, overwrite=overwrite, metadata=meta)]
        written.append(write_table(layers.quarantine, side["quarantine"], overwrite=overwrite))
        written.append(write_table(layers.table.self_flows, side["self_flows"], overwrite=overwrite))
        written.append(write_table(layers.table.totals, side["totals"], overwrite=overwrite))
        if arrows:
            arrow_meta: dict[str, Any] = {"layer": "arrowheads (tip at the destination)",
                                          "width_scale": layers.scale}
            if Path(arrows).suffix.lower() == ".gpkg":
                arrow_meta["width_scale"] = json.dumps(layers.scale)
            written.append(write_layer(layers.arrows, arrows, overwrite=overwrite, metadata=arrow_meta))
        if html_path:
            written.append(flows_html(layers.arcs, layers.arrows, html_path, scale=layers.scale,
                                      overwrite=overwrite))
    return written
