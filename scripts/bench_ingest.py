"""Benchmark: ingest 1,000,000 ACLED-shaped rows from CSV.

    .venv/bin/python scripts/bench_ingest.py [--rows 1000000] [--keep DIR]

Makes a deterministic ACLED export (31 columns since 2023; notes with commas, quotes and some
line breaks with --newlines; three date formats; a few bad rows of each kind), then, each in a fresh process so
peak memory is its own:

1. ``geoconflict.read_incidents`` (pyarrow reader, vectorised validation);
2. the plain way: ``pandas.read_csv`` (default C engine), ``pd.to_datetime`` per format,
   ``geopandas.points_from_xy``, the same checks written directly in pandas.

It asserts that both accept the same incidents (ids, coordinates, dates) and prints the time, the
ratio and the peak memory (ru_maxrss) of each.  Target on a 2-core machine: < 5 s, < 3 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geoconflict.incidents import ACLED_COLUMNS as _ACLED_COLUMNS  # noqa: E402

ACLED_COLUMNS = list(_ACLED_COLUMNS)
PLACES = [  # OCHA spellings, lon, lat
    ("Ariha", 36.6103, 35.8141), ("Ma'arrat An Nu'man", 36.6767, 35.6477),
    ("Saraqab", 36.8061, 35.8611), ("Jisr-Ash-Shugur", 36.3149, 35.8143),
    ("Kafr Nobol", 36.5603, 35.6147), ("Bara", 36.5419, 35.6853), ("Kansafra", 36.4849, 35.6599),
    ("Mozra", 36.4399, 35.6571), ("Qastun", 36.3893, 35.6857), ("Dana", 36.7697, 36.2137),
    ("Sarmada", 36.7239, 36.1867), ("Atma", 36.6899, 36.3099), ("Harim", 36.5209, 36.2127),
    ("Khan Shaykun", 36.6505, 35.4437), ("As-Suqaylabiyah", 36.3939, 35.3619),
]
ACTORS = ["Military Forces of Syria (2000-)", "Military Forces of Russia (2000-)",
          "Hayat Tahrir al Sham", "NLF: National Liberation Front", "Civilians (Syria)",
          "Unidentified Armed Group (Syria)"]
SUBS = [("Explosions/Remote violence", "Air/drone strike"),
        ("Explosions/Remote violence", "Shelling/artillery/missile attack"),
        ("Battles", "Armed clash"), ("Violence against civilians", "Attack")]
MONTHS = np.array(["January", "February", "March", "April", "May", "June", "July", "August",
                   "September", "October", "November", "December"], dtype=object)


def make_csv(path: Path, rows: int, *, newlines: float = 0.0, seed: int = 20200608) -> dict[str, int]:
    """Write the ACLED-shaped CSV; return how many bad rows of each kind it holds."""
    rng = np.random.default_rng(seed)
    n = rows
    place = rng.integers(0, len(PLACES), n)
    names = np.array([p[0] for p in PLACES], dtype=object)[place]
    lon = np.array([p[1] for p in PLACES])[place] + rng.normal(0, 0.02, n)
    lat = np.array([p[2] for p in PLACES])[place] + rng.normal(0, 0.02, n)
    day = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    fmt = rng.random(n)
    iso = pd.Series(day.strftime("%Y-%m-%d"), dtype=object)
    long_ = pd.Series(day.strftime("%d ") , dtype=object) + MONTHS[day.month - 1] + pd.Series(day.strftime(" %Y"), dtype=object)
    dmy = pd.Series(day.strftime("%d-%m-%Y"), dtype=object)
    dates = np.where(fmt < 0.7, iso, np.where(fmt < 0.9, long_, dmy)).astype(object)
    sub = rng.integers(0, len(SUBS), n)
    a1 = np.array(ACTORS, dtype=object)[rng.integers(0, len(ACTORS), n)]
    a2 = np.array(ACTORS, dtype=object)[rng.integers(0, len(ACTORS), n)]
    fat = rng.poisson(0.8, n)
    ids = pd.Series(np.arange(1, n + 1).astype(str), dtype=object).radd("SYR")
    notes = ("On " + iso + ", " + pd.Series(a1) + " shelled \"" + pd.Series(names)
             + "\" and nearby villages, Idleb; " + pd.Series(fat.astype(str))
             + " reported killed, several wounded (per SOHR, \"local sources\"). Displacement "
             "toward the north continued, with families heading to camps near Atma.")
    newline = rng.random(n) < newlines
    notes = notes.where(~newline, notes + "\n[Updated: casualty figures revised]")
    bad: dict[str, int] = {}
    k = max(1, n // 2000)
    sel = rng.choice(n // 2, size=5 * k, replace=False) * 2  # even rows; their odd neighbours stay clean
    lat_s = pd.Series(np.round(lat, 4).astype(str), dtype=object)
    lon_s = pd.Series(np.round(lon, 4).astype(str), dtype=object)
    lat_s[sel[:k]] = ""
    bad["missing_coordinate"] = k
    lon_s[sel[k:2 * k]] = "36.6x"
    bad["non_numeric_coordinate"] = k
    dates[sel[2 * k:3 * k]] = "2020-13-45"
    bad["unparseable_date"] = k
    fat_s = pd.Series(fat.astype(str), dtype=object)
    fat_s[sel[3 * k:4 * k]] = "-1"
    bad["negative_fatalities"] = k
    dup_rows = sel[4 * k:5 * k]
    ids[dup_rows] = ids[(dup_rows + 1) % n].to_numpy()
    bad["duplicate_id"] = k  # each duplicates its (valid) neighbour, which comes later or first
    sub_e = np.array([s[0] for s in SUBS], dtype=object)[sub]
    frame = pd.DataFrame({
        "event_id_cnty": ids, "event_date": dates, "year": day.year, "time_precision": 1,
        "disorder_type": "Political violence", "event_type": sub_e,
        "sub_event_type": np.array([s[1] for s in SUBS], dtype=object)[sub], "actor1": a1,
        "assoc_actor_1": "", "inter1": 1, "actor2": a2, "assoc_actor_2": "", "inter2": 2,
        "interaction": 12, "civilian_targeting": "", "iso": 760, "region": "Middle East",
        "country": "Syria", "admin1": "Idleb", "admin2": "Ariha", "admin3": "Ariha",
        "location": names, "latitude": lat_s, "longitude": lon_s,
        "geo_precision": rng.integers(1, 4, n), "source": "Syrian Observatory for Human Rights",
        "source_scale": "National", "notes": notes, "fatalities": fat_s, "tags": "",
        "timestamp": 1700000000,
    })[ACLED_COLUMNS]
    frame.to_csv(path, index=False)
    return bad


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds used by this process (all threads): less sensitive than wall time to other
    processes competing for the cores."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_geoconflict(csv: Path, out: Path) -> dict[str, float]:
    from geoconflict.incidents import read_incidents

    c0, t0 = cpu_s(), time.perf_counter()
    res = read_incidents(csv)
    t, c = time.perf_counter() - t0, cpu_s() - c0
    inc = res.incidents
    pd.DataFrame({"id": inc["incident_id"].astype(object), "x": inc.geometry.x, "y": inc.geometry.y,
                  "date": inc["date"]}).to_parquet(out)
    return {"seconds": t, "cpu": c, "peak_mb": peak_mb(), "accepted": res.report.accepted,
            "quarantined": res.report.quarantined, "rows": res.report.rows_read,
            "by_reason": res.report.quarantined_by_reason}


def run_plain(csv: Path, out: Path) -> dict[str, float]:
    import geopandas as gpd
    from bench import _plain_checks as plain_checks  # the same checks as the whole-pipeline benchmark

    c0, t0 = cpu_s(), time.perf_counter()
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    lon = pd.to_numeric(df["longitude"].where(df["longitude"] != ""), errors="coerce")
    lat = pd.to_numeric(df["latitude"].where(df["latitude"] != ""), errors="coerce")
    d, ok = plain_checks(df, lon, lat)
    gdf = gpd.GeoDataFrame(df[ok], geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs=4326)
    t, c = time.perf_counter() - t0, cpu_s() - c0
    pd.DataFrame({"id": gdf["event_id_cnty"].astype(object), "x": gdf.geometry.x,
                  "y": gdf.geometry.y, "date": d[ok].astype("datetime64[ns]")}
                 ).reset_index(drop=True).to_parquet(out)
    return {"seconds": t, "cpu": c, "peak_mb": peak_mb(), "accepted": int(ok.sum()), "rows": len(df)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--newlines", type=float, default=0.0,
                    help="share of notes holding a quoted line break (e.g. 0.02)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the CSV in this folder")
    ap.add_argument("--child", nargs=3, metavar=("WHICH", "CSV", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        which, csv, out = args.child
        fn = run_geoconflict if which == "geoconflict" else run_plain
        print(json.dumps(fn(Path(csv), Path(out))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        csv = folder / f"acled_{args.rows}_{args.newlines:g}.csv"
        t0 = time.perf_counter()
        bad = make_csv(csv, args.rows, newlines=args.newlines)
        print(f"made {csv.name}: {args.rows:,} rows, {csv.stat().st_size / 1e6:.0f} MB "
              f"in {time.perf_counter() - t0:.1f} s; bad rows planted: {bad}")
        results = {}
        for which in ("geoconflict", "plain"):
            out = Path(tmp) / f"{which}.parquet"
            proc = subprocess.run([sys.executable, __file__, "--child", which, str(csv), str(out)],
                                  capture_output=True, text=True, check=True)
            results[which] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[which]["table"] = pd.read_parquet(out)
        g, p = results["geoconflict"], results["plain"]
        pd.testing.assert_frame_equal(g.pop("table"), p.pop("table"), check_dtype=False)
        assert g["accepted"] + g["quarantined"] == g["rows"] == args.rows, g
        for reason, count in bad.items():
            assert g["by_reason"].get(reason) == count, (reason, count, g["by_reason"])
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"geoconflict.read_incidents: {g['seconds']:.2f} s wall, {g['cpu']:.2f} s CPU, peak {g['peak_mb']:,.0f} MB, "
              f"{g['accepted']:,} accepted, {g['quarantined']:,} quarantined {g['by_reason']}")
        print(f"plain pandas/geopandas:     {p['seconds']:.2f} s wall, {p['cpu']:.2f} s CPU, peak {p['peak_mb']:,.0f} MB, "
              f"{p['accepted']:,} accepted")
        print(f"speed-up {p['seconds'] / g['seconds']:.1f}x; same accepted incidents (ids, "
              f"coordinates, dates): yes; target < 5 s and < 3,000 MB: "
              f"{'met' if g['seconds'] < 5 and g['peak_mb'] < 3000 else 'NOT met'}")


if __name__ == "__main__":
    main()
