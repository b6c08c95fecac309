"""`geoconflict corridor`: width, sides, messages and exit codes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geoconflict.cli.main import cli

DATA = Path(__file__).resolve().parent / "data" / "zones"
LINE = str(DATA / "line.geojson")


def test_corridor_writes_two_sides_6km_deep(cli_runner, tmp_path):
    out = tmp_path / "corridor.geojson"
    res = cli_runner.invoke(cli, ["corridor", LINE, "--width", "6km", "-o", str(out)])
    assert res.exit_code == 0, res.output
    zones = gpd.read_file(out)
    assert list(zones["side"]) == ["north", "south"]
    assert list(zones["name"]) == ["Test road corridor north", "Test road corridor south"]
    assert (zones["width_m"] == 6000).all()
    # measured in UTM 37N: the far edge is 6 km from the line (GeoJSON rounding: 6 decimals)
    utm = zones.to_crs(32637)
    line = gpd.read_file(LINE).to_crs(32637).geometry.iloc[0]
    for geom in utm.geometry:
        pts = shapely.points(shapely.get_coordinates(geom.exterior))
        assert shapely.distance(line, pts).max() == pytest.approx(6000, rel=0.01)
    assert "Test road corridor north" in res.output and "6,000 m each side" in res.output


def test_left_right_sides_and_name(cli_runner, tmp_path):
    out = tmp_path / "c.gpkg"
    res = cli_runner.invoke(
        cli,
        [
            "corridor",
            LINE,
            "--width",
            "500m",
            "--sides",
            "left-right",
            "--name",
            "M4",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    zones = gpd.read_file(out)
    assert list(zones["name"]) == ["M4 corridor left", "M4 corridor right"]


@pytest.mark.parametrize(
    ("width", "message"),
    [("-3km", "not a distance"), ("abc", "not a distance"), ("0km", "must be positive")],
)
def test_bad_width(cli_runner, tmp_path, width, message):
    res = cli_runner.invoke(
        cli, ["corridor", LINE, "--width", width, "-o", str(tmp_path / "c.geojson")]
    )
    assert res.exit_code == 2 and message in res.output


def test_a_polygon_layer_is_refused(cli_runner, tmp_path):
    res = cli_runner.invoke(
        cli,
        [
            "corridor",
            str(DATA / "admin.geojson"),
            "--width",
            "6km",
            "-o",
            str(tmp_path / "c.geojson"),
        ],
    )
    assert res.exit_code == 2
    assert "must be lines" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "c.geojson").exists()


def test_no_silent_overwrite(cli_runner, tmp_path):
    out = tmp_path / "c.geojson"
    out.write_text("{}")
    res = cli_runner.invoke(cli, ["corridor", LINE, "--width", "6km", "-o", str(out)])
    assert res.exit_code == 2 and "already exists" in res.output
    assert out.read_text() == "{}"
