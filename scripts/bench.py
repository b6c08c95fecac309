"""Whole-pipeline benchmark: geoconflict against the plain geopandas way, stage by stage, same data,
same run, identical answers asserted.

    .venv/bin/python scripts/bench.py --incidents 100000                 # seconds
    .venv/bin/python scripts/bench.py --incidents 2500000 --json bench.json
    .venv/bin/python scripts/bench.py --memory-csv 2GB --memory-limit 1GB  # chunked CSV, dask engine

Data (deterministic, see scripts/_benchdata.py): N ACLED-shaped incidents clustered around villages
of north-west Syria (31 columns, realistic notes, 0.05 % bad rows) as CSV and as GeoParquet; the
272 OCHA sub-districts (or 272 synthetic detailed polygons); 50 dated control snapshots; the 50
dated front lines between them.

Stages (geoconflict | the plain way an analyst would write):
  ingest_csv      read_incidents(CSV)            | pandas.read_csv + to_datetime per format + points_from_xy + checks
  ingest_parquet  read_incidents(GeoParquet)     | geopandas.read_parquet + the same checks
  join            join_all(admin, control, front line)
                                                 | sjoin + sjoin_nearest; sjoin per snapshot; distance per row
  grid_*          count_by_cell (1 km squares, 5 km hexes, H3 res 7, PRIO-GRID)
                                                 | every cell polygon over the extent + sjoin + groupby
  kde_500m        kde_raster (quartic, 5 km, 500 m pixels)
                                                 | histogram2d + direct convolution (scipy.ndimage)
  zones           read_control(on=date) + area_by_controller
                                                 | read_file + the rows of the latest date on or before it
                                                   + overlay(admin, snapshot) + area in an equal-area CRS + groupby
  gpkg            publish.write_gpkg (incidents, grid, zones, front line; QGIS styles; past
                  500,000 rows the incidents go to GeoParquet beside it, its default)
                                                 | GeoDataFrame.to_file per layer (the incidents
                                                   to_parquet past 500,000 rows, as ours)
  html            maps.write_map (grid, zones)   | GeoDataFrame.explore + folium save

Points on a cell edge or vertex (the data plants some: longitude 39.0, UTM zone 37's central
meridian, is on a 1 km square edge and a 5 km hex edge; multiples of 0.5° are PRIO-GRID lines):
both sides apply geoconflict's documented rule (half-open cells, ``geoconflict.grids``
docstring), the plain way explicitly, in plain geopandas / numpy (scripts/bench_grids.py):
``sjoin(predicate="intersects")`` matches an edge point to every cell touching it, and the point
is kept in the cell whose centre is furthest east, then furthest north (squares
``[x0, x0+size) × [y0, y0+size)``; PRIO-GRID ``[lon0, lon0+0.5) × [lat0, lat0+0.5)``, last column /
row closed); H3 points matched to no cell or to several take ``h3.latlng_to_cell``'s answer.  The
cell polygons of both sides have the same float64 vertices, and the plain KDE bins pixels with
the same half-open rule, so "identical" compares the same thing.

Each side runs in its own process (the CSV stage in a separate one), so peak memory (ru_maxrss) is
its own.  ``total_s`` is geoconflict's wall time end to end from GeoParquet (every stage but
ingest_csv, less the time spent saving each stage's answers for the comparison),
``peak_rss_mb`` that process's peak.  ``--memory-csv`` writes a CSV of that size and
ingests it with the dask engine (geoconflict.engine_dask) on workers limited to ``--memory-limit``
in all, measuring every process's peak RSS, and in-process for comparison.

Memory the machine hands a process for the first time can be slow: on a virtual machine the host
backs a guest page only when the guest first touches it.  On the machine these figures come from
(a Firecracker VM) that cost 7-12 s of system time per GB, against 0.3 s just after the guest had
used the memory, and it made the same 200,000-incident run take 8.6 s or 5.7 s.  The benchmark measures it first
(``first_touch_s_per_gb`` in the JSON: seconds to fill 256 MB fresh, per GB) so that figures from
different runs can be compared; ``--warm-memory GB`` touches that much memory in a child process
before every run of either side (both sides gain alike; the warmth fades within minutes, so once
at the start is not enough at 2,500,000 incidents).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SPECS = ("square:1km", "hex:5km", "h3:7", "priogrid")
INCIDENTS_IN_GPKG_MAX = 500_000  # geoconflict.publish.INCIDENTS_IN_GPKG_MAX (checked in main)
ZONES_DATE = "2020-03-05"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    """Stage timings of one side."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.aside_s = 0.0  # time spent saving answers for the comparison (not pipeline work)

    @contextlib.contextmanager
    def aside(self) -> Any:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.aside_s += time.perf_counter() - t

    def run(self, name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args, **kw)
        self.times[name] = time.perf_counter() - t
        print(f"    {name:16s} {self.times[name]:8.2f} s  (peak {peak_mb():,.0f} MB)", file=sys.stderr, flush=True)
        return out


def stage_name(spec: str) -> str:
    return "grid_" + spec.replace(":", "_")


# --------------------------------------------------------------------------------------------
# geoconflict


def fast_csv(data: Path, ans: Path) -> dict[str, Any]:
    import pandas as pd

    from geoconflict.incidents import read_incidents

    st = Stages()
    res = st.run("ingest_csv", read_incidents, data / "acled.csv")
    inc = res.incidents
    pd.DataFrame({"id": inc["incident_id"].astype(object), "x": inc.geometry.x, "y": inc.geometry.y,
                  "date": inc["date"]}).to_parquet(ans / "ingest_csv.parquet")
    return {"times": st.times, "peak_mb": peak_mb(), "report": res.report.summary()}


def fast_pipeline(data: Path, ans: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    import rasterio

    from geoconflict.control import read_control
    from geoconflict.grids import count_by_cell
    from geoconflict.incidents import read_incidents
    from geoconflict.io import read_layer
    from geoconflict.join import join_all
    from geoconflict.kde import kde_raster
    from geoconflict.maps import Layer, write_map
    from geoconflict.publish import write_gpkg
    from geoconflict.zones import area_by_controller

    st = Stages()
    t0 = time.perf_counter()
    res = st.run("ingest_parquet", read_incidents, data / "acled.parquet")
    inc = res.incidents
    with st.aside():
        pd.DataFrame({"id": inc["incident_id"].astype(object), "x": inc.geometry.x, "y": inc.geometry.y,
                      "date": inc["date"]}).to_parquet(ans / "ingest_parquet.parquet")
    del res

    def join() -> Any:
        return join_all(inc, admin=[data / "admin.gpkg"], admin_fields=["ADM3_PCODE"],  # noqa: F821 (called before the del below)
                        control=data / "control.gpkg", front_line=data / "front_line.gpkg")

    joined, report = st.run("join", join)
    del inc
    with st.aside():
        pd.DataFrame({c: joined[c] for c in ("incident_id", "ADM3_PCODE", "admin_join", "admin_distance_m",
                                              "controller", "control_status", "front_line_distance_m")}
                     ).to_parquet(ans / "join.parquet")
    grids = {}
    for spec in SPECS:
        g = st.run(stage_name(spec), count_by_cell, joined, cells=spec)
        grids[spec] = g
        with st.aside():
            pd.DataFrame({"cell_id": g.table["cell_id"].astype(str), "count": g.table["count"]}).to_parquet(
                ans / f"{stage_name(spec)}.parquet")
    k = st.run("kde_500m", kde_raster, joined, ans / "kde.tif", bandwidth_m=5000, resolution_m=500)
    with st.aside(), rasterio.open(k.path) as ds:
        np.save(ans / "kde.npy", ds.read(1))
        (ans / "kde.json").write_text(json.dumps({"crs": k.crs, "transform": k.transform}))

    def zones() -> Any:
        control = read_control(data / "control.gpkg", on=ZONES_DATE)  # that day's state, validated
        admin = read_layer(data / "admin.gpkg")
        return area_by_controller(control, admin, date=ZONES_DATE, admin_fields=["ADM3_PCODE"])

    layer, _summary = st.run("zones", zones)
    with st.aside():
        pd.DataFrame(layer.drop(columns=layer.geometry.name)).to_parquet(ans / "zones.parquet")
    hexes = grids["hex:5km"].cells
    front = read_layer(data / "front_line.gpkg")

    def gpkg() -> Any:
        return write_gpkg([Layer("Incidents", "incidents", joined), Layer("Hex 5 km", "grid", hexes),
                           Layer("Area by controller", "control", layer), Layer("Front line", "front_line", front)],
                          ans / "out.gpkg", overwrite=True)

    st.run("gpkg", gpkg)

    def html() -> Any:
        return write_map([Layer("Hex 5 km", "grid", hexes), Layer("Area by controller", "control", layer)],
                         ans / "map.html", overwrite=True, title="bench")

    rep = st.run("html", html)
    total = time.perf_counter() - t0 - st.aside_s  # end to end, less the answer-saving for the check
    (ans / "html.json").write_text(json.dumps({"features": {k2: int(v) for k2, v in rep.features.items()}}))
    return {"times": st.times, "total_s": total, "peak_mb": peak_mb(), "join": report.summary()}


# --------------------------------------------------------------------------------------------
# the plain way


def _plain_checks(df: Any, lon: Any, lat: Any) -> Any:
    """What an analyst writes: parse dates in each of ACLED's forms, drop bad rows, dedupe ids."""
    import pandas as pd

    d = pd.to_datetime(df["event_date"], format="%Y-%m-%d", errors="coerce")
    for f in ("%d %B %Y", "%d-%m-%Y"):
        d = d.fillna(pd.to_datetime(df["event_date"], format=f, errors="coerce"))
    fat = pd.to_numeric(df["fatalities"], errors="coerce")
    ok = lon.between(-180, 180) & lat.between(-90, 90) & ~((lon == 0) & (lat == 0)) & d.notna() & (fat >= 0)
    ok &= ~(df["event_id_cnty"].where(ok).duplicated(keep="first") & ok)
    return d, ok


def plain_csv(data: Path, ans: Path) -> dict[str, Any]:
    import geopandas as gpd
    import pandas as pd

    def ingest() -> Any:
        df = pd.read_csv(data / "acled.csv", dtype=str, keep_default_na=False)
        lon = pd.to_numeric(df["longitude"].where(df["longitude"] != ""), errors="coerce")
        lat = pd.to_numeric(df["latitude"].where(df["latitude"] != ""), errors="coerce")
        d, ok = _plain_checks(df, lon, lat)
        gdf = gpd.GeoDataFrame(df[ok], geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs=4326)
        gdf["date"] = d[ok]
        return gdf

    st = Stages()
    gdf = st.run("ingest_csv", ingest)
    pd.DataFrame({"id": gdf["event_id_cnty"].astype(object), "x": gdf.geometry.x, "y": gdf.geometry.y,
                  "date": gdf["date"].astype("datetime64[ns]")}).reset_index(drop=True).to_parquet(
        ans / "ingest_csv.parquet")
    return {"times": st.times, "peak_mb": peak_mb()}


def plain_pipeline(data: Path, ans: Path) -> dict[str, Any]:
    import bench_grids as BG
    import bench_join as BJ
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import scipy.ndimage

    from geoconflict import control as C
    from geoconflict.crs import equal_area_crs_for, metric_crs_for
    from geoconflict.kde import kernel_weights

    st = Stages()

    def ingest() -> Any:
        gdf = gpd.read_parquet(data / "acled.parquet")
        ok_geom = gdf.geometry.notna() & ~gdf.geometry.is_empty
        lon = pd.Series(np.where(ok_geom, gdf.geometry.x, np.nan), index=gdf.index)
        lat = pd.Series(np.where(ok_geom, gdf.geometry.y, np.nan), index=gdf.index)
        d, ok = _plain_checks(gdf, lon, lat)
        out = gdf[ok].reset_index(drop=True)
        out["date"] = d[ok].to_numpy()
        out["date_precision"] = pd.to_numeric(out["time_precision"]).astype("Int8")
        return out

    inc = st.run("ingest_parquet", ingest)
    pd.DataFrame({"id": inc["event_id_cnty"].astype(object), "x": inc.geometry.x, "y": inc.geometry.y,
                  "date": inc["date"].astype("datetime64[ns]")}).to_parquet(ans / "ingest_parquet.parquet")

    def front(inc: Any, lines: Any) -> Any:
        metric = metric_crs_for(inc)
        pts = inc.geometry.to_crs(metric)
        day = inc["date"].dt.floor("D")
        dist = np.full(len(inc), np.nan)
        ends = list(lines["date"].iloc[1:] - pd.Timedelta(days=1)) + [pd.Timestamp.max]
        for (_, row), end in zip(lines.iterrows(), ends, strict=False):
            sel = ((day >= row["date"]) & (day <= end)).to_numpy()
            line = gpd.GeoSeries([row.geometry], crs=lines.crs).to_crs(metric).iloc[0]
            dist[sel] = pts[sel].distance(line).to_numpy()
        return dist

    def join() -> Any:
        adm = gpd.read_file(data / "admin.gpkg")
        ctl = C.read_control(gpd.read_file(data / "control.gpkg"))
        lines = gpd.read_file(data / "front_line.gpkg")
        lines["date"] = pd.to_datetime(lines["date"])
        idx, dist = BJ.plain_admin(inc, adm, 2000.0)
        ctrl, status = BJ.plain_control(inc, ctl)
        fl = front(inc, lines)
        codes = adm["ADM3_PCODE"].to_numpy()
        return pd.DataFrame({
            "incident_id": inc["event_id_cnty"].astype(object),
            "ADM3_PCODE": np.where(idx >= 0, codes[np.maximum(idx, 0)], None),
            "admin_join": np.where(idx < 0, "none", np.where(dist > 0, "nearest", "within")),
            "admin_distance_m": dist, "controller": ctrl, "control_status": status,
            "front_line_distance_m": fl})

    st.run("join", join).to_parquet(ans / "join.parquet")
    def only_precise() -> Any:  # dropping imprecise locations is part of each count (ours does it)
        return inc[pd.to_numeric(inc["geo_precision"]) < 3]

    fast_crs = json.loads((data.parent / "fast" / "kde.json").read_text())["crs"]  # the same UTM zone
    plain = {"square:1km": lambda: BG.plain_square(only_precise(), fast_crs, 1000.0),
             "hex:5km": lambda: BG.plain_hex(only_precise(), fast_crs, 5000.0),
             "h3:7": lambda: BG.plain_h3(only_precise(), 7), "priogrid": lambda: BG.plain_priogrid(only_precise())}
    grids = {}
    for spec in SPECS:
        counts = st.run(stage_name(spec), plain[spec])
        grids[spec] = counts
        pd.DataFrame({"cell_id": counts.index.astype(str), "count": counts.to_numpy()}).to_parquet(
            ans / f"{stage_name(spec)}.parquet")

    def kde() -> Any:
        pts = only_precise().geometry.to_crs(fast_crs)
        x, y = pts.x.to_numpy(), pts.y.to_numpy()
        res = 500.0
        k = kernel_weights(5000.0, res, "quartic")
        r = k.shape[0] // 2
        def half_open(v: Any) -> Any:  # pixel i holds [i*res, (i+1)*res), the products as float64
            i = np.floor(v / res)
            i = np.where(v < i * res, i - 1, i)
            return np.where(v >= (i + 1) * res, i + 1, i).astype(int)

        ix, iy = half_open(x), half_open(y)
        c0, c1, r0, r1 = ix.min() - r, ix.max() + r, iy.min() - r, iy.max() + r
        binned, _, _ = np.histogram2d(r1 - iy, ix - c0, bins=[r1 - r0 + 1, c1 - c0 + 1],
                                      range=[[0, r1 - r0 + 1], [0, c1 - c0 + 1]])
        return scipy.ndimage.convolve(binned, k, mode="constant") / (res * res / 1e6)

    np.save(ans / "kde.npy", st.run("kde_500m", kde))

    def zones() -> Any:
        adm = gpd.read_file(data / "admin.gpkg")[["ADM3_PCODE", "geometry"]]
        ctl = gpd.read_file(data / "control.gpkg")
        day = pd.to_datetime(ctl["date"])
        snap = ctl[day == day[day <= pd.Timestamp(ZONES_DATE)].max()][["controller", "geometry"]]
        ov = gpd.overlay(adm, snap, how="intersection")
        # long lon/lat edges densified to 0.01° before projecting, as a careful analyst does
        ov["area_km2"] = ov.geometry.segmentize(0.01).to_crs(equal_area_crs_for(adm)).area / 1e6
        return ov.groupby(["ADM3_PCODE", "controller"], as_index=False)["area_km2"].sum(), ov

    z, ov = st.run("zones", zones)
    z.to_parquet(ans / "zones.parquet")
    hexes = hex_cells(grids["hex:5km"], fast_crs)
    lines = gpd.read_file(data / "front_line.gpkg")

    def gpkg() -> None:
        out = ans / "out.gpkg"
        if len(inc) > INCIDENTS_IN_GPKG_MAX:  # what geoconflict does at this size (publish module doc)
            inc.to_parquet(ans / "out.incidents.parquet")
        else:
            inc.to_file(out, layer="incidents", driver="GPKG")
        hexes.to_file(out, layer="hex_5_km", driver="GPKG")
        ov.to_file(out, layer="area_by_controller", driver="GPKG")
        lines.to_file(out, layer="front_line", driver="GPKG")

    st.run("gpkg", gpkg)

    def html() -> int:
        m = hexes.explore(column="count")
        ov.explore(m=m, column="controller")
        m.save(ans / "map.html")
        return len(hexes) + len(ov)

    n = st.run("html", html)
    (ans / "html.json").write_text(json.dumps({"features": n}))
    return {"times": st.times, "peak_mb": peak_mb()}


def hex_cells(counts: Any, crs: str) -> Any:
    """Hex cell polygons for the plain map (what the analyst's sjoin grid had)."""
    import geopandas as gpd

    from geoconflict.grids import cell_polygons

    return gpd.GeoDataFrame({"cell_id": counts.index.astype(str), "count": counts.to_numpy()},
                            geometry=cell_polygons("hex:5km", list(counts.index.astype(str))), crs=crs)


# --------------------------------------------------------------------------------------------
# identical answers


def compare(fast_csv: Path, plain_csv: Path, fast: Path, plain: Path) -> dict[str, bool]:
    """Each stage's answers, geoconflict's against the plain way's (CSV stage answers apart)."""
    import numpy as np
    import pandas as pd

    out: dict[str, bool] = {}
    for name, fa, pa in (("ingest_csv", fast_csv, plain_csv), ("ingest_parquet", fast, plain)):
        a, b = pd.read_parquet(fa / f"{name}.parquet"), pd.read_parquet(pa / f"{name}.parquet")
        try:
            pd.testing.assert_frame_equal(a, b, check_dtype=False)
            out[name] = True
        except AssertionError as exc:
            print(f"{name}: {str(exc)[:300]}", file=sys.stderr)
            out[name] = False
    a, b = pd.read_parquet(fast / "join.parquet"), pd.read_parquet(plain / "join.parquet")
    same = len(a) == len(b) and (a["incident_id"].astype(str).to_numpy() == b["incident_id"].astype(str).to_numpy()).all()
    for col in ("ADM3_PCODE", "admin_join", "controller", "control_status"):
        same &= bool((a[col].fillna("").astype(str).to_numpy() == b[col].fillna("").astype(str).to_numpy()).all())
    for col in ("admin_distance_m", "front_line_distance_m"):
        same &= bool(np.allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-9, atol=1e-6, equal_nan=True))
    out["join"] = bool(same)
    for spec in SPECS:
        n = stage_name(spec)
        a = pd.read_parquet(fast / f"{n}.parquet").set_index("cell_id")["count"].astype("int64").sort_index()
        b = pd.read_parquet(plain / f"{n}.parquet").set_index("cell_id")["count"].astype("int64").sort_index()
        out[n] = bool(a.equals(b))
    ka, kb = np.load(fast / "kde.npy").astype("float64"), np.load(plain / "kde.npy")
    out["kde_500m"] = ka.shape == kb.shape and bool(np.allclose(ka, kb, rtol=1e-4, atol=1e-6 * kb.max()))
    a, b = pd.read_parquet(fast / "zones.parquet"), pd.read_parquet(plain / "zones.parquet")
    a = a[a["area_km2"] > 0].set_index(["ADM3_PCODE", "controller"])["area_km2"].sort_index()
    b = b[b["area_km2"] > 1e-9].set_index(["ADM3_PCODE", "controller"])["area_km2"].sort_index()
    a = a[a > 1e-9]
    out["zones"] = a.index.equals(b.index) and bool(np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6, atol=1e-6))
    import pyogrio

    def counts(p: Path) -> list[int]:
        import pyarrow.parquet as pq

        side = [pq.ParquetFile(f).metadata.num_rows for f in sorted(p.parent.glob("out.*.parquet"))]
        return sorted([int(pyogrio.read_info(p, layer=str(name))["features"])
                       for name in pyogrio.list_layers(p)[:, 0] if str(name) != "layer_styles"] + side)

    out["gpkg"] = counts(fast / "out.gpkg") == counts(plain / "out.gpkg")
    fa = json.loads((fast / "html.json").read_text())["features"]
    fb = json.loads((plain / "html.json").read_text())["features"]
    out["html"] = sum(fa.values()) == fb
    return out


# --------------------------------------------------------------------------------------------
# the chunked-CSV memory measurement


class PeakTree:
    """Peak RSS of this process and all its children (sampled every 50 ms), in MB."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.total = 0.0
        self.per = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            rss = []
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    rss.append(p.memory_info().rss / 2**20)
                except psutil.Error:
                    pass
            self.total = max(self.total, sum(rss))
            self.per = max(self.per, max(rss) if rss else 0.0)
            time.sleep(0.05)

    def __enter__(self) -> PeakTree:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def memory_child(which: str, csv: Path, out: Path, limit: int, workers: int, blocksize: int) -> dict[str, Any]:
    t = time.perf_counter()
    if which == "inprocess":
        from geoconflict.incidents import read_incidents

        with PeakTree() as peak:
            res = read_incidents(csv)
        rep = res.report.summary()
    else:
        from geoconflict.engine_dask import get_client, ingest_partitioned

        with PeakTree() as peak:
            client = get_client(n_workers=workers, memory_limit=limit // workers)
            try:
                rep = ingest_partitioned(csv, out, client=client, blocksize=blocksize, overwrite=True).summary()
            finally:
                client.close()
    return {"seconds": time.perf_counter() - t, "peak_total_mb": peak.total, "peak_process_mb": peak.per,
            "report": rep}


def memory_test(args: argparse.Namespace) -> dict[str, Any]:
    import _benchdata as D

    from geoconflict.engine_dask import parse_bytes

    target, limit = parse_bytes(args.memory_csv), parse_bytes(args.memory_limit)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="geoconflict-mem-"))
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"acled_{args.memory_csv}.csv"
    t = time.perf_counter()
    if not csv.exists() or csv.stat().st_size < target:
        chunk, k = 200_000, 0
        while not csv.exists() or csv.stat().st_size < target:
            table, _ = D.incidents_table(chunk, seed=k, id_offset=k * chunk, bad=True)
            D.write_csv(table, csv, append=k > 0)
            k += 1
    size = csv.stat().st_size
    print(f"memory test: {csv.name} {size / 1e9:.2f} GB ({time.perf_counter() - t:.0f} s to make); "
          f"dask workers limited to {limit / 1e9:.2f} GB in all ({args.workers} x {limit / args.workers / 1e9:.2f} GB)")
    results = {}
    for which in (["dask"] + ([] if args.skip_inprocess else ["inprocess"])):
        proc = subprocess.run([sys.executable, __file__, "--memory-child", which, str(csv), str(folder / "parts"),
                               str(limit), str(args.workers), str(parse_bytes(args.blocksize))],
                              capture_output=True, text=True)
        if proc.returncode:
            results[which] = {"failed": proc.stderr.strip().splitlines()[-1:] }
        else:
            results[which] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {which:9s} {json.dumps(results[which])}")
    return {"csv_bytes": size, "memory_limit": limit, "workers": args.workers, **results}


# --------------------------------------------------------------------------------------------
# main


def touch_memory(gb: float) -> float:
    """Seconds a fresh child process takes to fill ``gb`` GB of new memory (then freed)."""
    code = ("import time, numpy as np; t = time.perf_counter(); "
            f"a = np.ones(int({gb} * 2**30) // 8); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, check=True)
    return float(out.stdout.strip())


def make_data(n: int, folder: Path, seed: int) -> dict[str, Any]:
    import _benchdata as D

    t = time.perf_counter()
    admin, what = D.admin_layer()
    admin.to_file(folder / "admin.gpkg", driver="GPKG")
    D.control_layer(50).to_file(folder / "control.gpkg", driver="GPKG")
    D.front_line_layer(50).to_file(folder / "front_line.gpkg", driver="GPKG")
    table, planted = D.incidents_table(n, seed=seed, bounds=admin.total_bounds)
    D.write_csv(table, folder / "acled.csv")
    D.write_geoparquet(table, folder / "acled.parquet")
    return {"seconds": time.perf_counter() - t, "admin": what, "planted": planted,
            "csv_mb": (folder / "acled.csv").stat().st_size / 1e6,
            "parquet_mb": (folder / "acled.parquet").stat().st_size / 1e6}


def child(which: str, data: Path, ans: Path) -> dict[str, Any]:
    fn = {"fast-csv": fast_csv, "fast": fast_pipeline, "plain-csv": plain_csv, "plain": plain_pipeline}[which]
    return fn(data, ans)


def run_child(which: str, data: Path, ans: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", which, str(data), str(ans)],
                          stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"{which} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(which: str, data: Path, ans: Path, repeat: int, *, warm_gb: float = 0
            ) -> tuple[dict[str, Any], Path]:
    """Run one side ``repeat`` times (fresh processes, answers in ``ans/r<i>``; ``warm_gb`` of
    memory touched just before each): each stage's and the end-to-end best time, the highest peak,
    every run's figures; and the last answers' folder."""
    runs = []
    for i in range(repeat):
        out = ans / f"r{i}"
        out.mkdir(parents=True, exist_ok=True)
        warm_s = touch_memory(warm_gb) if warm_gb else None
        runs.append(run_child(which, data, out))
        runs[-1]["warm_s"] = warm_s
    best = dict(runs[-1])
    best["times"] = {k: min(r["times"][k] for r in runs) for k in runs[0]["times"]}
    best["peak_mb"] = max(r["peak_mb"] for r in runs)
    if "total_s" in best:
        best["total_s"] = min(r["total_s"] for r in runs)
    best["runs"] = [{"times": r["times"], "total_s": r.get("total_s"), "peak_mb": r["peak_mb"],
                     "warmed_s": r["warm_s"]} for r in runs]
    return best, out


def machine() -> dict[str, Any]:
    import pyogrio

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": os.cpu_count(), "memory_gb": round(mem, 1), "python": platform.python_version(),
            "gdal": pyogrio.__gdal_version_string__, "platform": platform.platform()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--keep", type=Path, default=None, help="keep the data and answers in this folder")
    ap.add_argument("--skip-plain", action="store_true", help="geoconflict only (no ratios)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run each side N times (fresh processes) and keep each stage's best time")
    ap.add_argument("--warm-memory", type=float, default=0, metavar="GB",
                    help="first touch this much memory in a child process before every run (see the docstring)")
    ap.add_argument("--memory-csv", default=None, metavar="SIZE",
                    help="instead: make a CSV of SIZE (e.g. 2GB) and ingest it with the dask engine")
    ap.add_argument("--memory-limit", default="1GB", metavar="SIZE", help="all dask workers together")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--blocksize", default="32MB")
    ap.add_argument("--skip-inprocess", action="store_true", help="memory test: dask engine only")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--memory-child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        which, data, ans = args.child
        print(json.dumps(child(which, Path(data), Path(ans)), default=str))
        return 0
    if args.memory_child:
        which, csv, out, limit, workers, blocksize = args.memory_child
        print(json.dumps(memory_child(which, Path(csv), Path(out), int(limit), int(workers), int(blocksize))))
        return 0
    if args.memory_csv:
        res = memory_test(args)
        if args.json:
            args.json.write_text(json.dumps({"memory_test": res, "machine": machine()}, indent=2) + "\n")
        return 0 if "seconds" in res.get("dask", {}) else 1

    from geoconflict.publish import INCIDENTS_IN_GPKG_MAX as LIMIT

    assert LIMIT == INCIDENTS_IN_GPKG_MAX, "bench.INCIDENTS_IN_GPKG_MAX is out of date"
    warm_s = touch_memory(args.warm_memory) if args.warm_memory else None
    first_touch = touch_memory(0.25) * 4
    print(f"memory first touch: {first_touch:.2f} s per GB"
          + (f" (after warming {args.warm_memory:g} GB in {warm_s:.1f} s)" if warm_s else ""), flush=True)
    with tempfile.TemporaryDirectory(prefix="geoconflict-bench-") as tmp:
        root = args.keep or Path(tmp)
        data, fast, plain = root / "data", root / "fast", root / "plain"
        for d in (data, fast, plain):
            d.mkdir(parents=True, exist_ok=True)
        info = make_data(args.incidents, data, args.seed)
        print(f"{args.incidents:,} incidents ({info['csv_mb']:,.0f} MB CSV, {info['parquet_mb']:,.0f} MB "
              f"GeoParquet), {info['admin']}, 50 control snapshots, 50 front lines; made in "
              f"{info['seconds']:.1f} s; bad rows planted {info['planted']}", flush=True)
        print("geoconflict:", file=sys.stderr)
        f_csv, fast_csv_ans = best_of("fast-csv", data, fast / "csv", args.repeat, warm_gb=args.warm_memory)
        f, fast_ans = best_of("fast", data, fast / "pipeline", args.repeat, warm_gb=args.warm_memory)
        (fast / "kde.json").write_text((fast_ans / "kde.json").read_text())  # the plain way's UTM zone
        times = {**f_csv["times"], **f["times"]}
        ptimes: dict[str, float] = {}
        same: dict[str, bool] = {}
        p_peak = None
        if not args.skip_plain:
            print("plain geopandas:", file=sys.stderr)
            p_csv, p_csv_ans = best_of("plain-csv", data, plain / "csv", args.repeat, warm_gb=args.warm_memory)
            p, plain_ans = best_of("plain", data, plain / "pipeline", args.repeat, warm_gb=args.warm_memory)
            ptimes = {**p_csv["times"], **p["times"]}
            p_peak = max(p_csv["peak_mb"], p["peak_mb"])
            same = compare(fast_csv_ans, p_csv_ans, fast_ans, plain_ans)
        stages = {}
        print(f"\n{'stage':16s} {'geoconflict':>12s} {'plain':>10s} {'ratio':>7s}  identical")
        for name, t in times.items():
            pt = ptimes.get(name)
            ratio = pt / t if pt else None
            stages[name] = {"fast_s": round(t, 3), "plain_s": round(pt, 3) if pt else None,
                            "ratio": round(ratio, 2) if ratio else None, "identical": same.get(name)}
            print(f"{name:16s} {t:10.2f} s " + (f"{pt:8.2f} s {ratio:6.1f}x  {same.get(name)}" if pt else ""))
        print(f"\ngeoconflict end to end from GeoParquet: {f['total_s']:.1f} s, peak RSS {f['peak_mb']:,.0f} MB "
              f"(CSV ingest process: peak {f_csv['peak_mb']:,.0f} MB)"
              + (f"; plain way peak RSS {p_peak:,.0f} MB" if p_peak else ""))
        print(f"join: {f['join']}")
        result = {"incidents": args.incidents, "repeat": args.repeat, "stages": stages,
                  "total_s": round(f["total_s"], 2), "runs_total_s": [round(r["total_s"], 2) for r in f["runs"]],
                  "peak_rss_mb": round(f["peak_mb"]), "peak_rss_csv_mb": round(f_csv["peak_mb"]),
                  "peak_rss_plain_mb": round(p_peak) if p_peak else None, "data": info, "machine": machine(),
                  "first_touch_s_per_gb": round(first_touch, 2),
                  "warm_memory": {"gb": args.warm_memory, "seconds": round(warm_s, 1)} if warm_s else None}
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
        if not args.skip_plain:
            bad = [k for k, v in same.items() if not v]
            assert not bad, f"answers differ: {bad}"
            print("answers identical in every stage")
    return 0


if __name__ == "__main__":
    sys.exit(main())
