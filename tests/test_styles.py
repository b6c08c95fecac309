"""geoconflict.styles: one symbology for HTML, PNG and QGIS."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from geoconflict import styles
from geoconflict.qml import qml_for, raster_qml
from geoconflict.styles import (
    controller_colours,
    detect_kind,
    flow_widths,
    grid_classes,
    hotspot_class,
    sub_event_colours,
    symbology_for,
)

POLY = ["Polygon"]
LINE = ["LineString"]
PT = ["Point"]


@pytest.mark.parametrize(
    ("columns", "geoms", "name", "kind"),
    [
        (["incident_id", "date", "sub_event_type"], PT, "x", "incidents"),
        (["ADM3_EN", "ADM3_PCODE"], POLY, "adm3", "admin"),
        (["admin1", "admin2"], POLY, "units", "admin"),
        (["controller", "valid_from"], POLY, "ctl", "control"),
        (["controller", "area_km2", "share"], [], "zones", "zones_summary"),
        (["from_controller", "to_controller", "area_km2"], POLY, "chg", "change"),
        (["controller_left", "controller_right"], LINE, "lines", "front_line"),
        (["id"], LINE, "front_2020", "front_line"),
        (["name", "side"], POLY, "m4", "corridor"),
        (["name"], POLY, "areas", "areas"),
        (["cell_id", "count"], POLY, "g", "grid"),
        (["cell_id", "count", "gi_z", "hotspot"], POLY, "h", "hotspots"),
        (["origin", "destination", "individuals"], LINE, "f", "flows"),
        (["origin", "destination", "individuals"], POLY, "a", "arrows"),
    ],
)
def test_detect_kind(columns: list[str], geoms: list[str], name: str, kind: str) -> None:
    assert detect_kind(columns, geom_types=geoms, name=name) == kind


def test_detect_kind_unknown() -> None:
    with pytest.raises(ValueError):
        detect_kind(["x"], geom_types=PT, name="odd")


def test_controller_colours_families_distinct_and_stable() -> None:
    names = ["Government of Syria", "Opposition (HTS)", "National Front for Liberation",
             "Turkish-backed SNA", "SDF", "Islamic State", "contested", "Someone else", "Another"]
    a = controller_colours(names)
    b = controller_colours(list(reversed(names)) + ["Government of Syria"])
    assert a == b  # order and repeats do not matter
    assert len(set(a.values())) == len(names)  # all distinct
    assert a["Government of Syria"] == "#d73027"  # government red
    assert a["National Front for Liberation"] in ("#1a9850", "#66bd63")  # opposition greens
    assert a["Opposition (HTS)"] in ("#1a9850", "#66bd63")
    assert a["Turkish-backed SNA"] == "#2166ac"
    assert a["SDF"] == "#e6ab02" and a["Islamic State"] == "#252525" and a["contested"] == "#bdbdbd"
    # "anti-government" is opposition, not government; "saa" only as a word
    c = controller_colours(["Anti-government forces", "Saadiyah council"])
    assert c["Anti-government forces"] == "#1a9850" and c["Saadiyah council"] == styles.PALETTE[0]
    # more controllers than colours still get distinct colours
    many = controller_colours([f"group {i}" for i in range(30)])
    assert len(set(many.values())) == 30


def test_sub_event_colours() -> None:
    c = sub_event_colours(["Air/drone strike", "Shelling/artillery/missile attack", "Peaceful protest", None])
    assert c["Air/drone strike"] == "#d62728" and c["Shelling/artillery/missile attack"] == "#ff7f0e"
    assert c["Peaceful protest"] == styles.PALETTE[0] and c[styles.MISSING] == styles.PALETTE[1]


@pytest.mark.filterwarnings("ignore:Numba not installed:UserWarning")  # mapclassify, called directly
def test_grid_classes_small_and_jenks() -> None:
    assert grid_classes([0, 1, 1, 2, 5, 10]) == [(0.0, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, 10.0)]
    assert grid_classes([0, 0]) == []
    y = np.array([1, 2, 2, 3, 10, 11, 12, 40, 41, 42, 100, 101, 300])
    ranges = grid_classes(y, k=5)
    import mapclassify

    bins = mapclassify.FisherJenks(y.astype(float), k=5).bins
    assert [hi for _, hi in ranges] == list(bins)
    assert ranges[0][0] == 0.0 and all(ranges[i][1] == ranges[i + 1][0] for i in range(4))
    # large inputs: fitted on 300 evenly spaced quantiles, top class still ends at the maximum
    big = np.random.default_rng(0).gamma(1.5, 10, 50_000).round() + 1
    r = grid_classes(big, k=5)
    assert len(r) == 5 and r[-1][1] == big.max() and r[0][0] == 0.0


@pytest.mark.filterwarnings("ignore:Numba not installed:UserWarning")  # mapclassify, called directly
def test_fisher_jenks_equals_mapclassify() -> None:
    """geoconflict's port gives mapclassify's bins exactly: skewed counts, few distinct values
    (ties), normal and log-normal values, 2 to 7 classes, 6 to 300 values."""
    import mapclassify

    rng = np.random.default_rng(42)
    checked = 0
    for case in range(160):
        n, k = int(rng.integers(6, 301)), int(rng.integers(2, 8))
        y = [rng.gamma(1.5, 10, n).round() + 1, rng.integers(1, 8, n).astype(float),
             rng.normal(100, 30, n), rng.lognormal(2, 1.5, n)][case % 4]
        if len(np.unique(y)) <= k:
            continue
        assert np.array_equal(styles.fisher_jenks(y, k), mapclassify.FisherJenks(y, k=k).bins), (n, k, case)
        checked += 1
    assert checked > 120


def test_graduated_keys_match_digitize() -> None:
    gdf = pd.DataFrame({"count": [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]})
    sym = symbology_for("grid", gdf)
    assert sym.mode == "graduated" and sym.attr == "count"
    uppers = [hi for k, (lo, hi) in sym.ranges.items() if k != "c0"]
    expected = ["c0" if v == 0 else f"c{np.digitize(v, uppers, right=True) + 1}" for v in gdf["count"]]
    assert list(sym.keys) == expected
    assert sym.symbols["c0"].fill is None  # empty cells not filled
    assert sym.labels["c1"].startswith("1")


def test_hotspot_classes() -> None:
    labels = pd.Series(["Hot spot - 99% confidence", "Hot spot - 95% confidence", "Not significant",
                        "Cold Spot (90%)", "hot", None])
    z = pd.Series([3.0, 2.0, 0.1, -1.7, 2.6, -3.0])
    assert list(hotspot_class(labels, z, 6)) == ["hot99", "hot95", "ns", "cold90", "hot99", "ns"]
    assert list(hotspot_class(None, z, 6)) == ["hot99", "hot95", "ns", "cold90", "hot99", "cold99"]


def test_flow_widths_sqrt() -> None:
    w = flow_widths([0, 25, 100], min_px=2, max_px=12)
    assert w.tolist() == [2.0, 7.0, 12.0]
    assert flow_widths([0, 0]).tolist() == [1.5, 1.5]


def _renderer(qml: str) -> ET.Element:
    root = ET.fromstring(qml.split("\n", 1)[1])
    r = root.find("renderer-v2")
    assert r is not None
    return r


def test_qml_categorized_escapes_values_and_matches_colours() -> None:
    names = ['Gov "A" <b>', "Opp & ${x} `y`"]
    sym = symbology_for("control", pd.DataFrame({"controller": names}))
    r = _renderer(qml_for(sym, "polygon"))
    assert r.get("type") == "categorizedSymbol" and r.get("attr") == "controller"
    cats = {c.get("value"): c.get("symbol") for c in r.iter("category")}
    assert set(cats) == set(names)  # XML-escaped and read back exactly
    colours = controller_colours(names)
    for value, idx in cats.items():
        symbol = next(s for s in r.iter("symbol") if s.get("name") == idx)
        opts = {o.get("name"): o.get("value") for o in symbol.iter("Option") if o.get("name")}
        rgb = tuple(int(colours[value][i:i + 2], 16) for i in (1, 3, 5))
        assert opts["color"].split(",")[:3] == [str(v) for v in rgb]
        assert opts["color"].split(",")[3] == str(round(0.45 * 255))


def test_qml_graduated_and_single() -> None:
    sym = symbology_for("grid", pd.DataFrame({"count": [0, 1, 4, 9]}))
    r = _renderer(qml_for(sym, "polygon"))
    assert r.get("type") == "graduatedSymbol" and r.get("attr") == "count"
    assert [(float(x.get("lower")), float(x.get("upper"))) for x in r.iter("range")] == \
        [(0.0, 0.0), (0.0, 1.0), (1.0, 4.0), (4.0, 9.0)]
    line = _renderer(qml_for(symbology_for("front_line", pd.DataFrame({"a": [1]})), "line"))
    assert line.get("type") == "singleSymbol"
    layer = line.find("symbols/symbol/layer")
    assert layer is not None and layer.get("class") == "SimpleLine"
    pts = _renderer(qml_for(symbology_for("incidents", pd.DataFrame({"sub_event_type": ["Armed clash"]})), "point"))
    assert pts.find("symbols/symbol/layer").get("class") == "SimpleMarker"


def test_raster_qml() -> None:
    root = ET.fromstring(raster_qml(0.0, 2.5).split("\n", 1)[1])
    items = list(root.iter("item"))
    assert len(items) == 7 and items[0].get("alpha") == "0" and float(items[-1].get("value")) == 2.5
    assert root.find("pipe/rasterrenderer").get("type") == "singlebandpseudocolor"


def test_flow_width_legend() -> None:
    # largest 185,364: examples 100,000 (≤ 100%), 20,000 (≤ 25%: 46,341), 5,000 (≤ 4%: 7,415)
    got = styles.flow_width_legend([185_364, 139_729, 10])
    assert [v for v, _ in got] == [100_000.0, 20_000.0, 5_000.0]
    assert got[0][1] == pytest.approx(1.5 + 12.5 * (100_000 / 185_364) ** 0.5)
    assert styles.flow_width_legend([0, 0]) == []


def test_ramp_and_palette_equal_matplotlib_without_importing_it() -> None:
    """The built-in ramp and tab20 give matplotlib's colours, and styling imports no matplotlib."""
    import subprocess
    import sys

    import matplotlib

    cm = matplotlib.colormaps[styles.GRID_CMAP]
    for n in range(1, 60):
        for start, stop in ((0.15, 0.95), (0.0, 1.0), (0.3, 0.7), (0.0, 0.999), (-0.2, 1.3)):
            where = [stop] if n <= 1 else np.linspace(start, stop, n)
            assert styles.ramp(styles.GRID_CMAP, n, start=start, stop=stop) == [
                matplotlib.colors.to_hex(cm(x)) for x in where], (n, start, stop)
    assert styles.ramp("viridis", 3) == [matplotlib.colors.to_hex(matplotlib.colormaps["viridis"](x))
                                         for x in np.linspace(0.15, 0.95, 3)]  # other maps: matplotlib
    tab20 = matplotlib.colormaps["tab20"]
    assert list(styles.TAB20) == [matplotlib.colors.to_hex(tab20(i)) for i in range(20)]
    # past the palette: evenly spaced hues, as matplotlib's hsv_to_rgb gives them
    names = [f"group {i:03d}" for i in range(80)]
    got = styles.controller_colours(names)
    assert len(set(got.values())) == len(names)
    free = len(dict.fromkeys([*styles.PALETTE, *styles.TAB20]))
    for i, name in enumerate(sorted(names)[free:]):
        hue = (i * 0.618034) % 1.0
        assert got[name] == matplotlib.colors.to_hex(matplotlib.colors.hsv_to_rgb((hue, 0.65, 0.8)))
    code = ("import sys; from geoconflict import styles, qml; styles.ramp(styles.GRID_CMAP, 7); "
            "styles.controller_colours([str(i) for i in range(60)]); styles.sub_event_colours(['x', 'y']); "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ramp_rgba_equals_matplotlib_on_whole_rasters() -> None:
    """The KDE's colours (HTML map and PNG) from the built-in table: matplotlib's, pixel for pixel,
    including the lookup table's edges, 0 and 1, out-of-range values and NaN."""
    import matplotlib

    rng = np.random.default_rng(7)
    edges = np.arange(257) / 256  # every boundary between two entries of the table
    values = np.concatenate([edges, np.nextafter(edges, -1), np.nextafter(edges, 2), rng.random(5000),
                             [-0.5, -1e-12, 1.0, 1 + 1e-12, 3.0, np.nan]])
    for cmap in (styles.KDE_CMAP, styles.GRID_CMAP, "viridis"):
        want = matplotlib.colormaps[cmap](values)
        np.testing.assert_array_equal(styles.ramp_rgba(cmap, values), want, err_msg=cmap)
    raster = rng.random((37, 53))
    raster[3, 4] = 0.01  # under the 2 % transparency threshold
    got = styles.kde_rgba(raster)
    assert got.shape == (37, 53, 4)
    np.testing.assert_array_equal(got[..., :3], matplotlib.colormaps[styles.KDE_CMAP](raster)[..., :3])
    np.testing.assert_allclose(got[..., 3], np.where(raster > 0.02, 0.25 + 0.6 * raster, 0.0))
    assert got[3, 4, 3] == 0.0


def test_the_html_map_colours_a_kde_without_importing_matplotlib(tmp_path) -> None:
    import subprocess
    import sys

    import rasterio
    from rasterio.transform import from_origin

    tif = tmp_path / "kde.tif"
    data = np.outer(np.hanning(40), np.hanning(50)).astype("float32")
    with rasterio.open(tif, "w", driver="GTiff", width=50, height=40, count=1, dtype="float32",
                       crs="EPSG:32637", transform=from_origin(300000, 3980000, 500, 500)) as dst:
        dst.write(data, 1)
    code = ("import sys; from geoconflict.maps import write_map; from geoconflict.layers import Layer; "
            f"write_map([Layer('KDE', 'kde', {str(tif)!r})], {str(tmp_path / 'map.html')!r}, title='t'); "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert "data:image/png;base64," in (tmp_path / "map.html").read_text(encoding="utf-8")
