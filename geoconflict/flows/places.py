"""Places: every origin and destination to a point, by coordinates, P-code or name (admin layers
and places tables); what cannot be placed is quarantined with the closest candidates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._geometry import checked_polygons
from ..crs import WGS84
from ..errors import InputError, LayerError
from .read import (
    MAX_COUNT,
    RECORD_COLUMNS,
    FlowRecords,
    ReadReport,
    TotalMismatch,
    level_of_label,
)
from .report import SUM_TOLERANCE

#: origin/destination values that name no place
_UNKNOWN_RE = re.compile(
    r"^\s*(unknown|unk|n/?a|none|other|others|other .*|.* other|not specified|unspecified|"
    r"undetermined|multiple|various|\?+|-+)\s*$", re.I)
_PCODE_RE = re.compile(r"^\s*([A-Z]{2}\d{2,}|C\d{3,})\s*$", re.I)
_ADM_PCODE = re.compile(r"^adm(?:in)?_?(\d)_?p_?code$", re.I)
_ADM_NAME = re.compile(r"^adm(?:in)?_?(\d)_?(?:en|name|name_en)$", re.I)
_ADM_ALT = re.compile(r"^adm(?:in)?_?(\d)_?(?:ref|ref_?name|alt\d?_?en|alt\d?)$", re.I)




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
    from ..io import read_layer

    if isinstance(src, gpd.GeoDataFrame):
        gdf, what = src, "admin layer"
    else:
        gdf, what = read_layer(src, what="admin layer"), str(src)
    # a CRS, coordinates on the Earth, empty parts dropped, invalid polygons repaired (logged)
    gdf = checked_polygons(gdf, what="admin layer",
                           path=None if isinstance(src, gpd.GeoDataFrame) else what)
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
                try:  # a clean coverage (shared edges) dissolves fastest as one
                    sub = sub.dissolve(by=code_by_level[k], as_index=False, method="coverage", aggfunc="first")
                except shapely.errors.GEOSException:  # overlapping or unnoded units: the general union
                    sub = sub.dissolve(by=code_by_level[k], as_index=False, aggfunc="first")
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
    from ..gazetteer import read_table

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
    from ..gazetteer import Gazetteer

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
            check_counts(r["individuals"], label)
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


def check_counts(counts: pd.Series, label: str) -> None:
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
    if not (math.isclose(total, out.input_individuals, rel_tol=1e-9, abs_tol=SUM_TOLERANCE)
            and len(resolved) + len(quarantine) == out.input_rows):
        raise InputError(
            f"flows do not add up after placing: {len(resolved)} resolved + {len(quarantine)} "
            f"quarantined of {out.input_rows} rows, {total:g} of {out.input_individuals:g} individuals",
            path=", ".join(r.path for r in reports) or None,
            fix="check the counts are plain numbers of people; report the input if they are")
    return out, quarantine
