"""The time axis of a dated control layer: its successive states and the state in force on a day.

A control layer here is any frame with ``valid_from`` / ``valid_to`` (inclusive days, NaT = open),
as :func:`geoconflict.control.read_control` makes it; control.py and control_sources.py both use
these, so they live below both.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd


def snapshot_labels(frm: pd.Series, to: pd.Series) -> pd.Series:
    """``2020-03-06/2020-06-08`` per feature (``..`` for an open end)."""
    f = frm.dt.strftime("%Y-%m-%d").fillna("..")
    t = to.dt.strftime("%Y-%m-%d").fillna("..")
    return (f + "/" + t).astype(str)


def snapshots(
    control: gpd.GeoDataFrame,
) -> list[tuple[pd.Timestamp, pd.Timestamp, gpd.GeoDataFrame]]:
    """The successive states of the layer: ``(start, end, features in force)`` with inclusive
    days, ``NaT`` for an open end, in time order; periods with no feature are left out.

    With one date per snapshot these are exactly the snapshots; with per-feature validity the
    periods are cut wherever any feature starts or ends.
    """
    return [(s, e, control.iloc[p]) for s, e, p in snapshot_positions(control)]


def snapshot_positions(control: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp, np.ndarray]]:
    """:func:`snapshots` as the positions of the features in force (no frame per state)."""
    frm = control["valid_from"].to_numpy("datetime64[ns]")
    to = control["valid_to"].to_numpy("datetime64[ns]")
    breaks = np.unique(np.concatenate([frm[~np.isnat(frm)], to[~np.isnat(to)] + np.timedelta64(1, "D")]))
    starts = np.concatenate([[np.datetime64("NaT", "ns")], breaks])
    ends = np.concatenate([breaks - np.timedelta64(1, "D"), [np.datetime64("NaT", "ns")]])
    out = []
    for s, e in zip(starts, ends, strict=True):
        probe = s if not np.isnat(s) else (e if not np.isnat(e) else None)
        if probe is None:  # a single open-ended state
            mask = np.isnat(frm) & np.isnat(to)
            mask = np.ones(len(control), bool) if len(breaks) == 0 else mask
        else:
            mask = (np.isnat(frm) | (frm <= probe)) & (np.isnat(to) | (to >= probe))
        if mask.any():
            out.append((pd.Timestamp(s), pd.Timestamp(e), np.flatnonzero(mask)))
    return out


def snapshot_at(control: gpd.GeoDataFrame, when: Any) -> gpd.GeoDataFrame:
    """The features in force on ``when``'s day (inclusive validity, NaT = open)."""
    day = np.datetime64(pd.Timestamp(when).floor("D").to_datetime64(), "ns")
    frm = control["valid_from"].to_numpy("datetime64[ns]")
    to = control["valid_to"].to_numpy("datetime64[ns]")
    mask = (np.isnat(frm) | (frm <= day)) & (np.isnat(to) | (to >= day))
    return control[mask]
