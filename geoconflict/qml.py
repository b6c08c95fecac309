"""QGIS styles (QML) from the one symbology of :mod:`geoconflict.styles`: categorized,
graduated and single-symbol renderers for vector layers, a pseudocolour ramp for the KDE.

Class names come from the data (controllers, event types): every attribute value is escaped
with :func:`quoteattr`, and characters XML cannot carry become U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr as _quoteattr

import numpy as np

from .styles import KDE_CMAP, MISSING, Symbol, Symbology, ramp

#: characters XML 1.0 cannot carry, even escaped (QGIS would refuse the whole style)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def quoteattr(value: str) -> str:
    """An XML attribute value, quoted and escaped; characters XML cannot carry become U+FFFD."""
    return _quoteattr(_XML_INVALID.sub("\ufffd", value))


def _rgba(colour: str | None, alpha: float = 1.0) -> str:
    if colour is None:
        return "0,0,0,0"
    c = colour.lstrip("#")
    r, g, b = int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    return f"{r},{g},{b},{int(round(alpha * 255))}"


def _opt(name: str, value: object) -> str:
    return f'<Option name={quoteattr(name)} type="QString" value={quoteattr(str(value))}/>'


def _mm(px: float) -> str:
    return f"{px * 0.26:.2f}"  # 1 CSS px ≈ 0.26 mm


def _data_defined(prop: str, expression: str) -> str:
    return (
        '<data_defined_properties><Option type="Map"><Option name="name" type="QString" value=""/>'
        f'<Option name="properties" type="Map"><Option name={quoteattr(prop)} type="Map">'
        '<Option name="active" type="bool" value="true"/>'
        f'<Option name="expression" type="QString" value={quoteattr(expression)}/>'
        '<Option name="type" type="int" value="3"/></Option></Option>'
        '<Option name="type" type="QString" value="collection"/></Option></data_defined_properties>'
    )


def flow_width_expression(column: str = "individuals", *, min_px: float = 1.5, max_px: float = 14.0) -> str:
    """The QGIS expression (millimetres) for :func:`flow_widths`: √-scaled to the layer's maximum."""
    lo, hi = float(_mm(min_px)), float(_mm(max_px))
    col = '"' + column.replace('"', '""') + '"'
    return (f"{lo} + ({hi} - {lo}) * sqrt(coalesce({col}, 0) / "
            f"if(maximum({col}) > 0, maximum({col}), 1))")


def _symbol_xml(name: str, sym: Symbol, geom: str, *, width_expression: str | None = None) -> str:
    if geom == "point":
        props = [
            _opt("name", "circle"), _opt("color", _rgba(sym.fill, sym.fill_opacity)),
            _opt("outline_color", _rgba(sym.stroke, sym.stroke_opacity)),
            _opt("outline_style", "solid" if sym.stroke else "no"),
            _opt("outline_width", _mm(sym.width)), _opt("outline_width_unit", "MM"),
            _opt("size", f"{sym.radius * 2 * 0.26:.2f}"), _opt("size_unit", "MM"),
        ]
        cls, typ = "SimpleMarker", "marker"
    elif geom == "line":
        props = [
            _opt("line_color", _rgba(sym.stroke, sym.stroke_opacity)),
            _opt("line_style", "dash" if sym.dash else "solid"),
            _opt("line_width", _mm(sym.width)), _opt("line_width_unit", "MM"),
            _opt("capstyle", "round"), _opt("joinstyle", "round"),
        ]
        cls, typ = "SimpleLine", "line"
    else:
        props = [
            _opt("color", _rgba(sym.fill, sym.fill_opacity)),
            _opt("style", "solid" if sym.fill else "no"),
            _opt("outline_color", _rgba(sym.stroke, sym.stroke_opacity)),
            _opt("outline_style", ("dash" if sym.dash else "solid") if sym.stroke else "no"),
            _opt("outline_width", _mm(sym.width)), _opt("outline_width_unit", "MM"),
        ]
        cls, typ = "SimpleFill", "fill"
    legacy = "".join(
        p.replace("<Option name=", "<prop k=").replace(' type="QString" value=', " v=") for p in props
    )
    return (
        f'<symbol name={quoteattr(name)} type="{typ}" alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="{cls}" enabled="1" locked="0" pass="0">'
        f'<Option type="Map">{"".join(props)}</Option>{legacy}'
        f'{_data_defined("outlineWidth", width_expression) if width_expression and geom == "line" else ""}'
        '</layer></symbol>'
    )


def qml_for(symbology: Symbology, geom: str, *, columns: Sequence[str] = ()) -> str:
    """A QGIS style document (QML) drawing the layer as the HTML map does (flow lines: width
    from ``individuals``, as :func:`flow_widths`, when that column is in ``columns``)."""
    items = list(symbology.symbols.items())
    if symbology.mode == "single" or not symbology.attr:
        sym = items[0][1] if items else Symbol()
        expr = flow_width_expression() if symbology.kind == "flows" and "individuals" in columns else None
        renderer = (
            '<renderer-v2 type="singleSymbol" symbollevels="0" forceraster="0" enableorderby="0">'
            f'<symbols>{_symbol_xml("0", sym, geom, width_expression=expr)}</symbols></renderer-v2>'
        )
    elif symbology.mode == "categorized":
        index = {k: str(i) for i, (k, _) in enumerate(items)}
        cats = "".join(
            f'<category render="true" symbol="{index[key]}" value={quoteattr(value)} '
            f'label={quoteattr(value if value != MISSING else "(none)")} type="string"/>'
            for value, key in symbology.categories.items() if key in index
        )
        syms = "".join(_symbol_xml(index[k], s, geom) for k, s in items)
        renderer = (
            f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(symbology.attr)} symbollevels="0" '
            f'forceraster="0" enableorderby="0"><categories>{cats}</categories>'
            f'<symbols>{syms}</symbols></renderer-v2>'
        )
    else:
        index = {k: str(i) for i, (k, _) in enumerate(items)}
        rngs = "".join(
            f'<range render="true" symbol="{index[k]}" lower="{lo:.6f}" upper="{hi:.6f}" '
            f'label={quoteattr(symbology.labels[k])}/>'
            for k, (lo, hi) in symbology.ranges.items()
        )
        syms = "".join(_symbol_xml(index[k], s, geom) for k, s in items)
        renderer = (
            f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(symbology.attr)} '
            'graduatedMethod="GraduatedColor" symbollevels="0" forceraster="0" enableorderby="0">'
            f'<ranges>{rngs}</ranges><symbols>{syms}</symbols><mode name="jenks"/></renderer-v2>'
        )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22.0" styleCategories="Symbology">'
        f"{renderer}<blendMode>0</blendMode><featureBlendMode>0</featureBlendMode>"
        "<layerOpacity>1</layerOpacity></qgis>\n"
    )


def raster_qml(vmin: float, vmax: float, *, band: int = 1, cmap: str = KDE_CMAP, n: int = 7) -> str:
    """A QGIS pseudocolour style for a density raster (0 transparent), same ramp as the maps."""
    colours = ramp(cmap, n)
    values = np.linspace(vmin, vmax, n)
    items = "".join(
        f'<item alpha="{0 if i == 0 else 255}" value="{v:.6g}" label="{v:.3g}" color="{c}"/>'
        for i, (v, c) in enumerate(zip(values, colours, strict=False))
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22.0" styleCategories="Symbology"><pipe>'
        f'<rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="0.8" '
        f'classificationMin="{vmin:.6g}" classificationMax="{vmax:.6g}" alphaBand="-1">'
        f'<rastershader><colorrampshader colorRampType="INTERPOLATED" classificationMode="2" clip="0">'
        f"{items}</colorrampshader></rastershader></rasterrenderer></pipe></qgis>\n"
    )
