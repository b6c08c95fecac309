"""The README's command chain, timed command by command, as an analyst runs it (each command a
fresh process: imports, reading the previous command's GeoPackage, writing its own).

    .venv/bin/python scripts/bench_commands.py --incidents 200000
    .venv/bin/python scripts/bench_commands.py --incidents 200000 --compare 676991d --repeat 2

Data: ``scripts/bench.py``'s (N ACLED-shaped incidents as CSV, the 272 OCHA sub-districts, 50
dated control snapshots and front lines).  Chain:

    ingest acled.csv -o incidents.gpkg
    join incidents.gpkg --admin admin.gpkg --control control.gpkg --front-line front_line.gpkg -o joined.gpkg
    grid joined.gpkg --cells hex:5km --by controller -o hex.gpkg --kde kde.tif --hotspots hotspots.geojson
    zones control.gpkg --admin admin.gpkg --on 2020-03-05 -o zones.gpkg
    map joined.gpkg hex.gpkg kde.tif zones.gpkg -o map.html -o layers.gpkg

``--compare REV`` runs the same chain with another revision of this repository (checked out in a
temporary git worktree, run with this checkout's environment), alternating with this checkout's
runs, and prints each command's ratio.  Each command's figure is its best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def chain(data: Path) -> list[tuple[str, list[str]]]:
    d = {k: str(data / f) for k, f in (("csv", "acled.csv"), ("admin", "admin.gpkg"),
                                         ("control", "control.gpkg"), ("front", "front_line.gpkg"))}
    return [
        ("ingest", ["ingest", d["csv"], "-o", "incidents.gpkg"]),
        ("join", ["join", "incidents.gpkg", "--admin", d["admin"], "--control", d["control"],
                  "--front-line", d["front"], "-o", "joined.gpkg"]),
        ("grid", ["grid", "joined.gpkg", "--cells", "hex:5km", "--by", "controller", "-o", "hex.gpkg",
                  "--kde", "kde.tif", "--bandwidth", "5km", "--resolution", "500m", "--hotspots", "hotspots.geojson"]),
        ("zones", ["zones", d["control"], "--admin", d["admin"], "--on", "2020-03-05", "-o", "zones.gpkg"]),
        ("map", ["map", "joined.gpkg", "hex.gpkg", "kde.tif", "zones.gpkg", "-o", "map.html", "-o", "layers.gpkg"]),
    ]


def run_chain(code: Path, data: Path) -> dict[str, float]:
    """Seconds per command, running the package in ``code`` (a checkout) in a fresh folder."""
    entry = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import geoconflict; "
             "assert geoconflict.__file__.startswith(sys.path[0]), geoconflict.__file__; "
             "from geoconflict.cli.main import cli; sys.argv[0] = 'geoconflict'; cli()")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="geoconflict-commands-") as work:
        for name, args in chain(data):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", entry, str(code), *args], cwd=work,
                                  capture_output=True, text=True)
            out[name] = time.perf_counter() - t
            if proc.returncode:
                raise SystemExit(f"{name} failed ({code}): {proc.stderr.strip()[-500:]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--incidents", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--compare", metavar="REV", default=None, help="another revision to time the same way")
    args = ap.parse_args()
    import bench

    with tempfile.TemporaryDirectory(prefix="geoconflict-commands-data-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        info = bench.make_data(args.incidents, data, args.seed)
        print(f"{args.incidents:,} incidents ({info['csv_mb']:,.0f} MB CSV), {info['admin']}", flush=True)
        codes = {"this checkout": ROOT}
        other = Path(tmp) / "other"
        if args.compare:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), args.compare],
                           check=True)
            codes = {args.compare: other, **codes}
        try:
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in codes}
            for _ in range(args.repeat):
                for label, code in codes.items():  # alternating: both see the machine alike
                    runs[label].append(run_chain(code, data))
                    print(f"  {label}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[label][-1].items()),
                          flush=True)
        finally:
            if args.compare:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=False)
    best = {label: {k: min(r[k] for r in rs) for k in rs[0]} for label, rs in runs.items()}
    labels = list(codes)
    print("\ncommand " + "".join(f"{lab:>16s}" for lab in labels) + ("   ratio" if len(labels) > 1 else ""))
    for name, _ in chain(Path(".")):
        row = "".join(f"{best[lab][name]:14.2f} s" for lab in labels)
        ratio = f"  {best[labels[0]][name] / best[labels[-1]][name]:5.1f}x" if len(labels) > 1 else ""
        print(f"{name:8s}{row}{ratio}")
    totals = "".join(f"{sum(best[lab].values()):14.2f} s" for lab in labels)
    print(f"{'total':8s}{totals}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
