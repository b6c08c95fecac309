"""Benchmark: geoconflict.join against the plain geopandas way, same data, same run.

    .venv/bin/python scripts/bench_join.py                # 1,000,000 incidents
    .venv/bin/python scripts/bench_join.py --n 100000     # quicker

Data (deterministic, seed 2020): N incidents (70% in north-west Syria, 30% anywhere in the
admin layer's extent; 90% day, 7% week, 3% month precision, dates 2019-05-01..2020-06-30);
the 272 OCHA sub-districts from ../shared/data (~129k vertices) when present, else 272 synthetic
detailed polygons; 50 control snapshots (two controllers split by a wavy 2,000-vertex line that
moves north over time); the front line derived from each snapshot.

Plain way: ``geopandas.sjoin(predicate="intersects")`` (first polygon per point) and
``sjoin_nearest(max_distance=2 km)`` for the rest; ``sjoin`` per control snapshot; ``distance``
per row to the snapshot's front line.  Answers are asserted identical; times, ratios and peak
memory (RSS) are printed.

    .venv/bin/python scripts/bench_join.py --archive --snapshots 750 --vertices 80000 --n 1000000

``--archive``: a daily single-actor archive as published (#14): one "occupied" polygon per day
(its front ``--vertices`` vertices long, moving slowly: a few hundred metres a day on one stretch,
unchanged on one day in three), read with ``controller=``, ``extent=`` and ``remainder=`` (so
each snapshot holds two controllers and identical days are merged); only the as-of control join
is timed, against one ``sjoin`` per snapshot (identical answers; peak memory).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features  # noqa: F401 - imported up front, as geopandas is: not part of the timings
import scipy.ndimage  # noqa: F401
import shapely

ROOT = Path(__file__).resolve().parents[1]
OCHA = ROOT.parent / "shared" / "data" / "syria-cod" / "syr_adm3_ocha_20201217.geojson"
sys.path.insert(0, str(ROOT))

from geoconflict import control as C  # noqa: E402
from geoconflict.crs import metric_crs_for  # noqa: E402
from geoconflict.incidents import date_window  # noqa: E402
from geoconflict.join import join_admin, join_all, join_control, join_front_line  # noqa: E402


class Timer:
    """Wall and CPU (process) time of a block: on a shared machine CPU time is the steadier one."""

    def __enter__(self) -> Timer:
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c

    def __str__(self) -> str:
        return f"{self.wall:.2f} s ({self.cpu:.2f} s CPU)"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def admin_layer() -> tuple[gpd.GeoDataFrame, str]:
    if OCHA.exists():
        return gpd.read_file(OCHA)[["ADM3_PCODE", "ADM3_EN", "geometry"]], "OCHA sub-districts"
    rng = np.random.default_rng(1)
    seeds = shapely.multipoints(rng.uniform([35.7, 32.3], [42.4, 37.3], (272, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(35.7, 32.3, 42.4, 37.3)))
    cells = shapely.intersection(cells, shapely.box(35.7, 32.3, 42.4, 37.3))
    cells = shapely.segmentize(cells, 0.004)  # ~129k vertices in all
    return gpd.GeoDataFrame({"ADM3_PCODE": [f"S{i:04d}" for i in range(len(cells))],
                             "ADM3_EN": [f"sub-district {i}" for i in range(len(cells))]},
                            geometry=cells, crs=4326), "synthetic detailed polygons"


def make_incidents(n: int, bounds: np.ndarray, rng: np.random.Generator) -> gpd.GeoDataFrame:
    k = int(n * 0.7)
    nw = rng.uniform([36.0, 35.3], [37.5, 36.4], (k, 2))
    anywhere = rng.uniform(bounds[:2], bounds[2:], (n - k, 2))
    xy = np.vstack([nw, anywhere])[rng.permutation(n)]
    day0 = np.datetime64("2019-05-01")
    days = rng.integers(0, 427, n)
    prec = rng.choice([1, 2, 3], n, p=[0.9, 0.07, 0.03])
    return gpd.GeoDataFrame({
        "incident_id": pd.array([f"BM{i}" for i in range(n)], dtype="str"),
        "date": (day0 + days.astype("timedelta64[D]")).astype("datetime64[ns]"),
        "date_end": np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"),
        "date_precision": pd.array(prec, dtype="Int8"),
        "flags": pd.array([""] * n, dtype="str"),
    }, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326)


def make_control(n_snap: int) -> gpd.GeoDataFrame:
    x = np.linspace(36.0, 37.5, 2000)
    rows = []
    dates = pd.date_range("2019-05-01", periods=n_snap, freq="8D")
    for t, d in enumerate(dates):
        base = 35.45 + 0.6 * t / n_snap
        y = base + 0.03 * np.sin(x * 40 + t) + 0.01 * np.sin(x * 173)
        line = np.column_stack([x, y])
        south = shapely.Polygon(np.vstack([[[36.0, 35.3]], line, [[37.5, 35.3]]]))
        north = shapely.Polygon(np.vstack([[[36.0, 36.4]], line, [[37.5, 36.4]]]))
        rows += [("Government", d, south), ("Opposition", d, north)]
    return gpd.GeoDataFrame({"controller": [r[0] for r in rows], "date": [r[1] for r in rows]},
                            geometry=[r[2] for r in rows], crs=4326)


def make_archive(n_snap: int, vertices: int) -> tuple[list[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """Daily single-actor snapshots (no attributes: the date is the frame's only column) and the
    country outline: the occupied east of a wavy front, the front moving a little on most days."""
    rng = np.random.default_rng(14)
    n_line = max(vertices // 2, 10)
    y = np.linspace(35.3, 36.4, n_line)
    base = 36.9 + 0.02 * np.sin(y * 60) + 0.005 * np.sin(y * 397)
    shift = np.zeros(n_line)
    frames = []
    dates = pd.date_range("2019-05-01", periods=n_snap, freq="D")
    for t, d in enumerate(dates):
        if t % 3:  # on one day in three nothing moves (identical files, merged on reading)
            centre = rng.uniform(35.4, 36.3)
            bump = np.exp(-((y - centre) / 0.03) ** 2) * rng.uniform(-0.004, 0.006)
            shift = shift + bump
        x = base - shift
        line = np.column_stack([x, y])
        occupied = shapely.Polygon(np.vstack([[[37.6, 35.3]], line, [[37.6, 36.4]]]))
        frames.append(gpd.GeoDataFrame({"date": [d]}, geometry=[occupied], crs=4326))
    extent = gpd.GeoDataFrame({"name": ["country"]}, geometry=[shapely.box(35.9, 35.3, 37.5, 36.4)], crs=4326)
    return frames, extent


def bench_archive(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(2020)
    with Timer() as t_make:
        frames, extent = make_archive(args.snapshots, args.vertices)
    with Timer() as t_read:  # one frame per day, as one file per day is read
        ctl = C.read_control(frames, controller="Occupied", extent=extent, remainder="Government")
    del frames
    n_states = len(C.snapshots(ctl))
    verts = int(shapely.get_num_coordinates(ctl.geometry.to_numpy()).sum()) // max(n_states, 1)
    print(f"archive: {args.snapshots} daily files -> {n_states} snapshots after merging identical days "
          f"({'; '.join(ctl.attrs.get('control_notes', []))[:120]}); ~{verts:,} vertices per snapshot; "
          f"made in {t_make}, read (remainder per snapshot) in {t_read}")
    inc = make_incidents(args.n, np.array([35.9, 35.3, 37.5, 36.4]), rng)
    day0 = np.datetime64("2019-05-01")
    inc["date"] = (day0 + rng.integers(0, args.snapshots, args.n).astype("timedelta64[D]")).astype("datetime64[ns]")
    print(f"{args.n:,} incidents; peak RSS before the joins: {peak_mb():,.0f} MB", flush=True)
    with Timer() as t_ours:
        ours = join_control(inc, ctl)
    mem_ours = peak_mb()
    print(f"geoconflict as-of join: {t_ours}; peak RSS {mem_ours:,.0f} MB", flush=True)
    with Timer() as t_plain:
        p_ctrl, p_status = plain_control(inc, ctl)
    mem_plain = peak_mb()
    print(f"geopandas, one sjoin per snapshot: {t_plain}; peak RSS {mem_plain:,.0f} MB")
    assert (ours["controller"].fillna("").to_numpy() == p_ctrl).all(), "controllers differ"
    assert (ours["control_status"].to_numpy() == p_status).all(), "control status differs"
    print("answers identical: controller, control_status; "
          f"{', '.join(f'{k} {v:,}' for k, v in ours['control_status'].value_counts().items())}")
    print(f"ratio geopandas/geoconflict: {t_plain.wall / t_ours.wall:.1f}x wall, {t_plain.cpu / t_ours.cpu:.1f}x CPU")


# ------------------------------------------------------------------ the plain geopandas way


def plain_admin(inc: gpd.GeoDataFrame, adm: gpd.GeoDataFrame, snap: float) -> tuple[np.ndarray, np.ndarray]:
    sj = gpd.sjoin(inc[["geometry"]], adm[["geometry"]], predicate="intersects", how="left")
    idx = sj["index_right"].groupby(level=0).min().reindex(inc.index).fillna(-1).astype(int).to_numpy().copy()
    dist = np.where(idx >= 0, 0.0, np.nan)
    rest = np.flatnonzero(idx < 0)
    metric = metric_crs_for(inc.iloc[rest], adm)
    near = gpd.sjoin_nearest(inc.iloc[rest][["geometry"]].to_crs(metric), adm[["geometry"]].to_crs(metric),
                             max_distance=snap, distance_col="d", how="inner")
    near = near.reset_index().sort_values(["index", "index_right"]).drop_duplicates("index")
    pos = inc.index.get_indexer(near["index"])
    idx[pos] = near["index_right"].to_numpy()
    dist[pos] = near["d"].to_numpy()
    return idx, dist


def plain_control(inc: gpd.GeoDataFrame, ctl: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    start, end = date_window(inc)
    start, end = start.dt.floor("D"), end.dt.floor("D")
    day = inc["date"].dt.floor("D")
    ctrl = pd.Series("", index=inc.index, dtype=object)
    seen: dict[int, set] = {}
    per_inc = []
    for s, e, snap in C.snapshots(ctl):
        lo = s if not pd.isna(s) else pd.Timestamp.min
        hi = e if not pd.isna(e) else pd.Timestamp.max
        sel = inc[(start <= hi) & (end >= lo)]
        sj = gpd.sjoin(sel[["geometry"]], snap[["controller", "geometry"]], predicate="intersects", how="left")
        sj = sj[~sj.index.duplicated(keep="first")]
        name = sj["controller"].fillna("").astype(object)
        per_inc.append(name)
        on_day = sel.index[((day.loc[sel.index] >= lo) & (day.loc[sel.index] <= hi)).to_numpy()]
        ctrl.loc[on_day] = name.loc[on_day]
    del seen
    allk = pd.concat(per_inc)
    differs = (allk != ctrl.loc[allk.index]).groupby(level=0).any().reindex(inc.index, fill_value=False)
    status = np.where(differs, "uncertain", np.where(ctrl != "", "in_force", "none"))
    return ctrl.to_numpy(), status


def plain_front(inc: gpd.GeoDataFrame, ctl: gpd.GeoDataFrame) -> np.ndarray:
    metric = metric_crs_for(inc)
    pts = inc.geometry.to_crs(metric)
    day = inc["date"].dt.floor("D")
    dist = np.full(len(inc), np.nan)
    for s, e, snap in C.snapshots(ctl):
        fl = C.front_lines(snap)
        lo = s if not pd.isna(s) else pd.Timestamp.min
        hi = e if not pd.isna(e) else pd.Timestamp.max
        sel = ((day >= lo) & (day <= hi)).to_numpy()
        line = fl.geometry.to_crs(metric).union_all()
        dist[sel] = pts[sel].distance(line).to_numpy()
    return dist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--snapshots", type=int, default=50)
    ap.add_argument("--archive", action="store_true",
                    help="a daily single-actor archive (see the module docstring); control join only")
    ap.add_argument("--vertices", type=int, default=80_000, help="--archive: vertices per snapshot")
    args = ap.parse_args()
    if args.archive:
        bench_archive(args)
        return
    rng = np.random.default_rng(2020)
    adm, what = admin_layer()
    verts = int(shapely.get_num_coordinates(adm.geometry.to_numpy()).sum())
    inc = make_incidents(args.n, adm.total_bounds, rng)
    ctl = C.read_control(make_control(args.snapshots))
    print(f"{args.n:,} incidents x {len(adm)} {what} ({verts:,} vertices) x "
          f"{len(C.snapshots(ctl))} control snapshots x derived front line")
    print(f"peak RSS after data generation: {peak_mb():,.0f} MB")

    with Timer() as t_admin:
        ours_admin = join_admin(inc, adm, fields=["ADM3_PCODE"], check_names=False)
    with Timer() as t_ctl:
        ours_ctl = join_control(inc, ctl)
    with Timer() as t_fl:
        ours_fl = join_front_line(ours_ctl, control=ctl)
    with Timer() as t_all:
        full, report = join_all(inc, admin=[adm], admin_fields=["ADM3_PCODE"], control=ctl)
    mem_ours = peak_mb()
    print(f"geoconflict: admin {t_admin}, control {t_ctl}, front line {t_fl}")
    print(f"  join_all (admin + control + front line, with validation and name checks) {t_all}; "
          f"peak RSS {mem_ours:,.0f} MB")
    print(f"  {report.summary()}")

    with Timer() as t_padmin:
        p_idx, p_dist = plain_admin(inc, adm, 2000.0)
    print(f"geopandas:   admin {t_padmin} (sjoin + sjoin_nearest)", flush=True)
    with Timer() as t_pctl:
        p_ctrl, p_status = plain_control(inc, ctl)
    print(f"             control {t_pctl} (sjoin per snapshot)", flush=True)
    with Timer() as t_pfl:
        p_fl = plain_front(inc, ctl)
    mem_plain = peak_mb()
    print(f"             front line {t_pfl} (distance per row); peak RSS {mem_plain:,.0f} MB")

    # identical answers
    codes = adm["ADM3_PCODE"].to_numpy()
    exp_code = np.where(p_idx >= 0, codes[np.maximum(p_idx, 0)], None)
    got_code = ours_admin["ADM3_PCODE"].astype(object).where(ours_admin["ADM3_PCODE"].notna(), None).to_numpy()
    assert (exp_code == got_code).all(), "admin answers differ"
    exp_status = np.where(p_idx < 0, "none", np.where(p_dist > 0, "nearest", "within"))
    assert (ours_admin["admin_join"].to_numpy() == exp_status).all(), "admin status differs"
    np.testing.assert_allclose(ours_admin["admin_distance_m"].to_numpy(), p_dist, rtol=1e-9, atol=1e-6)
    assert (ours_ctl["controller"].fillna("").to_numpy() == p_ctrl).all(), "controllers differ"
    assert (ours_ctl["control_status"].to_numpy() == p_status).all(), "control status differs"
    np.testing.assert_allclose(ours_fl["front_line_distance_m"].to_numpy(), p_fl, rtol=1e-9, atol=1e-6)
    assert (full["ADM3_PCODE"].fillna("").to_numpy() == ours_admin["ADM3_PCODE"].fillna("").to_numpy()).all()
    print("answers identical: admin (code, status, distance), controller, status, front-line distance")
    for what in ("wall", "cpu"):
        ours = [getattr(t, what) for t in (t_admin, t_ctl, t_fl)]
        plain = [getattr(t, what) for t in (t_padmin, t_pctl, t_pfl)]
        print(f"ratios geopandas/geoconflict ({what}): admin {plain[0] / ours[0]:.1f}x, "
              f"control {plain[1] / ours[1]:.1f}x, front line {plain[2] / ours[2]:.1f}x, "
              f"total {sum(plain) / sum(ours):.1f}x")
    if args.n >= 1_000_000:
        assert t_padmin.cpu / t_admin.cpu >= 3, "target: admin join at least 3x faster than sjoin"
        assert t_all.cpu < 20, "target: the whole join under 20 s for 1M incidents"


if __name__ == "__main__":
    main()
