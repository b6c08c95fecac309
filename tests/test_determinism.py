"""Determinism: the same inputs give byte-identical GeoJSON, CSV and GeoPackage outputs across runs
(stable ordering, fixed precision); timestamps only in the manifest.

The commands run twice in-process into two folders; the built-in scenario runs once in-process
and once in a fresh interpreter with another hash seed (set and dict orders of strings change
between interpreters), and every output but the manifest must match byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoconflict.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "geoconflict" / "scenarios" / "idlib-2020"
BOUNDARIES = ROOT / "boundaries"
INCIDENTS = SCENARIO / "incidents.csv"
#: formats whose bytes must not change between runs (HTML carries folium's random element ids)
BYTE_STABLE = {".geojson", ".csv", ".gpkg", ".json", ".md", ".tif", ".parquet", ".png", ".svg"}


def _run(args: list[object]) -> None:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def _twice(tmp_path: Path, make_args) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        _run(make_args(d))
    return a, b


def _assert_same_files(a: Path, b: Path, *, skip: tuple[str, ...] = ()) -> list[str]:
    names_a = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    names_b = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert names_a == names_b
    compared = []
    for name in names_a:
        if name in skip or Path(name).suffix not in BYTE_STABLE:
            continue
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs between runs"
        compared.append(name)
    assert compared, "nothing compared"
    return compared


def _no_timestamp(folder: Path, *, skip: tuple[str, ...] = ("manifest.json",)) -> None:
    """No output but the manifest carries today's date (outputs of 2020 data have none)."""
    today = datetime.now(UTC).strftime("%Y-%m-%d").encode()
    for p in folder.rglob("*"):
        if p.name in skip or not p.is_file():
            continue
        assert today not in p.read_bytes(), f"{p.name} carries today's date"


@pytest.mark.parametrize("ext", [".geojson", ".csv", ".gpkg"])
def test_ingest_byte_identical(tmp_path: Path, ext: str) -> None:
    a, b = _twice(tmp_path, lambda d: ["ingest", INCIDENTS, "-o", d / f"incidents{ext}"])
    compared = _assert_same_files(a, b)
    assert f"incidents{ext}" in compared and "incidents.quarantine.csv" in compared
    _no_timestamp(a)


def test_ingest_geojson_precision_and_order(tmp_path: Path) -> None:
    """Coordinates at most 6 decimals; rows in input order."""
    out = tmp_path / "i.geojson"
    _run(["ingest", INCIDENTS, "-o", out])
    doc = json.loads(out.read_text())
    assert "crs" not in doc
    for f in doc["features"]:
        for v in f["geometry"]["coordinates"]:
            assert len(repr(v).split(".")[-1]) <= 6
    ids = [f["properties"]["incident_id"] for f in doc["features"]]
    source = [line.split(",", 1)[0] for line in INCIDENTS.read_text().splitlines()[1:] if line]
    assert ids == [i for i in dict.fromkeys(source)]  # first of each duplicate id, input order


def test_join_byte_identical(tmp_path: Path) -> None:
    a, b = _twice(tmp_path, lambda d: [
        "join", INCIDENTS, "--admin", BOUNDARIES / "idlib2020_admin3.geojson",
        "--control", BOUNDARIES / "idlib2020_control.geojson", "--areas", BOUNDARIES / "idlib2020_areas.geojson",
        "-o", d / "joined.gpkg",
    ])
    assert "joined.gpkg" in _assert_same_files(a, b)
    _no_timestamp(a)


@pytest.mark.parametrize("cells", ["hex:5km", "priogrid"])
def test_grid_byte_identical(tmp_path: Path, cells: str) -> None:
    a, b = _twice(tmp_path, lambda d: ["grid", INCIDENTS, "--cells", cells, "-o", d / "grid.geojson"])
    assert "grid.geojson" in _assert_same_files(a, b)
    _no_timestamp(a)


def test_zones_byte_identical(tmp_path: Path) -> None:
    a, b = _twice(tmp_path, lambda d: [
        "zones", BOUNDARIES / "idlib2020_control.geojson", "--admin", BOUNDARIES / "idlib2020_admin2.geojson",
        "--date", "2020-06-09", "-o", d / "zones.geojson",
    ])
    assert "zones.geojson" in _assert_same_files(a, b)
    _no_timestamp(a)


def test_flows_byte_identical(tmp_path: Path) -> None:
    a, b = _twice(tmp_path, lambda d: [
        "flows", SCENARIO / "displacement_june2020.csv", "--places", SCENARIO / "places.csv",
        "-o", d / "flows.geojson", "--arrows", d / "arrows.gpkg",
    ])
    compared = _assert_same_files(a, b)
    assert {"flows.geojson", "arrows.gpkg"} <= set(compared)
    _no_timestamp(a)


def test_corridor_byte_identical(tmp_path: Path) -> None:
    a, b = _twice(tmp_path, lambda d: ["corridor", BOUNDARIES / "idlib2020_m4.geojson", "--width", "6km",
                                       "-o", d / "corridor.gpkg"])
    assert "corridor.gpkg" in _assert_same_files(a, b)


@pytest.mark.slow
def test_builtin_run_byte_identical_across_interpreters(tmp_path: Path) -> None:
    """The built-in scenario in this interpreter and in a fresh one with another hash seed:
    every output byte-identical but the manifest, whose differences are its timestamps and
    timings only."""
    a, b = tmp_path / "a", tmp_path / "b"
    _run(["-q", "run", "-o", a])
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    proc = subprocess.run(
        [sys.executable, "-c", "from geoconflict.cli.main import cli; cli()", "-q", "run", "-o", str(b)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    compared = _assert_same_files(a, b, skip=("manifest.json",))
    assert {"incidents.geojson", "layers.gpkg", "zone_summary.csv"} <= set(compared)
    _no_timestamp(a)
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))

    def strip(m: dict) -> dict:
        m = dict(m)
        m.pop("created")
        m.pop("seconds_total")
        m["stages"] = {k: {kk: vv for kk, vv in v.items() if kk != "seconds"} for k, v in m["stages"].items()}
        return m

    assert strip(ma) == strip(mb)
