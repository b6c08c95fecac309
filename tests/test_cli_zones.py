"""`geoconflict zones`: area held and change, summary CSV, messages and exit codes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import box

from geoconflict.cli.main import cli

DATA = Path(__file__).resolve().parent / "data" / "zones"
CONTROL = str(DATA / "control.geojson")
ADMIN = str(DATA / "admin.geojson")
GEOD = Geod(ellps="WGS84")


def geodesic_km2(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def test_area_held_writes_the_layer_and_the_summary(cli_runner, tmp_path):
    out = tmp_path / "held.geojson"
    res = cli_runner.invoke(
        cli, ["zones", CONTROL, "--admin", ADMIN, "--date", "2020-02-15", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    layer = gpd.read_file(out)
    rows = {(r.pcode, r.controller): r for r in layer.itertuples()}
    assert set(rows) == {("P1", "Opposition"), ("P2", "Opposition"), ("P2", "Government")}
    # Opposition holds the East unit west of 36.75 E on 15 February
    expected = geodesic_km2(box(36.6, 35.6, 36.75, 35.9))
    assert rows[("P2", "Opposition")].area_km2 == pytest.approx(expected, rel=0.005)
    assert rows[("P1", "Opposition")].share == pytest.approx(1.0, abs=1e-6)
    share = expected / geodesic_km2(box(36.6, 35.6, 36.9, 35.9))
    assert rows[("P2", "Opposition")].share == pytest.approx(share, rel=0.005)
    summary = pd.read_csv(tmp_path / "held.summary.csv")
    assert list(summary.columns) == ["controller", "area_km2", "share", "admin_units"]
    tot = summary.set_index("controller")
    assert tot.loc["Government", "area_km2"] == pytest.approx(
        geodesic_km2(box(36.75, 35.6, 36.9, 35.9)), rel=0.005
    )
    assert (
        "area held on 2020-02-15" in res.output
        and "Government" in res.output
        and "km²" in res.output
    )


def test_change_between_dates(cli_runner, tmp_path):
    out = tmp_path / "change.gpkg"
    res = cli_runner.invoke(
        cli,
        [
            "zones",
            CONTROL,
            "--from",
            "2020-02-15",
            "--to",
            "2020-03-02",
            "--admin",
            ADMIN,
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    layer = gpd.read_file(out)
    assert list(
        zip(layer["pcode"], layer["from_controller"], layer["to_controller"], strict=True)
    ) == [("P2", "Opposition", "Government")]
    assert layer["area_km2"].iloc[0] == pytest.approx(
        geodesic_km2(box(36.65, 35.6, 36.75, 35.9)), rel=0.005
    )
    summary = pd.read_csv(tmp_path / "change.summary.csv")
    assert set(summary["scope"]) == {"total", "admin"}
    assert "changed hands from 2020-02-15 to 2020-03-02" in res.output
    assert "Government +" in res.output


def test_change_without_admin_covers_the_whole_layer(cli_runner, tmp_path):
    out = tmp_path / "change.geojson"
    res = cli_runner.invoke(
        cli, ["zones", CONTROL, "--from", "2020-01-01", "--to", "2020-06-01", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    layer = gpd.read_file(out)
    assert layer["area_km2"].sum() == pytest.approx(
        geodesic_km2(box(36.65, 35.5, 36.75, 36.0)), rel=0.005
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "--admin",
                ADMIN,
                "--date",
                "2020-02-15",
                "--from",
                "2020-01-01",
                "--to",
                "2020-03-03",
            ],
            "not both",
        ),
        (["--date", "2020-02-15"], "needs an --admin"),
        (["--from", "2020-01-01"], "both --from and --to"),
        ([], "give --on"),
        (["--admin", ADMIN, "--date", "someday"], "cannot read the date"),
        (["--admin", ADMIN, "--date", "2019-01-01"], "no control zone is in force on 2019-01-01"),
        (["--from", "2020-03-02", "--to", "2020-01-01"], "before the --from date"),
        (
            ["--admin", ADMIN, "--date", "2020-02-15", "--admin-fields", "nope"],
            "admin field(s) not found",
        ),
    ],
)
def test_user_errors_exit_2_with_a_message(cli_runner, tmp_path, args, message):
    res = cli_runner.invoke(cli, ["zones", CONTROL, *args, "-o", str(tmp_path / "x.geojson")])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x.geojson").exists()


def test_existing_outputs_are_not_replaced_without_overwrite(cli_runner, tmp_path):
    out = tmp_path / "held.geojson"
    args = ["zones", CONTROL, "--admin", ADMIN, "--date", "2020-02-15", "-o", str(out)]
    assert cli_runner.invoke(cli, args).exit_code == 0
    (tmp_path / "held.geojson").unlink()  # only the summary is left: still refused
    res = cli_runner.invoke(cli, args)
    assert res.exit_code == 2 and "already exists" in res.output
    assert not out.exists()
    assert cli_runner.invoke(cli, [*args, "--overwrite"]).exit_code == 0


def test_missing_control_file(cli_runner, tmp_path):
    res = cli_runner.invoke(
        cli,
        [
            "zones",
            str(tmp_path / "none.geojson"),
            "--admin",
            ADMIN,
            "--date",
            "2020-02-15",
            "-o",
            str(tmp_path / "x.geojson"),
        ],
    )
    assert res.exit_code == 2 and "not found" in res.output


def test_summary_by_field(cli_runner, tmp_path):
    out = tmp_path / "held.csv"
    res = cli_runner.invoke(
        cli,
        [
            "zones",
            CONTROL,
            "--admin",
            ADMIN,
            "--date",
            "2020-02-15",
            "--summary-by",
            "pcode",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(tmp_path / "held.summary.csv")
    assert set(summary["pcode"]) == {"P1", "P2", "(all)"}
    held = summary.loc[summary["controller"] != "(not covered)"]
    assert held.groupby("pcode")["share"].sum().to_numpy() == pytest.approx(
        [1.0, 1.0, 1.0], abs=1e-6
    )
    # the layer itself can be a CSV (geometry as WKT)
    assert "geometry" in pd.read_csv(out).columns


def test_comma_list_options_share_one_type() -> None:
    """--admin-fields in join and zones: one parameter type (blanks dropped, empty refused)."""
    import click
    import pytest as _pytest

    from geoconflict.cli.options import COMMA_LIST

    assert COMMA_LIST.convert(" ADM3_PCODE, ,ADM3_EN ", None, None) == ["ADM3_PCODE", "ADM3_EN"]
    with _pytest.raises(click.BadParameter):
        COMMA_LIST.convert(" , ", None, None)
    from geoconflict.cli.join import join
    from geoconflict.cli.zones import zones

    for cmd in (join, zones):
        opt = next(p for p in cmd.params if p.name == "admin_fields")
        assert opt.type is COMMA_LIST
