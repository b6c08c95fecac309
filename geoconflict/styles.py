"""One symbology for every output: colours per layer kind and class.

The HTML map (:mod:`geoconflict.maps`), the static map (:mod:`geoconflict.png`) and the QGIS
styles in ``layers.gpkg`` (:mod:`geoconflict.publish`) all ask :func:`symbology_for` how a layer
looks, so a controller, a sub-event type or a density class has the same colour everywhere.

Layer kinds (detected from the columns by :func:`detect_kind`, overridable by the caller):
``admin``, ``control``, ``zones_summary``, ``change``, ``front_line``, ``corridor``, ``areas``,
``incidents``, ``grid``, ``hotspots``, ``flows``, ``arrows``, ``kde`` (a GeoTIFF).
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ._jenks import JENKS_SAMPLE, fisher_jenks
from .errors import InputError

KINDS: tuple[str, ...] = (
    "admin", "control", "zones_summary", "change", "front_line", "corridor", "areas",
    "incidents", "grid", "hotspots", "flows", "arrows", "kde", "places",
)

#: drawing order, bottom to top
DRAW_ORDER: tuple[str, ...] = (
    "control", "change", "zones_summary", "kde", "admin", "grid", "hotspots", "corridor", "areas",
    "front_line", "flows", "arrows", "incidents", "places",
)

#: a readable title per kind (layer control, legends)
KIND_TITLES: dict[str, str] = {
    "admin": "Admin boundaries", "control": "Control zones", "zones_summary": "Area by controller",
    "change": "Territory that changed hands", "front_line": "Front line", "corridor": "Corridor",
    "areas": "Areas", "incidents": "Incidents", "grid": "Incident density", "hotspots": "Hot spots (Gi*)",
    "flows": "Displacement flows", "arrows": "Flow arrows", "kde": "Incident density (KDE)",
    "places": "Place names",
}


@dataclass(frozen=True)
class Symbol:
    """How one class of features is drawn (colours as ``#rrggbb``; widths in CSS pixels)."""

    stroke: str | None = "#333333"
    width: float = 1.0
    stroke_opacity: float = 1.0
    fill: str | None = None
    fill_opacity: float = 0.0
    dash: str | None = None  #: CSS dash array, e.g. "6 4"
    radius: float = 5.0  #: points

    def leaflet(self) -> dict[str, object]:
        """Leaflet path options."""
        out: dict[str, object] = {
            "stroke": self.stroke is not None,
            "color": self.stroke or "#000000",
            "weight": self.width,
            "opacity": self.stroke_opacity,
            "fill": self.fill is not None,
            "fillColor": self.fill or "#000000",
            "fillOpacity": self.fill_opacity if self.fill is not None else 0.0,
            "radius": self.radius,
        }
        if self.dash:
            out["dashArray"] = self.dash
        return out


@dataclass
class Symbology:
    """The classes of one layer.

    ``keys`` gives each feature's class key (same order as the layer's rows); ``symbols`` and
    ``labels`` are keyed by class key in legend order. ``attr`` is the attribute a QGIS
    categorized or graduated renderer reads; ``categories`` maps each attribute value to its
    class key (categorized), ``ranges`` gives ``(lower, upper)`` per class key (graduated).
    """

    kind: str
    mode: str  #: "single", "categorized" or "graduated"
    keys: np.ndarray
    symbols: dict[str, Symbol]
    labels: dict[str, str]
    attr: str | None = None
    categories: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    title: str = ""
    extra: dict[str, str] = field(default_factory=dict)  #: legend label suffixes (e.g. areas)


# --------------------------------------------------------------------------- colours

#: ordered (keywords, family of colours); the first matching family wins
CONTROLLER_FAMILIES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("islamic state", "isis", "isil", "daesh"), ("#252525", "#636363")),
    (("sdf", "kurd", "ypg", "aanes", "syrian democratic"), ("#e6ab02", "#fdd835", "#a67c00")),
    (("turk", "syrian national army", "sna", "tfsa"), ("#2166ac", "#67a9cf", "#053061")),
    (
        ("opposition", "anti-government", "anti-assad", "rebel", "hts", "hay'at tahrir",
         "hayat tahrir", "tahrir al-sham", "nlf", "national front", "national liberation",
         "fsa", "free syrian", "jihadist", "huras"),
        ("#1a9850", "#66bd63", "#00441b", "#a6d96a"),
    ),
    (
        ("government", "regime", "syrian arab army", "saa", "assad", "military forces of syria",
         "russia", "iran", "hezbollah", "pro-government"),
        ("#d73027", "#f46d43", "#a50026", "#fdae61"),
    ),
    (("contested", "disputed", "no control", "unknown", "none"), ("#bdbdbd", "#969696")),
)

#: distinct colours for anything no family claims
PALETTE: tuple[str, ...] = (
    "#1b9e77", "#e7298a", "#a6761d", "#17becf", "#66a61e", "#b8860b", "#7570b3", "#4d4d4d",
    "#f781bf", "#01665e", "#c51b7d", "#bcbd22", "#8c564b", "#d95f02", "#7b3294", "#5e3c99",
)

SUB_EVENT_COLOURS: dict[str, str] = {
    "air/drone strike": "#d62728",
    "shelling/artillery/missile attack": "#ff7f0e",
    "armed clash": "#6a3d9a",
    "attack": "#8c564b",
    "remote explosive/landmine/ied": "#e377c2",
    "suicide bomb": "#67001f",
    "grenade": "#bcbd22",
    "chemical weapon": "#4d9221",
    "government regains territory": "#9e0142",
    "non-state actor overtakes territory": "#1a9850",
    "non-violent transfer of territory": "#66c2a5",
    "headquarters or base established": "#7570b3",
    "abduction/forced disappearance": "#17becf",
    "sexual violence": "#f781bf",
    "looting/property destruction": "#a6761d",
    "arrests": "#1f78b4",
    "disrupted weapons use": "#7f7f7f",
}

HOTSPOT_COLOURS: dict[str, str] = {
    "hot99": "#b2182b", "hot95": "#ef8a62", "hot90": "#fdcbb0",
    "cold90": "#c6dbef", "cold95": "#67a9cf", "cold99": "#2166ac",
}
HOTSPOT_LABELS: dict[str, str] = {
    "hot99": "Hot spot, 99% confidence", "hot95": "Hot spot, 95% confidence",
    "hot90": "Hot spot, 90% confidence", "ns": "Not significant",
    "cold90": "Cold spot, 90% confidence", "cold95": "Cold spot, 95% confidence",
    "cold99": "Cold spot, 99% confidence",
}

GRID_CMAP = "YlOrRd"
KDE_CMAP = "YlOrRd"
FLOW_COLOUR = "#3f51b5"
MISSING = "(none)"


def text_values(values: Iterable[object]) -> list[str]:
    """Each value as text; missing and empty values are :data:`MISSING`.  Computed once per
    distinct value (a column of 200,000 incident types has a handful)."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
    words = np.array([MISSING if (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                                  or str(v) == "") else str(v) for v in uniques] + [MISSING], dtype=object)
    return words[np.where(codes < 0, len(uniques), codes)].tolist()


def controller_colours(names: Iterable[object]) -> dict[str, str]:
    """A distinct colour per controller: government reds, opposition greens, Turkish-backed blues,
    SDF yellows, IS greys, contested light grey, others from :data:`PALETTE` (sorted, stable)."""
    uniq = sorted(set(text_values(names)), key=lambda k: (k == MISSING, k))
    out: dict[str, str] = {}
    used: set[str] = set()
    pending: list[str] = []
    for name in uniq:
        low = name.lower()
        colour = None
        for keywords, family in CONTROLLER_FAMILIES:
            if any(re.search(rf"(?<![a-z]){re.escape(k)}(?![a-z])", low) for k in keywords):
                free = [c for c in family if c not in used]
                colour = free[0] if free else None
                break
        if colour is None:
            pending.append(name)
        else:
            out[name] = colour
            used.add(colour)
    out.update(_from_palette(pending, used))
    return out


#: matplotlib's ``tab20``, after :data:`PALETTE` (as hex, so that styling needs no matplotlib import)
TAB20: tuple[str, ...] = (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
    "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
    "#bcbd22", "#dbdb8d", "#17becf", "#9edae5",
)


def _hex(rgb: Iterable[float]) -> str:
    """``#rrggbb`` from channels in [0, 1], rounded as matplotlib's ``to_hex`` rounds them."""
    return "#" + "".join(format(round(float(v) * 255), "02x") for v in rgb)


def _from_palette(names: Sequence[str], used: set[str]) -> dict[str, str]:
    free = [c for c in dict.fromkeys([*PALETTE, *TAB20]) if c not in used]
    out: dict[str, str] = {}
    for i, name in enumerate(names):
        if i < len(free):
            out[name] = free[i]
        else:  # very many classes: evenly spaced hues
            hue = ((i - len(free)) * 0.618034) % 1.0
            out[name] = _hex(colorsys.hsv_to_rgb(hue, 0.65, 0.8))
        used.add(out[name])
    return out


def sub_event_colours(types: Iterable[object]) -> dict[str, str]:
    """A colour per ACLED sub-event type (strikes red/orange, clashes purple …), others from the palette."""
    uniq = sorted(set(text_values(types)), key=lambda k: (k == MISSING, k))
    out = {t: SUB_EVENT_COLOURS[t.lower()] for t in uniq if t.lower() in SUB_EVENT_COLOURS}
    out.update(_from_palette([t for t in uniq if t not in out], set(out.values())))
    return out


#: colour stops of the ramps used here, as matplotlib defines them (``matplotlib._cm``):
#: :func:`ramp_rgba` builds matplotlib's 256-entry lookup table from them, without importing it
RAMP_STOPS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "YlOrRd": (
        (1.0, 1.0, 0.8),
        (1.0, 0.9294117647058824, 0.6274509803921569),
        (0.996078431372549, 0.8509803921568627, 0.4627450980392157),
        (0.996078431372549, 0.6980392156862745, 0.2980392156862745),
        (0.9921568627450981, 0.5529411764705883, 0.23529411764705882),
        (0.9882352941176471, 0.3058823529411765, 0.16470588235294117),
        (0.8901960784313725, 0.10196078431372549, 0.10980392156862745),
        (0.7411764705882353, 0.0, 0.14901960784313725),
        (0.5019607843137255, 0.0, 0.14901960784313725),
    ),
}
#: entries in matplotlib's lookup table of a colour map
_LUT_SIZE = 256


def _lookup_table(stops: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """matplotlib's ``LinearSegmentedColormap.from_list(name, stops, N=256)`` lookup table:
    the stops evenly spaced, linear in between (``colors._create_lookup_table``)."""
    y = np.asarray(stops, dtype=float)
    n = _LUT_SIZE
    x = np.linspace(0.0, 1.0, len(y)) * (n - 1)
    xind = (n - 1) * np.linspace(0.0, 1.0, n)
    ind = np.searchsorted(x, xind)[1:-1]
    distance = ((xind[1:-1] - x[ind - 1]) / (x[ind] - x[ind - 1]))[:, None]
    lut = np.concatenate([y[:1], distance * (y[ind] - y[ind - 1]) + y[ind - 1], y[-1:]])
    return np.clip(lut, 0.0, 1.0)


def ramp_rgba(cmap: str, values: Any) -> np.ndarray:
    """matplotlib's ``colormaps[cmap](values)``: RGBA floats, the values' shape plus 4.  The maps
    of :data:`RAMP_STOPS` come from the built-in lookup table (no matplotlib import, which takes
    0.2 s, and one take where matplotlib masks the array three times: 0.5 s for a 1,200-pixel
    KDE on the HTML map); others from matplotlib.  As matplotlib: ``x * N`` truncated, 1.0 the
    last entry, below 0 the first, above 1 the last, NaN transparent black."""
    v = np.asarray(values, dtype=float)
    if cmap not in RAMP_STOPS:
        import matplotlib

        return np.asarray(matplotlib.colormaps[cmap](v), dtype=float)
    lut = np.column_stack([_lookup_table(RAMP_STOPS[cmap]), np.ones(_LUT_SIZE)])
    bad = np.isnan(v)
    idx = np.clip(np.where(bad, 0.0, v) * _LUT_SIZE, 0, _LUT_SIZE - 1).astype(np.intp)
    rgba = lut[idx]
    if bad.any():
        rgba[bad] = 0.0
    return rgba


def ramp(cmap: str, n: int, *, start: float = 0.15, stop: float = 0.95) -> list[str]:
    """``n`` colours along a matplotlib colour map, as ``#rrggbb`` (:func:`ramp_rgba`)."""
    where = [stop] if n <= 1 else list(np.linspace(start, stop, n))
    return [_hex(c[:3]) for c in ramp_rgba(cmap, where)]


def kde_rgba(norm: np.ndarray) -> np.ndarray:
    """A density raster's colours, on the HTML map and the PNG alike: ``norm`` (density over its
    maximum, in [0, 1]) on the :data:`KDE_CMAP` ramp, transparent below 2 % of the maximum and
    25-85 % opaque above it, with the density."""
    rgba = ramp_rgba(KDE_CMAP, norm)
    rgba[..., 3] = np.where(norm > 0.02, 0.25 + 0.6 * norm, 0.0)
    return rgba


# --------------------------------------------------------------------------- kind detection

_ADMIN_COL = re.compile(r"(pcode|^adm\d|_adm\d|^admin\d?$|^admin\d_|name)", re.IGNORECASE)


def detect_kind(columns: Iterable[str], *, geom_types: Iterable[str] = (), name: str = "") -> str:
    """The layer kind from its columns (and geometry types and file name)."""
    cols = {c.lower() for c in columns}
    geoms = {str(g) for g in geom_types if g}
    lines = bool(geoms) and geoms <= {"LineString", "MultiLineString"}
    polys = bool(geoms) and geoms <= {"Polygon", "MultiPolygon"}
    points = bool(geoms) and geoms <= {"Point"}
    stem = name.lower()
    if "incident_id" in cols:
        return "incidents"
    if points and "name" in cols and ({"rank", "label_always", "pp_pcode"} & cols):
        return "places"
    if {"origin", "destination"} <= cols:
        return "arrows" if polys else "flows"
    if {"from_controller", "to_controller"} <= cols:
        return "change"
    if "hotspot" in cols or "gi_z" in cols:
        return "hotspots"
    if "cell_id" in cols and "count" in cols:
        return "grid"
    if {"controller", "area_km2"} <= cols and not polys:
        return "zones_summary"
    if lines and ({"front", "controller_left", "controller_right"} & cols or stem.startswith("front")):
        return "front_line"
    if "controller" in cols and not lines:
        return "control"
    if "side" in cols and polys:
        return "corridor"
    if lines:
        return "front_line" if "front" in stem else "areas"
    if polys and any(_ADMIN_COL.search(c) for c in cols if c not in ("name",)):
        return "admin"
    if "name" in cols:
        return "areas"
    if polys:
        return "admin"
    raise InputError(f"cannot tell what kind of layer {name or 'this'} is from its columns",
                     fix="name its kind, e.g. --kind NAME=admin (or Layer(name, kind, data))")


# --------------------------------------------------------------------------- symbology

_SINGLE: dict[str, Symbol] = {
    "admin": Symbol(stroke="#6b6b6b", width=0.8, fill=None),
    "front_line": Symbol(stroke="#111111", width=3.0),
    "corridor": Symbol(stroke="#e08214", width=1.5, fill="#fdb863", fill_opacity=0.25, dash="6 4"),
    "areas": Symbol(stroke="#7b3294", width=1.5, fill="#c2a5cf", fill_opacity=0.15, dash="4 3"),
    "flows": Symbol(stroke=FLOW_COLOUR, width=3.0, stroke_opacity=0.75),
    "arrows": Symbol(stroke=FLOW_COLOUR, width=0.5, fill=FLOW_COLOUR, fill_opacity=0.85),
    "zones_summary": Symbol(stroke="#333333", width=0.8, fill="#bdbdbd", fill_opacity=0.4),
    "places": Symbol(stroke="#222222", width=1.0, fill="#ffffff", fill_opacity=1.0),
}


def _single(kind: str, n: int) -> Symbology:
    sym = _SINGLE.get(kind, Symbol())
    return Symbology(kind=kind, mode="single", keys=np.full(n, "all", dtype=object),
                     symbols={"all": sym}, labels={"all": KIND_TITLES.get(kind, kind)},
                     title=KIND_TITLES.get(kind, kind))


def _categorized(kind: str, values: pd.Series, colours: dict[str, str], column: str,
                 base: Symbol) -> Symbology:
    text = np.array(text_values(values), dtype=object)
    keys = sorted(colours, key=lambda k: (k == MISSING, k))
    symbols: dict[str, Symbol] = {}
    for k in keys:
        c = colours[k]
        symbols[k] = replace(base, fill=c if base.fill is not None else None,
                             stroke=c if base.fill is None or kind == "incidents" else base.stroke)
    return Symbology(kind=kind, mode="categorized", keys=text, symbols=symbols,
                     labels={k: k for k in keys}, attr=column,
                     categories={k: k for k in keys}, title=KIND_TITLES.get(kind, kind))


def grid_classes(values: Sequence[float] | np.ndarray, *, k: int = 5) -> list[tuple[float, float]]:
    """Class ranges ``(lower, upper]`` for positive counts (Fisher-Jenks, :func:`fisher_jenks`;
    the unique values themselves when there are ``k`` or fewer)."""
    y = np.asarray(values, dtype=float)
    y = y[np.isfinite(y) & (y > 0)]
    if y.size == 0:
        return []
    uniq = np.unique(y)
    if uniq.size <= k:
        uppers = list(uniq)
    else:
        sample = np.sort(y)
        if sample.size > JENKS_SAMPLE:  # Fisher-Jenks is O(k·n²): fit on evenly spaced quantiles
            sample = sample[np.linspace(0, sample.size - 1, JENKS_SAMPLE).round().astype(int)]
        uppers = list(np.unique(fisher_jenks(sample, k)))
        uppers[-1] = float(y.max())
    lowers = [0.0] + uppers[:-1]
    return [(float(lo), float(hi)) for lo, hi in zip(lowers, uppers, strict=False)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.3g}"


def _range_label(lo: float, hi: float, integer: bool) -> str:
    if integer:
        first = int(np.floor(lo)) + 1
        return _fmt(hi) if first >= hi else f"{_fmt(first)}–{_fmt(hi)}"
    return f"> {_fmt(lo)} – {_fmt(hi)}"


def _graduated(kind: str, values: pd.Series, column: str) -> Symbology:
    y = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ranges = grid_classes(y)
    colours = ramp(GRID_CMAP, len(ranges))
    finite = y[np.isfinite(y)]
    integer = bool(finite.size == 0 or np.all(finite == np.round(finite)))
    keys = np.full(y.size, "c0", dtype=object)
    symbols = {"c0": Symbol(stroke="#bdbdbd", width=0.3, stroke_opacity=0.6, fill=None)}
    labels = {"c0": "0"}
    rng: dict[str, tuple[float, float]] = {"c0": (-1e-9, 0.0)} if np.any(y <= 0) else {}
    if not rng:
        symbols, labels = {}, {}
    uppers = np.array([hi for _, hi in ranges])
    if ranges:
        idx = np.searchsorted(uppers, y, side="left")
        pos = np.isfinite(y) & (y > 0)
        for i, ((lo, hi), c) in enumerate(zip(ranges, colours, strict=False)):
            key = f"c{i + 1}"
            symbols[key] = Symbol(stroke="#969696", width=0.3, stroke_opacity=0.6, fill=c, fill_opacity=0.75)
            labels[key] = _range_label(lo, hi, integer)
            rng[key] = (lo, hi)
        keys[pos] = np.array([f"c{i + 1}" for i in range(len(ranges))], dtype=object)[
            np.clip(idx[pos], 0, len(ranges) - 1)]
    return Symbology(kind=kind, mode="graduated", keys=keys, symbols=symbols, labels=labels,
                     attr=column, ranges=rng, title=KIND_TITLES.get(kind, kind))


def hotspot_class(labels: pd.Series | None, z: pd.Series | None, n: int) -> np.ndarray:
    """``hot99`` … ``ns`` … ``cold99`` from the ``hotspot`` label (its words and confidence) or
    else from ``gi_z`` (|z| ≥ 2.576, 1.960, 1.645)."""
    out = np.full(n, "ns", dtype=object)
    zz = pd.to_numeric(z, errors="coerce").to_numpy(dtype=float) if z is not None else np.full(n, np.nan)
    conf_z = np.where(np.abs(zz) >= 2.576, "99", np.where(np.abs(zz) >= 1.960, "95",
                                                          np.where(np.abs(zz) >= 1.645, "90", "")))
    if labels is not None:
        low = pd.Series(text_values(labels)).str.lower()
        side = np.where(low.str.contains("hot"), "hot", np.where(low.str.contains("cold"), "cold", ""))
        not_sig = low.str.contains("not").to_numpy()
        side = np.where(not_sig, "", side)
        conf = low.str.extract(r"(99|95|90)")[0].fillna("").to_numpy(dtype=object)
        conf = np.where(conf == "", conf_z, conf)
        conf = np.where(conf == "", "90", conf)
    else:
        side = np.where(zz >= 1.645, "hot", np.where(zz <= -1.645, "cold", ""))
        conf = conf_z
    sig = side != ""
    out[sig] = (side[sig].astype(object) + conf[sig].astype(object))
    return out


def _hotspots(gdf: pd.DataFrame) -> Symbology:
    n = len(gdf)
    keys = hotspot_class(gdf["hotspot"] if "hotspot" in gdf else None,
                         gdf["gi_z"] if "gi_z" in gdf else None, n)
    order = ["hot99", "hot95", "hot90", "ns", "cold90", "cold95", "cold99"]
    present = [k for k in order if k in set(keys)] or ["ns"]
    symbols = {k: (Symbol(stroke="#bdbdbd", width=0.3, stroke_opacity=0.5, fill=None) if k == "ns"
                   else Symbol(stroke=HOTSPOT_COLOURS[k], width=2.5 if k.endswith("99") else 1.8,
                               fill=HOTSPOT_COLOURS[k], fill_opacity=0.25))  # outlined: the grid shows through
               for k in present}
    sym = Symbology(kind="hotspots", mode="categorized", keys=keys, symbols=symbols,
                    labels={k: HOTSPOT_LABELS[k] for k in present}, title=KIND_TITLES["hotspots"])
    if "hotspot" in gdf:  # QGIS categorizes on the label column, each value to its class
        text = text_values(gdf["hotspot"])
        sym.attr = "hotspot"
        sym.categories = dict(zip(text, keys, strict=False))
    return sym


def flow_widths(individuals: Sequence[float] | np.ndarray, *, min_px: float = 1.5,
                max_px: float = 14.0) -> np.ndarray:
    """Line widths proportional to the square root of the number of people (CSS pixels)."""
    v = np.nan_to_num(np.asarray(individuals, dtype=float), nan=0.0).clip(min=0)
    top = v.max() if v.size else 0.0
    if top <= 0:
        return np.full(v.size, min_px)
    return min_px + (max_px - min_px) * np.sqrt(v / top)


def flow_width_legend(individuals: Sequence[float] | np.ndarray) -> list[tuple[float, float]]:
    """Example ``(people, width_px)`` pairs for a legend: round values near 100%, 25% and 4% of
    the largest flow, widths by :func:`flow_widths` against that largest flow."""
    import math

    v = np.asarray(pd.to_numeric(pd.Series(np.asarray(individuals, dtype=float)), errors="coerce"), dtype=float)
    v = v[np.isfinite(v)]
    top = float(v.max()) if v.size else 0.0
    if top <= 0:
        return []
    out: list[tuple[float, float]] = []
    for frac in (1.0, 0.25, 0.04):
        x = top * frac
        mag = 10 ** math.floor(math.log10(x))
        nice = float(max(n * mag for n in (1, 2, 5) if n * mag <= x * (1 + 1e-9)))
        if nice > 0 and all(nice != e for e, _ in out):
            w = float(flow_widths(np.array([nice, top]))[0])
            out.append((nice, w))
    return out


def symbology_for(kind: str, gdf: pd.DataFrame) -> Symbology:
    """The classes, colours and legend labels of a layer of ``kind``."""
    n = len(gdf)
    if kind in ("control", "change", "zones_summary"):
        column = "to_controller" if kind == "change" else "controller"
        if column not in gdf:
            return _single(kind, n)
        base = Symbol(stroke="#ffffff", width=1.0, fill="#000000", fill_opacity=0.45)
        if kind == "change":
            base = Symbol(stroke="#000000", width=1.2, fill="#000000", fill_opacity=0.6, dash="3 3")
        sym = _categorized(kind, gdf[column], controller_colours(gdf[column]), column, base)
        if kind == "change":
            sym.labels = {k: f"now held by {k}" for k in sym.labels}
        return sym
    if kind == "incidents":
        found = "sub_event_type" if "sub_event_type" in gdf else ("event_type" if "event_type" in gdf else None)
        if found is None:
            s = _single(kind, n)
            s.symbols = {"all": Symbol(stroke="#ffffff", width=1, fill="#d62728", fill_opacity=0.9, radius=5)}
            return s
        base = Symbol(stroke="#ffffff", width=1.0, fill="#000000", fill_opacity=0.9, radius=6)
        sym = _categorized(kind, gdf[found], sub_event_colours(gdf[found]), found, base)
        sym.symbols = {k: replace(s, stroke="#ffffff") for k, s in sym.symbols.items()}
        return sym
    if kind == "grid":
        return _graduated(kind, gdf["count"] if "count" in gdf else pd.Series(np.zeros(n)), "count")
    if kind == "hotspots":
        return _hotspots(gdf)
    return _single(kind, n)


def geometry_family(geom_types: Iterable[str]) -> str:
    """``point``, ``line`` or ``polygon`` for QGIS symbol types."""
    types = {str(t) for t in geom_types if t}
    if types and types <= {"Point", "MultiPoint"}:
        return "point"
    if types and types <= {"LineString", "MultiLineString"}:
        return "line"
    return "polygon"
