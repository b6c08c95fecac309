"""layers.gpkg opened with QGIS's own engine: every layer loads with its default style.

Runs Debian's system Python with ``qgis.core`` (``QT_QPA_PLATFORM=offscreen``) in a subprocess;
skips cleanly where QGIS is absent. Override the interpreter with ``GEOCONFLICT_QGIS_PYTHON``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import unavailable
from test_maps import PAYLOADS, RASTERIO_AFFINE, sample_layers

from geoconflict import styles
from geoconflict.publish import table_name, write_gpkg, write_raster_style

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(RASTERIO_AFFINE)]

QGIS_PYTHON = os.environ.get("GEOCONFLICT_QGIS_PYTHON", "/usr/bin/python3")

SCRIPT = r"""
import json, sys
from qgis.core import QgsApplication, QgsProviderRegistry, QgsRasterLayer, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
path, raster = sys.argv[1], sys.argv[2]
md = QgsProviderRegistry.instance().providerMetadata("ogr")
out = {}
for sub in md.querySublayers(path):
    name = sub.name()
    lyr = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
    r = lyr.renderer()
    info = {"valid": lyr.isValid(), "features": lyr.featureCount(), "renderer": r.type() if r else None,
            "styles": lyr.listStylesInDatabase()[0] if lyr.isValid() else -1}
    if r is not None and r.type() == "categorizedSymbol":
        info["attr"] = r.classAttribute()
        info["cats"] = {str(c.value()): c.symbol().color().name() for c in r.categories()}
    elif r is not None and r.type() == "graduatedSymbol":
        info["attr"] = r.classAttribute()
        info["ranges"] = [[g.lowerValue(), g.upperValue(), g.symbol().color().name()] for g in r.ranges()]
    elif r is not None and r.type() == "singleSymbol":
        sym = r.symbol()
        info["colour"] = sym.color().name() if sym.type() != 1 else sym.symbolLayer(0).color().name()
        if sym.type() == 1:  # lines: data-defined width and the widths QGIS computes per feature
            from qgis.core import QgsExpression, QgsExpressionContext, QgsExpressionContextUtils, QgsSymbolLayer
            prop = sym.symbolLayer(0).dataDefinedProperties().property(QgsSymbolLayer.PropertyStrokeWidth)
            info["width_expr"] = prop.expressionString() if prop.isActive() else None
            if prop.isActive():
                ctx = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(lyr))
                widths = []
                for f in lyr.getFeatures():
                    ctx.setFeature(f)
                    widths.append(QgsExpression(prop.expressionString()).evaluate(ctx))
                info["widths_mm"] = widths
    out[name] = info
rl = QgsRasterLayer(raster, "kde")
out["__raster__"] = {"valid": rl.isValid(), "renderer": rl.renderer().type() if rl.isValid() else None}
print("RESULT " + json.dumps(out), flush=True)
import os
os._exit(0)  # QGIS may crash tearing down Qt objects at interpreter exit; the result is out
"""


def _qgis_available() -> bool:
    if not Path(QGIS_PYTHON).exists():
        return False
    try:
        r = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60,
                           env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def run_qgis(gpkg: Path, raster: Path) -> dict:
    if not _qgis_available():
        unavailable("qgis", f"QGIS Python bindings not available ({QGIS_PYTHON} -c 'import qgis.core' failed)")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": ""}
    r = subprocess.run([QGIS_PYTHON, "-c", SCRIPT, str(gpkg), str(raster)], capture_output=True,
                       text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(x for x in r.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


EXPECTED = {"admin": "singleSymbol", "control": "categorizedSymbol", "front_line": "singleSymbol",
            "corridor": "singleSymbol", "areas": "singleSymbol", "incidents": "categorizedSymbol",
            "grid": "graduatedSymbol", "hotspots": "categorizedSymbol", "flows": "singleSymbol",
            "arrows": "singleSymbol"}


@pytest.mark.parametrize("payload", [False, True], ids=["clean", "payloads"])
def test_qgis_opens_every_layer_styled(tmp_path: Path, payload: bool) -> None:
    layers = sample_layers(tmp_path, payload=payload)
    gpkg = write_gpkg(layers, tmp_path / "layers.gpkg")
    kde = next(layer for layer in layers if layer.kind == "kde")
    write_raster_style(kde.data)
    got = run_qgis(gpkg, kde.data)
    taken: set[str] = set()
    for layer in layers:
        if layer.kind == "kde":
            continue
        info = got[table_name(layer.name, taken)]
        assert info["valid"] and info["features"] == len(layer.data)
        assert info["styles"] >= 1
        assert info["renderer"] == EXPECTED[layer.kind], layer.name
        sym = styles.symbology_for(layer.kind, layer.data)
        if layer.kind in ("control", "incidents"):
            assert info["attr"] == sym.attr
            assert info["cats"] == {v: sym.symbols[k].fill for v, k in sym.categories.items()}
        if layer.kind == "hotspots":
            assert info["attr"] == "hotspot"
            assert info["cats"]["Hot spot, 99% confidence"] == styles.HOTSPOT_COLOURS["hot99"]
        if layer.kind == "grid":
            assert [[lo, hi] for lo, hi, _ in info["ranges"]][1:] == [[0.0, 2.0], [2.0, 5.0], [5.0, 12.0]]
            assert [c for *_, c in info["ranges"]][1:] == [sym.symbols[k].fill for k in ("c1", "c2", "c3")]
        if layer.kind == "front_line":
            assert info["colour"] == "#111111" and info["width_expr"] is None
        if layer.kind == "flows":  # the HTML map's √ widths (px → mm at 0.26 mm/px), computed by QGIS
            expected = styles.flow_widths(layer.data["individuals"]) * 0.26
            assert info["widths_mm"] == pytest.approx(list(expected), abs=0.01)
    if payload:
        assert PAYLOADS[2] in got[table_name("Control zones " + PAYLOADS[1], set())]["cats"]
    assert got["__raster__"] == {"valid": True, "renderer": "singlebandpseudocolor"}
