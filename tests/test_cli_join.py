"""``geoconflict join``: outputs by extension, counts, user errors as exit 2 with one line."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geoconflict.cli.main import cli

DATA = Path(__file__).resolve().parent / "data" / "join"
HEADER = ("event_id_cnty,event_date,year,time_precision,event_type,sub_event_type,actor1,actor2,"
          "country,admin1,admin2,admin3,location,latitude,longitude,geo_precision,source,notes,fatalities")
ROWS = [
    "SYR1,2020-03-01,2020,1,Explosions/Remote violence,Air/drone strike,Military Forces of Russia,"
    "Civilians,Syria,Idlib,Idlib,Saraqib,Saraqab,35.8611,36.8061,1,SOHR,a,0",
    "SYR2,02 March 2020,2020,1,Explosions/Remote violence,Shelling/artillery/missile attack,"
    "Military Forces of Syria,HTS,Syria,Idlib,Ariha,Ariha,Saraqab,35.8611,36.8061,1,SOHR,b,2",
    "SYR3,2020-03-01,2020,2,Battles,Armed clash,HTS,Military Forces of Syria,Syria,Idleb,"
    "Maarrat An Numan,Maarrat An Numan,Saraqab,35.8611,36.8061,1,SOHR,c,1",
    "SYR4,2020-03-10,2020,1,Battles,Armed clash,HTS,Military Forces of Syria,Syria,Idleb,"
    "Jabal al-Zawiya,Ihsim,Mozra,35.6571,36.4399,1,SOHR,d,1",
    "SYR5,2020-03-01,2020,1,Battles,Armed clash,HTS,Military Forces of Syria,Syria,Idleb,x,y,Nowhere,,36.6,1,SOHR,e,1",
]


@pytest.fixture
def acled(tmp_path: Path) -> Path:
    path = tmp_path / "acled.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def _args(acled: Path, out: Path) -> list[str]:
    return ["join", str(acled), "--admin", str(DATA / "admin_utm.gpkg"),
            "--control", str(DATA / "control_dated.geojson"), "--areas", str(DATA / "areas.geojson"),
            "-o", str(out)]


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".parquet", ".csv"])
def test_join_writes_every_row_by_extension(cli_runner, acled: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"joined{ext}"
    res = cli_runner.invoke(cli, _args(acled, out), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    readers = {".csv": pd.read_csv, ".parquet": gpd.read_parquet}
    table = readers.get(ext, gpd.read_file)(out)
    # 4 accepted + 1 quarantined (no latitude) = 5 rows read
    assert table["incident_id"].tolist() == ["SYR1", "SYR2", "SYR3", "SYR4"]
    quarantine = pd.read_csv(tmp_path / "joined.quarantine.csv")
    assert len(table) + len(quarantine) == len(ROWS)
    assert table["controller"].fillna("").tolist() == ["Opposition", "Government", "Opposition", ""]
    assert table["control_status"].tolist() == ["in_force", "in_force", "uncertain", "none"]
    assert table["adm3_pcode"].fillna("").tolist() == ["SY070001", "SY070001", "SY070001", ""]
    assert table["admin_join"].tolist() == ["within", "within", "within", "none"]
    assert table["area"].fillna("").tolist() == ["", "", "", "Jabal al-Zawiya"]
    flags = table["flags"].fillna("").tolist()
    assert flags[0] == "" and "admin_name_mismatch:admin3" in flags[1]
    assert "joined 4 incidents" in res.output


def test_snap_distance_option(cli_runner, acled: Path, tmp_path: Path) -> None:
    out = tmp_path / "j.csv"
    args = _args(acled, out) + ["--snap-distance", "8km", "--admin-fields", "adm3_pcode"]
    res = cli_runner.invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    # Mozra is ~5.6 km west of the hand-made admin units (lon 36.5)
    assert table["admin_join"].tolist()[3] == "nearest"
    assert "adm3_en" not in table.columns


def test_existing_output_refused_without_overwrite(cli_runner, acled: Path, tmp_path: Path) -> None:
    out = tmp_path / "j.geojson"
    out.write_text("{}")
    res = cli_runner.invoke(cli, _args(acled, out))
    assert res.exit_code == 2
    assert "already exists" in res.output and "Traceback" not in res.output
    assert out.read_text() == "{}"


def test_invalid_control_layer_is_named(cli_runner, acled: Path, tmp_path: Path) -> None:
    args = ["join", str(acled), "--control", str(DATA / "control_invalid.geojson"), "-o", str(tmp_path / "j.csv")]
    res = cli_runner.invoke(cli, args)
    assert res.exit_code == 2
    assert "feature 2" in res.output and "no controller" in res.output
    assert not (tmp_path / "j.csv").exists()


def test_missing_admin_file_and_bad_extension(cli_runner, acled: Path, tmp_path: Path) -> None:
    res = cli_runner.invoke(cli, ["join", str(acled), "--admin", str(tmp_path / "nope.gpkg"),
                                  "-o", str(tmp_path / "j.csv")])
    assert res.exit_code == 2 and "not found" in res.output
    res = cli_runner.invoke(cli, ["join", str(acled), "--admin", str(DATA / "admin_utm.gpkg"),
                                  "-o", str(tmp_path / "j.xlsx")])
    assert res.exit_code == 2 and "unsupported output extension" in res.output
    res = cli_runner.invoke(cli, ["join", str(acled), "-o", str(tmp_path / "j.csv")])
    assert res.exit_code == 2 and "nothing to join" in res.output
