"""``geoconflict flows``: outputs, accounting, messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geoconflict.cli.main import cli

DATA = Path(__file__).resolve().parent / "data" / "flows"


@pytest.fixture
def admin_file(tmp_path: Path) -> Path:
    """Hand-made governorates with OCHA column names (one with markup in its name)."""
    gdf = gpd.GeoDataFrame(
        {"ADM1_PCODE": ["SY07", "SY02", "SY05", "SY08", "SY06"],
         "ADM1_EN": ["Idleb", "Aleppo", "Hama", "Al-Hasakeh", "<b>Lattakia</b>"]},
        geometry=[shapely.box(36.0, 35.5, 37.0, 36.5), shapely.box(37.0, 36.0, 38.0, 36.8),
                  shapely.box(36.0, 34.8, 37.5, 35.5), shapely.box(40.0, 36.0, 41.5, 37.2),
                  shapely.box(35.7, 35.3, 36.0, 36.0)],
        crs="EPSG:4326",
    )
    p = tmp_path / "adm1.geojson"
    gdf.to_file(p, driver="GeoJSON")
    return p


def run(cli_runner, args):
    return cli_runner.invoke(cli, ["flows", *map(str, args)])


def test_matrix_to_arcs_arrows_html_and_side_files(cli_runner, tmp_path, admin_file):
    out = tmp_path / "out" / "flows.geojson"
    arrows = tmp_path / "out" / "flow_arrows.geojson"
    page = tmp_path / "out" / "flows.html"
    r = run(cli_runner, [DATA / "matrix_governorates.csv", "-o", out, "--admin", admin_file,
                         "--arrows", arrows, "--html", page])
    assert r.exit_code == 0, r.output
    # the wrong Grand Total is reported, with the row, the cell and the difference
    assert "row 'Hasakah' (cell F9): Grand Total says 80 but its cells sum to 75 (difference 5)" in r.output
    arcs = gpd.read_file(out)
    assert sorted(zip(arcs["origin"], arcs["destination"], arcs["individuals"], strict=False)) == [
        ("SY02", "SY07", 300.0), ("SY05", "SY07", 800.0), ("SY07", "SY02", 25000.5)]
    assert {"origin_name", "destination_name", "share", "width"} <= set(arcs.columns)
    assert (arcs.geometry.geom_type == "LineString").all()
    heads = gpd.read_file(arrows)
    assert len(heads) == 3 and (heads.geometry.geom_type == "Polygon").all()
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    acc = meta["accounting"]
    assert acc["drawn"] + acc["self_flows"] + acc["quarantined"] == acc["input_individuals"] == 31645.5
    assert meta["width_scale"]["max_value"] == 25000.5
    assert meta["accounting"]["total_mismatches"][0]["cell"] == "F9"
    q = pd.read_csv(out.parent / "flows.quarantine.csv")
    assert q["origin"].tolist() == ["Unknown"] and q["reason"].tolist() == ["unknown_place"]
    selfs = pd.read_csv(out.parent / "flows.self_flows.csv")
    assert selfs["individuals"].sum() == 5425
    totals = pd.read_csv(out.parent / "flows.totals.csv")
    assert totals.set_index("code").loc["SY07", "out_individuals"] == 25000.5
    text = page.read_text(encoding="utf-8")
    assert "Line width" in text and "<b>Lattakia</b>" not in text


def test_excel_sheet_and_top(cli_runner, tmp_path, admin_file):
    out = tmp_path / "f.gpkg"
    r = run(cli_runner, [DATA / "hnap_matrix.xlsx", "--sheet", "IDP Movements", "-o", out,
                         "--admin", admin_file, "--top", "2", "--min", "100"])
    assert r.exit_code == 0, r.output
    assert "column 'Hama' (cell D12): Grand Total says 900 but its cells sum to 950" in r.output
    arcs = gpd.read_file(out)
    assert arcs.sort_values("individuals")["individuals"].tolist() == [12000.0, 80000.5]
    assert "cut by --top" in r.output


def test_refuses_to_overwrite_before_working(cli_runner, tmp_path, admin_file):
    out = tmp_path / "flows.geojson"
    (tmp_path / "flows.quarantine.csv").write_text("keep me")
    r = run(cli_runner, [DATA / "matrix_governorates.csv", "-o", out, "--admin", admin_file])
    assert r.exit_code == 2
    assert "already exists" in r.output and "--overwrite" in r.output
    assert not out.exists() and (tmp_path / "flows.quarantine.csv").read_text() == "keep me"
    r = run(cli_runner, [DATA / "matrix_governorates.csv", "-o", out, "--admin", admin_file, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert out.exists()


def test_user_errors_exit_2_with_one_line(cli_runner, tmp_path, admin_file):
    r = run(cli_runner, [DATA / "records_names.csv", "-o", tmp_path / "a.geojson", "--origin", "From"])
    assert r.exit_code == 2 and "no column named 'From'" in r.output and "Traceback" not in r.output
    r = run(cli_runner, [DATA / "hnap_matrix.xlsx", "-o", tmp_path / "b.geojson", "--sheet", "Nope"])
    assert r.exit_code == 2 and "no sheet named 'Nope'" in r.output
    r = run(cli_runner, [tmp_path / "missing.csv", "-o", tmp_path / "c.geojson"])
    assert r.exit_code == 2 and "not found" in r.output
    r = run(cli_runner, [DATA / "matrix_governorates.csv", "-o", tmp_path / "d.geojson",
                         "--admin", admin_file, "--level", "2"])
    assert r.exit_code == 2 and "admin level 2" in r.output
    r = run(cli_runner, [DATA / "matrix_governorates.csv", "-o", tmp_path / "e.txt"])
    assert r.exit_code == 2 and "unsupported output extension" in r.output
    r = run(cli_runner, [DATA / "matrix_governorates.csv", "-o", tmp_path / "f.geojson",
                         "--html", tmp_path / "f.txt"])
    assert r.exit_code == 2 and "needs an .html file name" in r.output
    r = run(cli_runner, [DATA / "matrix_governorates.csv", "-o", tmp_path / "g.geojson",
                         "--arrows", tmp_path / "g.geojson"])
    assert r.exit_code == 2 and "share one file name" in r.output
    assert not list(tmp_path.glob("[efg].*"))  # nothing written


def test_records_with_ocha_places_and_period(cli_runner, tmp_path, ocha_places):
    out = tmp_path / "flows.csv"
    r = run(cli_runner, [DATA / "records_names.csv", "-o", out, "--places", ocha_places,
                         "--period", "month"])
    assert r.exit_code == 0, r.output
    f = pd.read_csv(out)
    got = sorted(zip(f["period"], f["origin"], f["destination"], f["individuals"], strict=False))
    assert got == [("2020-02", "C3985", "C4121", 1250.0), ("2020-02", "C3985", "C4130", 500.0),
                   ("2020-02", "C4278", "C4126", 100.0), ("2020-02", "C4278", "C4130", 400.0),
                   ("2020-03", "C4121", "C3985", 40.0)]
    assert f["geometry"].str.startswith("LINESTRING").all()
    q = pd.read_csv(tmp_path / "flows.quarantine.csv")
    assert sorted(q["reason"]) == ["ambiguous_name", "no_match", "unknown_place"]
    # 2,475 in = 2,290 drawn + 25 within Atma + 160 quarantined
    assert "2,475 individuals in 10 rows: drawn 2,290 in 5 flows, self-flows 25" in r.output
    assert "quarantined 160 (3 rows)" in r.output
