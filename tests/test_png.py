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
