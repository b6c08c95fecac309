"""Control data as published (#14): daily single-actor archives dated only by their file names,
folders and globs, --controller / --extent / --remainder, area series, per-place observations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box

from geoconflict.cli.main import cli
from geoconflict.control import front_lines, read_control, snapshot_at
from geoconflict.control_sources import ControlSource, expand_sources, name_date
from geoconflict.errors import InputError, LayerError
from geoconflict.zones import area_series, control_change

ARCHIVE = Path(__file__).parent / "data" / "control_archive"
DAILY = ARCHIVE / "daily"
EXTENT = ARCHIVE / "extent.geojson"
FILES = sorted(DAILY.glob("*.geojson"))
GEOD = Geod(ellps="WGS84")
COUNTRY = box(30.0, 47.0, 33.0, 50.0)
#: the occupied area per day (the 08-04 file repeats 08-03)
HELD = {"2024-08-01": box(32.0, 47.5, 33.4, 49.5), "2024-08-02": box(31.8, 47.5, 33.4, 49.5),
        "2024-08-03": box(31.5, 47.5, 33.4, 49.5)}


def _geodesic_km2(geom) -> float:
    """Area on the WGS84 ellipsoid, edges cut to 0.01° (straight in lon/lat, as drawn)."""
    area, _ = GEOD.geometry_area_perimeter(shapely.segmentize(geom, 0.01))
    return abs(area) / 1e6


def _read(source=DAILY, **kw):
    return read_control(source, controller="Occupier", **kw)


# --------------------------------------------------------------------------------------------
# sources


@pytest.mark.parametrize(("name", "day"), [
    ("occupied_20240801", "2024-08-01"), ("occupied_2024-08-02", "2024-08-02"),
    ("occupied_2024_08_03", "2024-08-03"), ("2024-08-03_front", "2024-08-03"),
    ("v2_export_20230105_final", "2023-01-05"), ("occupied", None), ("build_123456789", None),
])
def test_name_date_forms(name: str, day: str | None) -> None:
    got = name_date(f"{name}.geojson")
    assert (None if got is None else f"{got:%Y-%m-%d}") == day


def test_name_with_an_impossible_date_is_refused() -> None:
    with pytest.raises(LayerError, match="20241399 in the file name"):
        name_date("occupied_20241399.geojson")


def test_folder_glob_and_repeated_files_read_the_same() -> None:
    by_folder = _read(DAILY)
    by_glob = _read(str(DAILY / "occupied_*.geojson"))
    by_files = _read(list(reversed(FILES)))  # any order: ordered by date
    cols = ["controller", "valid_from", "valid_to", "snapshot"]
    for other in (by_glob, by_files):
        pd.testing.assert_frame_equal(by_folder[cols], other[cols])
        assert by_folder.geometry.geom_equals_exact(other.geometry, 0).all()
    assert by_folder["snapshot"].tolist() == ["2024-08-01/2024-08-01", "2024-08-02/2024-08-02", "2024-08-03/.."]
    assert (by_folder["controller"] == "Occupier").all()


def test_identical_consecutive_snapshots_are_merged_and_reported() -> None:
    ctl = _read()
    assert len(ctl) == 3  # 08-04 repeats 08-03: one snapshot, open-ended from 08-03
    assert any("merged" in n and "2024-08-04" in n for n in ctl.attrs["control_notes"])


def test_bare_feature_legacy_crs_and_null_properties_read(tmp_path: Path) -> None:
    for f in FILES[:2]:  # a bare Feature; a FeatureCollection with a crs member and null properties
        ctl = read_control(f, controller="Occupier")
        assert len(ctl) == 1 and ctl.crs.to_epsg() == 4326 and ctl["controller"].iloc[0] == "Occupier"


def test_controller_fills_only_empty_values(tmp_path: Path) -> None:
    path = tmp_path / "isw_2024-08-01.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"controller": "Claimed"}, "geometry": shapely.geometry.mapping(box(30, 47, 31, 48))},
        {"type": "Feature", "properties": {"controller": ""}, "geometry": shapely.geometry.mapping(box(31, 47, 32, 48))}]}))
    assert read_control(path, controller="Occupier")["controller"].tolist() == ["Claimed", "Occupier"]


def test_remainder_holds_the_rest_of_the_extent_and_outside_pieces_are_kept() -> None:
    ctl = _read(extent=EXTENT, remainder="Govt")
    for day, held in HELD.items():
        snap = snapshot_at(ctl, day)
        assert sorted(snap["controller"]) == ["Govt", "Occupier"]
        rest = snap.loc[snap["controller"] == "Govt"].geometry.iloc[0]
        assert rest.symmetric_difference(COUNTRY.difference(held)).area < 1e-9
        occupied = snap.loc[snap["controller"] == "Occupier"].geometry.iloc[0]
        assert occupied.equals(held)  # the part east of 33° E (outside the extent) is kept
    assert any("outside the extent" in n for n in ctl.attrs["control_notes"])


def test_front_line_only_where_two_controllers_touch() -> None:
    ctl = _read(extent=EXTENT, remainder="Govt")
    fl = front_lines(snapshot_at(ctl, "2024-08-01"))
    assert fl["pair"].tolist() == ["Govt | Occupier"]
    # x = 32 from 47.5 to 49.5, and the occupied box's north and south edges up to the border
    expected = COUNTRY.intersection(HELD["2024-08-01"].boundary).difference(COUNTRY.exterior)
    assert fl.geometry.iloc[0].symmetric_difference(expected).length < 1e-9
    assert not fl.geometry.iloc[0].intersects(shapely.LineString([(33.0, 47.6), (33.0, 49.4)]))
    # without a remainder, one controller: no front line at all (the extent's edge is none)
    assert len(front_lines(snapshot_at(_read(extent=EXTENT), "2024-08-01"))) == 0


def test_area_series_equals_geodesic_areas() -> None:
    series = area_series(_read(extent=EXTENT, remainder="Govt"))
    assert series["date"].unique().tolist() == list(HELD)
    for day, held in HELD.items():
        row = series.set_index(["date", "controller"]).loc[day]
        assert row.loc["Occupier", "area_km2"] == pytest.approx(_geodesic_km2(held), rel=0.005)
        assert row.loc["Govt", "area_km2"] == pytest.approx(_geodesic_km2(COUNTRY.difference(held)), rel=0.005)
    occ = series.loc[series["controller"] == "Occupier"]
    assert np.isnan(occ["change_km2"].iloc[0])
    assert occ["change_km2"].iloc[2] == pytest.approx(
        _geodesic_km2(HELD["2024-08-03"].difference(HELD["2024-08-02"])), rel=0.005)


def test_area_series_every_week_keeps_the_last_snapshot() -> None:
    series = area_series(_read(), every="week")  # 2024-08-01..03 lie in one ISO week
    assert series["date"].tolist() == ["2024-08-03"]


def test_area_series_per_admin_unit() -> None:
    admin = gpd.GeoDataFrame({"pcode": ["W", "E"]}, geometry=[box(30, 47, 31.7, 50), box(31.7, 47, 33, 50)], crs=4326)
    series = area_series(_read(extent=EXTENT, remainder="Govt"), admin=admin)
    got = series.set_index(["date", "pcode", "controller"])["area_km2"]
    assert got.loc[("2024-08-03", "W", "Occupier")] == pytest.approx(
        _geodesic_km2(box(31.5, 47.5, 31.7, 49.5)), rel=0.005)
    assert got.loc[("2024-08-01", "W", "Occupier")] == 0.0  # a row on every date


def test_change_with_remainder_has_both_directions() -> None:
    ctl = _read(extent=EXTENT, remainder="Govt")
    layer, _summary = control_change(ctl, date_from="2024-08-01", date_to="2024-08-03")
    pairs = layer.set_index(["from_controller", "to_controller"])["area_km2"]
    assert pairs.index.tolist() == [("Govt", "Occupier")]
    gained = COUNTRY.intersection(HELD["2024-08-03"].difference(HELD["2024-08-01"]))
    assert pairs.iloc[0] == pytest.approx(_geodesic_km2(gained), rel=0.01)
    back, _ = control_change(ctl.assign(controller=ctl["controller"].map({"Govt": "Occupier", "Occupier": "Govt"})),
                             date_from="2024-08-01", date_to="2024-08-03")
    assert back["from_controller"].tolist() == ["Occupier"] and back["to_controller"].tolist() == ["Govt"]


# --------------------------------------------------------------------------------------------
# errors


def test_library_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no control file"):
        expand_sources(empty)
    with pytest.raises(InputError, match="matches no file"):
        expand_sources(str(tmp_path / "*.geojson"))
    with pytest.raises(InputError, match="--remainder needs --extent"):
        ControlSource(paths=(DAILY,), remainder="Govt")
    with pytest.raises(LayerError, match="needs an extent"):
        read_control(DAILY, controller="Occupier", remainder="Govt")


def _one_line_error(res, *words: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for w in words:
        assert w in lines[0], (w, lines[0])


def _archive(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "archive"
    folder.mkdir()
    for src, name in zip(FILES, names, strict=False):
        shutil.copy(src, folder / name)
    return folder


@pytest.mark.parametrize(("names", "words"), [
    (["occupied_2024-08-01.geojson", "occupied_20240801.geojson"], ["two files carry the date 2024-08-01", "one file per date"]),
    (["occupied_20241399.geojson"], ["occupied_20241399.geojson", "20241399 in the file name"]),
    (["occupied_2024-08-01.geojson", "outline.geojson"], ["outline.geojson", "carries no date", "out of the folder"]),
])
def test_cli_archive_errors_name_the_file_and_write_nothing(cli_runner, tmp_path: Path, names, words) -> None:
    folder = _archive(tmp_path, names)
    out = tmp_path / "s.csv"
    res = cli_runner.invoke(cli, ["zones", str(folder), "--controller", "Occupier", "--series", "-o", str(out)])
    _one_line_error(res, *words)
    assert not out.exists()


def test_cli_option_errors(cli_runner, tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    res = cli_runner.invoke(cli, ["zones", str(DAILY), "--controller", "Occupier", "--remainder", "Govt",
                                  "--series", "-o", str(out)])
    _one_line_error(res, "--remainder needs --extent", "add --extent")
    line = tmp_path / "line.geojson"
    line.write_text(json.dumps({"type": "Feature", "properties": {},
                                "geometry": {"type": "LineString", "coordinates": [[30, 47], [33, 50]]}}))
    res = cli_runner.invoke(cli, ["zones", str(DAILY), "--controller", "Occupier", "--extent", str(line),
                                  "--remainder", "Govt", "--series", "-o", str(out)])
    _one_line_error(res, "line.geojson", "not a polygon")
    res = cli_runner.invoke(cli, ["zones", str(tmp_path / "nothing"), "--series", "-o", str(out)])
    _one_line_error(res, "nothing", "not found")
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# commands


def _incidents(tmp_path: Path) -> Path:
    rows = [("a", "2024-08-02", 31.7, 48.5), ("b", "2024-08-03", 31.7, 48.5), ("c", "2024-08-03", 30.5, 48.0),
            ("d", "2024-08-05", 33.2, 48.0), ("e", "2024-07-31", 32.5, 48.0)]
    path = tmp_path / "incidents.csv"
    pd.DataFrame(rows, columns=["id", "date", "lon", "lat"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("how", ["folder", "glob", "files"])
def test_cli_join_incidents_on_both_sides_of_a_change(cli_runner, tmp_path: Path, how: str) -> None:
    control = {"folder": [str(DAILY)], "glob": [str(DAILY / "*.geojson")], "files": [str(f) for f in FILES]}[how]
    out = tmp_path / "joined.geojson"
    args = ["join", str(_incidents(tmp_path)), "--format", "csv", "--lon", "lon", "--lat", "lat", "--date", "date"]
    for c in control:
        args += ["--control", c]
    res = cli_runner.invoke(cli, [*args, "--controller", "Occupier", "--extent", str(EXTENT),
                                  "--remainder", "Govt", "-o", str(out)])
    assert res.exit_code == 0, res.output
    got = gpd.read_file(out).set_index("incident_id")
    assert got["controller"].fillna("<null>").to_dict() == {
        "a": "Govt", "b": "Occupier", "c": "Govt", "d": "Occupier", "e": "<null>"}
    assert got["control_status"].to_dict() == {"a": "in_force", "b": "in_force", "c": "in_force",
                                               "d": "in_force", "e": "none"}


def test_cli_join_without_remainder_leaves_a_real_null(cli_runner, tmp_path: Path) -> None:
    out = tmp_path / "joined.geojson"
    res = cli_runner.invoke(cli, ["join", str(_incidents(tmp_path)), "--format", "csv", "--lon", "lon", "--lat", "lat",
                                  "--date", "date", "--control", str(DAILY), "--controller", "Occupier",
                                  "-o", str(out)])
    assert res.exit_code == 0, res.output
    raw = {f["properties"]["incident_id"]: f["properties"] for f in json.loads(out.read_text())["features"]}
    assert raw["c"]["controller"] is None and raw["c"]["control_status"] == "none"
    assert raw["b"]["controller"] == "Occupier"


def test_cli_zones_series_every_and_plot(cli_runner, tmp_path: Path) -> None:
    out, png = tmp_path / "series.csv", tmp_path / "series.png"
    res = cli_runner.invoke(cli, ["zones", str(DAILY / "*.geojson"), "--controller", "Occupier", "--extent", str(EXTENT),
                                  "--remainder", "Govt", "--series", "-o", str(out), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["date", "controller", "area_km2", "change_km2"]
    assert len(table) == 6 and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = cli_runner.invoke(cli, ["zones", str(DAILY), "--controller", "Occupier", "--series", "--every", "month",
                                  "-o", str(tmp_path / "m.csv")])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "m.csv")["date"].tolist() == ["2024-08-03"]


def test_cli_zones_on_and_deprecated_date_agree(cli_runner, tmp_path: Path) -> None:
    outs = []
    for flag in ("--on", "--date"):
        out = tmp_path / f"held{flag[2:]}.geojson"
        res = cli_runner.invoke(cli, ["zones", str(DAILY), "--controller", "Occupier", "--admin", str(EXTENT),
                                      flag, "2024-08-02", "-o", str(out)])
        assert res.exit_code == 0, res.output
        outs.append(gpd.read_file(out))
    assert outs[0]["area_km2"].tolist() == outs[1]["area_km2"].tolist()
    help_text = cli_runner.invoke(cli, ["zones", "--help"]).output
    assert "--on" in help_text and "--date, its old name" in help_text


def test_cli_zones_repeated_admin(cli_runner, tmp_path: Path) -> None:
    west = tmp_path / "west.geojson"
    gpd.GeoDataFrame({"name": ["W"]}, geometry=[box(30, 47, 31.7, 50)], crs=4326).to_file(west)
    out = tmp_path / "held.geojson"
    res = cli_runner.invoke(cli, ["zones", str(DAILY), "--controller", "Occupier", "--admin", str(EXTENT),
                                  "--admin", str(west), "--on", "2024-08-03", "-o", str(out)])
    assert res.exit_code == 0, res.output
    got = gpd.read_file(out)
    assert sorted(got["admin_layer"].unique()) == ["extent", "west"]


def test_control_from_places_builds_a_layer_every_command_reads(cli_runner, tmp_path: Path) -> None:
    out = tmp_path / "control.gpkg"
    res = cli_runner.invoke(cli, ["control-from-places", str(ARCHIVE / "places.csv"), "--extent", str(EXTENT),
                                  "-o", str(out)])
    assert res.exit_code == 0, res.output
    quarantine = pd.read_csv(tmp_path / "control.quarantine.csv")
    assert sorted(quarantine["reason"]) == ["conflicting_observations", "conflicting_observations", "missing_coordinate"]
    assert set(quarantine.loc[quarantine["reason"] == "conflicting_observations", "place"]) == {"North"}
    ctl = read_control(out)
    # 08-01: West, Middle (Govt) and East (Rebels); 08-10: Middle went to Rebels
    first = snapshot_at(ctl, "2024-08-05").set_index("controller").geometry
    later = snapshot_at(ctl, "2024-08-10").set_index("controller").geometry
    assert first["Govt"].contains(shapely.Point(31.6, 48.5)) and later["Rebels"].contains(shapely.Point(31.6, 48.5))
    assert first["Rebels"].contains(shapely.Point(32.5, 48.5))
    # the cells cover the extent exactly, and cut it at the bisectors (in metres, not degrees)
    assert shapely.union_all(list(first)).symmetric_difference(COUNTRY).area < 1e-9
    assert first["Govt"].union(first["Rebels"]).area == pytest.approx(COUNTRY.area, rel=1e-9)
    assert len(front_lines(snapshot_at(ctl, "2024-08-10"))) == 1


def test_control_from_places_with_admin_gives_single_place_units_whole(tmp_path: Path) -> None:
    from geoconflict.control_places import control_from_places

    admin = gpd.GeoDataFrame({"name": ["W", "E"]}, geometry=[box(30, 47, 31.3, 50), box(31.3, 47, 33, 50)], crs=4326)
    res = control_from_places(ARCHIVE / "places.csv", extent=EXTENT, admin=admin, every="month")
    assert res.control["date"].unique().tolist() == ["2024-08-10"]  # the last observation day of August
    govt = res.control.set_index("controller").geometry["Govt"]
    assert govt.symmetric_difference(box(30, 47, 31.3, 50)).area < 1e-9  # West is W's only place


@pytest.mark.slow
def test_scenario_reads_a_single_actor_archive(cli_runner, tmp_path: Path) -> None:
    _incidents(tmp_path)
    (tmp_path / "s.toml").write_text(f"""[scenario]
name = "archive"
[inputs]
incidents = "incidents.csv"
format = "csv"
lon = "lon"
lat = "lat"
date = "date"
control = "{DAILY.as_posix()}"
controller = "Occupier"
control_extent = "{EXTENT.as_posix()}"
remainder = "Govt"
admin = ["{EXTENT.as_posix()}"]
[zones]
date = "2024-08-03"
change_from = "2024-08-01"
change_to = "2024-08-03"
""")
    res = cli_runner.invoke(cli, ["run", str(tmp_path / "s.toml"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    joined = gpd.read_file(tmp_path / "out" / "incidents_joined.geojson").set_index("incident_id")
    assert joined.loc[["a", "b", "c"], "controller"].tolist() == ["Govt", "Occupier", "Govt"]
    change = gpd.read_file(tmp_path / "out" / "zone_change.geojson")
    assert change[["from_controller", "to_controller"]].drop_duplicates().values.tolist() == [["Govt", "Occupier"]]


def test_cli_map_draws_every_snapshot_and_its_front_line(cli_runner, tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    res = cli_runner.invoke(cli, ["map", "--control", str(DAILY), "--controller", "Occupier", "--extent", str(EXTENT),
                                  "--remainder", "Govt", "-o", str(out)])
    assert res.exit_code == 0, res.output
    for day in HELD:
        assert f"Control zones from {day}" in res.output and f"Front line from {day}" in res.output
    res = cli_runner.invoke(cli, ["map", "--controller", "Occupier", "-o", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "need(s) --control" in res.output
