"""join.py: admin, control in force, front lines, areas; counts conserved; real OCHA data."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geoconflict.control import read_control
from geoconflict.errors import InputError, LayerError
from geoconflict.join import (
    PointLocator,
    join_admin,
    join_all,
    join_areas,
    join_control,
    join_front_line,
)

DATA = Path(__file__).resolve().parent / "data" / "join"
GEOD = Geod(ellps="WGS84")
SARAQAB = (36.8061, 35.8611)
MAARRA = (36.6767, 35.6477)


def incidents(rows: list[dict]) -> gpd.GeoDataFrame:
    """A canonical incident table from (lon, lat, date, precision, extra columns) rows."""
    df = pd.DataFrame(rows)
    n = len(df)
    df.insert(0, "incident_id", df.pop("id") if "id" in df else [f"row-{i + 1}" for i in range(n)])
    df["date"] = pd.to_datetime(df["date"], format="ISO8601").astype("datetime64[ns]")
    df["date_end"] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    df["date_precision"] = pd.array(df.get("prec", pd.Series([1] * n)).tolist(), dtype="Int8")
    df["flags"] = df.get("flags", pd.Series([""] * n)).astype(str)
    lon, lat = df.pop("lon"), df.pop("lat")
    return gpd.GeoDataFrame(df.drop(columns=["prec"], errors="ignore"),
                            geometry=gpd.points_from_xy(lon, lat), crs=4326)


# ------------------------------------------------------------------ point location


def _sjoin_first(points: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Independent answer: geopandas sjoin(intersects), lowest polygon index per point."""
    left = gpd.GeoDataFrame(geometry=list(points))
    right = gpd.GeoDataFrame(geometry=list(polys))
    sj = gpd.sjoin(left, right, predicate="intersects", how="left")
    first = sj["index_right"].groupby(level=0).min()
    return first.reindex(range(len(points))).fillna(-1).astype(int).to_numpy()


@pytest.mark.parametrize("use_grid", [False, True])
def test_point_locator_matches_sjoin_including_borders_and_vertices(use_grid: bool) -> None:
    rng = np.random.default_rng(7)
    # a wobbly tessellation: Voronoi cells of random seeds, clipped to a square
    seeds = shapely.multipoints(rng.uniform(0, 10, (40, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(0, 0, 10, 10)))
    cells = shapely.segmentize(shapely.intersection(cells, shapely.box(0, 0, 10, 10)), 0.2)
    vertices = shapely.get_coordinates(cells)[::3]  # points exactly on borders and corners
    xy = np.vstack([rng.uniform(-1, 11, (25_000, 2)), vertices])
    loc = PointLocator(cells)
    if use_grid:
        loc._build_grid()
    got = loc.locate(xy[:, 0], xy[:, 1])
    np.testing.assert_array_equal(got, _sjoin_first(shapely.points(xy), cells))
    on_border = got[-len(vertices):]
    assert (on_border >= 0).all()


def test_shared_border_gets_the_lowest_index_polygon() -> None:
    a, b = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    x, y = np.array([1.0, 0.5, 1.5, 3.0]), np.array([0.5, 0.5, 0.5, 0.5])
    assert PointLocator([a, b]).locate(x, y).tolist() == [0, 0, 1, -1]
    assert PointLocator([b, a]).locate(x, y).tolist() == [0, 1, 0, -1]


# ------------------------------------------------------------------ admin


def _admin_wgs84() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"ADM3_PCODE": ["P1", "P2"], "ADM3_EN": ["Idleb", "Hama"]},
        geometry=[shapely.segmentize(shapely.box(36.0, 35.0, 36.5, 35.5), 0.005),
                  shapely.segmentize(shapely.box(36.5, 35.0, 37.0, 35.5), 0.005)],
        crs=4326,
    )


def test_admin_within_nearest_none_with_geodesic_distances() -> None:
    # 1.2 km and 5 km east of the eastern edge (lon 37.0) at lat 35.25
    lat = 35.25
    lon_1200 = GEOD.fwd(37.0, lat, 90, 1200)[0]
    lon_5000 = GEOD.fwd(37.0, lat, 90, 5000)[0]
    inc = incidents([
        {"lon": 36.2, "lat": lat, "date": "2020-03-01", "admin3": "Idlib"},
        {"lon": 36.5, "lat": lat, "date": "2020-03-01", "admin3": "Idleb"},  # on the shared border
        {"lon": lon_1200, "lat": lat, "date": "2020-03-01", "admin3": "Hamah"},
        {"lon": lon_5000, "lat": lat, "date": "2020-03-01", "admin3": "Hama"},
        {"lon": 36.8, "lat": lat, "date": "2020-03-01", "admin3": "Aleppo"},
        {"lon": 36.3, "lat": lat, "date": "2020-03-01", "admin3": "Idlib governorate"},  # UCDP style
    ])
    out = join_admin(inc, _admin_wgs84())
    assert list(out["incident_id"]) == list(inc["incident_id"])
    assert list(out["admin_join"]) == ["within", "within", "nearest", "none", "within", "within"]
    assert out["ADM3_PCODE"].tolist()[:3] == ["P1", "P1", "P2"]
    assert pd.isna(out["ADM3_PCODE"].iloc[3]) and out["ADM3_PCODE"].iloc[4] == "P2"
    assert out["admin_distance_m"].iloc[0] == 0.0
    geodesic = GEOD.inv(lon_1200, lat, 37.0, lat)[2]
    assert out["admin_distance_m"].iloc[2] == pytest.approx(geodesic, rel=0.01)
    assert np.isnan(out["admin_distance_m"].iloc[3])
    # transliteration tolerated (Idlib/Idleb, Hamah/Hama); a real disagreement flagged
    assert out["flags"].tolist() == ["", "", "", "", "admin_name_mismatch:admin3", ""]
    # a wider snap distance reaches the far point
    wide = join_admin(inc, _admin_wgs84(), snap_distance_m=6000)
    assert wide["admin_join"].iloc[3] == "nearest"
    assert wide["admin_distance_m"].iloc[3] == pytest.approx(5000, rel=0.01)


def test_admin_in_utm_with_lowercase_fields_and_selection() -> None:
    admin = gpd.read_file(DATA / "admin_utm.gpkg")
    assert admin.crs.to_epsg() == 32637
    inc = incidents([
        {"lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-03-01", "admin3": "Saraqib"},
        {"lon": MAARRA[0], "lat": MAARRA[1], "date": "2020-03-01", "admin3": "Maarat al-Numan"},
        {"lon": 36.61, "lat": 35.81, "date": "2020-03-01", "admin3": "Ariha"},
    ])
    notes: list[str] = []
    out = join_admin(inc, admin, fields=["ADM3_PCODE", "adm3_en"], notes=notes)
    assert out["adm3_pcode"].tolist() == ["SY070001", "SY070000", "SY070002"]
    assert "adm1_en" not in out.columns
    assert out["flags"].tolist() == ["", "", ""]  # Maarat al-Numan = Ma`arrat an Nu`man
    assert notes and "EPSG:32637" in notes[0]
    assert out.crs.to_epsg() == 4326
    with pytest.raises(InputError, match="no field"):
        join_admin(inc, admin, fields=["nope"])


def test_attribute_clash_gets_a_prefix_and_rows_are_kept() -> None:
    inc = incidents([{"lon": 36.2, "lat": 35.2, "date": "2020-01-01", "ADM3_EN": "mine"}])
    out = join_admin(inc, _admin_wgs84(), prefix="adm3_")
    assert out["ADM3_EN"].tolist() == ["mine"]
    assert out["adm3_ADM3_EN"].tolist() == ["Idleb"]


def test_incidents_without_crs_are_refused() -> None:
    inc = incidents([{"lon": 36.2, "lat": 35.2, "date": "2020-01-01"}]).set_crs(None, allow_override=True)
    with pytest.raises(ValueError, match="no CRS"):
        join_admin(inc, _admin_wgs84())


# ------------------------------------------------------------------ control


def _control_case() -> gpd.GeoDataFrame:
    # Saraqab: Opposition until 2020-03-01, Government from 2020-03-02 (the hand-made layer)
    return incidents([
        {"id": "day-before", "lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-03-01"},
        {"id": "day-of", "lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-03-02"},
        {"id": "late-evening", "lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-03-01 23:30"},
        {"id": "week-straddle", "lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-03-01", "prec": 2},
        {"id": "week-after", "lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-03-06", "prec": 2},
        {"id": "week-stable", "lon": MAARRA[0], "lat": MAARRA[1], "date": "2020-03-01", "prec": 2},
        {"id": "month-feb", "lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-02-15", "prec": 3},
        {"id": "month-mar", "lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-03-15", "prec": 3},
        {"id": "outside", "lon": 38.0, "lat": 35.0, "date": "2020-03-10"},
        {"id": "before-layer", "lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-01-15"},
    ])


EXPECTED_CONTROL = {
    "day-before": ("Opposition", "in_force", "2020-02-01"),
    "day-of": ("Government", "in_force", "2020-03-02"),
    "late-evening": ("Opposition", "in_force", "2020-02-01"),
    "week-straddle": ("Opposition", "uncertain", "2020-02-01"),
    "week-after": ("Government", "in_force", "2020-03-02"),
    "week-stable": ("Government", "in_force", "2020-02-01"),
    "month-feb": ("Opposition", "in_force", "2020-02-01"),
    "month-mar": ("Government", "uncertain", "2020-03-02"),
    "outside": (None, "none", None),  # a real null, not an empty string
    "before-layer": (None, "none", None),
}


@pytest.mark.parametrize("source", [
    "control_dated.geojson", "control_valid.geojson", ["control_2020-02-01.geojson", "control_2020-03-02.geojson"],
])
def test_controller_in_force_on_the_event_date(source) -> None:
    ctl = [DATA / s for s in source] if isinstance(source, list) else DATA / source
    inc = _control_case()
    out = join_control(inc, ctl)
    assert list(out["incident_id"]) == list(inc["incident_id"])
    for _, row in out.iterrows():
        ctrl, status, vf = EXPECTED_CONTROL[row["incident_id"]]
        got = None if pd.isna(row["controller"]) else row["controller"]
        assert (got, row["control_status"]) == (ctrl, status), row["incident_id"]
        if vf is None:
            assert pd.isna(row["control_valid_from"])
        else:
            assert row["control_valid_from"] == pd.Timestamp(vf)


def test_control_in_another_crs_is_reprojected_explicitly() -> None:
    ctl = read_control(DATA / "control_dated.geojson").to_crs(32637)
    notes: list[str] = []
    out = join_control(_control_case(), ctl, notes=notes)
    assert out["controller"].tolist()[:2] == ["Opposition", "Government"]
    assert notes and "reprojected" in notes[0]


# ------------------------------------------------------------------ front lines


def test_front_line_derived_from_control_geodesic_distance_and_side() -> None:
    inc = _control_case()
    out = join_front_line(inc, control=DATA / "control_dated.geojson")
    by_id = out.set_index("incident_id")
    # before 2020-03-02 the line runs along lat 35.80, after along 35.90
    d0 = GEOD.inv(SARAQAB[0], SARAQAB[1], SARAQAB[0], 35.80)[2]
    d1 = GEOD.inv(SARAQAB[0], SARAQAB[1], SARAQAB[0], 35.90)[2]
    assert by_id.loc["day-before", "front_line_distance_m"] == pytest.approx(d0, rel=0.01)
    assert by_id.loc["day-of", "front_line_distance_m"] == pytest.approx(d1, rel=0.01)
    assert by_id.loc["day-before", "front_line_side"] == "Opposition"
    assert by_id.loc["day-of", "front_line_side"] == "Government"
    assert np.isnan(by_id.loc["before-layer", "front_line_distance_m"])
    d_m = GEOD.inv(MAARRA[0], MAARRA[1], MAARRA[0], 35.80)[2]
    assert by_id.loc["week-stable", "front_line_distance_m"] == pytest.approx(d_m, rel=0.01)


def test_front_line_file_sides_from_line_direction() -> None:
    inc = _control_case()
    out = join_front_line(inc, front_line=DATA / "front_line.geojson").set_index("incident_id")
    # the lines run west to east with the Opposition on their left (north)
    assert out.loc["day-before", "front_line_side"] == "Opposition"
    assert out.loc["day-of", "front_line_side"] == "Government"
    assert out.loc["week-stable", "front_line_side"] == "Government"
    d1 = GEOD.inv(SARAQAB[0], SARAQAB[1], SARAQAB[0], 35.90)[2]
    assert out.loc["day-of", "front_line_distance_m"] == pytest.approx(d1, rel=0.01)


def test_front_line_needs_a_source_and_lines() -> None:
    inc = _control_case()
    with pytest.raises(InputError, match="front line needs"):
        join_front_line(inc)
    with pytest.raises(LayerError, match="must be lines"):
        join_front_line(inc, front_line=DATA / "areas.geojson")


# ------------------------------------------------------------------ areas and everything


def test_areas_named() -> None:
    inc = incidents([
        {"lon": 36.4399, "lat": 35.6571, "date": "2020-06-09"},  # Mozra, Jabal al-Zawiya
        {"lon": 36.3, "lat": 35.5, "date": "2020-06-03"},  # al-Ghab
        {"lon": SARAQAB[0], "lat": SARAQAB[1], "date": "2020-06-03"},
    ])
    assert join_areas(inc, DATA / "areas.geojson")["area"].tolist() == ["Jabal al-Zawiya", "al-Ghab plain", ""]


def test_join_all_conserves_rows_and_counts() -> None:
    inc = _control_case()
    adm = gpd.read_file(DATA / "admin_utm.gpkg")
    out, report = join_all(inc, admin=[adm, adm], control=DATA / "control_dated.geojson",
                           areas=DATA / "areas.geojson")
    assert len(out) == len(inc) == report.rows_in == report.rows_out
    assert list(out["incident_id"]) == list(inc["incident_id"])
    first, second = report.admin
    assert first["within"] + first["nearest"] + first["none"] == len(inc)
    assert first["within"] == 9 and first["none"] == 1  # only 'outside' is far from the admin units
    assert {"admin_join_2", "admin_distance_m_2", "admin2_adm3_pcode"} <= set(out.columns)
    assert (out["admin2_adm3_pcode"].fillna("") == out["adm3_pcode"].fillna("")).all()
    assert sum(report.control_status.values()) == len(inc)
    assert report.control_status == {"in_force": 6, "uncertain": 2, "none": 2}
    assert report.front_line["source"] == "derived from control"
    assert "front_line_distance_m" in out.columns and "area" in out.columns


# ------------------------------------------------------------------ real data


@pytest.mark.shared
def test_ocha_places_agree_with_their_own_sub_district(ocha_adm3: Path, ocha_places: Path) -> None:
    admin = gpd.read_file(ocha_adm3)
    pp = pd.read_csv(ocha_places)
    assert len(admin) == 272 and len(pp) == 7580
    inc = gpd.GeoDataFrame(
        {"incident_id": pp["PP_PCODE"].astype(str), "own": pp["ADM3_PCODE"].astype(str),
         "admin1": pp["ADM1_EN"], "admin2": pp["ADM2_EN"], "admin3": pp["ADM3_EN"], "flags": ""},
        geometry=gpd.points_from_xy(pp["lon"], pp["lat"]), crs=4326,
    )
    out = join_admin(inc, admin, fields=["ADM3_PCODE", "ADM3_EN", "ADM2_EN", "ADM1_EN"])
    counts = out["admin_join"].value_counts().to_dict()
    print(f"\nOCHA places -> sub-districts: {counts}")
    assert sum(counts.values()) == len(pp) == len(out)
    agree = (out["ADM3_PCODE"] == out["own"]).mean()
    print(f"agreement with the places' own ADM3_PCODE: {agree:.4%}")
    assert agree >= 0.995
    # 'within' is exactly geopandas' sjoin(intersects), first polygon
    within = (out["admin_join"] == "within").to_numpy()
    first = _sjoin_first(inc.geometry.to_numpy(), admin.geometry.to_numpy())
    assert (first >= 0).sum() == within.sum()
    np.testing.assert_array_equal(admin["ADM3_PCODE"].to_numpy()[first[within]], out["ADM3_PCODE"][within])
    # nearest ones are within the 2 km tolerance, by an independent metric distance
    near = out[out["admin_join"] == "nearest"]
    assert (near["admin_distance_m"] > 0).all() and (near["admin_distance_m"] <= 2000).all()
    # names agree where the places agree (same spellings), so mismatches only where P-codes differ
    mism = out["flags"].str.contains("admin_name_mismatch", regex=False)
    assert not (mism & (out["ADM3_PCODE"] == out["own"])).any()


def test_no_incidents_gives_an_empty_table_with_every_column() -> None:
    inc = incidents([{"lon": 36.2, "lat": 35.2, "date": "2020-01-01"}]).iloc[:0]
    out, report = join_all(inc, admin=[DATA / "admin_utm.gpkg"], control=DATA / "control_dated.geojson",
                           areas=DATA / "areas.geojson")
    assert len(out) == 0 and report.rows_out == 0
    assert {"admin_join", "controller", "control_status", "front_line_distance_m", "area"} <= set(out.columns)


def test_admin_fields_across_layers() -> None:
    inc = _control_case()
    adm = gpd.read_file(DATA / "admin_utm.gpkg")
    out, _ = join_all(inc, admin=[adm, _admin_wgs84()], admin_fields=["adm3_pcode"])
    assert "adm3_en" not in out.columns and "ADM3_EN" not in out.columns
    # the second layer's ADM3_PCODE clashes with adm3_pcode (GeoPackage names ignore case)
    assert out["adm3_pcode"].fillna("").tolist()[:2] == ["SY070001", "SY070001"]
    assert "admin2_ADM3_PCODE" in out.columns and "ADM3_PCODE" not in out.columns
    named, rep = join_all(inc, admin=[adm, _admin_wgs84()], admin_names=["adm3", "other"])
    assert [a["layer"] for a in rep.admin] == ["adm3", "other"]
    assert "other_ADM3_PCODE" in named.columns
    with pytest.raises(InputError, match="no admin layer has"):
        join_all(inc, admin=[adm], admin_fields=["ADM9_PCODE"])


def test_name_mismatch_flag_once_across_layers_and_counted_per_layer() -> None:
    inc = incidents([{"lon": 36.2, "lat": 35.2, "date": "2020-01-01", "admin1": "Aleppo"},
                     {"lon": 36.2, "lat": 35.2, "date": "2020-01-01", "admin1": "Idlib"}])
    layer = _admin_wgs84().rename(columns={"ADM3_EN": "ADM1_EN"})
    out, report = join_all(inc, admin=[layer, layer])
    assert out["flags"].tolist() == ["admin_name_mismatch:admin1", ""]
    assert [a["name_mismatch"] for a in report.admin] == [1, 0]


@pytest.mark.parametrize("method", ["compiled"])
def test_front_line_fast_paths_equal_geos(monkeypatch, method: str) -> None:
    """The compiled loop (from 300,000 incidents) gives the distances and sides of GEOS's
    tree, on many random incidents across the dated lines."""
    import geoconflict.join as join_module

    rng = np.random.default_rng(4)
    n = 3000
    inc = incidents([{"id": f"r{i}", "lon": lon, "lat": lat, "date": date}
                     for i, (lon, lat, date) in enumerate(zip(
                         rng.uniform(36.4, 37.0, n), rng.uniform(35.6, 36.1, n),
                         rng.choice(["2020-02-20", "2020-03-02", "2020-03-10"], n), strict=True))])
    for source in ({"front_line": DATA / "front_line.geojson"}, {"control": DATA / "control_dated.geojson"}):
        monkeypatch.setattr(join_module, "method_for", lambda n: "geos")
        geos = join_front_line(inc, **source)
        monkeypatch.undo()
        monkeypatch.setattr(join_module, "method_for", lambda n: method)
        compiled = join_front_line(inc, **source)
        monkeypatch.undo()
        np.testing.assert_allclose(compiled["front_line_distance_m"], geos["front_line_distance_m"],
                                   rtol=1e-12, atol=1e-9)
        assert compiled["front_line_side"].tolist() == geos["front_line_side"].tolist()
        assert geos["front_line_distance_m"].notna().sum() > n // 2
