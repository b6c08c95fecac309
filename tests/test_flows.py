"""Displacement flows: readers, place resolution, aggregation and accounting, arcs and arrows."""

from __future__ import annotations

import math
from collections import UserList
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Polygon

from geoconflict.errors import InputError, SchemaError
from geoconflict.flows import (
    FlowReport,
    ResolvedFlows,
    aggregate_flows,
    arrowheads,
    build_flows,
    flow_arcs,
    read_flows,
    resolve_places,
    width_scale,
)

DATA = Path(__file__).resolve().parent / "data" / "flows"
MATRIX_CSV = DATA / "matrix_governorates.csv"
RECORDS_CSV = DATA / "records_names.csv"
XLSX = DATA / "hnap_matrix.xlsx"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def cell(records: pd.DataFrame, origin: str, destination: str) -> float:
    sel = records[(records["origin"] == origin) & (records["destination"] == destination)]
    assert len(sel) == 1, (origin, destination, len(sel))
    return float(sel["individuals"].iloc[0])


@pytest.fixture
def toy_admin() -> gpd.GeoDataFrame:
    """Four hand-made governorates; 'Idleb' is U-shaped so its centroid falls outside it."""
    u_shape = Polygon([(36.0, 35.5), (37.0, 35.5), (37.0, 36.5), (36.8, 36.5), (36.8, 35.7),
                       (36.2, 35.7), (36.2, 36.5), (36.0, 36.5)])
    return gpd.GeoDataFrame(
        {"ADM1_PCODE": ["SY07", "SY02", "SY05", "SY08"],
         "ADM1_EN": ["Idleb", "Aleppo", "Hama", "Al-Hasakeh"]},
        geometry=[u_shape, shapely.box(37.0, 36.0, 38.0, 36.8), shapely.box(36.0, 34.8, 37.5, 35.5),
                  shapely.box(40.0, 36.0, 41.5, 37.2)],
        crs="EPSG:4326",
    )


def plain_resolved(rows: list[tuple]) -> pd.DataFrame:
    """A resolved table by hand: (date, origin code, lon, lat, destination code, lon, lat, n)."""
    df = pd.DataFrame(rows, columns=["date", "origin_code", "origin_lon", "origin_lat",
                                     "destination_code", "destination_lon", "destination_lat",
                                     "individuals"])
    df["date"] = pd.to_datetime(df["date"])
    df["origin_name"] = df["origin_code"] + " town"
    df["destination_name"] = df["destination_code"] + " town"
    df["origin"] = df["origin_code"]
    df["destination"] = df["destination_code"]
    df["families"] = np.nan
    return df


# ------------------------------------------------------------------------------------ readers

def test_matrix_csv_title_rows_blank_cells_unknown_row_and_totals():
    fr = read_flows(MATRIX_CSV)
    rep = fr.report
    assert rep.kind == "matrix" and rep.header_row == 4
    r = fr.records
    # blank cells make no records; the Grand Total row and column are not places
    assert len(r) == 8 and rep.rows_read == 8 and len(fr.quarantine) == 0
    assert not r["origin"].str.contains("Total").any()
    assert not r["destination"].str.contains("Total").any()
    assert cell(r, "Idlib", "Aleppo") == 25000.5  # fractional estimate kept
    assert cell(r, "Unknown", "Idleb") == 120  # read; resolution decides
    assert cell(r, "Hasakah", "Al-Hasakeh") == 75
    assert rep.input_individuals == 1200 + 300 + 25000.5 + 4000 + 800 + 150 + 120 + 75
    assert rep.blank_cells == 5 * 4 - 8 + 0  # the 5x4 place block minus the 8 filled cells
    assert rep.level_hint == 1  # "by governorate" in the title
    # the Grand Total column of the Hasakah row says 80, its cells 75: reported, not trusted
    assert [(m.kind, m.label, m.cell, m.stated, m.computed) for m in rep.total_mismatches] == [
        ("row", "Hasakah", "F9", 80.0, 75.0)]
    assert rep.total_mismatches[0].difference == 5.0
    assert "F9" in rep.total_mismatches[0].describe()
    # the note under the table is not data
    assert set(r["source_row"]) <= set(range(5, 10))
    # the title names one month: the matrix is dated from it, unless a date is given
    assert (r["date"] == pd.Timestamp("2020-02-01")).all()
    assert any("from the title 'February 2020'" in n for n in rep.notes)
    assert (read_flows(MATRIX_CSV, date="2020-03-15").records["date"] == pd.Timestamp("2020-03-15")).all()


def test_matrix_ends_at_a_blank_row_and_rows_below_are_reported(tmp_path):
    p = write(tmp_path, "m.csv", "Origin,A,B\nA,,5\nB,7,\n,,\nSource: 3 partners,2020,\n")
    fr = read_flows(p)
    assert sorted(zip(fr.records["origin"], fr.records["destination"], fr.records["individuals"], strict=False)) == [
        ("A", "B", 5.0), ("B", "A", 7.0)]
    assert fr.report.input_individuals == 12
    assert any("rows under the table not read" in n and "[5]" in n for n in fr.report.notes)


def test_matrix_title_with_a_range_of_months_gives_no_date(tmp_path):
    p = write(tmp_path, "m.csv", "Movements January - March 2020\nOrigin,A,B\nA,,5\nB,7,\n")
    fr = read_flows(p)
    assert fr.records["date"].isna().all() and len(fr.records) == 2


def test_excel_matrix_merged_headers_sheet_detection_and_wrong_column_total():
    fr = read_flows(XLSX)  # the first sheet ("Notes") holds no table: the matrix sheet is found
    rep = fr.report
    assert rep.sheet == "IDP Movements" and rep.kind == "matrix" and rep.header_row == 5
    assert rep.columns["corner"] == "Origin Governorate"  # merged A4:A5, filled from A4
    assert rep.columns["destinations"][:5] == ["Aleppo", "Idleb", "Hama", "Lattakia", "Al-Hasakeh"]
    r = fr.records
    assert len(r) == 13
    assert cell(r, "Idlib", "Aleppo") == 80000.5
    assert cell(r, "Lattakia", "Lattakia") == 40.25
    assert cell(r, "Unknown", "Hama") == 50
    assert r.loc[(r["origin"] == "Idlib") & (r["destination"] == "Aleppo"), "record_id"].item() == "B7"
    mism = [(m.kind, m.label, m.cell, m.stated, m.computed) for m in rep.total_mismatches]
    assert mism == [("column", "Hama", "D12", 900.0, 950.0)]


def test_excel_records_sheet_title_row_code_with_name_fallback():
    fr = read_flows(XLSX, sheet="Records")
    assert fr.report.kind == "records" and fr.report.header_row == 3
    assert fr.report.columns["origin"] == "Origin Community P-code"
    assert fr.report.columns["origin_fallback"] == "Origin Community"
    assert fr.records["origin"].tolist() == ["C4304", "C4309", "Mozra"]  # the missing code: name
    assert fr.records["date"].tolist() == [pd.Timestamp("2020-06-09")] * 2 + [pd.Timestamp("2020-06-10")]
    assert fr.records["families"].iloc[0] == 240 and np.isnan(fr.records["families"].iloc[1])


def test_excel_two_row_merged_header_pivot_subtotals_and_short_months(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "HNAP IDP movements - June 2020"
    ws.merge_cells("A1:F1")
    ws["A3"], ws["B3"], ws["D3"], ws["F3"] = "Month", "Origin", "Destination", "IDP Movements"
    ws.merge_cells("A3:A4")
    ws.merge_cells("B3:C3")
    ws.merge_cells("D3:E3")
    ws.merge_cells("F3:F4")
    for col, v in zip("BCDE", ["Governorate", "Sub-district", "Governorate", "Sub-district"], strict=False):
        ws[f"{col}4"] = v
    ws.append(["Jun-20", "Idleb", "Ariha", "Idleb", "Dana", 1000])
    ws.append(["Jun-20", None, "Saraqab", "Idleb", "Dana", "500"])
    ws.append([None, "Idleb Total", None, None, None, 1500])
    ws.append(["Grand Total", None, None, None, None, 1600])
    p = tmp_path / "hnap.xlsx"
    wb.save(p)
    fr = read_flows(p)
    rep = fr.report
    assert rep.kind == "records" and rep.header_row == 4
    assert rep.columns["origin"] == "Origin Sub-district"
    assert rep.columns["origin_context"] == ["Origin Governorate"]
    assert rep.columns["individuals"] == "IDP Movements"
    assert fr.records["origin"].tolist() == ["Ariha", "Saraqab"]
    assert fr.records["individuals"].tolist() == [1000.0, 500.0]
    assert fr.records["date"].tolist() == [pd.Timestamp("2020-06-01")] * 2
    assert rep.total_rows == ["row 7 (subtotal)", "row 8"]
    assert rep.input_individuals == 1500  # totals are not movements
    [m] = rep.total_mismatches
    assert (m.kind, m.cell, m.stated, m.computed) == ("grand", "F8", 1600.0, 1500.0)


def test_unknown_sheet_lists_the_sheets():
    with pytest.raises(InputError, match="'Notes', 'IDP Movements', 'Records'"):
        read_flows(XLSX, sheet="Feb 2020")


def test_records_column_detection_context_and_quarantine_reasons(tmp_path):
    p = write(tmp_path, "r.csv",
              "Reporting Month,Origin Governorate,Origin Sub-district,Destination Sub-district,"
              "IDP Movements,Households\n"
              '2020-02,Idleb,Ariha,Dana,"1,234",200\n'
              "2020-02,Idleb,Saraqab,Dana,-5,1\n"
              "2020-02,Idleb,Saraqab,Dana,many,1\n"
              "not a date,Idleb,Saraqab,Dana,10,1\n"
              "2020-02,Idleb,,Dana,7,1\n"
              "2020-03,Idleb,Saraqab,Salqin,12.5,\n")
    fr = read_flows(p)
    c = fr.report.columns
    assert (c["origin"], c["destination"], c["individuals"], c["families"], c["date"]) == (
        "Origin Sub-district", "Destination Sub-district", "IDP Movements", "Households",
        "Reporting Month")
    assert c["origin_context"] == ["Origin Governorate"]
    assert fr.records["individuals"].tolist() == [1234.0, 12.5]  # thousands separator read
    assert fr.records["origin_context"].tolist() == ["Idleb", "Idleb"]
    q = fr.quarantine.set_index("source_row")["reason"].to_dict()
    assert q == {3: "negative_individuals", 4: "non_numeric_individuals", 5: "unparseable_date",
                 6: "missing_origin"}
    # rows and individuals conserved: 1234 + 12.5 kept, -5 + 10 + 7 quarantined, 'many' has none
    assert fr.report.rows_read == 6
    assert fr.report.input_individuals == pytest.approx(1234 + 12.5 - 5 + 10 + 7)


def test_records_grand_total_row_checked(tmp_path):
    p = write(tmp_path, "r.csv", "origin,destination,individuals\nA,B,10\nB,C,5\nGrand Total,,16\n")
    fr = read_flows(p)
    assert len(fr.records) == 2 and fr.report.input_individuals == 15
    [m] = fr.report.total_mismatches
    assert (m.kind, m.stated, m.computed, m.cell) == ("grand", 16.0, 15.0, "C4")


def test_no_table_found_is_a_schema_error(tmp_path):
    p = write(tmp_path, "x.csv", "just,some,words\nno,numbers,here\n")
    with pytest.raises(SchemaError, match="neither flow records"):
        read_flows(p)
    with pytest.raises(SchemaError, match="no column named 'From'"):
        read_flows(MATRIX_CSV.parent / "records_names.csv", origin_col="From")


# ------------------------------------------------------------------------------- resolution

def test_name_variants_and_pcodes_against_ocha_places(ocha_places):
    fr = read_flows(RECORDS_CSV)
    res, q = resolve_places(fr, places=ocha_places)
    r = res.records
    by_origin = dict(zip(r["origin"], r["origin_code"], strict=False))
    # transliteration variants of Ma'arrat An Nu'man, all to OCHA's C3985
    for variant in ("Maarat al-Numan", "Ma`arrat an Nu`man", "Ma'arrat An Nu'man"):
        assert by_origin[variant] == "C3985"
    assert by_origin["C4278"] == "C4278"  # a P-code, looked up exactly
    row = r[r["origin"] == "C4278"].iloc[0]
    assert row["origin_name"] == "Ariha" and row["origin_match"] == "pcode"
    assert (row["origin_lon"], row["origin_lat"]) == pytest.approx((36.6103, 35.8141), abs=1e-3)
    assert r.loc[r["destination"] == "C4126", "destination_code"].unique().tolist() == ["C4126"]
    assert r["origin_adm1_pcode"].unique().tolist() == ["SY07"]
    reasons = dict(zip(q["origin"] + ">" + q["destination"], q["reason"], strict=False))
    assert reasons == {"Unknown>Atma": "unknown_place", "Zzyzx Qqq>Atma": "no_match",
                       "Ariha>Dana": "ambiguous_name"}
    dana = q[q["destination"] == "Dana"].iloc[0]
    assert dana["side"] == "destination"
    assert "C3965" in dana["candidates"] and "C4126" in dana["candidates"]  # two Danas in Idleb
    # nothing silently dropped
    assert len(r) + len(q) == res.input_rows == 10
    assert r["individuals"].sum() + q["individuals"].sum() == pytest.approx(res.input_individuals)


def test_governorate_variants_against_ocha_admin1(ocha_adm1):
    fr = read_flows(XLSX)
    res, q = resolve_places(fr, admin=ocha_adm1)
    codes = dict(zip(res.records["origin"], res.records["origin_code"], strict=False))
    assert codes == {"Aleppo": "SY02", "Idlib": "SY07", "Hamah": "SY05", "Lattakia": "SY06",
                     "Hasakah": "SY08"}
    dest = dict(zip(res.records["destination"], res.records["destination_code"], strict=False))
    assert dest["Idleb"] == "SY07" and dest["Al-Hasakeh"] == "SY08"
    assert q["origin"].tolist() == ["Unknown", "Unknown"] and set(q["reason"]) == {"unknown_place"}
    # points are inside their governorate (checked with an independent spatial join)
    pts = gpd.GeoDataFrame(res.records[["origin_code"]],
                           geometry=gpd.points_from_xy(res.records["origin_lon"], res.records["origin_lat"]),
                           crs="EPSG:4326")
    adm1 = gpd.read_file(ocha_adm1)
    joined = gpd.sjoin(pts, adm1[["ADM1_PCODE", "geometry"]], predicate="within")
    assert (joined["origin_code"] == joined["ADM1_PCODE"]).all() and len(joined) == len(pts)


def test_subdistrict_layer_gives_every_level(ocha_adm3):
    recs = pd.DataFrame({"origin": ["SY070500", "Idlib", "SY070500"],
                         "destination": ["SY0705", "SY0705", "C4126"],
                         "individuals": [10.0, 5.0, 2.0]})
    res, q = resolve_places(recs, admin=ocha_adm3, level_hint=1)
    r = res.records
    assert r["origin_code"].tolist() == ["SY070500", "SY07"]
    assert r["origin_level"].tolist() == [3, 1]
    assert r["origin_adm2_pcode"].iloc[0] == "SY0705" and pd.isna(r["origin_adm2_pcode"].iloc[1])
    assert r["origin_adm1_pcode"].tolist() == ["SY07", "SY07"]
    assert r["destination_code"].tolist() == ["SY0705", "SY0705"]  # a district, dissolved from adm3
    # C4126 is a community code: in no admin layer, so quarantined as an unknown P-code
    assert q["reason"].tolist() == ["unknown_pcode"] and q["side"].tolist() == ["destination"]
    # at level 2 the sub-district Ariha falls in the district Ariha: a self-flow
    t = aggregate_flows(res, level=2)
    assert t.self_flows[["code", "individuals"]].values.tolist() == [["SY0705", 10.0]]
    assert t.flows[["origin", "destination", "individuals"]].values.tolist() == [["SY07", "SY0705", 5.0]]


def test_representative_point_never_outside_the_polygon(toy_admin):
    recs = pd.DataFrame({"origin": ["Idlib"], "destination": ["Aleppo"], "individuals": [1.0]})
    res, q = resolve_places(recs, admin=toy_admin)
    assert len(q) == 0
    r = res.records.iloc[0]
    u = toy_admin.geometry.iloc[0]
    assert not u.contains(u.centroid)  # the trap: a centroid would fall outside
    assert u.contains(shapely.Point(r["origin_lon"], r["origin_lat"]))
    assert r["origin_code"] == "SY07" and r["origin_match"] == "fuzzy"


def test_coordinates_columns_and_point_in_polygon_codes(tmp_path, toy_admin):
    p = write(tmp_path, "c.csv",
              "date,origin_lon,origin_lat,destination_lon,destination_lat,individuals\n"
              "2020-01-01,36.1,36.0,37.5,36.4,100\n"
              "2020-01-01,36.1,36.0,200,36.4,7\n")
    fr = read_flows(p)
    res, q = resolve_places(fr, admin=toy_admin)
    r = res.records.iloc[0]
    assert r["origin_match"] == "coordinates" and r["origin_code"] == "36.1,36.0"
    assert r["origin_adm1_pcode"] == "SY07" and r["destination_adm1_pcode"] == "SY02"
    assert q["reason"].tolist() == ["coordinate_out_of_range"]
    t = aggregate_flows(res, level=1)
    assert t.flows[["origin", "destination", "individuals"]].values.tolist() == [["SY07", "SY02", 100.0]]


def test_names_without_a_gazetteer_are_quarantined_not_dropped():
    recs = pd.DataFrame({"origin": ["Ariha"], "destination": ["Dana"], "individuals": [3.0]})
    res, q = resolve_places(recs)
    assert len(res) == 0 and q["reason"].tolist() == ["no_gazetteer"]


# ------------------------------------------------------------------------------ aggregation

def test_totals_conserved_matrix_self_flows_and_quarantine(toy_admin):
    fr = read_flows(MATRIX_CSV)
    res, q = resolve_places(fr, admin=toy_admin)
    t = aggregate_flows(res)
    rep = t.report
    # by hand from the matrix: diagonal (Aleppo 1200, Idlib 4000, Hama 150, Hasakah 75) = 5425;
    # Unknown 120 quarantined; the rest drawn
    assert rep.input_individuals == 31645.5
    assert rep.self_flows == 5425 and rep.self_flow_units == 4
    assert rep.quarantined == 120 and rep.quarantined_rows == 1
    assert rep.drawn == 300 + 25000.5 + 800 and rep.flows_drawn == 3
    assert rep.drawn + rep.self_flows + rep.quarantined == rep.input_individuals
    assert q["origin"].tolist() == ["Unknown"] and q["reason"].tolist() == ["unknown_place"]
    assert rep.total_mismatches[0]["label"] == "Hasakah"
    # totals out/in per unit (flows between distinct units; the self column apart)
    tot = t.totals.set_index("code")
    assert tot.loc["SY07", "out_individuals"] == 25000.5
    assert tot.loc["SY07", "in_individuals"] == 300 + 800
    assert tot.loc["SY07", "self_individuals"] == 4000
    assert tot.loc["SY02", "net_in"] == 25000.5 - 300
    assert t.flows["share"].sum() == pytest.approx(1.0)
    assert t.flows.iloc[0][["origin", "destination"]].tolist() == ["SY07", "SY02"]


def test_min_top_and_net_are_counted_not_lost():
    a, b, c = ("A", 36.0, 35.0), ("B", 36.5, 35.5), ("C", 37.0, 36.0)
    rows = [("2020-01-05", *a, *b, 100), ("2020-01-06", *b, *a, 30), ("2020-01-07", *a, *c, 50),
            ("2020-01-08", *c, *b, 5), ("2020-02-01", *a, *b, 40)]
    df = plain_resolved(rows)
    t = aggregate_flows(df, period="month", min_individuals=10, top=1)
    rep = t.report
    assert t.flows[["period", "origin", "destination", "individuals"]].values.tolist() == [
        ["2020-01", "A", "B", 100.0], ["2020-02", "A", "B", 40.0]]
    assert rep.below_min == 5 and rep.flows_below_min == 1
    assert rep.top_cut == 50 + 30 and rep.flows_top_cut == 2
    assert rep.drawn + rep.below_min + rep.top_cut == 225
    # share: of all movements between distinct units in the period, before the cuts
    assert t.flows["share"].tolist() == pytest.approx([100 / 185, 1.0])
    n = aggregate_flows(df, period="month", net=True)
    got = n.flows[["period", "origin", "destination", "individuals"]].values.tolist()
    assert ["2020-01", "A", "B", 70.0] in got and not any(r[1] == "B" and r[2] == "A" for r in got)
    assert n.report.netted == 60  # 30 each way cancelled
    assert n.report.drawn + n.report.netted == 225


def test_two_places_at_one_point_are_a_self_flow():
    df = plain_resolved([("2020-01-01", "A", 36.0, 35.0, "A2", 36.0, 35.0, 4),
                         ("2020-01-01", "A", 36.0, 35.0, "B", 36.3, 35.2, 6)])
    t = aggregate_flows(df)
    assert t.report.self_flows == 4 and t.report.drawn == 6 and len(t.flows) == 1


def test_accounting_invariant_is_asserted():
    rep = FlowReport(input_individuals=10, drawn=4, self_flows=3, quarantined=2)
    with pytest.raises(AssertionError, match="accounting"):
        rep.check()


def test_level_aggregation_turns_internal_moves_into_self_flows(toy_admin):
    recs = pd.DataFrame({
        "origin": ["36.1,36.2", "36.1,36.2"], "destination": ["36.9,36.3", "37.5,36.4"],
        "origin_lon": [36.1, 36.1], "origin_lat": [36.2, 36.2],
        "destination_lon": [36.9, 37.5], "destination_lat": [36.3, 36.4],
        "individuals": [8.0, 2.0]})
    res, q = resolve_places(recs, admin=toy_admin)
    t = aggregate_flows(res, level=1)
    # both arms of the U are Idleb: the first move stays inside one unit
    assert t.self_flows[["code", "individuals"]].values.tolist() == [["SY07", 8.0]]
    assert t.flows[["origin", "destination", "individuals"]].values.tolist() == [["SY07", "SY02", 2.0]]
    lon, lat = t.flows.iloc[0][["origin_lon", "origin_lat"]]
    assert toy_admin.geometry.iloc[0].contains(shapely.Point(lon, lat))
    with pytest.raises(InputError, match="admin level 3"):
        aggregate_flows(res, level=3)


# --------------------------------------------------------------------------------- geometry

def _flows_ab() -> pd.DataFrame:
    a, b = ("A", 36.6339, 35.9306), ("B", 36.7697, 36.2137)  # Idleb city -> Dana
    df = plain_resolved([("2020-01-01", *a, *b, 300), ("2020-01-01", *b, *a, 100)])
    return aggregate_flows(df).flows


def test_arcs_start_and_end_exactly_on_the_places_and_bend_right():
    f = _flows_ab()
    arcs = flow_arcs(f, bend=0.2, crs="EPSG:32637")
    assert arcs.crs.to_epsg() == 4326
    assert arcs["individuals"].tolist() == [100.0, 300.0]  # largest last: drawn on top
    for _, row in arcs.iterrows():
        src = f[(f["origin"] == row["origin"]) & (f["destination"] == row["destination"])].iloc[0]
        coords = np.asarray(row.geometry.coords)
        assert tuple(coords[0]) == (src["origin_lon"], src["origin_lat"])
        assert tuple(coords[-1]) == (src["destination_lon"], src["destination_lat"])
    # independent check in UTM 37N: the arc's middle lies bend/2 x chord to the right of travel
    tr = Transformer.from_crs(4326, 32637, always_xy=True)
    for _, row in arcs.iterrows():
        c = np.asarray(row.geometry.coords)
        x, y = tr.transform(c[:, 0], c[:, 1])
        p0, p1, mid = np.array([x[0], y[0]]), np.array([x[-1], y[-1]]), np.array([x[len(x) // 2], y[len(y) // 2]])
        d = p1 - p0
        off = mid - (p0 + p1) / 2
        cross = d[0] * off[1] - d[1] * off[0]
        assert cross < 0  # right of travel
        assert np.hypot(*off) == pytest.approx(0.5 * 0.2 * np.hypot(*d), rel=1e-6)


def test_a_to_b_and_b_to_a_do_not_overlap():
    arcs = flow_arcs(_flows_ab(), bend=0.2)
    ab, ba = arcs.geometry.iloc[0], arcs.geometry.iloc[1]
    inter = ab.intersection(ba)
    # they meet only at the two shared end points
    assert inter.geom_type == "MultiPoint" and len(inter.geoms) == 2
    geod = Geod(ellps="WGS84")
    ma, mb = ab.interpolate(0.5, normalized=True), ba.interpolate(0.5, normalized=True)
    chord = geod.inv(36.6339, 35.9306, 36.7697, 36.2137)[2]
    gap = geod.inv(ma.x, ma.y, mb.x, mb.y)[2]
    assert gap == pytest.approx(0.2 * chord, rel=0.02)  # each bulges bend/2 x chord, opposite sides


def test_bend_grows_with_length():
    o = ("O", 36.0, 35.0)
    df = plain_resolved([("2020-01-01", *o, "N", 36.0, 35.2, 1), ("2020-01-01", *o, "F", 36.0, 35.8, 1)])
    arcs = flow_arcs(aggregate_flows(df).flows, bend=0.25)
    geod = Geod(ellps="WGS84")
    offsets = {}
    for _, row in arcs.iterrows():
        c = np.asarray(row.geometry.coords)
        chord_mid_lon, chord_mid_lat = (c[0] + c[-1]) / 2
        m = c[len(c) // 2]
        offsets[row["destination"]] = (geod.inv(chord_mid_lon, chord_mid_lat, m[0], m[1])[2],
                                       geod.inv(*c[0], *c[-1])[2])
    (off_n, len_n), (off_f, len_f) = offsets["N"], offsets["F"]
    assert off_f / off_n == pytest.approx(len_f / len_n, rel=0.01)
    assert off_n == pytest.approx(0.125 * len_n, rel=0.01)


def test_arrowhead_tip_is_the_destination():
    f = _flows_ab()
    arcs = flow_arcs(f)
    heads = arrowheads(arcs)
    assert len(heads) == 2 and (heads.geometry.geom_type == "Polygon").all()
    assert heads.geometry.is_valid.all()
    for (_, arc), head in zip(arcs.iterrows(), heads.geometry, strict=False):
        dest = arc.geometry.coords[-1]
        origin = arc.geometry.coords[0]
        assert dest in list(head.exterior.coords)  # exactly, not nearly
        c = head.centroid
        assert math.dist((c.x, c.y), dest) < math.dist((c.x, c.y), origin)
        assert head.distance(shapely.Point(origin)) > 0  # the head sits at the destination end
    assert heads[["origin", "destination", "individuals"]].values.tolist() == \
        arcs[["origin", "destination", "individuals"]].values.tolist()
    # wider flows get wider heads
    assert heads.geometry.iloc[1].area > heads.geometry.iloc[0].area * 0.9


def test_width_scale_grows_with_the_square_root_of_volume():
    sc = width_scale([100, 400, 2000], min_width=1, max_width=10)
    assert sc["max_value"] == 2000 and sc["unit"] == "px" and sc["method"] == "sqrt"
    arcs = flow_arcs(plain_resolved([
        ("2020-01-01", "A", 36.0, 35.0, "B", 36.5, 35.5, 100),
        ("2020-01-01", "A", 36.0, 35.0, "C", 37.0, 35.5, 400),
        ("2020-01-01", "A", 36.0, 35.0, "D", 36.0, 36.0, 2000)]).pipe(lambda d: aggregate_flows(d).flows),
        scale=sc)
    expected = [1 + 9 * math.sqrt(v / 2000) for v in (100, 400, 2000)]
    assert arcs["width"].tolist() == pytest.approx(expected)
    assert [e["value"] for e in sc["legend"]] == [2000, 500, 50]
    assert sc["legend"][1]["width"] == pytest.approx(1 + 9 * 0.5)


def test_empty_flows_give_empty_layers():
    df = plain_resolved([("2020-01-01", "A", 36.0, 35.0, "A", 36.0, 35.0, 9)])
    t = aggregate_flows(df)
    assert len(t.flows) == 0 and t.report.self_flows == 9
    arcs = flow_arcs(t)
    assert len(arcs) == 0 and len(arrowheads(arcs)) == 0


def test_resolved_flows_type():
    res, _ = resolve_places(pd.DataFrame({"origin": ["A"], "destination": ["B"], "individuals": [1.0],
                                          "origin_lon": [36.0], "origin_lat": [35.0],
                                          "destination_lon": [36.2], "destination_lat": [35.1]}))
    assert isinstance(res, ResolvedFlows) and len(res) == 1


def test_build_flows_reads_each_input_of_any_sequence(tmp_path, toy_admin):
    """One input or a sequence of them: a list, a tuple or another Sequence (a UserList here was
    taken as one path before)."""
    a = write(tmp_path, "a.csv", "date,origin,destination,individuals\n2020-02-03,Idleb,Aleppo,100\n")
    b = write(tmp_path, "b.csv", "date,origin,destination,individuals\n2020-02-04,Hama,Aleppo,40\n")
    assert build_flows(UserList([a, b]), admin=toy_admin).arcs["individuals"].sum() == 140
    assert build_flows(str(a), admin=toy_admin).arcs["individuals"].sum() == 100
