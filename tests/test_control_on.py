"""read_control(on=DAY): only the state in force that day is kept and validated (#17), and the
zones command's --on gives the same answer it gave when every state was read."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from geoconflict.cli.main import cli
from geoconflict.control import read_control
from geoconflict.errors import LayerError
from geoconflict.zones import area_by_controller

DATA = Path(__file__).resolve().parent / "data" / "join"


def _two_states(tmp_path: Path, *, break_first: bool) -> Path:
    """The dated fixture, its first state optionally broken (two controllers overlapping widely)."""
    g = gpd.read_file(DATA / "control_dated.geojson")
    if break_first:
        first = g["date"] == g["date"].min()
        whole = shapely.union_all(g.loc[first, "geometry"].to_numpy())
        g.loc[first, "geometry"] = [whole] * int(first.sum())
    path = tmp_path / "control.geojson"
    g.to_file(path, driver="GeoJSON")
    return path


def test_on_keeps_the_state_in_force_only(tmp_path: Path) -> None:
    path = _two_states(tmp_path, break_first=False)
    every = read_control(path)
    one = read_control(path, on="2020-03-10")
    assert len(one) < len(every)
    assert set(one["valid_from"].dt.strftime("%Y-%m-%d")) == {"2020-03-02"}
    later = every[every["valid_from"] == pd.Timestamp("2020-03-02")].reset_index(drop=True)
    assert one["controller"].tolist() == later["controller"].tolist()
    assert shapely.equals(one.geometry.to_numpy(), later.geometry.to_numpy()).all()


def test_on_does_not_validate_other_states(tmp_path: Path) -> None:
    path = _two_states(tmp_path, break_first=True)
    with pytest.raises(LayerError, match="overlap"):
        read_control(path)
    assert len(read_control(path, on="2020-03-10")) == 2  # the later state is sound
    with pytest.raises(LayerError, match="overlap"):
        read_control(path, on="2020-02-10")  # the broken state is still caught when asked for


def test_on_a_day_no_zone_covers_names_the_span(tmp_path: Path) -> None:
    path = _two_states(tmp_path, break_first=False)
    with pytest.raises(LayerError, match=r"2019-01-01.*covers 2020-02-01 to \.\."):
        read_control(path, on="2019-01-01")


def test_area_held_is_the_same_from_one_state_or_all(tmp_path: Path) -> None:
    path = _two_states(tmp_path, break_first=False)
    admin = gpd.read_file(DATA / "admin_utm.gpkg")
    a, sa = area_by_controller(read_control(path), admin, date="2020-03-10")
    b, sb = area_by_controller(read_control(path, on="2020-03-10"), admin, date="2020-03-10")
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    pd.testing.assert_frame_equal(sa, sb)


def test_zones_command_on_reads_one_state(tmp_path: Path) -> None:
    path = _two_states(tmp_path, break_first=True)  # the other state is broken: --on still works
    out = tmp_path / "held.geojson"
    res = CliRunner().invoke(cli, ["zones", str(path), "--admin", str(DATA / "admin_utm.gpkg"),
                                   "--on", "2020-03-10", "-o", str(out)])
    assert res.exit_code == 0, res.output
    held = gpd.read_file(out)
    assert set(held["date"].astype(str).str[:10]) == {"2020-03-10"} and held["area_km2"].gt(0).all()
