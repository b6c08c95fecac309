"""Tests for the ``geoconflict geocode`` command."""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from geoconflict.cli.main import cli

PLACES = pd.DataFrame(
    {
        "lon": [36.4399, 36.3893, 36.7697, 36.6900, 36.5603, 36.6000],
        "lat": [35.6571, 35.6857, 36.2137, 35.6300, 35.6147, 35.5000],
        "PP_NAME_EN": ["Mozra", "Qastun", "Dana (Dana)", "Dana (Ma'arrat An Nu'man)", "Kafr Nobol",
                       "Kafr Nabi"],
        "PP_PCODE": ["C4298", "C3170", "C4126", "C3965", "C4068", "C3948"],
        "ADM3_EN": ["Ehsem", "Ziyara", "Dana", "Ma'arrat An Nu'man", "Kafr Nobol", "Kafr Nobol"],
        "ADM1_EN": ["Idleb", "Hama", "Idleb", "Idleb", "Idleb", "Idleb"],
        "ADM1_PCODE": ["SY07", "SY05", "SY07", "SY07", "SY07", "SY07"],
    }
)

INCIDENTS = pd.DataFrame(
    {
        "event_id_cnty": ["SYR1", "SYR2", "SYR3", "SYR4", "SYR5", "SYR6"],
        "location": ["Qastoun", "al-Mozra", "Dana", "Dana", "Kafr Nubl", "Nowhere"],
        "admin1": ["Hamah", "Idlib", "Idlib", "Idlib", "Idlib", "Idlib"],
        "admin3": ["Ziyara", "Ihsim", None, "Dana", "", ""],
    }
)


@pytest.fixture
def files(tmp_path):
    places = tmp_path / "places.csv"
    PLACES.to_csv(places, index=False)
    incidents = tmp_path / "incidents.csv"
    INCIDENTS.to_csv(incidents, index=False)
    return places, incidents


def run(cli_runner, *args):
    return cli_runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_geocode_to_geojson_with_context(cli_runner, files, tmp_path):
    places, incidents = files
    out = tmp_path / "out.geojson"
    r = run(cli_runner, "geocode", incidents, "--places", places, "--context-col", "admin1",
            "--context-col", "admin3", "-o", out)
    assert r.exit_code == 0, r.output
    # Qastoun, al-Mozra, Dana with sub-district Dana: exact; Kafr Nubl: fuzzy;
    # Dana without sub-district: ambiguous; Nowhere: none
    assert "6 rows: 3 exact, 1 fuzzy, 1 ambiguous, 1 none" in r.output
    gdf = gpd.read_file(out)
    assert gdf["event_id_cnty"].tolist() == INCIDENTS["event_id_cnty"].tolist()
    statuses = ["exact", "exact", "ambiguous", "exact", "fuzzy", "none"]
    assert gdf["geocode_status"].tolist() == statuses
    assert gdf["PP_PCODE"].tolist()[:2] == ["C3170", "C4298"]
    assert gdf["PP_PCODE"].iloc[3] == "C4126"
    assert gdf.geometry.iloc[0].equals_exact(Point(36.3893, 35.6857), 1e-6)
    assert gdf.geometry.iloc[2] is None and gdf.geometry.iloc[5] is None
    assert {"C4126", "C3965"} <= set(re.findall(r"C\d+", gdf["geocode_candidates"].iloc[2]))


def test_geocode_to_csv_without_context(cli_runner, files, tmp_path):
    places, incidents = files
    out = tmp_path / "out.csv"
    r = run(cli_runner, "geocode", incidents, "--places", places, "-o", out)
    assert r.exit_code == 0, r.output
    assert "6 rows: 2 exact, 1 fuzzy, 2 ambiguous, 1 none" in r.output
    df = pd.read_csv(out)
    assert len(df) == 6
    assert df.loc[0, "longitude"] == pytest.approx(36.3893)
    assert pd.isna(df.loc[2, "longitude"])


def test_several_places_files_and_other_input_formats(cli_runner, files, tmp_path):
    places, _ = files
    own = tmp_path / "own.geojson"
    gpd.GeoDataFrame({"name": ["Al-Qusour"]}, geometry=[Point(36.64, 35.93)], crs=4326).to_file(own)
    xlsx = tmp_path / "in.xlsx"
    pd.DataFrame({"place": ["Qusour", "Qastun"]}).to_excel(xlsx, index=False)
    out = tmp_path / "out.gpkg"
    r = run(cli_runner, "geocode", xlsx, "--places", places, "--places", own, "--name-col", "place",
            "-o", out)
    assert r.exit_code == 0, r.output
    assert "2 rows: 2 exact, 0 fuzzy, 0 ambiguous, 0 none" in r.output
    gdf = gpd.read_file(out)
    assert gdf["name"].iloc[0] == "Al-Qusour" and gdf["PP_PCODE"].iloc[1] == "C3170"
    # a vector layer as input
    layer = tmp_path / "in.geojson"
    gpd.GeoDataFrame({"location": ["Kafr Nobol"]}, geometry=[None], crs=4326).to_file(layer)
    r = run(cli_runner, "geocode", layer, "--places", places, "-o", tmp_path / "v.geojson")
    assert r.exit_code == 0, r.output
    assert "1 rows: 1 exact" in r.output


def test_refuses_to_overwrite(cli_runner, files, tmp_path):
    places, incidents = files
    out = tmp_path / "out.geojson"
    out.write_text("keep me")
    r = run(cli_runner, "geocode", incidents, "--places", places, "-o", out)
    assert r.exit_code == 2
    assert "already exists" in r.output and "--overwrite" in r.output
    assert out.read_text() == "keep me"
    r = run(cli_runner, "geocode", incidents, "--places", places, "-o", out, "--overwrite")
    assert r.exit_code == 0, r.output
    assert len(gpd.read_file(out)) == 6


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--name-col", "place"], "no place-name column 'place'"),
        (["--context-col", "governorate"], "no context column 'governorate'"),
    ],
)
def test_user_errors_are_one_line_exit_2(cli_runner, files, tmp_path, extra, message):
    places, incidents = files
    r = run(cli_runner, "geocode", incidents, "--places", places, *extra, "-o", tmp_path / "o.csv")
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


def test_missing_places_and_bad_files(cli_runner, files, tmp_path):
    places, incidents = files
    r = run(cli_runner, "geocode", incidents, "-o", tmp_path / "o.csv")
    assert r.exit_code == 2 and "no gazetteer given" in r.output
    r = run(cli_runner, "geocode", incidents, "--places", tmp_path / "nope.csv",
            "-o", tmp_path / "o.csv")
    assert r.exit_code == 2 and "not found" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("title,code\nMozra,C1\n")
    r = run(cli_runner, "geocode", incidents, "--places", bad, "-o", tmp_path / "o.csv")
    assert r.exit_code == 2 and "cannot find the place-name column" in r.output
    r = run(cli_runner, "geocode", incidents, "--places", places, "-o", tmp_path / "o.txt")
    assert r.exit_code == 2 and "unsupported output extension" in r.output
    assert not (tmp_path / "o.csv").exists()
