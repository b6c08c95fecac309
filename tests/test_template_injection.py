"""Text from data, file names and options never reaches a template engine (issue #18).

folium and branca render the page with Jinja and compile the output of every element again as a
template; a note reading ``{{ ... }}`` used to run on the machine building the map.  Each test puts
template syntax (``{{ }}``, ``{% %}``, ``{# #}``, an unclosed ``{% raw %}``, a code-running payload)
and script syntax in a field and asserts that the page carries the text literally, that nothing was
evaluated (``6007*7`` is not ``42049``, the sentinel file is not created) and that the command
succeeded without a template error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geoconflict.cli.main import cli


def payloads(sentinel: Path) -> list[str]:
    return [
        "{{ 6007*7 }}",
        "{% for i in range(3) %}L{{ i }}{% endfor %}",
        "{# hidden #}",
        "{% raw %}",
        "{{constructor.constructor('x')()}}",
        "{{ cycler.__init__.__globals__.os.system('touch " + str(sentinel) + "') }}",
        "</script><script>window.gcPwned=1</script>${7*7}`",
        "\"quoted\" 'single' & <b>bold</b>",
    ]


def in_page(page: str, text: str) -> bool:
    """``text`` is in the page as JSON (``<``, ``>``, ``&`` escaped) or as escaped HTML text."""
    js = json.dumps(text, ensure_ascii=False)[1:-1]
    js = js.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    html_text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    html_text = html_text.replace('"', "&quot;").replace("'", "&#x27;")
    return js in page or html_text in page


def packed_values(page: str) -> set[str]:
    """Every text value of the page's packed incident columns (the canvas point layer's data)."""
    from geoconflict._packed import payloads_in_page, unpack

    return {str(v) for p in payloads_in_page(page) for col in unpack(p).items() for v in col[1]}


def assert_inert(page: str, texts: list[str], sentinel: Path) -> None:
    assert not sentinel.exists(), "a template in the data ran code on this machine"
    assert "42049" not in page, "{{ 6007*7 }} was evaluated"
    assert "L0L1L2" not in page, "a {% for %} loop in the data was run"
    assert "TemplateSyntaxError" not in page
    assert re.search(r"gcslot[0-9a-f]{16}n", page) is None, "a slot token was left in the page"
    values = packed_values(page)
    for text in texts:
        assert in_page(page, text) or text in values, f"{text!r} is not in the page literally"
    # nothing in the data can close the script element it sits in, or open one
    assert "<script>window.gcPwned" not in page
    assert page.count("<script") == page.count("</script>")


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def _incidents(path: Path, texts: list[str]) -> Path:
    n = len(texts)
    df = pd.DataFrame({
        "event_id_cnty": [f"SYR{i}" for i in range(n)],
        "event_date": [f"2020-06-{i + 1:02d}" for i in range(n)],
        "year": 2020, "time_precision": 1,
        "event_type": texts, "sub_event_type": texts[::-1],
        "actor1": texts, "actor2": texts[::-1], "country": "Syria", "admin1": texts,
        "location": texts, "latitude": [35.6 + 0.01 * i for i in range(n)],
        "longitude": [36.6 + 0.01 * i for i in range(n)], "geo_precision": 1,
        "source": texts[::-1], "notes": texts, "fatalities": 1,
    })
    df.to_csv(path, index=False)
    return path


def test_map_from_incidents_with_templates_in_every_field_and_option(cli_runner, tmp_path, sentinel):
    texts = payloads(sentinel)
    src = _incidents(tmp_path / "inc.csv", texts)
    page = tmp_path / "m.html"
    args = ["map", str(src), "-o", str(page), "--title", texts[0] + " title",
            "--subtitle", texts[3], "--source", texts[5], "--source", texts[1],
            "--data-as-of", texts[4]]
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    text = page.read_text(encoding="utf-8")
    assert_inert(text, texts + [texts[0] + " title"], sentinel)
    assert set(texts) <= packed_values(text)  # every field of every incident, exactly


def test_layer_and_file_names_and_controller_names(cli_runner, tmp_path, sentinel):
    texts = payloads(sentinel)
    # a file whose name is a template (every character is legal in a Linux file name but "/")
    name = "{{ 6007*7 }}{% raw %}{# x #}"
    src = _incidents(tmp_path / f"{name}.csv", texts[:2])
    control = gpd.GeoDataFrame(
        {"controller": [texts[0], texts[5]], "date": ["2020-06-01", "2020-06-01"]},
        geometry=[shapely.box(36.5, 35.5, 36.7, 35.8), shapely.box(36.7, 35.5, 36.9, 35.8)], crs=4326)
    cpath = tmp_path / "control.geojson"
    control.to_file(cpath, driver="GeoJSON")
    page = tmp_path / "m.html"
    r = cli_runner.invoke(cli, ["map", str(src), str(cpath), "-o", str(page)])
    assert r.exit_code == 0, r.output
    text = page.read_text(encoding="utf-8")
    assert_inert(text, [name, texts[0], texts[5]], sentinel)


def test_tile_url_is_text_not_template(cli_runner, tmp_path, sentinel):
    src = _incidents(tmp_path / "inc.csv", ["a"])
    page = tmp_path / "m.html"
    url = "https://{{6007*7}}.example.org/{z}/{x}/{y}.png"
    r = cli_runner.invoke(cli, ["map", str(src), "-o", str(page), "--tiles", url])
    assert r.exit_code == 0, r.output
    text = page.read_text(encoding="utf-8")
    assert "42049" not in text and "{{6007*7}}.example.org" in text


def test_flows_html_with_templates_in_place_names(cli_runner, tmp_path, sentinel):
    texts = payloads(sentinel)
    admin = gpd.GeoDataFrame(
        {"ADM1_PCODE": ["SY07", "SY02"], "ADM1_EN": [texts[0], texts[5]]},
        geometry=[shapely.box(36.0, 35.5, 37.0, 36.5), shapely.box(37.0, 36.0, 38.0, 36.8)], crs=4326)
    apath = tmp_path / "adm1.geojson"
    admin.to_file(apath, driver="GeoJSON")
    records = pd.DataFrame({"date": ["2020-02-03"], "origin": [texts[0]], "destination": [texts[5]],
                            "individuals": [1000]})
    rpath = tmp_path / "records.csv"
    records.to_csv(rpath, index=False)
    out = tmp_path / "flows.geojson"
    page = tmp_path / "flows.html"
    r = cli_runner.invoke(cli, ["flows", str(rpath), "--admin", str(apath), "-o", str(out),
                                "--html", str(page)])
    assert r.exit_code == 0, r.output
    text = page.read_text(encoding="utf-8")
    assert_inert(text, [texts[0], texts[5]], sentinel)


def test_library_write_map_title_and_legend(tmp_path, sentinel):
    from geoconflict.maps import Layer, write_map

    texts = payloads(sentinel)
    gdf = gpd.GeoDataFrame({"name": texts}, geometry=[shapely.Point(36 + i * 0.01, 35) for i in range(len(texts))],
                           crs=4326)
    page = tmp_path / "lib.html"
    write_map([Layer(texts[1], "areas", gdf)], page, title=texts[5], subtitle=texts[2],
              sources=texts, data_as_of=texts[0])
    assert_inert(page.read_text(encoding="utf-8"), texts, sentinel)


def test_qml_and_svg_escape_markup_and_control_characters(tmp_path):
    """QML (GeoPackage styles) and SVG carry untrusted class names as escaped XML."""
    import xml.etree.ElementTree as ET

    from geoconflict import styles
    from geoconflict.qml import qml_for

    weird = ["<b>&\"x'</b>", "{{ 6007*7 }}", "bell\x07tab\tnl\n", "]]><!--"]
    gdf = gpd.GeoDataFrame({"controller": weird}, geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)],
                           crs=4326)
    qml = qml_for(styles.symbology_for("control", gdf), "polygon")
    root = ET.fromstring(qml.split("\n", 1)[1] if qml.startswith("<!DOCTYPE") else qml)
    values = {c.get("value") for c in root.iter("category")}
    assert "<b>&\"x'</b>" in values and "{{ 6007*7 }}" in values and "]]><!--" in values
    assert "bell\ufffdtab\tnl\n" in values
