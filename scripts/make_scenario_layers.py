"""Author the built-in Idlib 2020 scenario's boundary, control, front-line, corridor-line and
named-area layers under boundaries/.

Everything here is APPROXIMATE, reconstructed from public reporting (../shared/SCENARIO.md) for an
illustration; not for operational use.  The study-area outline and every line are hand-placed
vertices written below.  The admin units are Voronoi cells around one representative point per
OCHA sub-district (read from ../shared/data, OCHA COD-AB 2020-12-17), clipped to the outline:
names and P-codes are OCHA's, shapes are not.

    python scripts/make_scenario_layers.py          # rewrites boundaries/*.geojson
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import LineString, Polygon, box

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "boundaries"
SHARED = ROOT.parent / "shared" / "data" / "syria-cod"
NOTE = "approximate, reconstructed from public reporting; not for operational use"

# Study area: the Syria–Turkey border around Idlib approximated by hand (lon, lat).
OUTLINE = Polygon([
    (36.00, 35.20), (36.00, 35.87), (36.15, 35.93), (36.25, 35.96), (36.30, 36.02),
    (36.38, 36.10), (36.45, 36.17), (36.52, 36.23), (36.60, 36.22), (36.675, 36.24),
    (36.68, 36.30), (36.70, 36.34), (36.66, 36.42), (36.64, 36.50), (37.30, 36.50),
    (37.30, 35.20),
])

GOV = "Government of Syria and allies"
OPP = "Opposition (HTS and allied factions)"

# Lines of contact, west to east/north-east; government-held ground lies to the right (south/east).
WEST = [(35.95, 35.50), (36.20, 35.47)]
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
    "2020-01-28": [(35.95, 35.50), (36.20, 35.48), (36.35, 35.50), (36.48, 35.56), (36.56, 35.585),
                   (36.63, 35.62), (36.66, 35.68), (36.70, 35.76), (36.74, 35.84), (36.76, 35.88),
                   (36.85, 35.98), (36.92, 36.08), (36.95, 36.18), (36.98, 36.30), (37.00, 36.55)],
    # Kafr Nobol and the southern edge of Jabal al-Zawiya (late February 2020); frozen by the ceasefire
    "2020-02-25": [(35.95, 35.50), (36.20, 35.50), (36.30, 35.58), (36.36, 35.635), (36.44, 35.635),
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
    """Ground to the right of the line (south/east), closed around the study area's south-east."""
    ring = line + [(37.40, line[-1][1]), (37.40, 35.10), (line[0][0], 35.10)]
    return Polygon(ring)


def control_layer() -> gpd.GeoDataFrame:
    rows = []
    for line_key, vfrom, vto in SNAPSHOTS:
        gov = OUTLINE.intersection(_side_polygon(LINES[line_key]))
        opp = OUTLINE.difference(gov)
        for controller, geom in ((GOV, gov), (OPP, opp)):
            rows.append({"controller": controller, "valid_from": vfrom, "valid_to": vto,
                         "line_of": line_key, "note": NOTE, "geometry": shapely.normalize(geom)})
    return gpd.GeoDataFrame(rows, crs=4326)


def front_line_layer() -> gpd.GeoDataFrame:
    rows = []
    for line_key, vfrom, vto in SNAPSHOTS:
        geom = LineString(LINES[line_key]).intersection(OUTLINE)
        rows.append({"name": f"line of contact ({line_key})", "valid_from": vfrom, "valid_to": vto,
                     "note": NOTE, "geometry": geom})
    return gpd.GeoDataFrame(rows, crs=4326)


def admin_layer() -> gpd.GeoDataFrame:
    src = SHARED / "syr_adm3_ocha_20201217.geojson"
    if not src.exists():
        sys.exit(f"needs {src} to place one seed point per OCHA sub-district")
    adm3 = gpd.read_file(src)
    seeds = adm3.assign(geometry=adm3.geometry.representative_point())
    seeds = seeds[seeds.within(box(*OUTLINE.buffer(0.15).bounds))].reset_index(drop=True)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(list(seeds.geometry)), extend_to=OUTLINE.buffer(1))
    cells = gpd.GeoDataFrame(geometry=list(cells.geoms), crs=4326)
    joined = gpd.sjoin(cells, seeds, predicate="contains", how="inner")
    joined["geometry"] = joined.geometry.intersection(OUTLINE)
    joined = joined[~joined.geometry.is_empty]
    cols = ["ADM3_EN", "ADM3_PCODE", "ADM2_EN", "ADM2_PCODE", "ADM1_EN", "ADM1_PCODE", "ADM0_EN", "ADM0_PCODE"]
    out = gpd.GeoDataFrame(joined[cols].copy(), geometry=joined.geometry.map(shapely.normalize), crs=4326)
    out["note"] = NOTE
    return out.sort_values("ADM3_PCODE").reset_index(drop=True)


def write(gdf: gpd.GeoDataFrame, name: str) -> None:
    path = OUT / name
    gdf.to_file(path, driver="GeoJSON", RFC7946="YES", COORDINATE_PRECISION=5, engine="pyogrio")
    print(f"{path.relative_to(ROOT)}: {len(gdf)} features")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    write(control_layer(), "idlib2020_control.geojson")
    write(front_line_layer(), "idlib2020_front_lines.geojson")
    write(gpd.GeoDataFrame({"name": ["M4 highway (Jisr-Ash-Shugur to Saraqab)"], "note": [NOTE]},
                           geometry=[LineString(M4)], crs=4326), "idlib2020_m4.geojson")
    write(gpd.GeoDataFrame({"name": list(AREAS), "note": NOTE},
                           geometry=[Polygon(v) for v in AREAS.values()], crs=4326), "idlib2020_areas.geojson")
    adm = admin_layer()
    write(adm, "idlib2020_admin3.geojson")
    adm2 = adm.dissolve(by=["ADM2_PCODE"], aggfunc="first", as_index=False)[
        ["ADM2_EN", "ADM2_PCODE", "ADM1_EN", "ADM1_PCODE", "ADM0_EN", "ADM0_PCODE", "note", "geometry"]]
    write(adm2, "idlib2020_admin2.geojson")
    adm1 = adm.dissolve(by=["ADM1_PCODE"], aggfunc="first", as_index=False)[
        ["ADM1_EN", "ADM1_PCODE", "ADM0_EN", "ADM0_PCODE", "note", "geometry"]]
    write(adm1, "idlib2020_admin1.geojson")


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
