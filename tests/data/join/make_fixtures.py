"""Regenerate the small hand-made fixtures of tests/test_join.py and tests/test_control.py.

Run: .venv/bin/python tests/data/join/make_fixtures.py  (writes next to this file)
Edges are densified every 0.005 degrees so that a layer's shape does not depend on the CRS.
"""

from pathlib import Path

import geopandas as gpd
import shapely

HERE = Path(__file__).resolve().parent


def box(x0, y0, x1, y1):
    return shapely.segmentize(shapely.box(x0, y0, x1, y1), 0.005)


def main() -> None:
    # control: two snapshots by 'date'; the line moves north from 35.80 to 35.90 on 2020-03-02
    ctl = gpd.GeoDataFrame(
        {
            "Controller": ["Government", "Opposition", "Government", "Opposition"],
            "date": ["2020-02-01", "2020-02-01", "2020-03-02", "2020-03-02"],
        },
        geometry=[box(36.5, 35.6, 37.0, 35.8), box(36.5, 35.8, 37.0, 36.0),
                  box(36.5, 35.6, 37.0, 35.9), box(36.5, 35.9, 37.0, 36.0)],
        crs=4326,
    )
    ctl.to_file(HERE / "control_dated.geojson", driver="GeoJSON")
    # the same as valid_from / valid_to (inclusive; the second snapshot open-ended)
    vv = ctl.drop(columns="date").rename(columns={"Controller": "controller"})
    vv["valid_from"] = ["2020-02-01", "2020-02-01", "2020-03-02", "2020-03-02"]
    vv["valid_to"] = ["2020-03-01", "2020-03-01", "", ""]
    vv.to_file(HERE / "control_valid.geojson", driver="GeoJSON")
    # one file per date, the date in the file name
    for d in ("2020-02-01", "2020-03-02"):
        part = ctl[ctl["date"] == d].drop(columns="date").rename(columns={"Controller": "holder"})
        part.to_file(HERE / f"control_{d}.geojson", driver="GeoJSON")
    # admin: three sub-districts in UTM 37N, old lower-case OCHA naming
    adm = gpd.GeoDataFrame(
        {
            "adm3_pcode": ["SY070000", "SY070001", "SY070002"],
            "adm3_en": ["Ma`arrat an Nu`man", "Saraqab", "Ariha"],
            "adm1_en": ["Idleb", "Idleb", "Idleb"],
        },
        geometry=[box(36.6, 35.6, 36.7, 35.7), box(36.7, 35.6, 36.9, 35.9), box(36.5, 35.7, 36.7, 35.9)],
        crs=4326,
    ).to_crs(32637)
    adm.to_file(HERE / "admin_utm.gpkg", driver="GPKG", layer="admin_utm")
    areas = gpd.GeoDataFrame(
        {"name": ["Jabal al-Zawiya", "al-Ghab plain"]},
        geometry=[box(36.40, 35.62, 36.60, 35.75), box(36.25, 35.45, 36.40, 35.85)],
        crs=4326,
    )
    areas.to_file(HERE / "areas.geojson", driver="GeoJSON")
    # a dated front line (north-south), and an invalid control layer
    fl = gpd.GeoDataFrame(
        {"date": ["2020-02-01", "2020-03-02"],
         "controller_left": ["Opposition", "Opposition"], "controller_right": ["Government", "Government"]},
        geometry=[shapely.segmentize(shapely.LineString([(36.5, 35.8), (37.0, 35.8)]), 0.005),
                  shapely.segmentize(shapely.LineString([(36.5, 35.9), (37.0, 35.9)]), 0.005)],
        crs=4326,
    )
    fl.to_file(HERE / "front_line.geojson", driver="GeoJSON")
    bad = gpd.GeoDataFrame(
        {"controller": ["Government", None, "Opposition"],
         "valid_from": ["2020-02-01", "2020-02-01", "2020-03-05"],
         "valid_to": ["2020-03-01", "2020-03-01", "2020-03-01"]},
        geometry=[box(36.5, 35.6, 37.0, 35.8), box(36.5, 35.8, 37.0, 36.0), box(36.5, 35.6, 37.0, 36.0)],
        crs=4326,
    )
    bad.to_file(HERE / "control_invalid.geojson", driver="GeoJSON")


if __name__ == "__main__":
    main()
