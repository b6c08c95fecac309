"""Incidents in spreadsheets, read as they come (geoconflict/_sheets.py).

Analysts keep their own logs of strikes in Excel, with a title above the table, a notes sheet
beside it, dates typed as dates or as text; ACLED and UCDP offer Excel downloads.  A sheet reads
into exactly what the same table exported as CSV reads into.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from geoconflict._sheets import cell_text, find_header
from geoconflict.cli.main import cli
from geoconflict.errors import InputError, SchemaError, SizeLimitError
from geoconflict.incidents import read_incidents

DATA = Path(__file__).parent / "data" / "incidents"
PAYLOAD = "{{7*7}} <script>window.__xss=1</script> ${x} '\"; DROP"


def _acled_frame() -> pd.DataFrame:
    """The ACLED sample as a spreadsheet holds it: numbers as numbers, dates as dates."""
    df = pd.read_csv(DATA / "acled_2023.csv", keep_default_na=False, na_values=[""])
    df["event_date"] = pd.to_datetime(df["event_date"], format="ISO8601")
    return df


def _strike_log(path: Path, *, notes_sheet: bool = True, second_data_sheet: bool = False) -> Path:
    """An analyst's own log: a title, a blank row, then the table; a notes sheet beside it."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Strikes"
    ws.append(["Airstrikes, Jabal al-Zawiya, March 2020 (compiled from field reports)"])
    ws.append([])
    ws.append(["Date", "Location", "Latitude", "Longitude", "Fatalities", "Notes"])
    ws.append([dt.datetime(2020, 3, 7), "Kansafra", 35.6412, 36.5601, 3, PAYLOAD])
    ws.append(["08/03/2020", "Al-Bara", "35.68", 36.54, None, "text date, text latitude"])
    ws.append([])  # a blank row inside the table
    ws.append([dt.date(2020, 3, 9), "Ariha", 35.8141, 36.6103, 0.0, None])
    ws.append([dt.datetime(2020, 3, 10, 14, 30), "Sarmin", None, None, 1, "no coordinates yet"])
    if notes_sheet:
        notes = wb.create_sheet("Read me")
        for line in ("Sources: field team", "Coordinates from OCHA places", "Do not share"):
            notes.append([line])
    if second_data_sheet:
        other = wb.create_sheet("Shelling")
        other.append(["Date", "Location", "Latitude", "Longitude"])
        other.append([dt.date(2020, 3, 8), "Qastun", 35.6857, 36.3893])
    wb.save(path)
    return path


def test_cells_are_written_as_a_csv_export_writes_them() -> None:
    assert cell_text(35.8141) == "35.8141" and cell_text(3.0) == "3" and cell_text(-0.5) == "-0.5"
    assert cell_text(1592000000.0) == "1592000000" and cell_text(1e20) == "1e+20"
    assert cell_text(dt.datetime(2020, 3, 6)) == "2020-03-06"
    assert cell_text(dt.datetime(2020, 3, 6, 0, 1)) == "2020-03-06 00:01:00"
    assert cell_text(dt.date(2020, 3, 6)) == "2020-03-06" and cell_text(dt.time(0, 1)) == "00:01:00"
    assert cell_text(True) == "TRUE" and cell_text(None) == "" and cell_text(PAYLOAD) == PAYLOAD
    assert cell_text(1e15) == "1000000000000000" and cell_text(2.0**53) == "9007199254740992.0"
    assert cell_text(dt.timedelta(days=1, hours=2, minutes=5)) == "26:05:00"


def test_the_header_is_found_under_titles_and_blank_rows() -> None:
    rows = [["Title of the log", "", ""], ["", "", ""], ["a", "b", "c"], [1, 2, 3]]
    assert find_header(rows) == 2
    assert find_header([["only one cell"], ["another"]]) is None
    assert find_header([["x", "y", ""], [1, 2, 3]]) == 0  # two of three filled is a header
    # a two-cell note, or a group header, over a narrow table is not the header
    note = [["Strike log"], ["Compiled by:", "J. Smith"], ["date", "latitude", "longitude", "location"],
            ["2020-03-07", 35.6, 36.5, "Kansafra"]]
    assert find_header(note) == 2
    group = [["Where", "", "When", ""], ["lat", "lon", "date", "time"], [35.6, 36.5, "2020-03-07", "10:00"]]
    assert find_header(group) == 1
    # a header with a blank name over full data rows stays the header
    assert find_header([["date", "", "lat", "lon", "place", "notes"], [1, 2, 3, 4, 5, 6]]) == 0


def _write_xls(df: pd.DataFrame, path: Path) -> None:
    """Excel 97-2003 (.xls), as older exports and many offices still save."""
    import xlwt

    wb = xlwt.Workbook()
    ws = wb.add_sheet("Data")
    when = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM")
    for j, name in enumerate(df.columns):
        ws.write(0, j, name)
    for i, row in enumerate(df.itertuples(index=False), start=1):
        for j, v in enumerate(row):
            if isinstance(v, pd.Timestamp):
                ws.write(i, j, v.to_pydatetime(), when)
            elif not (isinstance(v, float) and v != v):
                ws.write(i, j, v.item() if hasattr(v, "item") else v)
    wb.save(str(path))


@pytest.mark.parametrize("ext", [".xlsx", ".ods", ".xls"])
def test_an_acled_export_in_a_workbook_reads_as_its_csv(tmp_path: Path, ext: str) -> None:
    book = tmp_path / f"acled_syria_2020{ext}"
    if ext == ".xls":
        _write_xls(_acled_frame(), book)
    else:
        _acled_frame().to_excel(book, sheet_name="Data", index=False,
                                engine="odf" if ext == ".ods" else "openpyxl")
    from_sheet, from_csv = read_incidents(book), read_incidents(DATA / "acled_2023.csv")
    assert from_sheet.report.source_format == from_csv.report.source_format == "acled"
    pd.testing.assert_frame_equal(from_sheet.incidents, from_csv.incidents)
    assert from_sheet.report.sheet == "Data" and from_sheet.report.header_row == 1


def test_an_analysts_log_every_row_accounted_for(tmp_path: Path) -> None:
    result = read_incidents(_strike_log(tmp_path / "log.xlsx"))
    inc, q, rep = result.incidents, result.quarantine, result.report
    assert rep.sheet == "Strikes" and rep.header_row == 3
    assert rep.rows_read == 4 == rep.accepted + rep.quarantined  # the blank row is not a row
    assert inc["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-03-07", "2020-03-08", "2020-03-09"]
    assert inc["location"].tolist() == ["Kansafra", "Al-Bara", "Ariha"]
    assert inc["notes"].iloc[0] == PAYLOAD  # text stays text
    assert inc.geometry.y.round(4).tolist() == [35.6412, 35.68, 35.8141]
    # the row without coordinates: quarantined with its row, counted as in a CSV (under the header)
    assert q["reason"].tolist() == ["missing_coordinate"]
    assert q["source_row"].tolist() == [5]  # sheet row 8 = 5 + the header's row 3
    assert "row N is its row N+3" in rep.summary()


def test_several_sheets_with_data_are_named_and_one_is_chosen(tmp_path: Path, cli_runner) -> None:
    book = _strike_log(tmp_path / "log.xlsx", second_data_sheet=True)
    with pytest.raises(InputError) as err:
        read_incidents(book)
    assert "'Strikes' (4 rows)" in str(err.value) and "'Shelling' (1 rows)" in str(err.value)
    assert "Read me" not in str(err.value) and "--sheet" in str(err.value)
    assert read_incidents(book, sheet="Shelling").incidents["location"].tolist() == ["Qastun"]
    with pytest.raises(InputError, match="--sheet applies to workbooks"):
        read_incidents(DATA / "acled_2023.csv", sheet="Strikes")
    with pytest.raises(InputError, match="no sheet named 'Airstrikes'"):
        read_incidents(book, sheet="Airstrikes")
    out = tmp_path / "strikes.geojson"
    res = cli_runner.invoke(cli, ["ingest", str(book), "-o", str(out)])
    assert res.exit_code == 2 and "Traceback" not in res.output and not out.exists()
    res = cli_runner.invoke(cli, ["ingest", str(book), "--sheet", "Strikes", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "sheet 'Strikes'" in res.output
    assert len(gpd.read_file(out)) == 3


def test_a_sheet_without_a_table_is_refused(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["just a title"])
    wb.active.append(["and a line"])
    wb.save(tmp_path / "empty.xlsx")
    with pytest.raises(InputError, match="no sheet with a header"):
        read_incidents(tmp_path / "empty.xlsx")
    with pytest.raises(SchemaError, match="no header row"):
        read_incidents(tmp_path / "empty.xlsx", sheet="Sheet")
    wb = openpyxl.Workbook()
    wb.active.append(["Date", "Latitude", "Longitude"])
    wb.save(tmp_path / "header_only.xlsx")
    with pytest.raises(InputError, match="no sheet with a header"):
        read_incidents(tmp_path / "header_only.xlsx")


def test_a_workbook_past_the_size_limit_is_refused_before_it_is_unpacked(tmp_path: Path, monkeypatch) -> None:
    book = _strike_log(tmp_path / "log.xlsx")
    monkeypatch.setenv("GEOCONFLICT_MAX_INPUT_MB", "0.001")
    with pytest.raises(SizeLimitError, match="unpacks to"):
        read_incidents(book)


def test_join_and_grid_read_the_sheet_too(tmp_path: Path, cli_runner) -> None:
    book = _strike_log(tmp_path / "log.xlsx")
    admin = Path(__file__).parent.parent / "boundaries" / "idlib2020_admin2.geojson"
    out = tmp_path / "joined.geojson"
    res = cli_runner.invoke(cli, ["join", str(book), "--admin", str(admin), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert gpd.read_file(out)["ADM2_PCODE"].notna().sum() == 3


def test_hidden_sheets_case_and_blank_names(tmp_path: Path) -> None:
    book = _strike_log(tmp_path / "log.xlsx", notes_sheet=False)
    wb = openpyxl.load_workbook(book)
    lists = wb.create_sheet("Lists")  # a hidden sheet of drop-down values, as templates have
    lists.append(["type", "actor"])
    lists.append(["Air/drone strike", "Military Forces of Russia"])
    lists.sheet_state = "hidden"
    wb["Strikes"]["G3"] = None
    wb["Strikes"]["G4"] = "unnamed column"  # data under a blank header cell, in column G
    wb.save(book)
    result = read_incidents(book)  # the hidden sheet does not count
    assert result.report.sheet == "Strikes"
    assert result.incidents["column_7"].iloc[0] == "unnamed column"  # named by its sheet column
    assert read_incidents(book, sheet="strikes").report.sheet == "Strikes"  # Excel's names ignore case


def test_a_stray_far_cell_is_refused_before_it_fills_memory(tmp_path: Path) -> None:
    book = _strike_log(tmp_path / "log.xlsx", notes_sheet=False)
    wb = openpyxl.load_workbook(book)
    wb["Strikes"]["CV200000"] = "x"  # 100 columns x 200,000 rows once the grid is filled in
    wb.save(book)
    with pytest.raises(SizeLimitError, match="stray cell"):
        read_incidents(book)


def test_a_password_protected_workbook_is_named_so(tmp_path: Path, cli_runner) -> None:
    book = tmp_path / "log.xlsx"  # an encrypted .xlsx is an OLE container, not a zip
    book.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088))
    res = cli_runner.invoke(cli, ["ingest", str(book), "-o", str(tmp_path / "x.geojson")])
    assert res.exit_code == 2 and "password-protected" in res.output and "Traceback" not in res.output


def test_pictures_in_a_workbook_do_not_count_against_the_size_limit(tmp_path: Path, monkeypatch) -> None:
    import zipfile

    book = _strike_log(tmp_path / "log.xlsx")
    with zipfile.ZipFile(book, "a") as zf:
        zf.writestr("xl/media/image1.png", bytes(3_000_000))  # a 3 MB photo of the site
    monkeypatch.setenv("GEOCONFLICT_MAX_INPUT_MB", "1")
    assert read_incidents(book).report.accepted == 3


def test_a_sheet_wider_than_the_column_limit_is_refused(tmp_path: Path, monkeypatch) -> None:
    book = _strike_log(tmp_path / "log.xlsx")  # six columns
    monkeypatch.setenv("GEOCONFLICT_MAX_COLUMNS", "5")
    with pytest.raises(SizeLimitError, match="6 columns wide, over the limit of 5"):
        read_incidents(book)
    monkeypatch.setenv("GEOCONFLICT_MAX_COLUMNS", "6")
    assert read_incidents(book).report.accepted == 3
