"""The built-in scenario's shipped layers (boundaries/): OCHA sub-districts as one coverage, the
control zones, front lines and areas cut from them, and the places layer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoconflict.crs import equal_area_crs_for

ROOT = Path(__file__).resolve().parents[1]
B = ROOT / "boundaries"
SCENARIO = ROOT / "geoconflict" / "scenarios" / "idlib-2020"
TOL_KM2 = 0.01


@pytest.fixture(scope="module")
def adm3() -> gpd.GeoDataFrame:
    return gpd.read_file(B / "idlib2020_admin3.geojson", engine="pyogrio")


def _km2(geoms: gpd.GeoSeries | shapely.Geometry, crs: object) -> float:
    s = geoms if isinstance(geoms, gpd.GeoSeries) else gpd.GeoSeries([geoms], crs=4326)
    return float(s.to_crs(crs).area.sum() / 1e6)


def test_admin3_is_one_coverage_without_gaps_or_overlaps(adm3: gpd.GeoDataFrame) -> None:
    geoms = adm3.geometry.to_numpy()
    assert len(adm3) > 50 and adm3.is_valid.all()
    assert shapely.coverage_is_valid(geoms)  # shared edges are shared exactly
    ea = equal_area_crs_for(adm3)
    union = shapely.union_all(geoms)
    # no overlaps: the parts add up to the whole
    assert abs(_km2(adm3.geometry, ea) - _km2(union, ea)) < TOL_KM2
    # no gaps: the outline has no holes (a sliver between two units would be one)
    holes = [ring for part in shapely.get_parts(union) for ring in part.interiors]
    assert sum(_km2(shapely.Polygon(r), ea) for r in holes) < TOL_KM2, len(holes)
    assert adm3["ADM3_PCODE"].is_unique
    assert set(adm3["ADM1_EN"]) <= {"Idleb", "Aleppo", "Hama", "Lattakia"}
    assert (adm3["ADM1_EN"] == "Idleb").sum() == 26  # the whole governorate


def test_shipped_files_are_small_and_attributed() -> None:
    total = sum(p.stat().st_size for p in B.glob("idlib2020_admin*.geojson"))
    assert total < 1_000_000
    readme = (B / "README.md").read_text(encoding="utf-8")
    assert "OCHA" in readme and "COD-AB" in readme and "CC BY-IGO" in readme
    sources = tomllib.loads((SCENARIO / "scenario.toml").read_text(encoding="utf-8"))["scenario"]["sources"]
    assert any("OCHA" in s and "COD-AB" in s and "CC BY-IGO" in s for s in sources)


def test_admin3_are_ochas_shapes_simplified(adm3: gpd.GeoDataFrame, ocha_adm3: Path) -> None:
    ocha = gpd.read_file(ocha_adm3, engine="pyogrio").set_index("ADM3_PCODE")
    ours = adm3.set_index("ADM3_PCODE")
    ocha = ocha.loc[ours.index]
    assert (ocha["ADM3_EN"] == ours["ADM3_EN"]).all() and (ocha["ADM2_PCODE"] == ours["ADM2_PCODE"]).all()
    ea = equal_area_crs_for(adm3)
    a, b = ours.geometry.to_crs(ea), ocha.geometry.to_crs(ea)
    iou = a.intersection(b).area / a.union(b).area
    assert iou.min() > 0.97, iou.sort_values().head(3)
    assert shapely.get_num_coordinates(a.to_numpy()).sum() < shapely.get_num_coordinates(b.to_numpy()).sum()


@pytest.mark.parametrize("level,key", [(2, "ADM2_PCODE"), (1, "ADM1_PCODE")])
def test_adm2_adm1_are_dissolved_from_adm3(adm3: gpd.GeoDataFrame, level: int, key: str) -> None:
    upper = gpd.read_file(B / f"idlib2020_admin{level}.geojson", engine="pyogrio")
    assert sorted(upper[key]) == sorted(adm3[key].unique())
    ea = equal_area_crs_for(adm3)
    for code, geom in zip(upper[key], upper.geometry, strict=False):
        parts = adm3[adm3[key] == code].geometry
        assert abs(_km2(geom, ea) - _km2(parts, ea)) < TOL_KM2, code
    assert shapely.coverage_is_valid(upper.geometry.to_numpy())


def test_control_zones_of_each_snapshot_tile_the_study_area(adm3: gpd.GeoDataFrame) -> None:
    control = gpd.read_file(B / "idlib2020_control.geojson", engine="pyogrio")
    study = shapely.union_all(adm3.geometry.to_numpy())
    ea = equal_area_crs_for(adm3)
    snapshots = control.groupby("valid_from")
    assert snapshots.ngroups == 5
    for when, snap in snapshots:
        assert len(snap) == 2 and snap.is_valid.all()
        gov, opp = snap.geometry
        assert _km2(shapely.intersection(gov, opp), ea) < TOL_KM2, when  # no overlap
        covered = shapely.union(gov, opp)
        assert _km2(shapely.symmetric_difference(covered, study), ea) < TOL_KM2, when  # no gap, no spill
        assert _km2(gov, ea) > 100 and _km2(opp, ea) > 100


def test_front_lines_are_the_shared_edges_of_the_zones() -> None:
    control = gpd.read_file(B / "idlib2020_control.geojson", engine="pyogrio").to_crs(32637)
    fronts = gpd.read_file(B / "idlib2020_front_lines.geojson", engine="pyogrio").to_crs(32637)
    assert len(fronts) == 5
    for front in fronts.itertuples():
        snap = control[control["valid_from"] == front.valid_from]
        gov, opp = snap.geometry
        # the line lies on both zones' edges (within a metre: the files' 5-decimal grid)
        assert gov.boundary.buffer(1).contains(front.geometry)
        assert opp.boundary.buffer(1).contains(front.geometry)
        assert front.geometry.length > 50_000


def test_areas_and_m4_inside_the_study_area(adm3: gpd.GeoDataFrame) -> None:
    study = shapely.union_all(adm3.geometry.to_numpy())
    areas = gpd.read_file(B / "idlib2020_areas.geojson", engine="pyogrio")
    assert len(areas) == 4 and areas.is_valid.all()
    ea = equal_area_crs_for(adm3)
    for geom in areas.geometry:
        assert _km2(shapely.difference(geom, study), ea) < TOL_KM2
    m4 = gpd.read_file(B / "idlib2020_m4.geojson", engine="pyogrio").geometry.iloc[0]
    assert study.buffer(1e-6).contains(m4)


def test_places_ranked_and_named_places_always_labelled() -> None:
    places = gpd.read_file(B / "idlib2020_places.geojson", engine="pyogrio")
    assert places["rank"].is_monotonic_increasing
    always = set(places.loc[places["label_always"], "name"])
    flows = pd.read_csv(SCENARIO / "displacement_june2020.csv")
    named = {"Idleb", "Ariha", "Saraqab", "Jisr-Ash-Shugur", "Ma'arrat An Nu'man", "Kafr Nobol", "Mozra"}
    assert named | set(flows["origin"].drop_duplicates()) - {"Jabal al-Zawiya"} | set(flows["destination"]) <= always
    assert (places.loc[places["label_always"], "rank"] == 0).all()
    idleb = places[places["name"] == "Idleb"].iloc[0]
    assert np.allclose([idleb.geometry.x, idleb.geometry.y], [36.6339, 35.9306])
    assert "added" in idleb["source"] and idleb["PP_PCODE"] in ("", None)
    assert places["PP_PCODE"].dropna().str.match(r"^(C\d+)?$").all()
