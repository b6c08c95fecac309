"""Vector layers are read through GDAL's Arrow stream, with the feature-by-feature reader as the
reference: the same frame, and files the Arrow path gets wrong (text that is not UTF-8) answered
as the reference answers them, never with a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geoconflict import io
from geoconflict.cli.main import cli
from geoconflict.errors import InputError

NAMES = ["إدلب", "سراقب", "Kafr Nobol", None]


def _layer(*, null_geometry: bool = True) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": NAMES,
            "event_date": pd.to_datetime(["2020-03-05", "2020-03-06", None, "2020-06-09"]).date,
            "fatalities": [0, 3, 12, 1],
            "share": [0.5, None, 1.0, 0.25],
            "checked": [True, False, True, False],
            "note": ["<script>alert(1)</script>", "{{ 7*7 }}", "", None],
        },
        geometry=[shapely.Point(36.6, 35.8), shapely.Point(36.8, 35.85), shapely.Point(36.5, 35.6),
                  None if null_geometry else shapely.Point(36.7, 35.7)],
        crs=4326,
    )


def _reference(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(path, engine="pyogrio", on_invalid="raise")


@pytest.mark.parametrize("ext", [".gpkg", ".geojson", ".fgb", ".shp"])
def test_the_arrow_path_gives_the_reference_frame(tmp_path: Path, ext: str, monkeypatch) -> None:
    path = tmp_path / f"layer{ext}"
    _layer(null_geometry=ext != ".fgb").to_file(path, engine="pyogrio")  # FlatGeobuf: none null
    calls: list[dict] = []
    real = gpd.read_file

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(gpd, "read_file", spy)
    got = io.read_layer(path)
    assert [c.get("use_arrow") for c in calls] == [True]  # one read, through Arrow
    monkeypatch.setattr(gpd, "read_file", real)
    want = _reference(path)
    assert list(got.columns) == list(want.columns)
    for col in want.columns:
        if col == want.geometry.name:
            assert got.geometry.equals(want.geometry)
        else:
            assert str(got[col].dtype) == str(want[col].dtype), col
            pd.testing.assert_series_equal(got[col], want[col], check_names=False)
    assert got.crs == want.crs
    assert "إدلب" in got["name"].tolist()  # (FlatGeobuf stores its features in spatial order)


def _invalid_utf8_gpkg(path: Path) -> None:
    gpd.GeoDataFrame({"name": ["Idleb", "Saraqab"]}, geometry=[shapely.Point(36.6, 35.9), shapely.Point(36.8, 35.8)],
                     crs=4326).to_file(path, engine="pyogrio")
    con = sqlite3.connect(path)
    try:
        table = con.execute("SELECT table_name FROM gpkg_contents").fetchone()[0]
        for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            con.execute(f'DROP TRIGGER "{trigger}"')  # GDAL's R-tree triggers need spatialite here
        # "إدلب" in Windows-1256, stored as text the way a careless converter leaves it
        con.execute(f"UPDATE \"{table}\" SET name = CAST(X'C5CFE1C8' AS TEXT) WHERE fid = 1")
        con.commit()
    finally:
        con.close()


def test_text_that_is_not_utf8_is_refused_clearly(tmp_path: Path, cli_runner) -> None:
    path = tmp_path / "incidents.gpkg"
    _invalid_utf8_gpkg(path)
    with pytest.raises(InputError, match="cannot read as a vector layer") as err:
        io.read_layer(path)
    assert str(path) in str(err.value)
    res = cli_runner.invoke(cli, ["ingest", str(path), "-o", str(tmp_path / "out.geojson")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output and "cannot read" in res.output
    assert not (tmp_path / "out.geojson").exists()


def test_a_legacy_code_page_shapefile_reads_as_the_reference_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "adm3.shp"
    _layer().drop(columns=["event_date"]).to_file(path, engine="pyogrio", encoding="cp1256")
    with_cpg = io.read_layer(path)
    assert with_cpg["name"].tolist()[:2] == NAMES[:2]  # its .cpg names the code page
    path.with_suffix(".cpg").unlink()  # as some exports come: no .cpg, so GDAL cannot know
    with pytest.raises(InputError, match="--encoding"):
        io.read_layer(path)  # GDAL alone reads ISO-8859-1 letters here, without a word
    without = io.read_layer(path, encoding="cp1256")
    pd.testing.assert_frame_equal(
        pd.DataFrame(without.drop(columns="geometry")),
        pd.DataFrame(gpd.read_file(path, engine="pyogrio", encoding="cp1256").drop(columns="geometry")))
    assert without["name"].tolist()[:2] == NAMES[:2]
    assert without["fatalities"].tolist() == [0, 3, 12, 1]
