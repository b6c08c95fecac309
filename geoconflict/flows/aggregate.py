"""Aggregation: resolved records summed into flows per period and admin level, gross or net; self-
flows, --min and --top cuts counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InputError
from ..units import period_label
from .places import ResolvedFlows, check_counts
from .report import FlowReport

log = logging.getLogger(__name__)


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
        check_counts(res["individuals"], "flow table")
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
