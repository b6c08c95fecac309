"""Make the malformed-input corpus in tests/data/bad/ (small files, committed) and, on demand,
the large or binary cases (generated at test time into a temporary folder, never committed).

    python scripts/make_bad_corpus.py            # rewrite tests/data/bad/
    python scripts/make_bad_corpus.py --big DIR  # also write the large/binary cases into DIR

Everything is deterministic (fixed seeds, fixed text), so the committed corpus can be re-made
and compared byte for byte.  tests/data/bad/README.md lists each case and the expected answer.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad"

ACLED_HEADER = (
    "event_id_cnty,event_date,year,time_precision,disorder_type,event_type,sub_event_type,actor1,"
    "assoc_actor_1,inter1,actor2,assoc_actor_2,inter2,interaction,civilian_targeting,iso,region,"
    "country,admin1,admin2,admin3,location,latitude,longitude,geo_precision,source,source_scale,"
    "notes,fatalities,tags,timestamp"
)
N_ACLED_COLUMNS = len(ACLED_HEADER.split(","))


def acled_row(
    eid: str,
    date: str = "2020-06-08",
    lat: str = "35.8141",
    lon: str = "36.6103",
    fatalities: str = "0",
    location: str = "Ariha",
    notes: str = "Shelling hit the town.",
    admin3: str = "Ariha",
) -> list[str]:
    """One ACLED row (31 fields) in Idleb governorate."""
    return [
        eid, date, date[:4], "1", "Political violence", "Explosions/Remote violence",
        "Shelling/artillery/missile attack", "Military Forces of Syria (2000-)", "", "1",
        "HTS: Hayat Tahrir al-Sham", "", "2", "12", "", "760", "Middle East", "Syria", "Idleb",
        "Ariha", admin3, location, lat, lon, "1", "SOHR", "Other", notes, fatalities, "", "1600000000",
    ]


def _csv_line(fields: list[str], delim: str = ",") -> str:
    out = []
    for f in fields:
        if any(c in f for c in (delim, '"', "\n")):
            f = '"' + f.replace('"', '""') + '"'
        out.append(f)
    return delim.join(out)


def acled_text(rows: list[list[str]], delim: str = ",") -> str:
    header = ACLED_HEADER.replace(",", delim)
    return "\n".join([header] + [_csv_line(r, delim) for r in rows]) + "\n"


GOOD_ROWS = [
    acled_row("SYR1", "2020-06-08", "35.8141", "36.6103", "0", "Ariha"),
    acled_row("SYR2", "2020-06-08", "35.6477", "36.6767", "2", "Ma'arrat An Nu'man"),
    acled_row("SYR3", "2020-06-09", "35.6853", "36.5419", "1", "Bara"),
    acled_row("SYR4", "2020-06-09", "35.6599", "36.4849", "0", "Kansafra"),
]


def _fc(features: list[dict], **extra: object) -> dict:
    return {"type": "FeatureCollection", **extra, "features": features}


def _feat(props: dict, geom: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


def _pt(x: float, y: float, *z: float) -> dict:
    return {"type": "Point", "coordinates": [x, y, *z]}


def _box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _write(name: str, data: str | bytes | dict) -> Path:
    p = BAD / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, dict):
        p.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    elif isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8", newline="")
    return p


#: the admin layer the join cases use: two sub-districts side by side (WGS84)
ADMIN_WEST = (36.0, 35.5, 36.5, 36.0)
ADMIN_EAST = (36.5, 35.5, 37.0, 36.0)
#: the two units' Arabic names (the code-page case writes them in Windows-1256)
ADMIN_AR = ["إدلب الغربية", "إدلب الشرقية"]


def admin_fc() -> dict:
    return _fc([
        _feat({"ADM3_EN": "West", "ADM3_PCODE": "SY000001"}, _box(*ADMIN_WEST)),
        _feat({"ADM3_EN": "East", "ADM3_PCODE": "SY000002"}, _box(*ADMIN_EAST)),
    ])


def control_feature(controller: str | None, valid_from: str | None, valid_to: str | None,
                    box: tuple[float, float, float, float]) -> dict:
    return _feat({"controller": controller, "valid_from": valid_from, "valid_to": valid_to}, _box(*box))


def make_incident_cases() -> None:
    _write("empty.csv", b"")
    _write("header_only.csv", ACLED_HEADER + "\n")
    _write("blank_lines.csv", "\n\n  \n\n")
    _write("acled_semicolon.csv", acled_text(GOOD_ROWS, ";"))
    _write("acled_bom.csv", b"\xef\xbb\xbf" + acled_text(GOOD_ROWS).encode("utf-8"))
    latin = [acled_row("SYR1", notes="Frappe a\u00e9rienne pr\u00e8s du caf\u00e9"), *GOOD_ROWS[1:]]
    _write("acled_latin1.csv", acled_text(latin).encode("latin-1"))
    ragged = acled_text(GOOD_ROWS).splitlines()
    ragged.insert(2, _csv_line(acled_row("SYR9")[:12]))  # a row cut short: 12 of 31 fields
    ragged.insert(4, _csv_line(acled_row("SYR8") + ["extra", "fields"]))  # 33 fields
    _write("acled_ragged.csv", "\n".join(ragged) + "\n")
    bad_cells = [
        *GOOD_ROWS,
        acled_row("BAD1", lon="inf"),
        acled_row("BAD2", lat="nan"),
        acled_row("BAD3", lon="1e999"),
        acled_row("BAD5", fatalities="many"),
        acled_row("BAD6", fatalities="-3"),
        acled_row("BAD7", date="31 February 2020"),
        acled_row("BAD8", date=""),
        acled_row("SYR1"),  # duplicate id
        acled_row("BAD9", lat="0", lon="0"),
        acled_row("BAD10", lat="135.8", lon="36.6"),
    ]
    _write("acled_bad_cells.csv", acled_text(bad_cells))
    dup = acled_text(GOOD_ROWS).splitlines()
    _write("acled_duplicate_columns.csv",
           "\n".join([dup[0] + ",notes,notes"] + [line + ",a,b" for line in dup[1:]]) + "\n")
    _write("acled_crlf_trailing_comma.csv", "\r\n".join(line + "," for line in acled_text(GOOD_ROWS).splitlines()) + "\r\n")
    _write("legacy_crs_3857.geojson", {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "features": [_feat({"event_id_cnty": "M1", "event_date": "2020-06-08", "fatalities": 0},
                           _pt(4075000.0, 4273000.0))],
    })
    _write("generic_no_coordinates.csv", "when,what,where\n2020-06-08,strike,Ariha\n2020-06-09,strike,Bara\n")
    _write("not_json.geojson", '{"type": "FeatureCollection", "features": [{"type": "Feature", "prop')
    _write("json_array.geojson", "[1, 2, 3]\n")
    _write("not_featurecollection.geojson", {"name": "incidents", "rows": [{"lon": 36.6, "lat": 35.8}]})
    _write("topojson.json", {
        "type": "Topology",
        "objects": {"zones": {"type": "GeometryCollection", "geometries": [
            {"type": "Polygon", "arcs": [[0]], "properties": {"name": "A"}}]}},
        "arcs": [[[36.0, 35.5], [36.5, 35.5], [36.5, 36.0], [36.0, 36.0], [36.0, 35.5]]],
    })
    base = {"event_date": "2020-06-08", "event_type": "Explosions/Remote violence",
            "sub_event_type": "Air/drone strike", "fatalities": 0}
    _write("mixed_geometries.geojson", _fc([
        _feat({**base, "event_id_cnty": "P1"}, _pt(36.6103, 35.8141)),
        _feat({**base, "event_id_cnty": "P2"}, _pt(36.6767, 35.6477)),
        _feat({**base, "event_id_cnty": "L1"},
              {"type": "LineString", "coordinates": [[36.5, 35.6], [36.6, 35.7]]}),
        _feat({**base, "event_id_cnty": "A1"}, _box(36.4, 35.6, 36.5, 35.7)),
        _feat({**base, "event_id_cnty": "N1"}, None),
        _feat({**base, "event_id_cnty": "P3"}, _pt(36.5419, 35.6853)),
    ]))
    _write("points_3d.geojson", _fc([
        _feat({**base, "event_id_cnty": f"Z{i}"}, _pt(x, y, 350.0))
        for i, (x, y) in enumerate([(36.6103, 35.8141), (36.6767, 35.6477), (36.5419, 35.6853)], 1)
    ]))
    # json.dumps writes NaN/Infinity literals (not JSON): readers must not let them through
    nonfinite = _fc([
        _feat({**base, "event_id_cnty": "F1"}, _pt(36.6103, 35.8141)),
        _feat({**base, "event_id_cnty": "F2"}, _pt(float("nan"), 35.8)),
        _feat({**base, "event_id_cnty": "F3"}, _pt(36.6, float("inf"))),
        _feat({**base, "event_id_cnty": "F4"}, _pt(36.5419, 35.6853)),
    ])
    _write("nonfinite.geojson", nonfinite)
    _write("empty_collection.geojson", _fc([]))
    _write("unknown_extension.docx", b"PK\x03\x04 not really a docx")
    # a zip that holds no shapefile
    zpath = BAD / "not_a_shapefile.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        info = zipfile.ZipInfo("readme.txt", date_time=(2020, 1, 1, 0, 0, 0))
        zf.writestr(info, "These are the incidents you asked for.\n")


def _points_shapefile(folder: Path, *, drop: str | None) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    folder.mkdir(parents=True, exist_ok=True)
    gdf = gpd.GeoDataFrame(
        {"event_id": ["S1", "S2"], "event_date": ["2020-06-08", "2020-06-09"], "fatalities": [0, 1]},
        geometry=[Point(36.6103, 35.8141), Point(36.5419, 35.6853)], crs=4326,
    )
    gdf.to_file(folder / "points.shp", engine="pyogrio")
    for ext in (".cpg",):
        (folder / f"points{ext}").unlink(missing_ok=True)
    if drop:
        (folder / f"points{drop}").unlink()


def make_vector_cases() -> None:
    import geopandas as gpd
    from shapely.geometry import Point, box

    for sub in ("shp_no_dbf", "shp_no_prj"):
        shutil.rmtree(BAD / sub, ignore_errors=True)
    _points_shapefile(BAD / "shp_no_dbf", drop=".dbf")
    _points_shapefile(BAD / "shp_no_prj", drop=".prj")
    gpkg = BAD / "two_layers.gpkg"
    gpkg.unlink(missing_ok=True)
    pts = gpd.GeoDataFrame({"event_id": ["G1"], "event_date": ["2020-06-08"]},
                           geometry=[Point(36.6, 35.8)], crs=4326)
    pts.to_file(gpkg, layer="incidents_june", engine="pyogrio")
    pts.to_file(gpkg, layer="incidents_july", engine="pyogrio", append=True)
    _fix_gpkg_timestamps(gpkg)
    # an admin layer in a projected CRS (UTM 37N), correct in every other way
    admin = gpd.GeoDataFrame(
        {"ADM3_EN": ["West", "East"], "ADM3_PCODE": ["SY000001", "SY000002"]},
        geometry=[box(*ADMIN_WEST), box(*ADMIN_EAST)], crs=4326,
    ).to_crs(32637)
    p = BAD / "admin_projected.gpkg"
    p.unlink(missing_ok=True)
    admin.to_file(p, layer="admin3", engine="pyogrio")
    _fix_gpkg_timestamps(p)
    shutil.rmtree(BAD / "admin_no_crs", ignore_errors=True)
    (BAD / "admin_no_crs").mkdir()
    admin.to_crs(4326).to_file(BAD / "admin_no_crs" / "admin.shp", engine="pyogrio")
    (BAD / "admin_no_crs" / "admin.prj").unlink()
    (BAD / "admin_no_crs" / "admin.cpg").unlink(missing_ok=True)
    # as Arabic Windows exports come: the names in Windows-1256, and no .cpg to say so
    shutil.rmtree(BAD / "admin_cp1256_no_cpg", ignore_errors=True)
    (BAD / "admin_cp1256_no_cpg").mkdir()
    arabic = admin.to_crs(4326).assign(ADM3_AR=ADMIN_AR)
    arabic.to_file(BAD / "admin_cp1256_no_cpg" / "admin.shp", engine="pyogrio", encoding="cp1256")
    (BAD / "admin_cp1256_no_cpg" / "admin.cpg").unlink()
    for sub in ("shp_no_dbf", "shp_no_prj", "admin_no_crs", "admin_cp1256_no_cpg"):
        _fix_dbf_dates(BAD / sub)


def _fix_dbf_dates(folder: Path) -> None:
    """A .dbf header carries the day it was written (bytes 1-3): pin it, as for GeoPackages."""
    for dbf in folder.glob("*.dbf"):
        data = bytearray(dbf.read_bytes())
        data[1:4] = bytes([100, 1, 1])  # 2000-01-01
        dbf.write_bytes(bytes(data))


def _fix_gpkg_timestamps(path: Path) -> None:
    """GeoPackages carry a creation time: pin it so the committed file does not change."""
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE gpkg_contents SET last_change = '2000-01-01T00:00:00.000Z'")
    con.close()


def make_join_cases() -> None:
    _write("incidents_good.csv", acled_text(GOOD_ROWS))
    _write("admin_points.geojson", _fc([
        _feat({"ADM3_EN": "West", "ADM3_PCODE": "SY000001"}, _pt(36.25, 35.75)),
        _feat({"ADM3_EN": "East", "ADM3_PCODE": "SY000002"}, _pt(36.75, 35.75)),
    ]))
    # feature 2 is a bow-tie (self-intersecting): make_valid gives two triangles
    bowtie = {"type": "Polygon", "coordinates": [[[36.5, 35.5], [37.0, 36.0], [37.0, 35.5],
                                                  [36.5, 36.0], [36.5, 35.5]]]}
    _write("admin_bowtie.geojson", _fc([
        _feat({"ADM3_EN": "West", "ADM3_PCODE": "SY000001"}, _box(*ADMIN_WEST)),
        _feat({"ADM3_EN": "Bowtie", "ADM3_PCODE": "SY000002"}, bowtie),
    ]))
    unclosed = {"type": "Polygon", "coordinates": [[[36.5, 35.5], [37.0, 35.5], [37.0, 36.0],
                                                    [36.5, 36.0]]]}
    _write("admin_unclosed.geojson", _fc([
        _feat({"ADM3_EN": "West", "ADM3_PCODE": "SY000001"}, _box(*ADMIN_WEST)),
        _feat({"ADM3_EN": "Unclosed", "ADM3_PCODE": "SY000002"}, unclosed),
    ]))
    _write("admin_empty_collection.geojson", _fc([]))
    w, e = ADMIN_WEST, ADMIN_EAST
    _write("control_to_before_from.geojson", _fc([
        control_feature("Government", "2020-03-06", None, w),
        control_feature("Opposition", "2020-03-06", "2020-03-01", e),
    ]))
    _write("control_null_controller.geojson", _fc([
        control_feature("Government", "2020-03-06", None, w),
        control_feature(None, "2020-03-06", None, e),
    ]))
    _write("control_no_controller_column.geojson", _fc([
        _feat({"valid_from": "2020-03-06", "side": "A"}, _box(*w)),
        _feat({"valid_from": "2020-03-06", "side": "B"}, _box(*e)),
    ]))
    _write("control_bad_date.geojson", _fc([
        control_feature("Government", "2020-03-06", None, w),
        control_feature("Opposition", "early March", None, e),
    ]))
    bowtie_c = control_feature("Opposition", "2020-03-06", None, e)
    bowtie_c["geometry"] = bowtie
    _write("control_bowtie.geojson", _fc([control_feature("Government", "2020-03-06", None, w), bowtie_c]))
    numeric = control_feature("Opposition", None, None, e)
    numeric["properties"]["valid_from"] = 43896  # an Excel serial day (2020-03-06), not a date
    _write("control_numeric_date.geojson", _fc([control_feature("Government", "2020-03-06", None, w), numeric]))
    _write("control_lines.geojson", _fc([
        _feat({"controller": "Government", "valid_from": "2020-03-06"},
              {"type": "LineString", "coordinates": [[36.0, 35.5], [36.5, 36.0]]}),
    ]))


def make_flow_cases() -> None:
    _write("matrix_text_cell.csv",
           "Origin,Dana,Sarmada,Atma\nAriha,1200,about 300,50\nSaraqab,400,250,75\n")
    _write("records_negative.csv",
           "date,origin,destination,individuals\n2020-06-09,Ariha,Dana,1200\n"
           "2020-06-09,Ariha,Sarmada,-40\n2020-06-09,Saraqab,Atma,300\n")
    _write("records_non_numeric.csv",
           "date,origin,destination,individuals\n2020-06-09,Ariha,Dana,1200\n"
           "2020-06-09,Ariha,Sarmada,many\n2020-06-09,Saraqab,Atma,300\n")
    # no column holds numbers: neither records nor a matrix
    _write("flows_no_usable_columns.csv",
           "region,notes,contact\nIdleb,see the report,OCHA\nHama,no data yet,UNHCR\n")
    _write("places.csv", "name,pcode,lon,lat\nAriha,C4278,36.6103,35.8141\nSaraqab,C3916,36.8061,35.8611\n"
           "Dana,C4126,36.7697,36.2137\nSarmada,C4121,36.7239,36.1867\nAtma,C4130,36.6899,36.3099\n")
    _write("places_no_name_column.csv", "x,y,code\n36.61,35.81,C4278\n36.80,35.86,C3916\n")


def make_scenario_cases() -> None:
    _write("scenario_missing_input.toml",
           '[scenario]\nname = "missing-input"\n\n[inputs]\nincidents = "no_such_incidents.csv"\n')
    _write("scenario_bad_toml.toml", '[scenario]\nname = "broken\n\n[inputs]\nincidents = "x.csv"\n')
    _write("scenario_unknown_key.toml",
           '[scenario]\nname = "typo"\n\n[inputs]\nincidents = "incidents_good.csv"\nincidnets = "x.csv"\n')


def make_corpus() -> None:
    BAD.mkdir(parents=True, exist_ok=True)
    make_incident_cases()
    make_vector_cases()
    make_join_cases()
    make_flow_cases()
    make_scenario_cases()


# ---------------------------------------------------------------- large / binary cases (test time)

def make_garbage(path: Path, size: int = 64 * 1024, seed: int = 9) -> Path:
    """Random bytes (with NULs), deterministic."""
    rng = random.Random(seed)
    path.write_bytes(bytes(rng.getrandbits(8) for _ in range(size)))
    return path


def make_one_line(path: Path, size: int = 50 * 1024 * 1024) -> Path:
    """A one-line text file of ``size`` bytes: an ACLED header followed by one endless field."""
    head = (ACLED_HEADER + ",").encode()
    with open(path, "wb") as fh:
        fh.write(head)
        chunk = b"x" * (1 << 20)
        left = size - len(head)
        while left > 0:
            fh.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    return path


def make_big(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    make_garbage(folder / "garbage.csv")
    make_garbage(folder / "garbage.gpkg")
    make_garbage(folder / "garbage.xlsx")
    make_one_line(folder / "one_line_50mb.csv")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=Path, default=None, help="also write the large/binary cases here")
    args = ap.parse_args()
    make_corpus()
    if args.big:
        make_big(args.big)
    print(f"corpus: {len(list(BAD.rglob('*')))} files in {BAD}")


if __name__ == "__main__":
    main()
