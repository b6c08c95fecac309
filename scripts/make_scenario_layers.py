"""Build the built-in Idlib 2020 scenario's layers under boundaries/.

The admin units are OCHA's: the COD-AB sub-districts (adm3, 2020-12-17) of the study area read
from ../shared/data/syria-cod (the one extract ../shared/data/README.md allows), simplified as one
coverage (shared edges stay shared: no gaps, no overlaps); adm2 and adm1 are dissolved from them.
The places are OCHA's populated places of the area, plus Idleb city (added by hand).

The control zones, lines of contact, the M4 and the named areas are APPROXIMATE, reconstructed
from public reporting (../shared/SCENARIO.md) for an illustration; not for operational use.  The
lines are hand-placed vertices written below; every polygon is cut from the union of the shipped
sub-districts on the same 1e-5 degree grid the files are written at, so edges that follow the
study area's outline are the sub-districts' own (no slivers along shared edges).

    python scripts/make_scenario_layers.py          # rewrites boundaries/*.geojson
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Polygon

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "boundaries"
SHARED = ROOT.parent / "shared" / "data" / "syria-cod"
SCENARIO = ROOT / "geoconflict" / "scenarios" / "idlib-2020"
NOTE = "approximate, reconstructed from public reporting; not for operational use"
OCHA = "OCHA, Syria COD-AB (2020-12-17), CC BY-IGO; simplified"
METRIC = "EPSG:32637"  # UTM 37N: the coverage is simplified in metres
SIMPLIFY_M = 120.0
GRID = 1e-5  # the files' coordinate precision (5 decimals): every overlay is made on this grid
GOVERNORATES = ("Idleb", "Aleppo", "Hama", "Lattakia")

# Which sub-districts: all of Idleb governorate, and the Aleppo, Hama and Lattakia ones whose
# representative point falls in this rough box of the 2020 case (lon, lat).
STUDY = Polygon([
    (36.00, 35.20), (36.00, 35.87), (36.15, 35.93), (36.25, 35.96), (36.30, 36.02),
    (36.38, 36.10), (36.45, 36.17), (36.52, 36.23), (36.60, 36.22), (36.675, 36.24),
    (36.68, 36.30), (36.70, 36.34), (36.66, 36.42), (36.64, 36.50), (37.30, 36.50),
    (37.30, 35.20),
])

# always labelled on the maps (the places of the case, ../shared/data/README.md), besides the
# scenario's places.csv names
NAMED_PLACES = ("Idleb", "Ariha", "Ma'arrat An Nu'man", "Saraqab", "Jisr-Ash-Shugur", "Kafr Nobol", "Bara",
                "Kansafra", "Mozra", "Qastun", "Dana", "Sarmada", "Atma", "Harim", "Khan Shaykun",
                "As-Suqaylabiyah")

GOV = "Government of Syria and allies"
OPP = "Opposition (HTS and allied factions)"

# Lines of contact, west to east/north-east; government-held ground lies to the right (south/east).
WEST = [(36.12, 36.20), (36.12, 35.90), (36.16, 35.76), (36.17, 35.60), (36.20, 35.47)]
LINES = {
    # before the 2019 offensive: northern Hama (Kafr Zita, al-Lataminah, Morek) and Khan Shaykun opposition-held
    "2019-04-30": WEST + [(36.35, 35.42), (36.50, 35.33), (36.58, 35.28), (36.72, 35.30), (36.80, 35.45),
                          (36.93, 35.62), (37.00, 35.80), (37.02, 35.97), (37.06, 36.12), (37.09, 36.25),
                          (37.10, 36.55)],
    # Khan Shaykun and northern Hama taken (August 2019)
    "2019-08-24": WEST + [(36.35, 35.45), (36.50, 35.47), (36.60, 35.485), (36.70, 35.49), (36.80, 35.52),
                          (36.93, 35.62), (37.00, 35.80), (37.02, 35.97), (37.06, 36.12), (37.09, 36.25),
                          (37.10, 36.55)],
    # Ma'arrat An Nu'man (28 January 2020), the M5 to Saraqab and western Aleppo (February 2020)
    "2020-01-28": WEST[:-1] + [(36.20, 35.48), (36.35, 35.50), (36.48, 35.56), (36.56, 35.585),
                   (36.63, 35.62), (36.66, 35.68), (36.70, 35.76), (36.74, 35.84), (36.76, 35.88),
                   (36.85, 35.98), (36.92, 36.08), (36.95, 36.18), (36.98, 36.30), (37.00, 36.55)],
    # Kafr Nobol and the southern edge of Jabal al-Zawiya (late February 2020); frozen by the ceasefire
    "2020-02-25": WEST[:-1] + [(36.20, 35.50), (36.30, 35.58), (36.36, 35.635), (36.44, 35.635),
                   (36.49, 35.64), (36.53, 35.655), (36.55, 35.665), (36.60, 35.67), (36.64, 35.70),
                   (36.70, 35.76), (36.74, 35.84), (36.76, 35.88), (36.85, 35.98), (36.92, 36.08),
                   (36.95, 36.18), (36.98, 36.30), (37.00, 36.55)],
}
# validity of each snapshot (inclusive days; None = open).  The ceasefire took force at 00:01 on
# 6 March 2020 and froze the line of 5 March: the last snapshot repeats that line from 6 March.
SNAPSHOTS = [
    ("2019-04-30", "2019-04-30", "2019-08-23"),
    ("2019-08-24", "2019-08-24", "2020-01-27"),
    ("2020-01-28", "2020-01-28", "2020-02-24"),
    ("2020-02-25", "2020-02-25", "2020-03-05"),
    ("2020-02-25", "2020-03-06", None),
]

# The M4 (Latakia–Aleppo highway) from west of Jisr-Ash-Shugur to Saraqab, approximate.
M4 = [(36.20, 35.78), (36.2600, 35.8000), (36.3149, 35.8143), (36.38, 35.835), (36.45, 35.845),
      (36.50, 35.830), (36.55, 35.805), (36.6103, 35.803), (36.67, 35.818), (36.73, 35.835),
      (36.8061, 35.8611)]

AREAS = {
    "al-Ghab plain": [(36.28, 35.38), (36.40, 35.38), (36.43, 35.60), (36.43, 35.75), (36.36, 35.86),
                      (36.31, 35.84), (36.30, 35.62)],
    "Jabal al-Zawiya": [(36.43, 35.60), (36.62, 35.58), (36.66, 35.70), (36.63, 35.80), (36.50, 35.80),
                        (36.43, 35.75)],
    "Northern Hama": [(36.45, 35.20), (36.85, 35.20), (36.85, 35.42), (36.45, 35.42)],
    "Border camps (Dana, Sarmada, Atma)": [(36.64, 36.15), (36.82, 36.15), (36.82, 36.27), (36.70, 36.36),
                                          (36.66, 36.28)],
}


def _side_polygon(line: list[tuple[float, float]]) -> Polygon:
    """Ground to the right of the line (south/east/west of it), closed around the study area's
    south, east and west (the line starts north of the Turkish border, west of Idleb)."""
    ring = line + [(38.50, line[-1][1]), (38.50, 34.50), (35.00, 34.50), (35.00, line[0][1])]
    return Polygon(ring)


def admin_layer() -> gpd.GeoDataFrame:
    """The OCHA sub-districts of the study area, simplified as one coverage (shared edges stay
    shared) in UTM 37N, then put on the 1e-5 degree grid the GeoJSON files are written at."""
    src = SHARED / "syr_adm3_ocha_20201217.geojson"
    if not src.exists():
        sys.exit(f"needs {src} (../shared/data/README.md)")
    adm3 = gpd.read_file(src, engine="pyogrio")
    keep = adm3["ADM1_EN"].isin(GOVERNORATES) & adm3.representative_point().within(STUDY)
    keep |= adm3["ADM1_EN"] == "Idleb"
    places = pd.read_csv(SCENARIO / "places.csv", encoding="utf-8")
    named = gpd.points_from_xy(places["lon"], places["lat"], crs=4326)
    keep |= adm3.geometry.apply(lambda g: bool(shapely.intersects(g, named).any()))  # e.g. A'zaz (flows)
    adm3 = adm3[keep].reset_index(drop=True)
    metric = adm3.geometry.to_crs(METRIC)
    simple = shapely.coverage_simplify(metric.to_numpy(), SIMPLIFY_M, simplify_boundary=True)
    geoms = gpd.GeoSeries(simple, crs=METRIC).to_crs(4326).to_numpy()
    geoms = shapely.make_valid(shapely.set_precision(geoms, GRID))
    geoms = np.array([shapely.normalize(polygonal(g)) for g in geoms], dtype=object)
    cols = ["ADM3_EN", "ADM3_PCODE", "ADM2_EN", "ADM2_PCODE", "ADM1_EN", "ADM1_PCODE", "ADM0_EN", "ADM0_PCODE"]
    out = gpd.GeoDataFrame(adm3[cols].copy(), geometry=geoms, crs=4326)
    out["source"] = OCHA
    return out.sort_values("ADM3_PCODE").reset_index(drop=True)


def polygonal(geom: Any) -> Any:
    """The polygon parts of ``geom`` (overlays on a grid can leave stray lines or points)."""
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.MultiPolygon(parts) if len(parts) > 1 else (parts[0] if parts else shapely.Polygon())


def control_layer(area: Any) -> gpd.GeoDataFrame:
    """Each snapshot splits the study area in two along its line: the government side is the
    area's part right of the line, the opposition side the rest, both on the same grid, so the
    two share their edges exactly and together cover the area."""
    rows = []
    for line_key, vfrom, vto in SNAPSHOTS:
        gov = polygonal(shapely.intersection(area, _side_polygon(LINES[line_key]), grid_size=GRID))
        opp = polygonal(shapely.difference(area, gov, grid_size=GRID))
        for controller, geom in ((GOV, gov), (OPP, opp)):
            rows.append({"controller": controller, "valid_from": vfrom, "valid_to": vto,
                         "line_of": line_key, "note": NOTE, "geometry": shapely.normalize(geom)})
    return gpd.GeoDataFrame(rows, crs=4326)


def front_line_layer(control: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The line of contact of each snapshot: the edge its two control polygons share."""
    rows = []
    for (vfrom, vto, line_key), snap in control.groupby(["valid_from", "valid_to", "line_of"], dropna=False,
                                                        sort=False):
        gov = snap.loc[snap["controller"] == GOV].geometry.iloc[0]
        opp = snap.loc[snap["controller"] == OPP].geometry.iloc[0]
        shared = shapely.line_merge(shapely.intersection(gov.boundary, opp.boundary, grid_size=GRID))
        lines = [g for g in shapely.get_parts(shared) if g.geom_type == "LineString"]
        rows.append({"name": f"line of contact ({line_key})", "valid_from": vfrom, "valid_to": vto,
                     "note": NOTE, "geometry": shapely.line_merge(shapely.MultiLineString(lines))})
    out = gpd.GeoDataFrame(rows, crs=4326)
    return out.sort_values("valid_from").reset_index(drop=True)


def areas_layer(area: Any) -> gpd.GeoDataFrame:
    """The named areas, clipped to the study area on its grid (no slivers along its edge)."""
    geoms = [shapely.normalize(polygonal(shapely.intersection(Polygon(v), area, grid_size=GRID)))
             for v in AREAS.values()]
    return gpd.GeoDataFrame({"name": list(AREAS), "note": NOTE}, geometry=geoms, crs=4326)


def places_layer(area: Any) -> gpd.GeoDataFrame:
    """OCHA populated places of the study area, plus Idleb city (added: not in OCHA's table),
    with a label rank: 0 places the scenario names (always labelled), 1 the governorate
    capital, 2 district seats, 3 sub-district seats, 4 other communities.  OCHA's own class
    (PPClassNum/PPClassTit) is 0 "Community" for every row of this table, so the rank comes
    from the admin seat a place is named after."""
    src = SHARED / "syr_populated_places_ocha_20210113.csv"
    pp = pd.read_csv(src, encoding="utf-8")
    pts = gpd.GeoDataFrame(pp, geometry=gpd.points_from_xy(pp["lon"], pp["lat"]), crs=4326)
    pts = pts[pts.within(area)].copy()
    pts["rank"] = 4
    pts.loc[pts["PP_NAME_EN"] == pts["ADM3_EN"], "rank"] = 3
    pts.loc[pts["PP_NAME_EN"] == pts["ADM2_EN"], "rank"] = 2
    pts["source"] = "OCHA populated places (2021-01-13)"
    idleb = pd.DataFrame([{"PP_NAME_EN": "Idleb", "PP_PCODE": "", "PPClassNum": 1,
                           "PPClassTit": "Governorate capital", "ADM3_EN": "Idleb", "ADM3_PCODE": "SY070000",
                           "ADM2_EN": "Idleb", "ADM1_EN": "Idleb", "lon": 36.6339, "lat": 35.9306, "rank": 1,
                           "source": "added by the project (governorate capital, not in OCHA's table)"}])
    idleb = gpd.GeoDataFrame(idleb, geometry=gpd.points_from_xy(idleb["lon"], idleb["lat"]), crs=4326)
    out = pd.concat([idleb, pts], ignore_index=True)
    named = set(NAMED_PLACES) | set(pd.read_csv(SCENARIO / "places.csv", encoding="utf-8")["name"])
    june = pd.read_csv(SCENARIO / "displacement_june2020.csv", encoding="utf-8")
    matrix = pd.read_csv(SCENARIO / "displacement_feb2020_matrix.csv", encoding="utf-8", index_col=0)
    named |= set(june["origin"]) | set(june["destination"]) | set(matrix.index) | set(matrix.columns)
    # the label: OCHA's name without a parenthesis that repeats it ("Dana (Dana)" -> "Dana")
    paren = out["PP_NAME_EN"].str.extract(r"^(.*?)\s*\((.*)\)$")
    out["name"] = out["PP_NAME_EN"].where(paren[0].isna() | (paren[0] != paren[1]), paren[0])
    out["label_always"] = out["name"].isin(named)
    out.loc[out["label_always"], "rank"] = 0
    out = out.drop_duplicates(["PP_NAME_EN", "PP_PCODE"])
    out = out[out["rank"] <= 3]  # the 1,600-odd other communities are left in OCHA's table
    out = out.sort_values(["rank", "name"], kind="stable").reset_index(drop=True)
    cols = ["name", "PP_NAME_EN", "PP_PCODE", "PPClassNum", "PPClassTit", "ADM3_PCODE", "ADM2_EN", "ADM1_EN",
            "rank", "label_always", "source"]
    out = gpd.GeoDataFrame(out[cols], geometry=out.geometry.values, crs=4326)
    out["PPClassNum"] = out["PPClassNum"].astype(int)
    return out


def write(gdf: gpd.GeoDataFrame, name: str) -> None:
    path = OUT / name
    gdf.to_file(path, driver="GeoJSON", RFC7946="YES", COORDINATE_PRECISION=5, engine="pyogrio")
    print(f"{path.relative_to(ROOT)}: {len(gdf)} features")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    adm = admin_layer()
    area = shapely.union_all(adm.geometry.to_numpy(), grid_size=GRID)
    control = control_layer(area)
    write(adm, "idlib2020_admin3.geojson")
    adm2 = adm.dissolve(by=["ADM2_PCODE"], aggfunc="first", as_index=False)[
        ["ADM2_EN", "ADM2_PCODE", "ADM1_EN", "ADM1_PCODE", "ADM0_EN", "ADM0_PCODE", "source", "geometry"]]
    adm2["geometry"] = [shapely.union_all(adm.geometry[adm["ADM2_PCODE"] == c].to_numpy(), grid_size=GRID)
                        for c in adm2["ADM2_PCODE"]]
    write(adm2, "idlib2020_admin2.geojson")
    adm1 = adm.dissolve(by=["ADM1_PCODE"], aggfunc="first", as_index=False)[
        ["ADM1_EN", "ADM1_PCODE", "ADM0_EN", "ADM0_PCODE", "source", "geometry"]]
    adm1["geometry"] = [shapely.union_all(adm.geometry[adm["ADM1_PCODE"] == c].to_numpy(), grid_size=GRID)
                        for c in adm1["ADM1_PCODE"]]
    write(adm1, "idlib2020_admin1.geojson")
    write(control, "idlib2020_control.geojson")
    write(front_line_layer(control), "idlib2020_front_lines.geojson")
    m4 = shapely.intersection(LineString(M4), area, grid_size=GRID)
    write(gpd.GeoDataFrame({"name": ["M4 highway (Jisr-Ash-Shugur to Saraqab)"], "note": [NOTE]},
                           geometry=[m4], crs=4326), "idlib2020_m4.geojson")
    write(areas_layer(area), "idlib2020_areas.geojson")
    write(places_layer(area), "idlib2020_places.geojson")


if __name__ == "__main__":
    main()
