"""Issue #18, the layer side: empty polygon parts, coordinates and dates out of range, huge flow
counts, and the date / width options of zones, ceasefire and corridor.  Each input must give exit
0, or exit 2 with a one-line message, never a traceback (nor a crash of the process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import wkt

from geoconflict._geometry import (
    EMPTY_PARTS,
    MAX_PROJECTED_M,
    check_coordinates,
    drop_empty_parts,
    repair_polygons,
)
from geoconflict.cli.main import cli
from geoconflict.errors import InputError, LayerError

DATA = Path(__file__).resolve().parent / "data" / "zones"
CONTROL = DATA / "control.geojson"
ADMIN = DATA / "admin.geojson"
INCIDENTS = DATA / "incidents.csv"
LINE = DATA / "line.geojson"
TRIANGLE = [[36.4, 35.6], [36.9, 35.6], [36.9, 35.9], [36.4, 35.6]]


def _fc(path: Path, features: list[tuple[dict, dict]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]}))
    return path


def _box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _one_line_error(res, *words: str) -> str:
    """Exit 2, a single 'Error: ...' line holding every word, no traceback."""
    assert res.exit_code == 2, res.output
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), res.exception
    lines = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# --------------------------------------------------------------------------------------------
# 1. empty parts: dropped (and reported) before any GEOS call


EMPTY_PART_CASES = {
    "empty part": ("MULTIPOLYGON(EMPTY, ((36 35.3, 37 35.3, 37 36.3, 36 35.3)))",
                   "MULTIPOLYGON(((36 35.3, 37 35.3, 37 36.3, 36 35.3)))"),
    "empty hole": ("POLYGON((36 35.3, 37 35.3, 37 36.3, 36 35.3), EMPTY)",
                   "POLYGON((36 35.3, 37 35.3, 37 36.3, 36 35.3))"),
    "empty hole in a part": ("MULTIPOLYGON(((36 35.3, 37 35.3, 37 36.3, 36 35.3), EMPTY))",
                             "MULTIPOLYGON(((36 35.3, 37 35.3, 37 36.3, 36 35.3)))"),
    "only empty parts": ("MULTIPOLYGON(EMPTY, EMPTY)", "POLYGON EMPTY"),
}


@pytest.mark.parametrize("case", sorted(EMPTY_PART_CASES))
def test_drop_empty_parts_keeps_the_rest_exactly(case: str) -> None:
    given, expected = (wkt.loads(w) for w in EMPTY_PART_CASES[case])
    clean = wkt.loads("POLYGON((0 0, 1 0, 1 1, 0 0))")
    out, changed = drop_empty_parts(np.array([clean, given, None, shapely.Polygon()], dtype=object))
    assert changed.tolist() == [1]
    assert out[0] is clean and out[2] is None and out[3].is_empty
    assert out[1].equals_exact(expected, tolerance=0) and out[1].geom_type == expected.geom_type
    # the call that crashed the process now works on the result
    assert shapely.segmentize(out[1], 0.01) is not None


def test_repair_polygons_reports_dropped_parts_and_repairs_together() -> None:
    geoms = np.array([
        wkt.loads(EMPTY_PART_CASES["empty part"][0]),
        wkt.loads("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"),  # bow-tie
        wkt.loads("POLYGON((0 0, 1 0, 1 1, 0 0))"),
    ], dtype=object)
    out, idx, reasons = repair_polygons(geoms)
    assert idx.tolist() == [0, 1]
    assert reasons[0] == EMPTY_PARTS
    assert reasons[1].startswith("invalid geometry (Self-intersection") and "make_valid" in reasons[1]
    assert out[1].is_valid and out[1].area == pytest.approx(0.5)
    assert out[2] is geoms[2]


def test_zones_admin_with_an_empty_part_in_a_child_process(tmp_path: Path) -> None:
    """The issue's reproducer, run in a separate process so a segmentation fault fails the test
    (exit -11) instead of killing pytest."""
    admin = _fc(tmp_path / "admin.geojson", [({"pcode": "X"}, {"type": "MultiPolygon", "coordinates": [
        [], [[[36, 35.3], [37, 35.3], [37, 36.3], [36, 35.3]]]]})])
    out = tmp_path / "held.geojson"
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from geoconflict.cli.main import cli; sys.exit(cli())",
         "zones", str(CONTROL), "--admin", str(admin), "--date", "2020-02-15", "-o", str(out)],
        check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "feature 1: empty part(s) or ring(s) dropped" in proc.stderr
    held = gpd.read_file(out)
    # the whole triangle is measured: the held pieces and "(not covered)" add up to its area
    summary = pd.read_csv(tmp_path / "held.summary.csv")
    assert summary["area_km2"].sum() == pytest.approx(held["unit_area_km2"].iloc[0], rel=1e-9)
    assert held["unit_area_km2"].iloc[0] > 5000


def test_zones_admin_whose_parts_are_all_empty_is_refused(cli_runner, tmp_path: Path) -> None:
    admin = _fc(tmp_path / "admin.geojson", [
        ({"pcode": "A"}, _box(36.4, 35.6, 36.6, 35.9)),
        ({"pcode": "B"}, {"type": "MultiPolygon", "coordinates": [[], []]})])
    res = cli_runner.invoke(cli, ["zones", str(CONTROL), "--admin", str(admin), "--date", "2020-02-15",
                                  "-o", str(tmp_path / "z.geojson")])
    _one_line_error(res, "admin.geojson", "feature 2", "empty polygon")
    assert not (tmp_path / "z.geojson").exists()


def test_control_layer_with_empty_parts_is_cleaned_on_reading(cli_runner, tmp_path: Path) -> None:
    ctl = _fc(tmp_path / "ctl.geojson", [
        ({"controller": "A", "date": "2020-01-01"}, {"type": "MultiPolygon", "coordinates": [
            [], [[[36.3, 35.5], [36.75, 35.5], [36.75, 36.0], [36.3, 36.0], [36.3, 35.5]], []]]}),
        ({"controller": "B", "date": "2020-01-01"}, _box(36.75, 35.5, 37.0, 36.0))])
    out = tmp_path / "change.geojson"
    res = cli_runner.invoke(cli, ["zones", str(ctl), "--admin", str(ADMIN), "--date", "2020-02-15",
                                  "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "feature(s) 1: empty part(s) or ring(s) dropped" in res.output
    held = gpd.read_file(out)
    assert set(held["controller"]) == {"A", "B"}


def test_join_admin_and_areas_with_empty_parts(cli_runner, tmp_path: Path) -> None:
    poly = {"type": "MultiPolygon", "coordinates": [[], [[[36.0, 35.0], [37.5, 35.0], [37.5, 36.5],
                                                          [36.0, 36.5], [36.0, 35.0]]]]}
    admin = _fc(tmp_path / "admin.geojson", [({"pcode": "X", "name": "Zone X"}, poly)])
    out = tmp_path / "j.csv"
    res = cli_runner.invoke(cli, ["join", str(INCIDENTS), "--admin", str(admin), "--areas", str(admin),
                                  "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.count("feature 1: empty part(s) or ring(s) dropped") == 2  # admin and areas
    joined = pd.read_csv(out)
    assert len(joined) == 7 and (joined["admin_join"] == "within").all() and (joined["area"] == "Zone X").all()


# --------------------------------------------------------------------------------------------
# 3. coordinates and dates out of range


def test_check_coordinates_names_the_feature() -> None:
    wgs84, utm = gpd.GeoSeries([], crs=4326).crs, gpd.GeoSeries([], crs=32637).crs
    geoms = np.array([shapely.box(36, 35, 37, 36), None, shapely.Polygon([(36, 35), (37, 35), (37, 95)])],
                     dtype=object)
    with pytest.raises(LayerError, match=r"f\.geojson, feature 3: coordinates out of range.*latitude 35\.\.95"):
        check_coordinates(geoms, wgs84, what="control layer", path="f.geojson")
    with pytest.raises(LayerError, match="feature 7"):
        check_coordinates(np.array([shapely.box(-181, 0, 1, 1)], dtype=object), wgs84, what="x", features=[7])
    # metres: 95 is a fine coordinate, 1e20 or infinity is not
    check_coordinates(geoms, utm, what="control layer")
    far = np.array([shapely.box(3e5, 3.9e6, 4e5, 4e6), shapely.box(3e5, 3.9e6, 4e5, 1e20)], dtype=object)
    with pytest.raises(LayerError, match=r"feature 2: coordinates off the Earth for EPSG:32637.*y 3\.9e\+06\.\.1e\+20"):
        check_coordinates(far, utm, what="admin layer")
    # the limit is in metres whatever the CRS's unit (US survey feet here)
    feet = gpd.GeoSeries([], crs=2227).crs
    check_coordinates(np.array([shapely.box(0, 0, 1, MAX_PROJECTED_M * 3)], dtype=object), feet, what="x")
    with pytest.raises(LayerError, match="off the Earth"):
        check_coordinates(np.array([shapely.box(0, 0, 1, MAX_PROJECTED_M * 3.5)], dtype=object), feet, what="x")


def test_projected_layers_off_the_earth_refused(cli_runner, tmp_path: Path) -> None:
    """A UTM control zone reaching y = 1e308 gave a GEOS TopologyException traceback; a UTM
    admin unit reaching 1e20 m was measured as if real."""
    ctl = gpd.GeoDataFrame({"controller": ["A", "B"], "date": ["2020-01-01", "2020-01-01"]}, geometry=[
        shapely.box(3e5, 3.9e6, 3.5e5, 3.95e6), shapely.Polygon([(3.5e5, 3.9e6), (4e5, 3.9e6), (4e5, 1e308)])],
        crs=32637)
    ctl.to_file(tmp_path / "ctl.gpkg")
    res = cli_runner.invoke(cli, ["join", str(INCIDENTS), "--control", str(tmp_path / "ctl.gpkg"),
                                  "-o", str(tmp_path / "j.csv")])
    _one_line_error(res, "ctl.gpkg", "feature 2", "off the Earth")
    adm = gpd.GeoDataFrame({"pcode": ["A"]}, geometry=[shapely.Polygon([(3e5, 3.9e6), (4e5, 3.9e6), (4e5, 1e20)])],
                           crs=32637)
    adm.to_file(tmp_path / "adm.gpkg")
    res = cli_runner.invoke(cli, ["zones", str(CONTROL), "--admin", str(tmp_path / "adm.gpkg"), "--date",
                                  "2020-02-15", "-o", str(tmp_path / "z.geojson")])
    _one_line_error(res, "adm.gpkg", "feature 1", "off the Earth")


@pytest.mark.parametrize("command", ["zones", "join", "map"])
def test_control_latitude_95_refused_in_every_command(cli_runner, tmp_path: Path, command: str) -> None:
    """A single vertex at latitude 95 (it used to be accepted) and a polygon wholly beyond 90 (a
    CRSError traceback) are both refused, naming the file and the feature."""
    for name, ring in (("one_vertex", [[36, 35], [37, 35], [37, 95], [36, 35]]),
                       ("beyond", [[36, 95], [37, 95], [37, 96], [36, 96], [36, 95]])):
        ctl = _fc(tmp_path / f"{name}.geojson", [
            ({"controller": "B", "date": "2020-01-01"}, _box(36.0, 35.0, 36.5, 35.5)),
            ({"controller": "A", "date": "2020-01-01"}, {"type": "Polygon", "coordinates": [ring]})])
        args = {
            "zones": ["zones", str(ctl), "--admin", str(ADMIN), "--date", "2020-02-15",
                      "-o", str(tmp_path / "z.geojson")],
            "join": ["join", str(INCIDENTS), "--control", str(ctl), "-o", str(tmp_path / "j.csv")],
            "map": ["map", str(ctl), "-o", str(tmp_path / "m.html")],
        }[command]
        res = cli_runner.invoke(cli, args)
        _one_line_error(res, f"{name}.geojson", "feature 2", "out of range", "latitude")
        assert not any(tmp_path.glob("[zjm].*"))


def test_admin_and_line_out_of_range_refused(cli_runner, tmp_path: Path) -> None:
    admin = _fc(tmp_path / "admin.geojson", [({"pcode": "X"}, _box(190, 35, 191, 36))])
    res = cli_runner.invoke(cli, ["zones", str(CONTROL), "--admin", str(admin), "--date", "2020-02-15",
                                  "-o", str(tmp_path / "z.geojson")])
    _one_line_error(res, "admin.geojson", "feature 1", "longitude 190..191")
    # the change with --admin checks the admin layer before choosing an equal-area CRS from it
    # (a latitude of -1e308 gave a pyproj CRSError traceback)
    admin = _fc(tmp_path / "admin2.geojson", [({"pcode": "A"}, _box(36.4, 35.6, 36.6, 35.9)), ({"pcode": "B"}, {
        "type": "Polygon", "coordinates": [[[36.9, 35.6], [36.9, -1e308], [36.6, 35.9], [36.9, 35.6]]]})])
    res = cli_runner.invoke(cli, ["zones", str(CONTROL), "--admin", str(admin), "--from", "2020-01-01",
                                  "--to", "2020-03-03", "-o", str(tmp_path / "z.geojson")])
    _one_line_error(res, "admin2.geojson", "feature 2", "latitude -1e+308..35.9")
    line = _fc(tmp_path / "line.geojson", [({"name": "r"}, {"type": "LineString",
                                                           "coordinates": [[36, 35], [36.5, 91]]})])
    res = cli_runner.invoke(cli, ["corridor", str(line), "--width", "6km", "-o", str(tmp_path / "c.geojson")])
    _one_line_error(res, "line.geojson", "feature 1", "latitude 35..91")


@pytest.mark.parametrize(("column", "value"), [("date", "2263-01-01"), ("date", "1600-01-01"),
                                               ("valid_to", "2263-01-01"), ("valid_from", "1799-12-31")])
def test_control_dates_out_of_range_refused(cli_runner, tmp_path: Path, column: str, value: str) -> None:
    props = {"controller": "A", "date": "2020-01-01"} if column == "date" else {
        "controller": "A", "valid_from": "2020-01-01", "valid_to": "2020-12-31"}
    props[column] = value
    ctl = _fc(tmp_path / "ctl.geojson", [(props, _box(36.3, 35.5, 37.0, 36.0)),
                                         ({**props, column: "2020-01-01" if column != "valid_to" else "2020-06-01",
                                           "controller": "B"}, _box(37.0, 35.5, 37.5, 36.0))])
    for args in (["zones", str(ctl), "--admin", str(ADMIN), "--date", "2020-02-15", "-o",
                  str(tmp_path / "z.geojson")],
                 ["join", str(INCIDENTS), "--control", str(ctl), "-o", str(tmp_path / "j.csv")]):
        res = cli_runner.invoke(cli, args)
        _one_line_error(res, "ctl.geojson", "feature 1", f"column '{column}'", value, "1800-01-01 .. 2200-12-31")


def test_control_date_in_the_file_name_out_of_range(cli_runner, tmp_path: Path) -> None:
    ctl = _fc(tmp_path / "control_2263-01-01.geojson", [({"controller": "A"}, _box(36.3, 35.5, 37.0, 36.0))])
    res = cli_runner.invoke(cli, ["zones", str(ctl), "--admin", str(ADMIN), "--date", "2020-02-15",
                                  "-o", str(tmp_path / "z.geojson")])
    _one_line_error(res, "control_2263-01-01.geojson", "2263-01-01 in the file name")


def test_control_edge_days_of_the_range_are_accepted(tmp_path: Path) -> None:
    from geoconflict.control import read_control

    ctl = _fc(tmp_path / "ctl.geojson", [
        ({"controller": "A", "valid_from": "1800-01-01", "valid_to": "2200-12-31"}, _box(36, 35, 37, 36))])
    got = read_control(ctl)
    assert got["valid_from"].iloc[0] == pd.Timestamp("1800-01-01")
    assert got["valid_to"].iloc[0] == pd.Timestamp("2200-12-31")
    assert got["valid_to"].dtype == "datetime64[ns]"


# --------------------------------------------------------------------------------------------
# options: zones --date/--from/--to, ceasefire --start/--end, corridor --width


@pytest.mark.parametrize("value", ["1600-01-01", "2263-01-01", "9999-12-31", "0001-01-01", "-1"])
@pytest.mark.parametrize("option", ["--date", "--from", "--to"])
def test_zones_dates_out_of_range_refused(cli_runner, tmp_path: Path, option: str, value: str) -> None:
    """1600-01-01 used to wrap around inside datetime64[ns] and give an area held; -1 crashed."""
    base = {"--date": ["--admin", str(ADMIN), "--date", value],
            "--from": ["--from", value, "--to", "2020-03-02"],
            "--to": ["--from", "2020-01-01", "--to", value]}[option]
    res = cli_runner.invoke(cli, ["zones", str(CONTROL), *base, "-o", str(tmp_path / "z.geojson")])
    word = option.lstrip("-") if option != "--date" else "date"
    _one_line_error(res, word, "outside 1800-01-01 .. 2200-12-31")
    assert not (tmp_path / "z.geojson").exists()


@pytest.mark.parametrize("value", ["2263-01-01", "1600-01-01", "0001-01-01", "9999-12-31", "-1",
                                   "2262-04-11T23:59"])
@pytest.mark.parametrize("option", ["--start", "--end"])
def test_ceasefire_times_out_of_range_refused(cli_runner, tmp_path: Path, option: str, value: str) -> None:
    args = ["--start", value] if option == "--start" else ["--start", "2020-03-06", "--end", value]
    res = cli_runner.invoke(cli, ["ceasefire", str(INCIDENTS), *args, "-o", str(tmp_path / "cf")])
    _one_line_error(res, option, "outside 1800-01-01 .. 2200-12-31")
    assert not (tmp_path / "cf").exists() or not any((tmp_path / "cf").iterdir())


def test_parse_moment_keeps_the_range_edges() -> None:
    from geoconflict.ceasefire import parse_moment
    from geoconflict.zones import parse_day

    assert parse_moment("2200-12-31T23:59") == pd.Timestamp("2200-12-31 23:59")
    assert parse_day("1800-01-01") == pd.Timestamp("1800-01-01")
    with pytest.raises(InputError, match="outside"):
        parse_moment("2201-01-01T00:00")
    with pytest.raises(InputError, match="outside"):
        parse_day("1799-12-31")


@pytest.mark.parametrize("width", ["0", "0km", "-5km", "1e308", "inf", "nan", "200km", "99999999km"])
def test_corridor_width_refused(cli_runner, tmp_path: Path, width: str) -> None:
    res = cli_runner.invoke(cli, ["corridor", str(LINE), "--width", width, "-o", str(tmp_path / "c.geojson")])
    _one_line_error(res, "width")
    assert not (tmp_path / "c.geojson").exists()


def test_corridor_width_limit_in_the_library() -> None:
    from geoconflict.corridor import MAX_WIDTH_M, corridor

    line = gpd.read_file(LINE)
    assert len(corridor(line, width_m=MAX_WIDTH_M)) == 2
    for bad in (MAX_WIDTH_M * 1.01, float("inf"), float("nan"), -1.0, 0.0, "wide"):
        with pytest.raises(InputError, match="width"):
            corridor(line, width_m=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# 2. flow counts: huge or non-finite counts quarantined, the accounting still adds up


@pytest.fixture
def flow_admin(tmp_path: Path) -> Path:
    gdf = gpd.GeoDataFrame(
        {"ADM1_PCODE": ["SY07", "SY02", "SY05"], "ADM1_EN": ["Idleb", "Aleppo", "Hama"]},
        geometry=[shapely.box(36.0, 35.5, 37.0, 36.5), shapely.box(37.0, 36.0, 38.0, 36.8),
                  shapely.box(36.0, 34.8, 37.5, 35.5)], crs="EPSG:4326")
    p = tmp_path / "adm1.geojson"
    gdf.to_file(p, driver="GeoJSON")
    return p


def _accounting(out: Path) -> dict:
    acc = json.loads(out.with_suffix(".meta.json").read_text())["accounting"]
    parts = sum(acc[k] for k in ("drawn", "self_flows", "below_min", "top_cut", "netted", "quarantined"))
    assert np.isfinite(acc["input_individuals"]) and parts == pytest.approx(acc["input_individuals"])
    return acc


def test_flow_records_with_huge_counts_are_quarantined(cli_runner, tmp_path: Path, flow_admin: Path) -> None:
    """Two rows of 1e308 tripped an AssertionError (their sum is infinite); 1e13 was drawn."""
    src = tmp_path / "flows.csv"
    src.write_text("origin,destination,individuals,families\n"
                   "SY07,SY02,1e308,\nSY02,SY07,1e308,\nSY05,SY07,100,20\nSY05,SY02,1e13,\n"
                   "SY02,SY05,40,1e308\nSY07,SY05,1e400,\nSY07,SY02,30,\n")
    out = tmp_path / "o" / "flows.geojson"
    res = cli_runner.invoke(cli, ["flows", str(src), "--admin", str(flow_admin), "-o", str(out),
                                  "--html", str(tmp_path / "o" / "flows.html")])
    assert res.exit_code == 0, res.output
    q = pd.read_csv(out.parent / "flows.quarantine.csv")
    got = dict(zip(q["source_row"], q["reason"], strict=False))
    assert got == {2: "implausible_count", 3: "implausible_count", 5: "implausible_count",
                   6: "implausible_count", 7: "non_numeric_individuals"}
    detail = dict(zip(q["source_row"], q["detail"], strict=False))
    assert detail[2] == "individuals 1e+308 above 1e+12: not a count of people"
    assert detail[6] == "families 1e+308 above 1e+12: not a count of people"
    acc = _accounting(out)
    # the 40 individuals beside a family count of 1e308 are counted, as quarantined
    assert acc["input_individuals"] == 170 and acc["drawn"] == 130 and acc["quarantined"] == 40
    assert acc["quarantined_rows"] == 5
    arcs = gpd.read_file(out)
    assert sorted(arcs["individuals"]) == [30.0, 100.0]


def test_flow_matrix_with_huge_cells_is_quarantined(tmp_path: Path) -> None:
    from geoconflict.flows import read_flows

    src = tmp_path / "m.csv"
    src.write_text("Origin \\ Destination,Idleb,Aleppo,Grand Total\n"
                   "Idleb,,1e308,1e308\nAleppo,1e308,5,12\n")
    fr = read_flows(src)
    assert fr.report.kind == "matrix"
    assert sorted(fr.quarantine["reason"]) == ["implausible_count", "implausible_count"]
    assert fr.records[["origin", "destination", "individuals"]].values.tolist() == [["Aleppo", "Aleppo", 5.0]]
    assert fr.report.input_individuals == 5.0
    # the totals are checked on the plausible cells only: finite numbers in every mismatch
    assert all(np.isfinite(m.computed) for m in fr.report.total_mismatches)
    assert {(m.label, m.stated, m.computed) for m in fr.report.total_mismatches} >= {("Aleppo", 12.0, 5.0)}


def test_flow_tables_given_directly_are_checked(tmp_path: Path) -> None:
    from geoconflict.flows import aggregate_flows, resolve_places

    for value in (np.inf, np.nan, 1e308, -1.0):
        df = pd.DataFrame({"origin": ["36.1,35.1", "36.2,35.2"], "destination": ["36.5,35.5", "36.6,35.6"],
                           "individuals": [10.0, value]})
        with pytest.raises(InputError, match=r"row 2, column 'individuals'.*not a count of people"):
            resolve_places(df)
        with pytest.raises(InputError, match="not a count of people"):
            aggregate_flows(df)


def test_flows_admin_layer_checked_like_the_others(cli_runner, tmp_path: Path) -> None:
    src = tmp_path / "flows.csv"
    src.write_text("origin,destination,individuals\nSY07,SY02,10\n")
    tri = [[[36.0, 35.5], [37.0, 35.5], [37.0, 36.5], [36.0, 35.5]]]
    for name, geom, ok in (("empty_part", {"type": "MultiPolygon", "coordinates": [[], tri]}, True),
                           ("lat95", {"type": "Polygon", "coordinates": [[[36, 35], [37, 35], [37, 95], [36, 35]]]},
                            False)):
        admin = _fc(tmp_path / f"{name}.geojson", [
            ({"ADM1_PCODE": "SY07", "ADM1_EN": "Idleb"}, geom),
            ({"ADM1_PCODE": "SY02", "ADM1_EN": "Aleppo"}, _box(37.0, 36.0, 38.0, 36.8))])
        out = tmp_path / name / "f.geojson"
        res = cli_runner.invoke(cli, ["flows", str(src), "--admin", str(admin), "-o", str(out)])
        if ok:
            assert res.exit_code == 0, res.output
            assert "feature 1: empty part(s) or ring(s) dropped" in res.output
            assert gpd.read_file(out)["individuals"].tolist() == [10.0]
        else:
            _one_line_error(res, "lat95.geojson", "feature 1", "latitude 35..95")


@pytest.mark.parametrize("coords", [[[36.5, 35.5], [36.5, 35.5]], [[36.5, 35.5], [36.5000000001, 35.5]]])
def test_corridor_of_a_line_without_length_refused(cli_runner, tmp_path: Path, coords: list) -> None:
    """A line whose points coincide gave a GEOS 'getY called on empty Point' traceback."""
    line = _fc(tmp_path / "l.geojson", [({"name": "r"}, {"type": "LineString", "coordinates": coords})])
    res = cli_runner.invoke(cli, ["corridor", str(line), "--width", "6km", "-o", str(tmp_path / "c.geojson")])
    _one_line_error(res, "l.geojson", "feature 1", "no sides")
    assert not (tmp_path / "c.geojson").exists()


def test_grid_extent_out_of_range_or_with_empty_parts(tmp_path, cli_runner) -> None:
    """grid --all-cells --extent: the extent is checked like every other polygon layer (issue #18)."""
    import json as _json

    from geoconflict.cli.main import cli as _cli

    csv = tmp_path / "inc.csv"
    csv.write_text("id,lon,lat,day\n1,36.6,35.8,2020-06-08\n2,36.7,35.9,2020-06-09\n", encoding="utf-8")
    bad = tmp_path / "extent95.geojson"
    bad.write_text(_json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [[[36, 35], [37, 35], [37, 95], [36, 35]]]}}]}))
    r = cli_runner.invoke(_cli, ["grid", str(csv), "--lon", "lon", "--lat", "lat", "--date", "day",
                                 "--cells", "hex:5km", "--all-cells", "--extent", str(bad), "-o", str(tmp_path / "a.csv")])
    assert r.exit_code == 2 and "extent95.geojson" in r.output and "Traceback" not in r.output
    holed = tmp_path / "extent_empty_part.geojson"
    holed.write_text(_json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
        "geometry": {"type": "MultiPolygon", "coordinates": [[], [[[36.5, 35.7], [36.8, 35.7], [36.8, 36.0],
                                                                     [36.5, 36.0], [36.5, 35.7]]]]}}]}))
    r = cli_runner.invoke(_cli, ["grid", str(csv), "--lon", "lon", "--lat", "lat", "--date", "day",
                                 "--cells", "hex:5km", "--all-cells", "--extent", str(holed), "-o", str(tmp_path / "b.csv")])
    assert r.exit_code == 0, r.output


def test_a_nan_vertex_is_refused_though_the_bounds_hide_it() -> None:
    """GEOS's envelope skips a NaN vertex; make_valid and buffers then fail (found by fuzzing)."""
    import warnings

    import numpy as _np
    import pyproj
    import pytest as _pytest
    import shapely as _shapely

    from geoconflict._geometry import check_coordinates
    from geoconflict.errors import LayerError as _LayerError

    with warnings.catch_warnings():  # shapely warns when building them
        warnings.simplefilter("ignore", RuntimeWarning)
        poly = _shapely.Polygon([(36, 35), (37, 35), (float("nan"), 35.5), (36, 36), (36, 35)])
        line = _shapely.LineString([(36, 35), (36.5, float("inf")), (37, 35)])
    ok = _shapely.box(36, 35, 37, 36)
    for bad in (poly, line):
        assert _np.isfinite(_shapely.bounds(bad)).all() or bad is line
        with _pytest.raises(_LayerError, match="feature 2"):
            check_coordinates(_np.array([ok, bad], dtype=object), pyproj.CRS(4326), what="layer")
    check_coordinates(_np.array([ok], dtype=object), pyproj.CRS(4326), what="layer")
