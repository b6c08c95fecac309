"""`geoconflict ceasefire`: the three outputs, the summary line, exit codes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from geoconflict.cli.main import cli

DATA = Path(__file__).resolve().parent / "data" / "zones"
INCIDENTS = str(DATA / "incidents.csv")
CONTROL = str(DATA / "control.geojson")


def test_ceasefire_writes_the_three_outputs(cli_runner, tmp_path):
    out = tmp_path / "cf"
    res = cli_runner.invoke(
        cli,
        [
            "ceasefire",
            INCIDENTS,
            "--start",
            "2020-03-06T00:01",
            "--control",
            CONTROL,
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    inc = gpd.read_file(out / "ceasefire_incidents.geojson")
    got = dict(zip(inc["incident_id"], inc["ceasefire_status"], strict=True))
    # T2 is coded to the week of 4 March (1-7 March): uncertain; T7 is a clash: left out
    assert got == {
        "T1": "before",
        "T2": "uncertain",
        "T3": "after",
        "T4": "after",
        "T5": "after",
        "T6": "after",
    }
    daily = pd.read_csv(out / "ceasefire_daily.csv")
    day20 = daily.loc[daily["date"] == "2020-03-20"].set_index(["by", "value"])
    assert day20.loc[("total", "all"), "incidents"] == 2
    # Ariha (36.61 E) is held by the Opposition, Saraqab (36.81 E) by the Government
    assert day20.loc[("controller", "Opposition"), "incidents"] == 1
    assert day20.loc[("controller", "Government"), "incidents"] == 1
    report = (out / "ceasefire_report.md").read_text(encoding="utf-8")
    assert "On Friday 20 March 2020" in report and "second break within six days" in report
    assert "breaks: 2020-03-20, 2020-03-25" in res.output
    assert "6 strikes (4 after, 1 before, 1 uncertain; 1 of other types" in res.output


def test_types_all_and_end(cli_runner, tmp_path):
    out = tmp_path / "cf"
    res = cli_runner.invoke(
        cli,
        [
            "ceasefire",
            INCIDENTS,
            "--start",
            "2020-03-06T00:01",
            "--types",
            "all",
            "--end",
            "2020-03-20",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    inc = gpd.read_file(out / "ceasefire_incidents.geojson")
    assert sorted(inc["incident_id"]) == ["T1", "T2", "T3", "T4", "T5"]
    assert "2 after --end left out" in res.output


def test_bad_start_and_existing_outputs_exit_2(cli_runner, tmp_path):
    res = cli_runner.invoke(
        cli, ["ceasefire", INCIDENTS, "--start", "the sixth", "-o", str(tmp_path / "a")]
    )
    assert res.exit_code == 2 and "cannot read the --start time" in res.output
    assert not (tmp_path / "a").exists()
    out = tmp_path / "b"
    out.mkdir()
    (out / "ceasefire_daily.csv").write_text("keep me")
    res = cli_runner.invoke(
        cli, ["ceasefire", INCIDENTS, "--start", "2020-03-06T00:01", "-o", str(out)]
    )
    assert res.exit_code == 2 and "already exists" in res.output
    assert (out / "ceasefire_daily.csv").read_text() == "keep me"
    assert not (out / "ceasefire_report.md").exists()


def test_missing_incident_file(cli_runner, tmp_path):
    res = cli_runner.invoke(
        cli,
        [
            "ceasefire",
            str(tmp_path / "nope.csv"),
            "--start",
            "2020-03-06",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "not found" in res.output and "Traceback" not in res.output
