"""zones: area held per controller per admin unit, and ground that changed hands.

Hand-made squares in a Lambert azimuthal equal-area CRS have areas known exactly; the same kind of
layout in longitude/latitude is checked against pyproj.Geod geodesic areas (0.5%); the OCHA
governorates are checked for shares that add up to 1.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import box

from geoconflict.control import read_control
from geoconflict.errors import InputError, LayerError, SchemaError
from geoconflict.zones import NONE, NOT_COVERED, area_by_controller, control_change, net_change

GEOD = Geod(ellps="WGS84")
# an equal-area CRS of our own (not the one the code picks), so areas in it are exact
LAEA = "+proj=laea +lat_0=35.8 +lon_0=36.6 +datum=WGS84 +units=m +no_defs"
KM = 1000.0


def _admin() -> gpd.GeoDataFrame:
    """West unit [0,10]x[0,10] km, East unit [10,20]x[0,10] km: 100 km² each."""
    return gpd.GeoDataFrame(
        {"ADM3_PCODE": ["W", "E"], "ADM1_PCODE": ["G", "G"]},
        geometry=[box(0, 0, 10 * KM, 10 * KM), box(10 * KM, 0, 20 * KM, 10 * KM)],
        crs=LAEA,
    )


def _control() -> gpd.GeoDataFrame:
    """Until 1 March 2020 A holds x < 12 km, B the rest; from 2 March A holds x < 8 km."""
    raw = gpd.GeoDataFrame(
        {
            "controller": ["A", "B", "A", "B"],
            "valid_from": ["2020-01-01", "2020-01-01", "2020-03-02", "2020-03-02"],
            "valid_to": ["2020-03-01", "2020-03-01", None, None],
        },
        geometry=[
            box(-5 * KM, -5 * KM, 12 * KM, 15 * KM),
            box(12 * KM, -5 * KM, 25 * KM, 15 * KM),
            box(-5 * KM, -5 * KM, 8 * KM, 15 * KM),
            box(8 * KM, -5 * KM, 25 * KM, 15 * KM),
        ],
        crs=LAEA,
    )
    return read_control(raw)


def _rows(layer: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    return {(r.ADM3_PCODE, r.controller): (r.area_km2, r.share) for r in layer.itertuples()}


def test_area_held_on_a_date_exact_areas_and_shares():
    layer, summary = area_by_controller(_control(), _admin(), date="2020-02-01")
    got = _rows(layer)
    assert set(got) == {("W", "A"), ("E", "A"), ("E", "B")}
    assert got[("W", "A")] == pytest.approx((100.0, 1.0), rel=1e-5)
    assert got[("E", "A")] == pytest.approx((20.0, 0.2), rel=1e-5)
    assert got[("E", "B")] == pytest.approx((80.0, 0.8), rel=1e-5)
    assert list(layer.columns) == [
        "ADM3_PCODE",
        "ADM1_PCODE",
        "controller",
        "area_km2",
        "unit_area_km2",
        "share",
        "date",
        "geometry",
    ]
    assert (layer["date"] == "2020-02-01").all()
    assert layer.crs.equals(_admin().crs)
    # the geometry is the piece itself: its area in our CRS is the reported area
    assert np.allclose(layer.geometry.area / 1e6, layer["area_km2"], rtol=1e-5)
    tot = summary.set_index("controller")
    assert tot.loc["A", "area_km2"] == pytest.approx(120.0, rel=1e-5)
    assert tot.loc["B", "area_km2"] == pytest.approx(80.0, rel=1e-5)
    assert tot.loc["A", "admin_units"] == 2 and tot.loc["B", "admin_units"] == 1
    assert tot.loc[NOT_COVERED, "area_km2"] == pytest.approx(0.0, abs=1e-6)
    assert summary["share"].sum() == pytest.approx(1.0)


def test_inclusive_validity_picks_the_right_snapshot():
    on_last_day = _rows(area_by_controller(_control(), _admin(), date="2020-03-01")[0])
    on_first_day = _rows(area_by_controller(_control(), _admin(), date="2020-03-02")[0])
    assert on_last_day[("E", "A")][0] == pytest.approx(20.0, rel=1e-5)
    assert on_first_day[("W", "A")][0] == pytest.approx(80.0, rel=1e-5)
    assert on_first_day[("W", "B")][0] == pytest.approx(20.0, rel=1e-5)
    assert on_first_day[("E", "B")] == pytest.approx((100.0, 1.0), rel=1e-5)
    assert ("E", "A") not in on_first_day


def test_ground_not_covered_is_accounted_in_the_summary():
    ctl = read_control(
        gpd.GeoDataFrame(
            {"controller": ["A"], "valid_from": ["2020-01-01"], "valid_to": [None]},
            geometry=[box(-5 * KM, -5 * KM, 15 * KM, 15 * KM)],
            crs=LAEA,
        )
    )
    layer, summary = area_by_controller(ctl, _admin(), date="2020-06-01")
    got = _rows(layer)
    assert got[("E", "A")] == pytest.approx((50.0, 0.5), rel=1e-5)
    tot = summary.set_index("controller")
    assert tot.loc[NOT_COVERED, "area_km2"] == pytest.approx(50.0, rel=1e-5)
    assert tot.loc[NOT_COVERED, "admin_units"] == 1
    # every km² of the admin units is in exactly one summary row
    assert summary["area_km2"].sum() == pytest.approx(200.0, rel=1e-6)


def test_touching_polygons_of_one_controller_are_not_counted_twice():
    ctl = read_control(
        gpd.GeoDataFrame(
            {"controller": ["A", "A"], "valid_from": ["2020-01-01"] * 2, "valid_to": [None] * 2},
            geometry=[
                box(-5 * KM, -5 * KM, 10 * KM, 15 * KM),
                box(10 * KM, -5 * KM, 25 * KM, 15 * KM),
            ],
            crs=LAEA,
        )
    )
    layer, _ = area_by_controller(ctl, _admin(), date="2020-02-01")
    assert len(layer) == 2
    assert layer["share"].to_numpy() == pytest.approx([1.0, 1.0], rel=1e-6)


def _lonlat_layers() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    admin = gpd.GeoDataFrame(
        {"pcode": ["P1", "P2"]},
        geometry=[box(36.4, 35.6, 36.6, 35.9), box(36.6, 35.6, 36.9, 35.9)],
        crs=4326,
    )
    control = read_control(
        gpd.GeoDataFrame(
            {"controller": ["Gov", "Opp"], "date": ["2020-03-06", "2020-03-06"]},
            geometry=[
                box(36.3, 35.5, 36.75, 35.75),
                box(36.3, 35.75, 37.0, 36.0).union(box(36.75, 35.5, 37.0, 35.75)),
            ],
            crs=4326,
        )
    )
    return admin, control


def test_areas_agree_with_geodesic_areas():
    admin, control = _lonlat_layers()
    layer, summary = area_by_controller(control, admin, date="2020-06-09")
    assert len(layer) == 4
    for geom, area in zip(layer.geometry, layer["area_km2"], strict=True):
        geodesic = abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6
        assert area == pytest.approx(geodesic, rel=0.005)
    for pcode, geom in zip(admin["pcode"], admin.geometry, strict=True):
        unit = abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6
        rows = layer.loc[layer["pcode"] == pcode]
        assert rows["unit_area_km2"].iloc[0] == pytest.approx(unit, rel=0.005)
        assert rows["share"].sum() == pytest.approx(1.0, abs=1e-7)
        # the share is the geodesic area of the piece over that of the unit
        for geom_piece, share in zip(rows.geometry, rows["share"], strict=True):
            expected = abs(GEOD.geometry_area_perimeter(geom_piece)[0]) / 1e6 / unit
            assert share == pytest.approx(expected, rel=0.005)


def test_layers_in_different_crs_are_aligned_explicitly():
    admin, control = _lonlat_layers()
    a, _ = area_by_controller(control, admin, date="2020-06-09")
    b, _ = area_by_controller(control.to_crs(32637), admin, date="2020-06-09")
    assert b.crs.to_epsg() == 4326  # the admin layer's CRS
    assert list(b["controller"]) == list(a["controller"])
    assert b["area_km2"].to_numpy() == pytest.approx(a["area_km2"].to_numpy(), rel=1e-4)


def test_admin_fields_pick_and_prefix_clashing_names():
    admin = _admin().assign(controller="clash")
    layer, _ = area_by_controller(
        _control(), admin, date="2020-02-01", admin_fields=["ADM3_PCODE", "controller"]
    )
    assert list(layer.columns[:3]) == ["ADM3_PCODE", "admin_controller", "controller"]
    with pytest.raises(SchemaError, match="not found: NOPE"):
        area_by_controller(_control(), _admin(), date="2020-02-01", admin_fields=["NOPE"])


def test_change_between_dates_exact():
    layer, summary = control_change(_control(), date_from="2020-02-01", date_to="2020-04-01")
    assert len(layer) == 1
    row = layer.iloc[0]
    assert (row["from_controller"], row["to_controller"]) == ("A", "B")
    # the strip 8..12 km by -5..15 km of the control layer
    assert row["area_km2"] == pytest.approx(80.0, rel=1e-5)
    assert (row["date_from"], row["date_to"]) == ("2020-02-01", "2020-04-01")
    assert list(summary["scope"]) == ["total"]
    net = net_change(summary).set_index("controller")
    assert net.loc["B", "net_km2"] == pytest.approx(80.0, rel=1e-5)
    assert net.loc["A", "lost_km2"] == pytest.approx(80.0, rel=1e-5)


def test_change_per_admin_unit_and_pair():
    layer, summary = control_change(
        _control(), date_from="2020-02-01", date_to="2020-04-01", admin=_admin()
    )
    got = {
        (r.ADM3_PCODE, r.from_controller, r.to_controller): r.area_km2 for r in layer.itertuples()
    }
    assert got == pytest.approx({("W", "A", "B"): 20.0, ("E", "A", "B"): 20.0}, rel=1e-5)
    total = summary.loc[summary["scope"] == "total"]
    assert total["area_km2"].tolist() == pytest.approx([40.0], rel=1e-5)
    per_unit = summary.loc[summary["scope"] == "admin"].set_index("ADM3_PCODE")["area_km2"]
    assert per_unit.to_dict() == pytest.approx({"W": 20.0, "E": 20.0}, rel=1e-5)


def test_no_change_gives_an_empty_layer():
    layer, summary = control_change(_control(), date_from="2020-01-05", date_to="2020-02-05")
    assert len(layer) == 0 and len(summary) == 0
    assert {"from_controller", "to_controller", "area_km2"} <= set(layer.columns)


def test_ground_entering_coverage_is_labelled_none():
    ctl = read_control(
        gpd.GeoDataFrame(
            {
                "controller": ["A", "A"],
                "valid_from": ["2020-01-01", "2020-02-01"],
                "valid_to": ["2020-01-31", None],
            },
            geometry=[box(0, 0, 10 * KM, 10 * KM), box(0, 0, 13 * KM, 10 * KM)],
            crs=LAEA,
        )
    )
    layer, _ = control_change(ctl, date_from="2020-01-15", date_to="2020-02-15")
    assert list(zip(layer["from_controller"], layer["to_controller"], strict=True)) == [(NONE, "A")]
    assert layer["area_km2"].iloc[0] == pytest.approx(30.0, rel=1e-5)


def test_errors_are_clear():
    with pytest.raises(LayerError, match="no control zone is in force on 2019-06-01"):
        area_by_controller(_control(), _admin(), date="2019-06-01")
    with pytest.raises(InputError, match="cannot read the date"):
        area_by_controller(_control(), _admin(), date="June-ish")
    with pytest.raises(SchemaError, match="normalised control layer"):
        area_by_controller(_admin(), _admin(), date="2020-02-01")
    with pytest.raises(InputError, match="before the --from date"):
        control_change(_control(), date_from="2020-04-01", date_to="2020-02-01")
    with pytest.raises(LayerError, match="polygons"):
        area_by_controller(_control(), _admin().set_geometry(_admin().centroid), date="2020-02-01")


@pytest.mark.shared
def test_ocha_governorate_shares_add_up_to_one(ocha_adm1):
    adm1 = gpd.read_file(ocha_adm1)
    # a control layer over all of Syria, split at 36.7 E, plus a third controller east of 40 E
    ctl = read_control(
        gpd.GeoDataFrame(
            {"controller": ["West", "East", "Far east"], "date": ["2020-03-06"] * 3},
            geometry=[
                box(35.0, 32.0, 36.7, 37.5),
                box(36.7, 32.0, 40.0, 37.5),
                box(40.0, 32.0, 43.0, 37.5),
            ],
            crs=4326,
        )
    )
    layer, summary = area_by_controller(
        ctl, adm1, date="2020-06-09", admin_fields=["ADM1_PCODE", "ADM1_EN"]
    )
    shares = layer.groupby("ADM1_PCODE")["share"].sum()
    assert len(shares) == 14
    assert np.abs(shares - 1.0).max() < 1e-4
    # Idleb is split between West and East
    idleb = layer.loc[layer["ADM1_PCODE"] == "SY07"].set_index("controller")
    assert set(idleb.index) == {"West", "East"}
    # each governorate's total agrees with its geodesic area
    for pcode, geom in zip(adm1["ADM1_PCODE"], adm1.geometry, strict=True):
        geodesic = abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6
        assert layer.loc[layer["ADM1_PCODE"] == pcode, "area_km2"].sum() == pytest.approx(
            geodesic, rel=0.005
        )
    assert summary.set_index("controller").loc[NOT_COVERED, "area_km2"] < 0.01


@pytest.mark.shared
def test_ocha_partial_cover_leaves_shares_below_one_only_where_uncovered(ocha_adm1):
    adm1 = gpd.read_file(ocha_adm1)
    ctl = read_control(
        gpd.GeoDataFrame(
            {"controller": ["A"], "date": ["2020-03-06"]},
            geometry=[box(35.5, 35.0, 37.3, 37.0)],
            crs=4326,
        )
    )
    layer, summary = area_by_controller(ctl, adm1, date="2020-06-09", admin_fields=["ADM1_PCODE"])
    shares = layer.groupby("ADM1_PCODE")["share"].sum()
    inside = adm1.loc[adm1.geometry.within(box(35.5, 35.0, 37.3, 37.0)), "ADM1_PCODE"]
    assert {"SY07", "SY06"} <= set(inside)  # Idleb, Lattakia
    assert np.abs(shares[inside] - 1.0).max() < 1e-4
    assert shares.drop(inside.tolist()).max() < 1.0
    total = sum(abs(GEOD.geometry_area_perimeter(g)[0]) for g in adm1.geometry) / 1e6
    assert summary["area_km2"].sum() == pytest.approx(total, rel=0.005)


def test_summary_by_a_coarser_field_gives_shares_per_group():
    admin = _admin()
    admin["ADM1_PCODE"] = ["G1", "G2"]
    ctl = read_control(
        gpd.GeoDataFrame(
            {"controller": ["A"], "valid_from": ["2020-01-01"], "valid_to": [None]},
            geometry=[box(-5 * KM, -5 * KM, 15 * KM, 15 * KM)],
            crs=LAEA,
        )
    )
    _, summary = area_by_controller(ctl, admin, date="2020-06-01", summary_by="ADM1_PCODE")
    assert list(summary.columns) == ["ADM1_PCODE", "controller", "area_km2", "share", "admin_units"]
    got = {
        (r.ADM1_PCODE, r.controller): (round(r.area_km2, 4), round(r.share, 6))
        for r in summary.itertuples()
    }
    assert got == {
        ("G1", "A"): (100.0, 1.0),
        ("G1", NOT_COVERED): (0.0, 0.0),
        ("G2", "A"): (50.0, 0.5),
        ("G2", NOT_COVERED): (50.0, 0.5),
        ("(all)", "A"): (150.0, 0.75),
        ("(all)", NOT_COVERED): (50.0, 0.25),
    }
    with pytest.raises(SchemaError, match="summary field not found"):
        area_by_controller(ctl, admin, date="2020-06-01", summary_by="ADM9")


@pytest.mark.shared
def test_ocha_subdistricts_summarised_per_governorate(ocha_adm3, ocha_adm1):
    adm3 = gpd.read_file(ocha_adm3)
    ctl = read_control(
        gpd.GeoDataFrame(
            {"controller": ["West", "East"], "date": ["2020-03-06"] * 2},
            geometry=[box(35.0, 32.0, 36.7, 37.5), box(36.7, 32.0, 43.0, 37.5)],
            crs=4326,
        )
    )
    layer, summary = area_by_controller(
        ctl,
        adm3,
        date="2020-06-09",
        admin_fields=["ADM3_PCODE", "ADM1_PCODE"],
        summary_by="ADM1_PCODE",
    )
    # every sub-district's shares add up to 1, and so do every governorate's
    assert np.abs(layer.groupby("ADM3_PCODE")["share"].sum() - 1.0).max() < 1e-4
    assert layer["ADM3_PCODE"].nunique() == 272
    per_gov = summary.loc[summary["ADM1_PCODE"] != "(all)"]
    assert per_gov["ADM1_PCODE"].nunique() == 14
    held = per_gov.loc[per_gov["controller"] != NOT_COVERED]
    assert np.abs(held.groupby("ADM1_PCODE")["share"].sum() - 1.0).max() < 1e-4
    # the same totals as overlaying the governorates themselves
    direct, _ = area_by_controller(
        ctl, gpd.read_file(ocha_adm1), date="2020-06-09", admin_fields=["ADM1_PCODE"]
    )
    a = held.set_index(["ADM1_PCODE", "controller"])["area_km2"].sort_index()
    b = direct.set_index(["ADM1_PCODE", "controller"])["area_km2"].sort_index()
    assert list(a.index) == list(b.index)
    assert np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-3)


def test_slivers_below_the_tolerance_are_folded_in() -> None:
    """Issue #15: a 5e-6° sliver of ground no zone covers (about 0.005 km² here) is folded in by
    default (0.01 km²), and reported with min_area_km2=0."""
    import geopandas as gpd
    import shapely

    from geoconflict.zones import area_by_controller

    admin = gpd.GeoDataFrame({"ADM3_PCODE": ["A"]}, geometry=[shapely.box(36.0, 35.0, 36.1, 35.1)], crs=4326)
    control = gpd.GeoDataFrame(
        {"controller": ["Gov", "Opp"], "valid_from": pd.to_datetime(["2020-01-01"] * 2),
         "valid_to": pd.to_datetime([None, None])},
        geometry=[shapely.box(36.0, 35.0, 36.05, 35.1), shapely.box(36.050005, 35.0, 36.1, 35.1)], crs=4326)
    _, folded = area_by_controller(control, admin, date="2020-06-01")
    _, raw = area_by_controller(control, admin, date="2020-06-01", min_area_km2=0)
    gap = float(raw.loc[raw["controller"] == "(not covered)", "area_km2"].iloc[0])
    assert 0 < gap < 0.01
    assert float(folded.loc[folded["controller"] == "(not covered)", "area_km2"].iloc[0]) == 0.0


def test_zones_over_several_admin_layers_is_a_library_result_with_its_lines() -> None:
    """The command is thin (#16): the library gives the layer, the summary and the printed lines."""
    import geopandas as gpd
    import shapely

    from geoconflict.zones import change_over_layers, held_over_layers

    adm1 = gpd.GeoDataFrame({"ADM1_PCODE": ["A"]}, geometry=[shapely.box(36.0, 35.0, 36.2, 35.2)], crs=4326)
    adm2 = gpd.GeoDataFrame({"ADM2_PCODE": ["A1", "A2"]},
                            geometry=[shapely.box(36.0, 35.0, 36.1, 35.2), shapely.box(36.1, 35.0, 36.2, 35.2)], crs=4326)
    control = gpd.GeoDataFrame(
        {"controller": ["Gov", "Opp", "Gov", "Opp"],
         "valid_from": pd.to_datetime(["2020-01-01", "2020-01-01", "2020-03-01", "2020-03-01"]),
         "valid_to": pd.to_datetime(["2020-02-29", "2020-02-29", None, None])},
        geometry=[shapely.box(36.0, 35.0, 36.1, 35.2), shapely.box(36.1, 35.0, 36.2, 35.2),
                  shapely.box(36.0, 35.0, 36.15, 35.2), shapely.box(36.15, 35.0, 36.2, 35.2)], crs=4326)
    held = held_over_layers(control, [adm2, adm1], ["adm2", "adm1"], date="2020-03-05")
    assert set(held.layer["admin_layer"]) == {"adm2", "adm1"}
    (line,) = held.lines()
    assert line.startswith("area held on 2020-03-05 in 2 admin units") and "Gov" in line and "(75.0%)" in line
    change = change_over_layers(control, [adm2, adm1], ["adm2", "adm1"], date_from="2020-01-15", date_to="2020-03-05")
    (line,) = change.lines()
    assert "changed hands from 2020-01-15 to 2020-03-05" in line and "Gov +" in line and "Opp -" in line
