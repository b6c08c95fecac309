"""The HTML map at a country's size (issue #19): page size, build time and load time in headless
Chromium, geoconflict's packed canvas layer against ``GeoDataFrame.explore`` (folium, one marker
per incident) on the same incidents, in the same run.

    python scripts/bench_html.py                        # 20k, 200k, 1M (explore up to 200k)
    python scripts/bench_html.py --sizes 20000 200000 --explore-max 20000

Load time: from navigation to the incident layer drawn (geoconflict: the canvas layer unpacked and
drawn; explore: the page's load event, after which folium has created every marker), median of
``--repeat`` loads in a fresh browser context.  The built-in scenario's map.html is loaded too,
as the yardstick of issue #19 (a 200k page should open within 3x its time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchdata  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
READY = ("() => window.gcLayers && Object.keys(window.gcLayers).length > 0 && "
         "Object.values(window.gcLayers).every(l => !l.gcPoints || l.lon)")


def incidents(n: int, folder: Path) -> gpd.GeoDataFrame:
    from geoconflict import read_incidents

    path = folder / f"acled_{n}.csv"
    table, _ = _benchdata.incidents_table(n, seed=19, bad=False)
    _benchdata.write_csv(table, path)
    return read_incidents(path).incidents


def load_seconds(browser, path: Path, *, ours: bool, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True)
        page = ctx.new_page()
        t0 = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load", timeout=600_000)
        if ours:
            page.wait_for_function(READY, timeout=600_000, polling=20)
        times.append(time.perf_counter() - t0)
        ctx.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 1_000_000])
    ap.add_argument("--explore-max", type=int, default=200_000, help="largest size given to explore")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from geoconflict import run_scenario
    from geoconflict.layers import Layer
    from geoconflict.maps import write_map

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        folder = Path(tmp)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        builtin = run_scenario(None, outdir=folder / "builtin").outdir / "map.html"
        base = load_seconds(browser, builtin, ours=True, repeat=args.repeat)
        print(f"built-in map.html: {builtin.stat().st_size / 1e6:.2f} MB, opens in {base:.2f} s")
        for n in args.sizes:
            gdf = incidents(n, folder)
            t0 = time.perf_counter()
            report = write_map([Layer("Incidents", "incidents", gdf, source=f"acled_{n}.csv")],
                               folder / f"ours_{n}.html", title=f"{n:,} incidents")
            build = time.perf_counter() - t0
            load = load_seconds(browser, report.path, ours=True, repeat=args.repeat)
            row = {"n": n, "ours_mb": report.size_bytes / 1e6, "ours_build_s": build, "ours_load_s": load,
                   "x_builtin": load / base, "left_out": "; ".join(report.messages) or "-"}
            if n <= args.explore_max:
                t0 = time.perf_counter()
                cols = ["incident_id", "date", "sub_event_type", "actor1", "location", "fatalities", "geometry"]
                m = gdf[cols].assign(date=gdf["date"].dt.strftime("%Y-%m-%d")).explore(column="sub_event_type")
                out = folder / f"explore_{n}.html"
                m.save(out)
                row["explore_build_s"] = time.perf_counter() - t0
                row["explore_mb"] = out.stat().st_size / 1e6
                row["explore_load_s"] = load_seconds(browser, out, ours=False, repeat=1)
            rows.append(row)
            print(row, flush=True)
        browser.close()
    print()
    print("| incidents | geoconflict page | build | opens in | × built-in | explore page | build | opens in |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ex = (f"{r['explore_mb']:.1f} MB | {r['explore_build_s']:.1f} s | {r['explore_load_s']:.1f} s"
              if "explore_mb" in r else "not run | | ")
        print(f"| {r['n']:,} | {r['ours_mb']:.1f} MB | {r['ours_build_s']:.1f} s | {r['ours_load_s']:.1f} s | "
              f"{r['x_builtin']:.1f}× | {ex} |")
    for r in rows:
        print(f"{r['n']:,}: {r['left_out']}")


if __name__ == "__main__":
    main()
