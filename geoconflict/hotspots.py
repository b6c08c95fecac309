"""Hot spots: Getis-Ord Gi* on grid-cell counts, with a False Discovery Rate correction.

Gi* (Getis & Ord 1992; Ord & Getis 1995) with binary weights including the cell itself:
``z_i = (Σ_j w_ij x_j − x̄ W_i) / (S · sqrt((n Σ_j w_ij² − W_i²) / (n − 1)))`` where ``x̄`` and
``S`` (population standard deviation) are over all n cells.  This is what
``esda.G_Local(y, w, transform="B", star=True).Zs`` computes; here it runs as one sparse matrix
product.  Neighbours are the cells within a small tolerance of each other (queen contiguity,
robust to coordinates rounded in a GeoJSON), or the cells whose centres lie within ``distance_m``.

p-values are two-sided from the normal distribution; ``p_fdr`` are Benjamini–Hochberg adjusted
p-values (``scipy.stats.false_discovery_control``).  ``hotspot`` reads ``hot 99%`` / ``hot 95%`` /
``hot 90%`` (z > 0), ``cold …`` (z < 0), or ``not significant``, from ``p_fdr`` (or ``p_value``
with ``fdr=False``).

Use a grid with every cell over the study area (``count_by_cell(..., all_cells=True)``): a grid
of non-empty cells only has no zeros to compare against and finds no cold spots.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse, stats

from .crs import metric_crs_for, require_crs
from .errors import InputError, SchemaError

LEVELS = ((0.01, "99%"), (0.05, "95%"), (0.10, "90%"))
NOT_SIGNIFICANT = "not significant"


def neighbour_matrix(
    cells: gpd.GeoDataFrame, *, distance_m: float | None = None, tolerance: float = 0.01
) -> sparse.csr_matrix:
    """Binary weights (CSR, n × n) with the diagonal set: queen contiguity (cells within
    ``tolerance`` × the typical cell width of each other), or centres within ``distance_m``."""
    require_crs(cells, "grid cells")
    n = len(cells)
    if n == 0:
        return sparse.csr_matrix((0, 0))
    metric = cells.geometry.to_crs(metric_crs_for(cells)).values
    if distance_m is not None:
        if not distance_m > 0:
            raise InputError("the neighbour distance must be positive")
        pts = shapely.centroid(metric)
        tree = shapely.STRtree(pts)
        i, j = tree.query(pts, predicate="dwithin", distance=distance_m)
    else:
        width = float(np.median(np.sqrt(shapely.area(metric))))
        tree = shapely.STRtree(metric)
        i, j = tree.query(metric, predicate="dwithin", distance=tolerance * width)
    w = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    w.data[:] = 1.0  # duplicates collapse to binary
    w.setdiag(1.0)
    return w


def getis_ord_gi_star(values: np.ndarray, weights: sparse.spmatrix) -> np.ndarray:
    """Gi* z-scores of ``values`` under ``weights`` (diagonal included); 0 where undefined."""
    x = np.asarray(values, dtype="float64")
    n = len(x)
    if n < 2:
        return np.zeros(n)
    w = sparse.csr_matrix(weights, dtype="float64")
    mean = x.mean()
    s = np.sqrt((x * x).mean() - mean * mean)
    wi = np.asarray(w.sum(axis=1)).ravel()
    w2 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    num = w @ x - mean * wi
    den = s * np.sqrt(np.clip(n * w2 - wi * wi, 0.0, None) / (n - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(den > 0, num / den, 0.0)
    return z


def classify(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``hot 99%`` … ``cold 90%`` / ``not significant`` from z and (adjusted) p."""
    out = np.full(len(z), NOT_SIGNIFICANT, dtype=object)
    for alpha, label in reversed(LEVELS):  # strongest last wins
        sig = p < alpha
        out[sig & (z > 0)] = f"hot {label}"
        out[sig & (z < 0)] = f"cold {label}"
    return out


def hot_spots(
    cells: gpd.GeoDataFrame,
    *,
    count_col: str = "count",
    distance_m: float | None = None,
    fdr: bool = True,
) -> gpd.GeoDataFrame:
    """The grid with ``gi_z``, ``p_value``, ``p_fdr`` and ``hotspot`` columns added.

    Neighbours: queen contiguity (default) or cell centres within ``distance_m`` metres.
    """
    if count_col not in cells.columns:
        raise SchemaError(f"grid has no column {count_col!r}", column=count_col,
                          fix="name the count column with count_col=")
    require_crs(cells, "grid cells")
    if cells.geometry.isna().any() or cells.geometry.is_empty.any():
        raise InputError("grid cells without geometry cannot have neighbours")
    if "cell_id" in cells.columns and cells["cell_id"].duplicated().any():
        raise InputError(
            "grid has several rows per cell (a long table)",
            fix="run hot spots on a wide grid (one row per cell)",
        )
    x = pd.to_numeric(cells[count_col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(x).any():
        raise InputError(f"{int(np.isnan(x).sum())} cells have no number in {count_col!r}", column=count_col)
    w = neighbour_matrix(cells, distance_m=distance_m)
    z = getis_ord_gi_star(x, w)
    p = 2.0 * stats.norm.sf(np.abs(z))
    p_fdr = stats.false_discovery_control(p, method="bh") if len(p) else p
    out = cells.copy()
    out["gi_z"] = z
    out["p_value"] = p
    out["p_fdr"] = p_fdr
    out["hotspot"] = classify(z, p_fdr if fdr else p)
    out["neighbours"] = np.asarray(w.sum(axis=1)).ravel().astype("int64") - 1
    return out


def hotspot_metadata(cells: gpd.GeoDataFrame, *, distance_m: float | None = None, fdr: bool = True) -> dict[str, Any]:
    """Metadata describing a hot-spot layer (for the sidecar)."""
    return {
        "statistic": "Getis-Ord Gi* (binary weights, self included), two-sided normal p-values",
        "neighbours": f"centres within {distance_m:g} m" if distance_m else "queen contiguity",
        "multiple_testing": "Benjamini-Hochberg FDR (p_fdr)" if fdr else "none (p_value)",
        "classes": "hot/cold 99% (p<0.01), 95% (p<0.05), 90% (p<0.10), not significant",
        "cells": len(cells),
    }


def hot_spots_of(
    incidents: gpd.GeoDataFrame,
    *,
    cells: Any,
    counted: Any = None,
    extent: gpd.GeoDataFrame | None = None,
    include_imprecise: bool = False,
    crs: Any = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Gi* hot spots of ``incidents`` on ``cells`` (a cell spec such as ``hex:5km``): the one
    way the command and the pipeline do it.  Gi* needs one row per cell, empty cells included,
    over the study area (``extent``, default the incidents' bounding box): ``counted`` (a
    :class:`~geoconflict.grids.GridResult`) is reused when it is already that, else the cells
    are counted again.  Returns the layer and its metadata (the count's and Gi*'s)."""
    from .grids import count_by_cell

    base = counted
    if base is None or not base.metadata.get("all_cells") or base.metadata.get("long"):
        base = count_by_cell(incidents, cells=cells, all_cells=True, extent=extent,
                             include_imprecise=include_imprecise, crs=crs)
    spots = hot_spots(base.cells)
    return spots, {**base.metadata, "hotspots": hotspot_metadata(spots)}


def hot_spot_summary(spots: gpd.GeoDataFrame) -> str:
    """``hot spots on 1,234 cells: cold spot, 95% confidence 3, hot spot, 99% confidence 12, …``"""
    classes = spots["hotspot"].value_counts()
    return f"hot spots on {len(spots):,} cells: " + ", ".join(
        f"{name} {classes[name]}" for name in sorted(classes.index))
