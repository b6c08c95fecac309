"""geoconflict.png: the static map (PNG / SVG) for slides and print."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pytest
from PIL import Image
from pyproj import CRS, Proj
from test_maps import PAYLOADS, RASTERIO_AFFINE, sample_layers

from geoconflict.errors import InputError, OutputExistsError
from geoconflict.layers import Layer
from geoconflict.png import _nice_length, _north_arrow, make_png, mpl_text, write_png

pytestmark = pytest.mark.filterwarnings(RASTERIO_AFFINE)


def test_png_size_follows_dpi_and_svg_beside(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)
    out = write_png(layers, tmp_path / "map.png", title="Idlib, June 2020", dpi=100, svg=True,
                    sources=["ACLED", "OCHA"], data_as_of="2020-06-10")
    with Image.open(out) as im:
        assert im.size == (1100, 750)  # 11 × 7.5 in at 100 dpi
    assert (tmp_path / "map.svg").exists()
    hi = write_png(layers[:2], tmp_path / "print.png", title="t", dpi=300)
    with Image.open(hi) as im:
        assert im.size == (3300, 2250)


def test_figure_has_title_legend_scale_north_inset_sources(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)
    fig = make_png(layers, title="Idlib, June 2020", subtitle="Strikes", sources=["ACLED"],
                   data_as_of="2020-06-10")
    texts = [t.get_text() for t in fig.texts]
    assert "Idlib, June 2020" in texts and "Strikes" in texts
    foot = next(t for t in texts if t.startswith("Incidents:"))
    assert "03 Jun 2020 – 09 Jun 2020" in foot and "Data as of 2020-06-10" in foot and "ACLED" in foot
    main, inset = fig.axes[0], fig.axes[1]
    assert "N" in [t.get_text() for t in main.texts]
    assert any(t.get_text().endswith("km") for t in main.texts)  # scale bar label
    assert inset.get_title(loc="left") == "Location"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    for label in ("Incidents", "Air/drone strike", "Control zones", "Density grid", "1–2", "Hot spots", "KDE"):
        assert label in legend
    # the view frames the data (not the admin units alone) in metres of UTM 37N
    x0, x1 = main.get_xlim()
    assert 30_000 < x1 - x0 < 200_000


def test_payloads_are_text_in_svg(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path, payload=True)
    out = write_png(layers, tmp_path / "x.svg", title=PAYLOADS[2] + " " + PAYLOADS[1], subtitle=PAYLOADS[0])
    text = out.read_text(encoding="utf-8")
    root = ET.fromstring(text)  # well-formed XML
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert "<img" not in text and "</script><script>" not in text
    assert "window.__xss=2" in text  # the text is there, escaped


def test_mpl_text_escapes_mathtext() -> None:
    assert mpl_text("${x}$") == r"\${x}\$"
    assert mpl_text("a\\b") == "a\\\\b"


def test_scale_bar_length_and_north_arrow(tmp_path: Path) -> None:
    assert _nice_length(100_000) == 20_000 and _nice_length(9_000) == 2_000 and _nice_length(400) == 100
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    crs = CRS.from_epsg(32637)
    # around Idlib (36.6 E), west of zone 37's central meridian (39 E): true north leans east
    x, y = Proj(crs)(36.6, 35.9)
    angle = _north_arrow(ax, (x - 20_000, y - 20_000, x + 20_000, y + 20_000), crs)
    conv = Proj(crs).get_factors(36.6, 35.9).meridian_convergence
    assert angle > 0 and math.isclose(abs(angle), abs(conv), abs_tol=0.02)


def test_errors_and_overwrite(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)[:1]
    out = write_png(layers, tmp_path / "m.png", title="t", dpi=72)
    with pytest.raises(OutputExistsError):
        write_png(layers, out, title="t")
    with pytest.raises(InputError, match=".png or .svg"):
        write_png(layers, tmp_path / "m.jpg", title="t")
    with pytest.raises(InputError, match="dpi"):
        write_png(layers, tmp_path / "n.png", title="t", dpi=5)
    empty = gpd.GeoDataFrame({"name": []}, geometry=[], crs=4326)
    with pytest.raises(InputError, match="no layers"):
        write_png([Layer("E", "areas", empty)], tmp_path / "e.png", title="t")


BOUNDARIES = Path(__file__).resolve().parents[1] / "boundaries"


def _builtin_layers() -> tuple[list[Layer], gpd.GeoDataFrame]:
    from geoconflict.control import read_control

    admin = gpd.read_file(BOUNDARIES / "idlib2020_admin3.geojson", engine="pyogrio")
    control = read_control(BOUNDARIES / "idlib2020_control.geojson")
    control = control[control["valid_from"] == control["valid_from"].max()]
    places = gpd.read_file(BOUNDARIES / "idlib2020_places.geojson", engine="pyogrio")
    return [Layer("Admin units", "admin", admin), Layer("Control", "control", control)], places


def _label_boxes(fig) -> list:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_gid() == "place-label"]
    from matplotlib.text import Text

    # the text's own box (an annotation's box also spans its leader line, checked in the code)
    return [(t.get_text(), Text.get_window_extent(t, renderer)) for t in texts], renderer


def test_place_labels_do_not_overlap_and_name_the_case(tmp_path: Path) -> None:
    layers, places = _builtin_layers()
    fig = make_png(layers, title="Idlib", subtitle="9 June 2020", labels=places, figsize=(12.8, 7.2))
    labels, renderer = _label_boxes(fig)
    names = [n for n, _ in labels]
    always = set(places.loc[places["label_always"], "name"])
    assert always <= set(names), always - set(names)  # every place of the case is named
    assert len(names) > len(always)  # and more, by rank, where there is room
    assert len(set(names)) == len(names)
    boxes = [b for _, b in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (labels[i][0])
    frame = fig.axes[0].get_window_extent(renderer)
    blockers = [leg.get_window_extent(renderer) for leg in fig.legends]
    blockers += [t.get_window_extent(renderer) for t in fig.texts]  # title, subtitle, sources
    blockers += [a.get_window_extent(renderer) for a in fig.axes[1:]]  # inset
    blockers += [t.get_window_extent(renderer) for t in fig.axes[0].texts if t.get_gid() != "place-label"]
    for name, box in labels:
        assert frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1), name
        assert not any(box.overlaps(b) for b in blockers), name
    # one marker per label
    markers = [ln for ln in fig.axes[0].lines if ln.get_gid() == "place-marker"]
    assert len(markers) == len(names)


def test_labels_are_text_escaped_and_ranked(tmp_path: Path) -> None:
    layers, places = _builtin_layers()
    few = places.iloc[:3].copy()
    few["name"] = ["$x$ <b>", "Ariha", "Saraqab"]
    few["label_always"] = False
    few["rank"] = [5, 1, 2]
    fig = make_png(layers, title="t", labels=few, max_labels=2)
    names = [n for n, _ in _label_boxes(fig)[0]]
    assert names == ["Ariha", "Saraqab"]  # rank order; the third is over the limit
    fig = make_png(layers, title="t", labels=few.assign(rank=0))
    assert r"\$x\$ <b>" in [n for n, _ in _label_boxes(fig)[0]]  # escaped for mathtext, drawn as is
    out = write_png(layers, tmp_path / "x.svg", title="t", labels=few.assign(rank=0))
    text = out.read_text(encoding="utf-8")
    root = ET.fromstring(text)  # well-formed; the name is drawn, never markup
    assert not [el for el in root.iter() if el.tag.split("}")[-1] == "b"]
    assert text.count('id="place-label"') == 3


def test_labels_need_a_name_column(tmp_path: Path) -> None:
    layers, places = _builtin_layers()
    with pytest.raises(InputError, match="name column"):
        make_png(layers, title="t", labels=places.drop(columns=["name"]))


@pytest.mark.parametrize("dpi", [100, 150, 72])
def test_size_gives_exact_pixels(tmp_path: Path, dpi: int) -> None:
    layers = sample_layers(tmp_path)[:2]
    out = write_png(layers, tmp_path / f"slide{dpi}.png", title="t", dpi=dpi, size=(1920, 1080))
    with Image.open(out) as im:
        assert im.size == (1920, 1080)
    with pytest.raises(InputError, match="size"):
        write_png(layers, tmp_path / "tiny.png", title="t", size=(10, 10))


def test_cli_map_size(tmp_path: Path, cli_runner) -> None:
    from geoconflict.cli.main import cli

    out = tmp_path / "fig.png"
    res = cli_runner.invoke(cli, ["map", str(BOUNDARIES / "idlib2020_admin3.geojson"),
                                  str(BOUNDARIES / "idlib2020_places.geojson"), "-o", str(out),
                                  "--size", "1920x1080", "--svg"])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        assert im.size == (1920, 1080)
    svg = out.with_suffix(".svg").read_text(encoding="utf-8")
    assert svg.count('id="place-label"') >= 19  # the places file is drawn as names, the case's at least
    res = cli_runner.invoke(cli, ["map", str(BOUNDARIES / "idlib2020_admin3.geojson"), "-o",
                                  str(tmp_path / "g.png"), "--size", "1920by1080"])
    assert res.exit_code == 2 and "WIDTHxHEIGHT" in res.output and not (tmp_path / "g.png").exists()


def test_hidden_layers_are_left_out_and_scale_label_clears_the_bar(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)
    hidden = [Layer(ly.name, ly.kind, ly.data, show=ly.kind not in ("grid", "hotspots", "kde")) for ly in layers]
    fig = make_png(hidden, title="t")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "Incidents" in legend and "Density grid" not in legend and "KDE" not in " ".join(legend)
    assert not fig.axes[0].images  # no KDE raster drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    bar = [p.get_window_extent(r) for p in ax.patches if p.get_zorder() == 50]
    top = max(b.y1 for b in bar)
    for t in (t for t in ax.texts if t.get_gid() == "scale-bar"):
        assert t.get_window_extent(r).y0 >= top  # the label sits above the bar, not on it
