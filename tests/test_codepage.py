"""A Shapefile's code page: declared (.cpg, .dbf header), UTF-8 without a word, or refused.

Shapefiles come from Arabic Windows machines in Windows-1256 without their .cpg; GDAL then reads
them as ISO-8859-1 ("ÅÏáÈ" for "إدلب") without a word.  geoconflict reads UTF-8 text as UTF-8,
takes a declared code page as GDAL does, and refuses the rest until --encoding names one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geoconflict import io
from geoconflict._codepage import check_encoding, cpg_encoding, scan_dbf
from geoconflict.cli.main import cli
from geoconflict.errors import InputError

HERE = Path(__file__).parent
BAD = HERE / "data" / "bad"
SHARED_ADM3 = HERE.parent.parent / "shared" / "data" / "syria-cod" / "syr_adm3_ocha_20201217.geojson"
PAYLOAD = "{{7*7}} <script>window.__xss=1</script> ${x} '\"; DROP"
NAMES = ["إدلب", "جسر الشغور", "Ma'arrat an-Nu'man é", PAYLOAD]


def _layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": NAMES, "pcode": ["SY0700", "SY0703", "SY0702", "SY0000"], "pop": [1, 2, 3, 4]},
        geometry=[shapely.Point(36.63 + i / 10, 35.93) for i in range(4)], crs=4326)


def _shapefile(folder: Path, *, encoding: str, cpg: bool, ldid: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "adm.shp"
    _layer().to_file(path, engine="pyogrio", encoding=encoding)
    if not cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
    if ldid is not None:
        dbf = path.with_suffix(".dbf")
        data = bytearray(dbf.read_bytes())
        data[29] = ldid
        dbf.write_bytes(bytes(data))
    return path


def _zip(path: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for part in sorted(path.parent.glob(path.stem + ".*")):
            zf.write(part, part.name)
    return out


def test_utf8_without_cpg_reads_as_utf8_both_ways(tmp_path: Path) -> None:
    """QGIS and current tools write UTF-8; without a .cpg GDAL alone would read it as Latin-1."""
    path = _shapefile(tmp_path, encoding="UTF-8", cpg=False)
    assert gpd.read_file(path)["name"].iloc[0] != NAMES[0]  # GDAL's own guess: mojibake
    assert io.read_layer(path)["name"].tolist() == NAMES


def test_legacy_code_page_without_cpg_is_refused_with_the_readings_and_the_fix(tmp_path: Path) -> None:
    path = _shapefile(tmp_path, encoding="cp1256", cpg=False)
    with pytest.raises(InputError) as err:
        io.read_layer(path)
    e = err.value
    assert e.path == str(path) and e.feature == 1 and e.column == "name"
    text = str(e)
    assert "'إدلب' as cp1256" in text and "'ÅÏáÈ' as cp1252" in text  # what each choice gives
    assert "--encoding" in text and "encoding=" in text and ".cpg" in text


@pytest.mark.parametrize("how", ["keyword", "block"])
def test_the_code_page_given_reads_the_names_right(tmp_path: Path, how: str) -> None:
    path = _shapefile(tmp_path, encoding="cp1256", cpg=False)
    if how == "keyword":
        got = io.read_layer(path, encoding="windows-1256")  # any of Python's names for it
    else:
        with io.shapefile_encoding("cp1256"):
            got = io.read_layer(path)
        with pytest.raises(InputError):
            io.read_layer(path)  # the block ended: refused again
    assert got["name"].tolist() == NAMES
    assert got["pop"].tolist() == [1, 2, 3, 4]


def test_a_declared_code_page_wins_over_the_one_given(tmp_path: Path) -> None:
    """One --encoding serves a command reading several files: a file's own .cpg is kept."""
    path = _shapefile(tmp_path, encoding="cp1256", cpg=True)
    assert io.read_layer(path)["name"].tolist() == NAMES
    assert io.read_layer(path, encoding="cp1251")["name"].tolist() == NAMES


def test_the_dbf_header_code_page_counts_as_declared_but_ansi_does_not(tmp_path: Path) -> None:
    cyrillic = ["Харків", "Донецьк", "Ізюм", "x"]
    declared = tmp_path / "a" / "ua.shp"
    declared.parent.mkdir()
    _layer().assign(name=cyrillic).to_file(declared, engine="pyogrio", encoding="cp1251")
    declared.with_suffix(".cpg").unlink()
    dbf = declared.with_suffix(".dbf")
    dbf.write_bytes(dbf.read_bytes()[:29] + bytes([201]) + dbf.read_bytes()[30:])  # LDID 201: cp1251
    assert io.read_layer(declared)["name"].tolist() == cyrillic
    assert io.read_layer(declared, encoding="cp1256")["name"].tolist() == cyrillic  # declared wins
    ansi = _shapefile(tmp_path / "b", encoding="cp1256", cpg=False, ldid=87)  # "the writer's ANSI"
    with pytest.raises(InputError, match="not UTF-8"):
        io.read_layer(ansi)
    assert io.read_layer(ansi, encoding="cp1256")["name"].tolist() == NAMES
    unknown = _shapefile(tmp_path / "c", encoding="cp1256", cpg=False, ldid=0x7E)  # GDAL: no such LDID
    with pytest.raises(InputError, match="not UTF-8"):
        io.read_layer(unknown)


def test_the_declaring_ldids_are_those_gdal_maps(tmp_path: Path) -> None:
    """DECLARING_LDID is GDAL's own table (less 87): GDAL recodes for these and no others."""
    import pyogrio

    from geoconflict._codepage import DECLARING_LDID

    path = _shapefile(tmp_path, encoding="cp1256", cpg=False)
    dbf = path.with_suffix(".dbf")
    data = dbf.read_bytes()
    recoded = set()
    for ldid in range(256):
        dbf.write_bytes(data[:29] + bytes([ldid]) + data[30:])
        if pyogrio.read_info(path)["encoding"] == "UTF-8":  # GDAL recodes from a code page it knows
            recoded.add(ldid)
    assert recoded - {87} == DECLARING_LDID and 87 in recoded


def test_a_zipped_shapefile_as_downloaded(tmp_path: Path) -> None:
    path = _shapefile(tmp_path / "shp", encoding="cp1256", cpg=False)
    z = _zip(path, tmp_path / "syr_adm_shp.zip")
    with pytest.raises(InputError) as err:
        io.read_layer(z)
    assert "syr_adm_shp.zip/adm.dbf" in str(err.value)
    assert io.read_layer(z, encoding="cp1256")["name"].tolist() == NAMES
    with_cpg = _zip(_shapefile(tmp_path / "shp2", encoding="cp1256", cpg=True), tmp_path / "b.zip")
    assert io.read_layer(with_cpg)["name"].tolist() == NAMES


def test_ascii_text_needs_no_code_page(tmp_path: Path) -> None:
    path = tmp_path / "ascii.shp"
    _layer().assign(name=["Idleb", "Jisr", "Maarrat", "x"]).to_file(path, engine="pyogrio")
    path.with_suffix(".cpg").unlink()
    assert io.read_layer(path)["name"].tolist() == ["Idleb", "Jisr", "Maarrat", "x"]


def _dbf(fields: list[tuple[bytes, str, int, int]], records: list[list[bytes]], *, ldid: int = 0,
         deleted: tuple[int, ...] = ()) -> bytes:
    """A dBASE III file by hand: fields as (name, type, byte 16 width, byte 17), values as bytes."""
    header_len = 32 + 32 * len(fields) + 1
    record_len = 1 + sum(f[2] for f in fields)
    head = bytearray(32)
    head[0] = 3
    head[4:8] = len(records).to_bytes(4, "little")
    head[8:10] = header_len.to_bytes(2, "little")
    head[10:12] = record_len.to_bytes(2, "little")
    head[29] = ldid
    out = bytes(head)
    for name, ftype, width, b17 in fields:
        desc = bytearray(32)
        desc[:len(name)] = name
        desc[11] = ord(ftype)
        desc[16], desc[17] = width, b17
        out += bytes(desc)
    rows = [(b"*" if i in deleted else b" ")
            + b"".join(v[:width].ljust(width, b" ") for (_, _, width, _), v in zip(fields, values, strict=True))
            for i, values in enumerate(records)]
    return out + b"\r" + b"".join(rows) + b"\x1a"


def test_the_scan_reads_fields_records_and_deleted_records(tmp_path: Path) -> None:
    path = _shapefile(tmp_path, encoding="cp1256", cpg=False)
    data = path.with_suffix(".dbf").read_bytes()
    scan = scan_dbf(data)
    assert scan.ldid == 0 and scan.non_ascii
    assert scan.first_bad == (1, "name", "إدلب".encode("cp1256"))
    # records 1 and 2 deleted (as an editor leaves them): the first live bad value is record 3's é
    header_len, record_len = int.from_bytes(data[8:10], "little"), int.from_bytes(data[10:12], "little")
    edited = bytearray(data)
    for r in (0, 1):
        edited[header_len + r * record_len] = ord("*")
    scan = scan_dbf(bytes(edited))
    assert scan.first_bad is not None and scan.first_bad[0] == 3
    assert scan_dbf(b"").first_bad is None


def test_the_scan_delimits_values_as_gdal_does() -> None:
    arabic = "إدلب".encode("cp1256")
    # a date field whose byte 17 is set (some writers do): GDAL's width is byte 16 alone, so the
    # text field after it is still found and checked
    data = _dbf([(b"WHEN", "D", 8, 2), (b"NAME", "C", 20, 0)], [[b"20200306", arabic]])
    assert scan_dbf(data).first_bad == (1, "NAME", arabic)
    data = _dbf([(b"NAME", "C", 20, 1)], [[arabic]])
    assert scan_dbf(data).first_bad == (1, "NAME", arabic)
    # what follows a NUL is not read by GDAL, so not judged
    data = _dbf([(b"NAME", "C", 12, 0)], [[b"Idleb\x00" + arabic]])
    scan = scan_dbf(data)
    assert scan.first_bad is None and not scan.non_ascii
    # UTF-8 cut in the middle of a letter at the field's full width (a writer that truncated
    # bytes) is still UTF-8; the same cut before the end is not
    cut = "Idlebإدلب".encode()[:10]
    assert scan_dbf(_dbf([(b"NAME", "C", 10, 0)], [[cut]])).first_bad is None
    assert scan_dbf(_dbf([(b"NAME", "C", 12, 0)], [[cut]])).first_bad is not None
    # deleted records and zero records; a header claiming more records than the file holds
    assert scan_dbf(_dbf([(b"NAME", "C", 10, 0)], [[arabic], [b"x"]], deleted=(0,))).first_bad is None
    assert scan_dbf(_dbf([(b"NAME", "C", 10, 0)], [])).first_bad is None
    short = _dbf([(b"NAME", "C", 10, 0)], [[b"ok"], [arabic]])[:-12]
    assert scan_dbf(short).first_bad is None


def test_the_scan_is_fast_on_valid_utf8() -> None:
    """Every value at once first: per value only when that fails (200k Arabic names)."""
    names = ["إدلب الغربية".encode(), "جسر الشغور".encode()] * 100_000
    data = _dbf([(b"ADM3_AR", "C", 40, 0), (b"ADM2_AR", "C", 40, 0)], [[n, n] for n in names])
    scan = scan_dbf(data)
    assert scan.non_ascii and scan.first_bad is None


@pytest.mark.parametrize(("text", "want"), [
    ("CP1256", "cp1256"), ("1256", "cp1256"), ("\ufeff1256\r\n", "cp1256"), ("ANSI 1256", "cp1256"),
    ("UTF-8", "utf-8"), ("utf8", "utf-8"), ("65001", "utf-8"), ("ISO-8859-6", "iso8859-6"),
    ("8859-6", "iso8859-6"), ("88591", None), ("OEM", None), ("System", None), ("", None), ("\n", None),
    ("UTF-16", None),
])
def test_cpg_contents_read_leniently(text: str, want: str | None) -> None:
    assert cpg_encoding(text) == want


@pytest.mark.parametrize("cpg", ["\ufeff1256", "ANSI 1256", "1256\r\n"])
def test_a_cpg_gdal_cannot_read_is_still_the_files_code_page(tmp_path: Path, cpg: str) -> None:
    """A .cpg saved by Notepad with a byte-order mark, or holding "ANSI 1256": GDAL ignores it and
    reads Latin letters; geoconflict reads it and passes the code page to GDAL."""
    path = _shapefile(tmp_path, encoding="cp1256", cpg=False, ldid=87)
    path.with_suffix(".cpg").write_text(cpg, encoding="utf-8")
    assert io.read_layer(path)["name"].tolist() == NAMES


@pytest.mark.parametrize("cpg", ["OEM", "System", ""])
def test_a_cpg_naming_no_code_page_is_said_in_the_refusal(tmp_path: Path, cpg: str) -> None:
    path = _shapefile(tmp_path, encoding="cp1256", cpg=False)
    path.with_suffix(".cpg").write_text(cpg)
    with pytest.raises(InputError, match="which names no code page"):
        io.read_layer(path)
    assert io.read_layer(path, encoding="cp1256")["name"].tolist() == NAMES


def test_a_zip_of_several_shapefiles_decides_per_layer(tmp_path: Path) -> None:
    """OCHA's COD-AB zips hold one shapefile per admin level: each layer its own code page."""
    a = _shapefile(tmp_path / "a", encoding="cp1256", cpg=True)  # declared
    b = _shapefile(tmp_path / "b", encoding="cp1256", cpg=False)  # not
    c = _shapefile(tmp_path / "c", encoding="UTF-8", cpg=False)  # not, but UTF-8
    z = tmp_path / "syr_adm_shp.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for folder, stem in ((a, "adm1"), (b, "adm2"), (c, "adm3")):
            for part in sorted(folder.parent.glob("adm.*")):
                zf.write(part, stem + part.suffix)
        zf.writestr("__MACOSX/._adm1.dbf", b"\x00\x05\x16\x07" + bytes(range(128, 256)))
    assert io.read_layer(z, layer="adm1")["name"].tolist() == NAMES
    assert io.read_layer(z, layer="adm1", encoding="cp1251")["name"].tolist() == NAMES  # declared wins
    with pytest.raises(InputError, match="adm2.dbf"):
        io.read_layer(z, layer="adm2")
    assert io.read_layer(z, layer="adm2", encoding="cp1256")["name"].tolist() == NAMES
    assert io.read_layer(z, layer="adm3")["name"].tolist() == NAMES


def test_incidents_in_a_code_page_shapefile(tmp_path: Path, cli_runner) -> None:
    """``read_incidents(encoding=)`` and ``ingest --encoding`` reach the Shapefile reader."""
    from geoconflict.incidents import read_incidents

    path = tmp_path / "strikes.shp"
    gpd.GeoDataFrame({"event_date": ["2020-03-07", "2020-03-08"], "location": ["كنصفرة", "البارة"],
                      "notes": [PAYLOAD, "قصف"]},
                     geometry=[shapely.Point(36.56, 35.64), shapely.Point(36.54, 35.68)], crs=4326,
                     ).to_file(path, engine="pyogrio", encoding="cp1256")
    path.with_suffix(".cpg").unlink()
    with pytest.raises(InputError, match="not UTF-8"):
        read_incidents(path)
    got = read_incidents(path, encoding="cp1256").incidents
    assert got["location"].tolist() == ["كنصفرة", "البارة"] and got["notes"].iloc[0] == PAYLOAD
    out = tmp_path / "strikes.geojson"
    res = cli_runner.invoke(cli, ["ingest", str(path), "--encoding", "cp1256", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert gpd.read_file(out)["location"].tolist() == ["كنصفرة", "البارة"]


def test_a_shz_is_a_zipped_shapefile(tmp_path: Path) -> None:
    path = _shapefile(tmp_path / "shp", encoding="cp1256", cpg=False)
    shz = _zip(path, tmp_path / "adm.shz")
    with pytest.raises(InputError, match="not UTF-8"):
        io.read_layer(shz)
    assert io.read_layer(shz, encoding="cp1256")["name"].tolist() == NAMES


def test_a_field_name_in_a_code_page_is_named(tmp_path: Path) -> None:
    path = tmp_path / "adm.shp"
    _layer().assign(name=["a", "b", "c", "d"]).rename(columns={"pcode": "رمز"}).to_file(
        path, engine="pyogrio", encoding="cp1256")
    path.with_suffix(".cpg").unlink()
    with pytest.raises(InputError, match="field's name") as err:
        io.read_layer(path)
    assert err.value.feature is None
    assert "رمز" in io.read_layer(path, encoding="cp1256").columns


def test_unknown_encoding_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        check_encoding("klingon")
    with pytest.raises(InputError, match="unknown encoding 'rot13'"):
        check_encoding("rot13")  # Python knows it, but as a text transform, not a code page
    assert check_encoding("Windows-1256") == "cp1256" and check_encoding("latin-1") == "iso8859-1"
    with pytest.raises(InputError, match="unknown encoding"):
        io.read_layer(_shapefile(tmp_path, encoding="cp1256", cpg=False), encoding="klingon")
    # a .dbf cannot be UTF-16 or EBCDIC (a CSV can be UTF-16: the CLI's --encoding takes it)
    with pytest.raises(InputError, match="not a code page a Shapefile"):
        io.read_layer(tmp_path / "adm.shp", encoding="utf-16")
    assert check_encoding("utf-16", shapefile=False) == "utf-16"
    with pytest.raises(InputError, match="not a code page a Shapefile"):
        check_encoding("cp037")
    # a CSV's --encoding is checked the same way, naming the file
    from geoconflict.incidents import read_incidents

    csv = HERE / "data" / "incidents" / "acled_2023.csv"
    with pytest.raises(InputError, match="unknown encoding 'rot13'") as err:
        read_incidents(csv, encoding="rot13")
    assert err.value.path == str(csv)


def test_join_refuses_then_reads_with_encoding(tmp_path: Path, cli_runner) -> None:
    """The corpus's Arabic-Windows admin layer, through the CLI: exit 2 naming the fix and
    nothing written; with --encoding cp1256 the Arabic names are carried to every incident."""
    admin = BAD / "admin_cp1256_no_cpg" / "admin.shp"
    out = tmp_path / "joined.geojson"
    args = ["join", str(BAD / "incidents_good.csv"), "--admin", str(admin), "-o", str(out)]
    res = cli_runner.invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "--encoding" in res.output and "admin.shp" in res.output
    assert list(tmp_path.iterdir()) == []
    res = cli_runner.invoke(cli, [*args, "--encoding", "cp1256"])
    assert res.exit_code == 0, res.output
    joined = gpd.read_file(out)
    assert set(joined["ADM3_AR"].dropna()) <= {"إدلب الغربية", "إدلب الشرقية"}
    assert joined["ADM3_AR"].notna().sum() == joined["ADM3_PCODE"].notna().sum() > 0
    res = cli_runner.invoke(cli, [*args[:-2], "-o", str(tmp_path / "x.geojson"), "--encoding", "klingon"])
    assert res.exit_code == 2 and "unknown encoding" in res.output and "Traceback" not in res.output


def test_every_layer_reading_command_takes_encoding(cli_runner) -> None:
    from geoconflict.cli.main import COMMANDS

    for name in COMMANDS:
        res = cli_runner.invoke(cli, [name, "--help"])
        assert res.exit_code == 0 and "--encoding" in res.output, name


@pytest.mark.skipif(not SHARED_ADM3.exists(), reason="needs ../shared/data (OCHA COD-AB)")
def test_ocha_adm3_zipped_in_windows_1256_without_cpg(tmp_path: Path) -> None:
    """Syria's 272 sub-districts with their Arabic names, as an Arabic Windows export zips them."""
    ref = gpd.read_file(SHARED_ADM3)
    folder = tmp_path / "shp"
    folder.mkdir()
    ref.to_file(folder / "syr_admbnda_adm3_uncs_20201217.shp", engine="pyogrio", encoding="cp1256")
    (folder / "syr_admbnda_adm3_uncs_20201217.cpg").unlink()
    z = _zip(folder / "syr_admbnda_adm3_uncs_20201217.shp", tmp_path / "syr_adm3_shp.zip")
    with pytest.raises(InputError, match="cp1256") as err:
        io.read_layer(z)
    assert err.value.column in {c for c in ref.columns if c.endswith("_AR")}
    got = io.read_layer(z, encoding="cp1256")
    for col in ("ADM3_AR", "ADM2_AR", "ADM1_AR"):
        pd.testing.assert_series_equal(got[col], ref[col].astype(got[col].dtype), check_names=False)
