"""Benchmark: geoconflict grids vs the plain geopandas way (grid polygons + sjoin + groupby).

    .venv/bin/python scripts/bench_grids.py [--n 2500000] [--seed 0] [--skip-plain] [--repeat 3]

Generates ``--n`` incidents over north-west Syria deterministically (clusters around 300 random
"villages" plus a uniform background, 3% imprecise), then counts them into 1 km squares, 5 km
hexes, H3 resolution 7 and PRIO-GRID cells with :func:`geoconflict.grids.count_by_cell`, and writes
a 500 m quartic KDE (5 km bandwidth).  The plain way builds every cell polygon over the data's
extent, ``sjoin``s the points into them and counts with ``groupby``; the counts must be identical.

Points on a cell edge or vertex: both ways apply geoconflict's documented rule (half-open cells,
see the ``geoconflict.grids`` docstring), the plain way explicitly: ``sjoin`` with
``predicate="intersects"`` matches a point on a shared edge to every cell it touches (``within``
would drop it), then each point keeps the matched cell whose centre is furthest east, then
furthest north (squares: ``[x0, x0+size) × [y0, y0+size)``; PRIO-GRID: the cell whose south-west
corner it is at or beyond, the last column / row closed); for H3, a point matched to no cell or
to several is given ``h3.latlng_to_cell``'s answer, which is the H3 rule.  The square and hex
polygons have their vertices on one lattice (``i*size``; ``w/2*k``, ``R/2*m``), written with
the same float64 products as geoconflict's, so that neighbours share their edges exactly.
The KDE is checked against a direct kernel sum at 400 random pixels.  Prints times, ratios and
peak memory (ours is measured before the plain way runs); each way runs ``--repeat`` times and
the median is reported.  Not run in tests.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoconflict.grids import APPROX_PROJECTION_FROM, count_by_cell, priogrid_cell
from geoconflict.kde import kde_raster, kernel_weights

WEST, SOUTH, EAST, NORTH = 35.7, 35.0, 37.6, 36.7  # north-west Syria


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def make_incidents(n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    n_cl = int(n * 0.7)
    centres = np.column_stack([rng.uniform(WEST + 0.1, EAST - 0.1, 300), rng.uniform(SOUTH + 0.1, NORTH - 0.1, 300)])
    which = rng.integers(0, 300, n_cl)
    spread = rng.uniform(0.005, 0.05, 300)[which]
    lon = np.r_[centres[which, 0] + rng.normal(0, 1, n_cl) * spread, rng.uniform(WEST, EAST, n - n_cl)]
    lat = np.r_[centres[which, 1] + rng.normal(0, 1, n_cl) * spread, rng.uniform(SOUTH, NORTH, n - n_cl)]
    return gpd.GeoDataFrame(
        {
            "fatalities": rng.poisson(0.5, n).astype("float64"),
            "geo_precision": pd.array(rng.choice([1, 2, 3], n, p=[0.77, 0.20, 0.03]), dtype="Int8"),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


# ------------------------------------------------------------------ the plain geopandas way


def plain_square(points: gpd.GeoDataFrame, crs, size: float) -> pd.Series:
    points_utm = points.to_crs(crs)
    xmin, ymin, xmax, ymax = points_utm.total_bounds
    i0, i1 = math.floor(xmin / size), math.floor(xmax / size)
    j0, j1 = math.floor(ymin / size), math.floor(ymax / size)
    ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    epsg = points_utm.crs.to_epsg()
    grid = gpd.GeoDataFrame(
        {"cell_id": [f"sq{size:g}m_{epsg}_{i}_{j}" for i, j in zip(ii, jj, strict=False)]},
        geometry=shapely.box(ii * size, jj * size, (ii + 1) * size, (jj + 1) * size),
        crs=points_utm.crs,
    )
    grid["east"], grid["north"] = (ii + 0.5) * size, (jj + 0.5) * size
    return _sjoin_count(points_utm, grid)


def plain_hex(points: gpd.GeoDataFrame, crs, width: float) -> pd.Series:
    points_utm = points.to_crs(crs)
    xmin, ymin, xmax, ymax = points_utm.total_bounds
    radius = width / math.sqrt(3)
    rr = np.arange(math.floor(ymin / (1.5 * radius)) - 1, math.ceil(ymax / (1.5 * radius)) + 2)
    qq = np.arange(math.floor(xmin / width - rr.max() / 2) - 1, math.ceil(xmax / width - rr.min() / 2) + 2)
    q, r = (a.ravel() for a in np.meshgrid(qq, rr, indexing="ij"))
    cx, cy = width * (q + r / 2), 1.5 * radius * r
    keep = (cx > xmin - width) & (cx < xmax + width) & (cy > ymin - width) & (cy < ymax + width)
    q, r, cx, cy = q[keep], r[keep], cx[keep], cy[keep]
    # vertices on one lattice, (w/2 * k, R/2 * m), counter-clockwise from 30°: neighbours share
    # bit-identical vertices (centre +- radius*cos(...) rounds differently from each side)
    hx, hy = width / 2.0, width / math.sqrt(3) / 2.0
    k = (2 * q + r)[:, None] + np.array([1, 0, -1, -1, 0, 1])[None, :]
    m = (3 * r)[:, None] + np.array([1, 2, 1, -1, -2, -1])[None, :]
    polys = shapely.polygons(np.stack([hx * k.astype(float), hy * m.astype(float)], axis=-1))
    epsg = points_utm.crs.to_epsg()
    grid = gpd.GeoDataFrame({"cell_id": [f"hex{width:g}m_{epsg}_{a}_{b}" for a, b in zip(q, r, strict=False)],
                             "east": cx, "north": cy}, geometry=polys, crs=points_utm.crs)
    return _sjoin_count(points_utm, grid)


def plain_h3(points: gpd.GeoDataFrame, res: int) -> pd.Series:
    import h3

    xmin, ymin, xmax, ymax = points.total_bounds
    pad = 0.05
    box = shapely.box(xmin - pad, ymin - pad, xmax + pad, ymax + pad)
    cells = sorted(h3.geo_to_cells(shapely.geometry.mapping(box), res))
    # H3 edges are great-circle arcs: densify them (slerp) so the polygons are the cells
    polys = [shapely.Polygon(_great_circle_ring(h3.cell_to_boundary(c))) for c in cells]
    grid = gpd.GeoDataFrame({"cell_id": cells}, geometry=polys, crs=4326)
    joined = gpd.sjoin(points[["geometry"]], grid, predicate="intersects", how="left")
    # the H3 rule is h3's own: a point on a shared edge (matched twice) or in a sliver between
    # the drawn polygons (matched to none) gets h3.latlng_to_cell's cell
    matches = joined.index.value_counts()
    unsure = matches.index[matches > 1].union(joined.index[joined["cell_id"].isna()])
    sure = joined[~joined.index.isin(unsure)]
    pts = points.geometry.loc[unsure]
    fixed = pd.Series([h3.latlng_to_cell(la, lo, res) for lo, la in zip(pts.x, pts.y, strict=False)], dtype=object)
    return pd.concat([sure["cell_id"], fixed]).value_counts().rename_axis("cell_id")


def _great_circle_ring(latlngs, steps: int = 16) -> np.ndarray:
    ll = np.radians(np.asarray(latlngs + (latlngs[0],)))
    v = np.column_stack([np.cos(ll[:, 0]) * np.cos(ll[:, 1]), np.cos(ll[:, 0]) * np.sin(ll[:, 1]), np.sin(ll[:, 0])])
    t = np.arange(steps) / steps
    out = []
    for a, b in zip(v[:-1], v[1:], strict=False):
        om = math.acos(min(1.0, float(a @ b)))
        p = (np.sin((1 - t) * om)[:, None] * a + np.sin(t * om)[:, None] * b) / math.sin(om)
        out.append(p)
    p = np.vstack(out)
    lat, lng = np.degrees(np.arcsin(p[:, 2])), np.degrees(np.arctan2(p[:, 1], p[:, 0]))
    return np.column_stack([lng, lat])


def plain_priogrid(points: gpd.GeoDataFrame) -> pd.Series:
    xmin, ymin, xmax, ymax = points.total_bounds
    rows = np.arange(math.floor((ymin + 90) * 2) + 1, math.floor((ymax + 90) * 2) + 2)
    cols = np.arange(math.floor((xmin + 180) * 2) + 1, math.floor((xmax + 180) * 2) + 2)
    r, c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    gids = (r - 1) * 720 + c
    grid = gpd.GeoDataFrame({"cell_id": gids}, geometry=priogrid_cell(gids), crs=4326)
    # PRIO-GRID cells are half-open [west, east) x [south, north): "within" on shared edges would
    # drop points exactly on a line, so join with "intersects" and keep the cell whose lower-left
    # corner the point is at or beyond
    joined = gpd.sjoin(points[["geometry"]], grid, predicate="intersects", how="inner")
    x, y = joined.geometry.x.to_numpy(), joined.geometry.y.to_numpy()
    b = grid.bounds.to_numpy()[joined["index_right"].to_numpy()]
    ok = (x >= b[:, 0]) & (y >= b[:, 1]) & ((x < b[:, 2]) | (b[:, 2] == 180)) & ((y < b[:, 3]) | (b[:, 3] == 90))
    return joined[ok].groupby("cell_id").size()


def _sjoin_count(points: gpd.GeoDataFrame, grid: gpd.GeoDataFrame) -> pd.Series:
    """Count per cell; a point on a shared edge or vertex (``intersects`` matches it to each
    cell there) is kept in the cell whose centre is furthest east, then furthest north."""
    joined = gpd.sjoin(points[["geometry"]], grid, predicate="intersects", how="inner")
    joined = joined.sort_values(["east", "north"], ascending=False, kind="stable")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined.groupby("cell_id").size()


# ------------------------------------------------------------------ KDE check


def kde_direct_check(points: gpd.GeoDataFrame, tif: Path, bandwidth: float, res: float, n_pixels: int = 400) -> float:
    """Max relative difference between the raster and a direct sum of the discretised kernel over
    the binned events, at random pixels with density."""
    import rasterio
    from scipy.spatial import cKDTree

    with rasterio.open(tif) as ds:
        arr = ds.read(1).astype("float64")
        crs, transform = ds.crs, ds.transform
    pts = points.to_crs(crs)
    px = (np.floor(pts.geometry.x.to_numpy() / res) + 0.5) * res  # events at their pixel centres
    py = (np.floor(pts.geometry.y.to_numpy() / res) + 0.5) * res
    tree = cKDTree(np.column_stack([px, py]))
    k = kernel_weights(bandwidth, res, "quartic")
    rad = k.shape[0] // 2
    rng = np.random.default_rng(1)
    rows, cols = np.nonzero(arr > 0)
    pick = rng.choice(len(rows), min(n_pixels, len(rows)), replace=False)
    worst = 0.0
    for r, c in zip(rows[pick], cols[pick], strict=False):
        x = transform.c + (c + 0.5) * res
        y = transform.f - (r + 0.5) * res
        idx = tree.query_ball_point([x, y], bandwidth + res)
        di = np.rint((px[idx] - x) / res).astype(int) + rad
        dj = np.rint((y - py[idx]) / res).astype(int) + rad
        ok = (di >= 0) & (di < k.shape[0]) & (dj >= 0) & (dj < k.shape[0])
        direct = k[dj[ok], di[ok]].sum() / (res * res / 1e6)
        worst = max(worst, abs(direct - arr[r, c]) / max(direct, 1e-12))
    return worst


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2_500_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-plain", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each way (both sides); the median is reported")
    args = ap.parse_args(argv)

    def timed(fn: Any) -> tuple[float, float, Any]:
        """Median wall and CPU seconds of ``args.repeat`` runs, and the last answer."""
        walls, cpus, out = [], [], None
        for _ in range(max(args.repeat, 1)):
            t, c = time.perf_counter(), time.process_time()
            out = fn()
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        return float(np.median(walls)), float(np.median(cpus)), out

    t = time.perf_counter()
    inc = make_incidents(args.n, args.seed)
    print(f"generated {len(inc):,} incidents in {time.perf_counter() - t:.1f} s (peak {peak_gb():.2f} GB)")

    specs = ["square:1km", "hex:5km", "h3:7", "priogrid"]
    for spec in specs:  # warm up (imports, PROJ database, loading the compiled binning loop)
        count_by_cell(inc.iloc[:2 * APPROX_PROJECTION_FROM], cells=spec)
    ours: dict[str, tuple[float, float, pd.Series, str]] = {}
    for spec in specs:
        dt, dc, res = timed(lambda spec=spec: count_by_cell(inc, cells=spec))
        counts = res.cells.set_index("cell_id")["count"]
        ours[spec] = (dt, dc, counts, res.metadata["crs"])
        print(f"ours  {spec:11s} {dt:6.2f} s wall {dc:6.2f} s cpu  {len(counts):7,} cells  {int(counts.sum()):,} "
              f"counted ({res.report.excluded.get('imprecise_location', 0):,} imprecise excluded)")
    print(f"ours  four grids  {sum(v[0] for v in ours.values()):6.2f} s wall {sum(v[1] for v in ours.values()):6.2f} s cpu")
    with tempfile.TemporaryDirectory() as tmp:
        kde_raster(inc.iloc[:100], Path(tmp) / "warm.tif", bandwidth_m=5000, resolution_m=500)  # imports
        dt_kde, dc_kde, k = timed(lambda: kde_raster(inc, Path(tmp) / "kde.tif", bandwidth_m=5000,
                                                     resolution_m=500, overwrite=True))
        print(f"ours  KDE 500 m   {dt_kde:6.2f} s wall {dc_kde:6.2f} s cpu  {k.width} x {k.height} pixels, "
              f"integral {k.integral:,.0f} "
              f"of {k.total:,.0f}")
        peak_ours = peak_gb()
        print(f"peak memory (ours, incl. the 2.5M-point GeoDataFrame): {peak_ours:.2f} GB")
        precise = inc[inc["geo_precision"] < 3]
        t = time.perf_counter()
        worst = kde_direct_check(precise, Path(tmp) / "kde.tif", 5000, 500)
        print(f"KDE vs direct kernel sum at 400 pixels: max relative difference {worst:.2e} "
              f"({time.perf_counter() - t:.1f} s)")
        assert worst < 1e-6, worst
        assert abs(k.integral / k.total - 1) < 0.01

    if args.skip_plain:
        return 0
    utm = ours["square:1km"][3]

    def precise() -> gpd.GeoDataFrame:  # dropping imprecise locations is part of each count
        return inc[inc["geo_precision"] < 3]

    plain = {  # filtering and projecting the points are part of the plain way (ours does both)
        "square:1km": lambda: plain_square(precise(), utm, 1000.0),
        "hex:5km": lambda: plain_hex(precise(), utm, 5000.0),
        "h3:7": lambda: plain_h3(precise(), 7),
        "priogrid": lambda: plain_priogrid(precise()),
    }
    ok = True
    for spec in specs:
        dt, dc, expected = timed(plain[spec])
        got = ours[spec][2]
        expected.index = expected.index.astype(got.index.dtype)
        same = got.sort_index().astype("int64").equals(expected.sort_index().astype("int64"))
        ok &= same
        print(f"plain {spec:11s} {dt:6.2f} s wall {dc:6.2f} s cpu  ratio {dt / ours[spec][0]:5.1f}x wall "
              f"{dc / ours[spec][1]:5.1f}x cpu  identical counts: {same}"
              + ("" if same else f"  (cells differing: {int((got.sub(expected, fill_value=0) != 0).sum())})"))
    print(f"peak memory (whole run): {peak_gb():.2f} GB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
