"""One period vocabulary (#16): grids and flows label periods with geoconflict.units."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from geoconflict.flows import aggregate_flows
from geoconflict.grids import count_by_cell
from geoconflict.units import PERIODS


def _incidents() -> gpd.GeoDataFrame:
    dates = pd.to_datetime(["2020-03-06", "2020-03-07", "2020-06-30", "2021-01-02"])
    return gpd.GeoDataFrame({"date": dates, "fatalities": [1, 2, 3, 4]},
                            geometry=shapely.points([36.1, 36.1, 36.2, 36.2], [35.1, 35.1, 35.2, 35.2]),
                            crs="EPSG:4326")


def test_grid_counts_by_quarter_and_year() -> None:
    q = count_by_cell(_incidents(), cells="square:50km", period="quarter", long=True).cells
    assert q.groupby("period")["count"].sum().to_dict() == {"2020-Q1": 2, "2020-Q2": 1, "2021-Q1": 1}
    y = count_by_cell(_incidents(), cells="square:50km", period="year").cells
    assert {"count_2020", "count_2021"} <= set(y.columns) and int(y["count_2020"].sum()) == 3


def test_flows_week_label_is_the_iso_week() -> None:
    df = pd.DataFrame({"date": pd.to_datetime(["2020-03-02", "2020-03-08", "2020-03-09"]),
                       "origin_code": ["A"] * 3, "origin_lon": [36.0] * 3, "origin_lat": [35.0] * 3,
                       "destination_code": ["B"] * 3, "destination_lon": [36.5] * 3,
                       "destination_lat": [35.5] * 3, "individuals": [10.0, 20.0, 5.0]})
    for side in ("origin", "destination"):
        df[f"{side}_name"] = df[f"{side}_code"]
    got = aggregate_flows(df, period="week").flows.set_index("period")["individuals"].to_dict()
    assert got == {"2020-W10": 30.0, "2020-W11": 5.0}


def test_cli_period_choices_are_the_vocabulary() -> None:
    from geoconflict.cli.flows import flows
    from geoconflict.cli.grid import grid

    for cmd in (grid, flows):
        opt = next(p for p in cmd.params if p.name == "period")
        assert tuple(opt.type.choices) == PERIODS


def test_grid_help_and_defaults_are_the_library_constants() -> None:
    """Defaults are defined once, in the library (#16); the CLI's help states them."""
    from geoconflict.cli.grid import grid
    from geoconflict.grids import DEFAULT_CELLS
    from geoconflict.kde import DEFAULT_BANDWIDTH_M, DEFAULT_KERNEL, DEFAULT_RESOLUTION_M

    opts = {p.name: p for p in grid.params}
    assert opts["cells"].default == DEFAULT_CELLS
    assert f"(default {DEFAULT_BANDWIDTH_M / 1000:g}km)" in opts["bandwidth"].help
    assert f"(default {DEFAULT_RESOLUTION_M:g}m)" in opts["resolution"].help
    assert f"(default {DEFAULT_KERNEL})" in opts["kernel"].help
