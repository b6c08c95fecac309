"""Tests for the ``geoconflict grid`` command."""

from __future__ import annotations

import json

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from geoconflict.cli.main import cli
from geoconflict.grids import priogrid_gid

ACLED_COLUMNS = (
    "event_id_cnty,event_date,year,time_precision,disorder_type,event_type,sub_event_type,actor1,"
    "assoc_actor_1,inter1,actor2,assoc_actor_2,inter2,interaction,civilian_targeting,iso,region,country,"
    "admin1,admin2,admin3,location,latitude,longitude,geo_precision,source,source_scale,notes,fatalities,"
    "tags,timestamp"
).split(",")

# (lon, lat, date, sub_event_type, geo_precision, fatalities)
EVENTS = [
    (36.4399, 35.6571, "2020-06-09", "Air/drone strike", 1, 2),  # Mozra
    (36.4402, 35.6569, "2020-06-09", "Air/drone strike", 1, 0),
    (36.5419, 35.6853, "2020-06-08", "Shelling/artillery/missile attack", 2, 1),  # Bara
    (36.3893, 35.6857, "2020-06-08", "Shelling/artillery/missile attack", 1, 0),  # Qastun
    (36.4849, 35.6599, "2020-06-03", "Air/drone strike", 1, 0),  # Kansafra
    (36.6339, 35.9306, "2020-06-09", "Air/drone strike", 3, 0),  # imprecise: placed at Idleb city
]


@pytest.fixture
def acled_csv(tmp_path):
    rows = []
    for i, (lon, lat, date, sub, prec, fat) in enumerate(EVENTS):
        row = dict.fromkeys(ACLED_COLUMNS, "")
        row.update(event_id_cnty=f"SYR{i + 1:05d}", event_date=date, year=date[:4], time_precision=1,
                   event_type="Explosions/Remote violence", sub_event_type=sub, actor1="A", country="Syria",
                   location=f"place {i}", latitude=lat, longitude=lon, geo_precision=prec, fatalities=fat,
                   source="test")
        rows.append(row)
    path = tmp_path / "acled.csv"
    pd.DataFrame(rows, columns=ACLED_COLUMNS).to_csv(path, index=False)
    return path


def run(cli_runner, *args):
    return cli_runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_hex_grid_with_groups(cli_runner, acled_csv, tmp_path):
    out = tmp_path / "hex.geojson"
    r = run(cli_runner, "grid", acled_csv, "--cells", "hex:5km", "--by", "sub_event_type", "-o", out)
    assert r.exit_code == 0, r.output
    assert "excluded 1: imprecise location" in r.output
    cells = gpd.read_file(out)
    assert cells.crs.to_epsg() == 4326
    assert int(cells["count"].sum()) == 5
    assert cells["fatalities"].sum() == 3
    per = cells["count_Air/drone strike"] + cells["count_Shelling/artillery/missile attack"]
    assert (per == cells["count"]).all()
    # each written (EPSG:4326) cell holds exactly the precise events inside it
    pts = gpd.points_from_xy([e[0] for e in EVENTS if e[4] < 3], [e[1] for e in EVENTS if e[4] < 3])
    inside = [int(shapely.contains(poly, np.asarray(pts)).sum()) for poly in cells.geometry]
    assert inside == list(cells["count"])
    meta = json.loads((tmp_path / "hex.meta.json").read_text())
    assert meta["crs"] == "EPSG:32637" and meta["size_m"] == 5000
    assert meta["report"]["excluded"] == {"imprecise_location": 1}


def test_include_imprecise(cli_runner, acled_csv, tmp_path):
    out = tmp_path / "p.geojson"
    r = run(cli_runner, "grid", acled_csv, "--cells", "priogrid", "--include-imprecise", "-o", out)
    assert r.exit_code == 0, r.output
    cells = gpd.read_file(out)
    assert int(cells["count"].sum()) == 6
    assert priogrid_gid(36.6339, 35.9306) in set(cells["cell_id"].astype(int))


def test_h3_and_priogrid_month_long(cli_runner, acled_csv, tmp_path):
    r = run(cli_runner, "grid", acled_csv, "--cells", "h3:7", "-o", tmp_path / "h3.geojson")
    assert r.exit_code == 0, r.output
    cells = gpd.read_file(tmp_path / "h3.geojson")
    expected = {h3.latlng_to_cell(e[1], e[0], 7) for e in EVENTS if e[4] < 3}
    assert set(cells["cell_id"]) == expected

    r = run(cli_runner, "grid", acled_csv, "--cells", "priogrid", "--period", "month", "--long",
            "-o", tmp_path / "pg.csv")
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "pg.csv")
    assert set(table["month_id"]) == {486}
    assert int(table["count"].sum()) == 5


def test_kde_and_hotspots(cli_runner, acled_csv, tmp_path):
    out, tif, hs = tmp_path / "g.geojson", tmp_path / "d.tif", tmp_path / "hs.geojson"
    r = run(cli_runner, "grid", acled_csv, "-o", out, "--kde", tif, "--bandwidth", "3km",
            "--resolution", "250m", "--hotspots", hs)
    assert r.exit_code == 0, r.output
    with rasterio.open(tif) as ds:
        total = float(ds.read(1, masked=True).sum()) * 0.0625
        assert ds.tags()["units"] == "events per km2"
        assert ds.tags()["bandwidth_m"] == "3000"
    assert total == pytest.approx(5, rel=0.01)
    layer = gpd.read_file(hs)
    assert {"gi_z", "p_value", "p_fdr", "hotspot"} <= set(layer.columns)
    assert (layer["count"] == 0).any()  # computed on every cell, not only non-empty ones
    assert int(layer["count"].sum()) == 5
    assert set(layer["hotspot"]) <= {"not significant"} | {f"{k} {p}%" for k in ("hot", "cold") for p in (90, 95, 99)}


def test_all_cells_with_extent(cli_runner, acled_csv, tmp_path):
    extent = gpd.GeoDataFrame(geometry=gpd.GeoSeries.from_wkt(["POLYGON ((36.3 35.6, 36.6 35.6, 36.6 35.75, "
                                                               "36.3 35.75, 36.3 35.6))"]), crs=4326)
    extent.to_file(tmp_path / "extent.geojson")
    out = tmp_path / "all.geojson"
    r = run(cli_runner, "grid", acled_csv, "--cells", "square:5km", "--all-cells", "--extent",
            tmp_path / "extent.geojson", "-o", out)
    assert r.exit_code == 0, r.output
    cells = gpd.read_file(out)
    assert int(cells["count"].sum()) == 5
    assert (cells["count"] == 0).sum() > 10


def test_refuses_overwrite(cli_runner, acled_csv, tmp_path):
    out = tmp_path / "g.geojson"
    assert run(cli_runner, "grid", acled_csv, "-o", out).exit_code == 0
    r = run(cli_runner, "grid", acled_csv, "-o", out)
    assert r.exit_code == 2
    assert "already exists" in r.output and "Traceback" not in r.output
    assert run(cli_runner, "grid", acled_csv, "-o", out, "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cells", "circle:5km"], "cannot read cell system"),
        (["--cells", "h3:20"], "H3 resolution"),
        (["--by", "controller"], "controller"),
        (["--bandwidth", "3km"], "--kde"),
        (["--extent", "x.geojson"], "--all-cells"),
        (["--bandwidth", "five"], "not a distance"),
        (["--cells", "square:5km", "--crs", "EPSG:999999"], "unknown CRS"),
        (["--cells", "square:5km", "--crs", "EPSG:4326"], "not projected"),
        (["--kde", "d.png"], "GeoTIFF"),
    ],
)
def test_user_errors(cli_runner, acled_csv, tmp_path, args, message):
    r = run(cli_runner, "grid", acled_csv, "-o", tmp_path / "e.geojson", *args)
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "e.geojson").exists()


def test_missing_input(cli_runner, tmp_path):
    r = run(cli_runner, "grid", tmp_path / "nope.csv", "-o", tmp_path / "e.geojson")
    assert r.exit_code == 2 and "not found" in r.output


def test_counts_conserved_against_geopandas(cli_runner, tmp_path, ocha_places):
    # real-shaped points: the OCHA populated places as an ACLED-like file
    df = pd.read_csv(ocha_places)
    n = len(df)
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({c: "" for c in ACLED_COLUMNS}, index=range(n))
    rows["event_id_cnty"] = [f"SYR{i:06d}" for i in range(n)]
    rows["event_date"] = "2020-06-09"
    rows["time_precision"] = 1
    rows["event_type"] = "Explosions/Remote violence"
    rows["sub_event_type"] = "Air/drone strike"
    rows["actor1"] = "A"
    rows["location"] = df["PP_NAME_EN"].fillna("x")
    rows["latitude"], rows["longitude"] = df["lat"], df["lon"]
    rows["geo_precision"] = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    rows["fatalities"] = 0
    path = tmp_path / "places.csv"
    rows.to_csv(path, index=False)
    out = tmp_path / "hex.gpkg"
    r = run(cli_runner, "grid", path, "--cells", "hex:5km", "-o", out)
    assert r.exit_code == 0, r.output
    cells = gpd.read_file(out)
    precise = (rows["geo_precision"] < 3).sum()
    assert int(cells["count"].sum()) == precise
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)[rows["geo_precision"] < 3]
    joined = gpd.sjoin(pts.to_crs(cells.crs), cells[["cell_id", "geometry"]], predicate="within")
    expected = joined.groupby("cell_id").size()
    got = cells.set_index("cell_id")["count"]
    assert got.sort_index().equals(expected.sort_index().astype(got.dtype))
