"""Offline, escaped HTML maps (folium / Leaflet) of any geoconflict layers.

The page carries its JavaScript and CSS inline (Leaflet, vendored in
``geoconflict/_vendor``), so it opens with no network; ``tiles=`` adds an online base map.

Untrusted text (notes, actors, places, layer names) never reaches the page as HTML: feature
properties are embedded as JSON with ``<``, ``>``, ``&`` escaped (nothing can close the
``<script>``), popups and tooltips are built with ``textContent``, and every string that is
HTML (titles, legends, layer names in the layer control) goes through :func:`html.escape`.

Large layers are simplified (shared edges kept when the layer is a coverage; grid cells never) or
aggregated and coordinates are rounded to 6 decimals; :class:`MapReport` says what was done.
"""

from __future__ import annotations

import base64
import functools
import html
import io as _stdio
import json
import logging
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import styles
from .crs import metric_crs_for
from .errors import InputError
from .io import COORDINATE_PRECISION, atomic_path, require_file
from .layers import COUNTRIES, Layer, areas_by, date_range, ordered, split_snapshots

log = logging.getLogger(__name__)

VENDOR = Path(__file__).resolve().parent / "_vendor"
ASSETS = Path(__file__).resolve().parent / "_assets"

#: tile base maps offered with ``tiles=`` (any other folium/xyzservices name also works)
TILES: dict[str, str] = {
    "OpenStreetMap": "OpenStreetMap",
    "CartoDB": "CartoDB positron",
    "CartoDB positron": "CartoDB positron",
    "CartoDB voyager": "CartoDB voyager",
}

#: popup fields of the incident layer: (column, label)
INCIDENT_FIELDS: tuple[tuple[str, str], ...] = (
    ("date", "Date"), ("sub_event_type", "Type"), ("event_type", "Event type"),
    ("actor1", "Actor 1"), ("actor2", "Actor 2"), ("fatalities", "Fatalities"),
    ("location", "Location"), ("notes", "Notes"), ("source", "Source"), ("incident_id", "ID"),
    ("flags", "Flags"),
)
#: incidents drawn with every popup field; past this, position, day and type only (``max_features``)
MAX_FULL_DETAIL = 300_000
#: incidents from which a hexagon density layer is added for the zoomed-out view (switched off)
DENSITY_FROM = 20_000
#: layers of grid cells, drawn as they are: a cell already has the fewest vertices of its shape, and
#: simplifying a grid as a coverage can only cut the cells on its edge (5 km hexagons became triangles)
CELL_KINDS: tuple[str, ...] = ("grid", "hotspots")


@dataclass
class MapReport:
    """What :func:`write_map` wrote and what it did to fit the page."""

    path: Path
    size_bytes: int
    layers: list[str]
    features: dict[str, int]
    messages: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = (f"wrote {self.path} ({self.size_bytes / 1e6:.2f} MB, {len(self.layers)} layers: "
                f"{', '.join(self.layers)})")
        return [head, *self.messages]


# --------------------------------------------------------------------------- preparation


def safe_json(obj: Any) -> str:
    """JSON that is safe inside a ``<script>``: ``<``, ``>``, ``&``, U+2028/9 escaped."""
    return escape_json_text(json.dumps(obj, ensure_ascii=False, allow_nan=False))


def escape_json_text(text: str) -> str:
    """Escape serialised JSON for a ``<script>`` (``<`` ``>`` ``&`` only occur inside strings)."""
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def round_coordinates(geoms: Any, decimals: int = COORDINATE_PRECISION) -> np.ndarray:
    """Geometries with coordinates rounded to ``decimals`` (vectorised)."""
    arr = np.asarray(geoms, dtype=object)
    return shapely.transform(arr, lambda c: np.round(c, decimals))


def _wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise InputError(f"layer {what!r} has no CRS", fix="set one (e.g. GeoDataFrame.set_crs(4326))")
    return gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs(4326)


def simplify_layer(gdf: gpd.GeoDataFrame, *, max_vertices: int) -> tuple[gpd.GeoDataFrame, str | None]:
    """Simplify polygons/lines until the layer has at most ``max_vertices`` coordinates.

    Tolerances are metres in the layer's UTM zone. A polygon coverage (admin units, control
    zones) is simplified as one coverage, so neighbours keep their shared edges; anything else
    is simplified feature by feature with topology preserved.
    """
    geoms = gdf.geometry.values
    before = int(shapely.get_num_coordinates(np.asarray(geoms, dtype=object)).sum())
    if before <= max_vertices or len(gdf) == 0:
        return gdf, None
    metric = metric_crs_for(gdf)
    projected = np.asarray(gdf.geometry.to_crs(metric).values, dtype=object)
    polys = bool(np.all(np.isin(shapely.get_type_id(projected), [3, 6])))
    coverage = polys and bool(shapely.coverage_is_valid(projected))
    def simplified(tol: float) -> np.ndarray:
        if coverage:
            return shapely.coverage_simplify(projected, tol)
        return shapely.simplify(projected, tol, preserve_topology=True)

    # the smallest tolerance of the ladder that fits (vertex counts fall as tolerances grow):
    # a bisection, four simplifications instead of up to eleven
    ladder = (10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800)
    lo, hi = 0, len(ladder) - 1
    fits: dict[int, np.ndarray] = {}
    while lo < hi:
        mid = (lo + hi) // 2
        candidate = simplified(ladder[mid])
        if int(shapely.get_num_coordinates(candidate).sum()) <= max_vertices:
            fits[mid], hi = candidate, mid
        else:
            lo = mid + 1
    tol = ladder[lo]
    result = fits[lo] if lo in fits else simplified(tol)
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(result, index=gdf.index, crs=metric).to_crs(gdf.crs).values
    after = int(shapely.get_num_coordinates(np.asarray(out.geometry.values, dtype=object)).sum())
    how = "as a coverage (shared edges kept)" if coverage else "topology preserved"
    return out, f"simplified {before:,} → {after:,} vertices (tolerance {tol:g} m, {how})"


def _json_column(s: pd.Series) -> pd.Series:
    """A column as JSON-ready values (dates ISO, numbers rounded, missing None)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        has_time = bool((s.dropna().dt.normalize() != s.dropna()).any())
        out = s.dt.strftime("%Y-%m-%d %H:%M" if has_time else "%Y-%m-%d")
        return out.astype(object).where(s.notna(), None)
    if pd.api.types.is_bool_dtype(s):
        return s.astype(object).where(s.notna(), None)
    if pd.api.types.is_numeric_dtype(s):
        v = pd.to_numeric(s, errors="coerce").astype("float64")
        r = v.round(4)
        is_int = r.notna() & (r == r.round(0)) & (r.abs() < 2**53)
        obj = r.astype(object)
        obj[is_int] = r[is_int].astype("int64").astype(object) if is_int.any() else obj[is_int]
        return obj.where(np.isfinite(v), None)  # NaN and ±inf have no JSON form
    values = s.astype(object)
    if set(map(type, values.to_numpy())) == {str}:  # text only, nothing missing: as it is
        return values  # astype gives a new Series: the caller's is never changed
    # pandas 3 may infer a string dtype from map() and turn None back into NaN: mask afterwards
    text = values.map(lambda v: None if v is None or v is pd.NA or (isinstance(v, float)
                                                                              and np.isnan(v)) else str(v))
    return text.astype(object).where(s.notna(), None)


_encode_str = json.encoder.encode_basestring  # json.dumps(text, ensure_ascii=False), in C


def _json_value(v: Any) -> str:
    """One value as ``json.dumps(v, ensure_ascii=False, allow_nan=False)`` writes it (numpy scalars
    as the Python values ``DataFrame.to_dict`` gives)."""
    if isinstance(v, np.generic):
        v = v.item()
    return json.dumps(v, ensure_ascii=False, allow_nan=False)


#: JSON text of a value of each plain type, as ``json.dumps`` writes it (floats: finite ones)
_JSON_TEXT: dict[type, Any] = {str: _encode_str, int: int.__repr__, float: float.__repr__,
                               bool: lambda v: "true" if v else "false", type(None): lambda v: "null"}


def _json_values(values: Any) -> list[str]:
    """Each value of a column as JSON text, column-wise: the same text as ``json.dumps`` of each
    value, without a ``json.dumps`` call per value when the column holds only plain values."""
    arr = np.asarray(values, dtype=object)
    types = set(map(type, arr))
    if len(types) == 1 and str in types:
        return list(map(_encode_str, arr))
    if len(types) == 1 and int in types:
        return list(map(int.__repr__, arr))
    if len(types) == 1 and float in types and bool(np.isfinite(arr.astype("float64")).all()):
        return list(map(float.__repr__, arr))
    plain = types <= _JSON_TEXT.keys() and (
        float not in types or all(math.isfinite(v) for v in arr if type(v) is float))  # NaN, inf: refused below
    if plain:
        text = _JSON_TEXT
        return [text[type(v)](v) for v in arr]
    return [_json_value(v) for v in arr]


def _feature_collection(gdf: gpd.GeoDataFrame, props: pd.DataFrame) -> str:
    """A GeoJSON FeatureCollection's text: coordinates rounded, each feature's properties as
    ``json.dumps`` of its record writes them (built column by column, not feature by feature)."""
    geoms = round_coordinates(gdf.geometry.values)
    geo = ["null" if g is None else g for g in shapely.to_geojson(geoms)]
    keys = [json.dumps({c: 0}, ensure_ascii=False)[1:-4] for c in props.columns]  # as json.dumps writes keys
    pattern = ('{"type":"Feature","properties":{' + ", ".join(k.replace("%", "%%") + ": %s" for k in keys)
               + '},"geometry":%s}')
    cols = [_json_values(props.iloc[:, i]) for i in range(len(keys))]
    feats = [pattern % row for row in zip(*cols, geo, strict=True)]
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def _label_columns(gdf: pd.DataFrame, kind: str) -> tuple[str | None, list[tuple[str, str]]]:
    """(tooltip column, popup fields) for a layer."""
    cols = [c for c in gdf.columns if c != getattr(gdf, "_geometry_column_name", "geometry")
            and not str(c).startswith("_")]
    tip = None
    prefer = {
        "admin": [c for c in cols if str(c).upper().endswith("_EN")] + ["name", "NAME"],
        "control": ["controller"], "change": ["to_controller"], "areas": ["name"],
        "corridor": ["name", "side"], "grid": ["count"], "hotspots": ["hotspot"],
        "flows": ["individuals"], "arrows": ["individuals"], "front_line": ["pair", "front", "name"],
    }.get(kind, [])
    for c in prefer:
        if c in cols:
            tip = c
            break
    return tip, [(c, str(c)) for c in cols[:16]]


@dataclass
class _Prepared:
    name: str
    kind: str
    data_js: str
    options: dict[str, Any]
    legend: str
    show: bool = True
    count: int = 0
    days: tuple[str, str] | None = None  # first and last day of dated incidents
    bounds: tuple[float, float, float, float] | None = None
    image: tuple[str, list[list[float]]] | None = None


def _swatch(sym: styles.Symbol, geom: str) -> str:
    if geom == "line":
        return (f'<span class="gc-sw gc-sw-line" style="border-top:{max(2.0, min(sym.width, 6)):.0f}px '
                f'{"dashed" if sym.dash else "solid"} {sym.stroke or "#000"}"></span>')
    if geom == "point":
        return (f'<span class="gc-sw gc-sw-pt" style="background:{sym.fill or "#fff"};'
                f'border-color:{sym.stroke or "#000"}"></span>')
    fill = sym.fill or "transparent"
    op = sym.fill_opacity if sym.fill else 0
    return (f'<span class="gc-sw" style="background:{_rgba_css(fill, op)};'
            f'border:1px {"dashed" if sym.dash else "solid"} {sym.stroke or "transparent"}"></span>')


def _rgba_css(colour: str, alpha: float) -> str:
    if colour == "transparent":
        return "transparent"
    c = colour.lstrip("#")
    return f"rgba({int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{alpha:.2f})"


def _legend(title: str, sym: styles.Symbology, geom: str, extra: Mapping[str, str] | None = None,
            note: str | None = None) -> str:
    foot = f'<div class="gc-muted">{html.escape(note)}</div>' if note else ""
    if sym.mode == "single" and len(sym.symbols) == 1:  # one row: the symbol and the layer's name
        only = next(iter(sym.symbols.values()))
        return (f'<div class="gc-item gc-legend-title">{_swatch(only, geom)}<span>{html.escape(title)}</span>'
                f'</div>{foot}')
    rows = []
    for key, s in sym.symbols.items():
        label = sym.labels.get(key, key)
        suffix = (extra or {}).get(key)
        text = html.escape(label) + (f' <span class="gc-muted">{html.escape(suffix)}</span>' if suffix else "")
        rows.append(f'<div class="gc-item">{_swatch(s, geom)}<span>{text}</span></div>')
    return f'<div class="gc-legend-title">{html.escape(title)}</div>{"".join(rows)}{foot}'


def _prepare_vector(name: str, kind: str, gdf: gpd.GeoDataFrame, *, max_features: int,
                    max_vertices: int, messages: list[str], summary: pd.DataFrame | None = None,
                    show: bool = True, source: str | None = None,
                    valid: tuple[str | None, str | None, str] | None = None) -> _Prepared | None:
    gdf = _wgs84(gdf, name)
    gname = gdf.geometry.name
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        messages.append(f"{name}: {int(empty.sum())} features without geometry not drawn")
        gdf = gdf[~empty]
    if len(gdf) == 0:
        messages.append(f"{name}: no features to draw")
        return None
    geom = styles.geometry_family(gdf.geometry.geom_type.unique())
    if geom != "point" and kind not in CELL_KINDS:
        gdf, msg = simplify_layer(gdf, max_vertices=max_vertices)
        if msg:
            messages.append(f"{name}: {msg}")
    if kind == "incidents":
        return _prepare_incidents(name, gdf, max_features=max_features, messages=messages,
                                  source=source, show=show)
    if kind == "places":
        return _prepare_places(name, gdf, show=show)
    sym = styles.symbology_for(kind, gdf)
    props = pd.DataFrame(index=gdf.index)
    opts: dict[str, Any] = {"styles": {k: s.leaflet() for k, s in sym.symbols.items()}}
    if kind in ("control", "change", "zones_summary"):
        opts["pane"] = "gcZones"  # under the density raster and everything else
    if valid is not None:
        opts.update(valid=list(valid[:2]), group=valid[2], latest=show,
                    asof={"control": "Control", "front_line": "Front line"}.get(kind, valid[2]))
    tip, fields = _label_columns(gdf.drop(columns=[gname]), kind)
    for c, _ in fields:
        props[c] = _json_column(gdf[c])
    opts["popup"] = {"title": tip, "fields": [[c, lab] for c, lab in fields if c != tip]}
    opts["tooltip"] = tip
    if kind == "flows" and "individuals" in gdf:
        props["_w"] = np.round(styles.flow_widths(pd.to_numeric(gdf["individuals"], errors="coerce")), 1)
    short = {k: f"s{i}" for i, k in enumerate(sym.symbols)}  # short, inert style keys
    opts["styles"] = {short[k]: v for k, v in opts["styles"].items()}
    props["_k"] = pd.Series(sym.keys, index=gdf.index).map(short).fillna("s0").to_numpy()
    extra: dict[str, str] | None = None
    note = None
    if kind in ("control", "change") and sym.attr:
        extra = areas_by(gdf, sym.attr)
        if summary is not None and kind == "control":
            extra = {str(r["controller"]): f"{float(r['area_km2']):,.0f} km²"
                     + (f", {float(r['share']) * (100 if float(r['share']) <= 1 else 1):.0f}%"
                        if "share" in summary else "")
                     for _, r in summary.iterrows()} | {k: v for k, v in extra.items() if k not in
                                                        set(map(str, summary["controller"]))}
    width_rows = ""
    if kind == "flows" and "individuals" in gdf:
        tot = pd.to_numeric(gdf["individuals"], errors="coerce").sum()
        note = f"line width ∝ √people; {tot:,.0f} people in {len(gdf)} flows"
        colour = next(iter(sym.symbols.values())).stroke or styles.FLOW_COLOUR
        width_rows = "".join(
            f'<div class="gc-item"><span class="gc-sw gc-sw-line" style="border-top:{w:.1f}px solid {colour}">'
            f'</span><span>{v:,.0f} people</span></div>'
            for v, w in styles.flow_width_legend(gdf["individuals"]))
    legend = _legend(name, sym, geom, extra, note) + width_rows
    if valid is not None:
        legend = '<div class="gc-asof-legend gc-muted"></div>' + legend
    data_js = escape_json_text(_feature_collection(gdf, props))
    b = gdf.total_bounds
    return _Prepared(name=name, kind=kind, data_js=data_js, options=opts, legend=legend, show=show,
                     count=len(gdf), bounds=(float(b[0]), float(b[1]), float(b[2]), float(b[3])))


#: the least zoom at which a place of each rank is named (rank 0 and label_always: always)
PLACE_ZOOMS: dict[int, int] = {0: 0, 1: 7, 2: 9, 3: 10}


def _prepare_places(name: str, gdf: gpd.GeoDataFrame, *, show: bool) -> _Prepared | None:
    """Place names, drawn as text labels that appear by zoom level and never overlap."""
    col = next((c for c in ("name", "PP_NAME_EN", "NAME", "label") if c in gdf), None)
    if col is None:
        return None
    pts = gdf[gdf.geometry.geom_type == "Point"]
    rank = pd.to_numeric(pts["rank"], errors="coerce").fillna(4) if "rank" in pts else pd.Series(4.0, index=pts.index)
    always = pts["label_always"].fillna(False).astype(bool) if "label_always" in pts else pd.Series(False, index=pts.index)
    rank = rank.where(~always, 0).clip(0, 4).astype(int)
    rows = pd.DataFrame({"lat": pts.geometry.y.round(6), "lon": pts.geometry.x.round(6),
                         "name": pts[col].astype(object).map(lambda v: "" if v is None or pd.isna(v) else str(v)),
                         "zoom": rank.map(lambda r: PLACE_ZOOMS.get(r, 11)), "rank": rank})
    rows = rows[rows["name"] != ""].sort_values(["rank", "name"], kind="stable")
    data = [[r.lat, r.lon, r.name, int(r.zoom)] for r in rows.itertuples()]
    b = pts.total_bounds
    return _Prepared(name=name, kind="places", data_js=safe_json({"labels": data}), options={"labels": True},
                     legend="", show=show, count=len(data),
                     bounds=(float(b[0]), float(b[1]), float(b[2]), float(b[3])))


def _prepare_incidents(name: str, gdf: gpd.GeoDataFrame, *, max_features: int, messages: list[str],
                       source: str | None, show: bool) -> _Prepared:
    """Incidents as packed columns drawn on a canvas (see :mod:`geoconflict._packed`)."""
    from ._packed import pack_incidents

    sym = styles.symbology_for("incidents", gdf)
    type_col = sym.attr if sym.attr in gdf else None
    fields = [(c, lab) for c, lab in INCIDENT_FIELDS if c in gdf]
    full = len(gdf) <= max_features
    pts = gdf.geometry
    if not (pts.geom_type == "Point").all():  # an incident drawn as a polygon or line: at a point of it
        messages.append(f"{name}: {int((pts.geom_type != 'Point').sum()):,} incidents are not points; "
                        "each is drawn at a point inside it")
        pts = pts.representative_point()
    packed = pack_incidents(gdf, pts.x.to_numpy(), pts.y.to_numpy(), columns=[c for c, _ in fields],
                            type_col=type_col, dates=gdf["date"] if "date" in gdf else None, full_detail=full)
    short = {k: f"s{i}" for i, k in enumerate(sym.symbols)}  # short, inert style keys
    opts: dict[str, Any] = {"styles": {short[k]: s.leaflet() for k, s in sym.symbols.items()}}
    title_col = type_col if type_col and type_col in dict(fields) else None
    shown = [c for c, _ in fields if c not in packed.left_out or c == "notes"]
    opts["popup"] = {"title": title_col,
                     "fields": [[c, lab] for c, lab in fields if c != title_col and c in shown + ["date"]]}
    opts["type"] = type_col
    if type_col:  # the style of each word of the type dictionary, in the packed order
        opts["typeStyles"] = [short.get(sym.categories.get(w, w), "s0") for w in packed.payload.get("types", [])]
    where = source or f"the data file of layer {name!r}"
    if packed.notes == "left out" and "notes" in gdf:
        opts["notesWhere"] = f"not in this page (page size): see {where}"
    if not full:
        messages.append(f"{name}: {len(gdf):,} incidents > {max_features:,}: each keeps its position, "
                        f"day and type; {', '.join(packed.left_out)} left out of the page (they are in {where})")
    else:
        dropped = [c for c in packed.left_out if c != "notes"]
        if dropped:
            messages.append(f"{name}: {', '.join(dropped)} left out of the page (page size); in {where}")
        if packed.notes == "left out" and "notes" in gdf:
            messages.append(f"{name}: notes left out of the page (page size); they are in {where}")
        elif packed.notes.startswith("cut"):
            messages.append(f"{name}: notes {packed.notes} in the page; the full text is in {where}")
    day = packed.payload.get("day")
    days = (day["day0"], day["last"]) if day else None
    fat = (f", {pd.to_numeric(gdf['fatalities'], errors='coerce').sum():,.0f} fatalities"
           if "fatalities" in gdf else "")
    legend = _legend(name, sym, "point", None, f"{len(gdf):,} incidents{fat}")
    b = gdf.total_bounds
    return _Prepared(name=name, kind="incidents", data_js=safe_json(packed.payload), options=opts, legend=legend,
                     show=show, count=len(gdf), days=days,
                     bounds=(float(b[0]), float(b[1]), float(b[2]), float(b[3])))


def _prepare_kde(name: str, path: Path, messages: list[str]) -> _Prepared:
    """The raster warped to Web Mercator, coloured with the shared ramp, as an inline PNG."""
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    path = require_file(path, "raster")
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read as a GeoTIFF: {exc}", path=path) from None
    with src:
        if src.crs is None:
            raise InputError("raster has no CRS", path=path, fix="write the GeoTIFF with a CRS")
        band = src.read(1, masked=True).astype("float64").filled(np.nan)
        dst_crs = "EPSG:3857"
        w, h = src.width, src.height
        scale = max(1.0, max(w, h) / 1200)
        transform, dw, dh = calculate_default_transform(
            src.crs, dst_crs, w, h, *src.bounds, dst_width=int(w / scale), dst_height=int(h / scale))
        out = np.full((dh, dw), np.nan)
        reproject(band, out, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                  dst_crs=dst_crs, resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan)
        units = src.tags().get("units") or src.tags(1).get("units") or ""
    from pyproj import Transformer

    west, north = transform @ (0, 0)
    east, south = transform @ (dw, dh)
    tr = Transformer.from_crs(dst_crs, 4326, always_xy=True)
    (lon0, lon1), (lat0, lat1) = tr.transform([west, east], [south, north])
    vmax = float(np.nanmax(out)) if np.isfinite(out).any() else 0.0
    norm = np.clip(np.nan_to_num(out, nan=0.0) / vmax, 0, 1) if vmax > 0 else np.zeros_like(out)
    buf = _stdio.BytesIO()
    _imsave(buf, styles.kde_rgba(norm))
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    if scale > 1:
        messages.append(f"{name}: raster {w}×{h} resampled to {dw}×{dh} for the page")
    colours = styles.ramp(styles.KDE_CMAP, 5)
    bar = "".join(f'<span style="background:{c}"></span>' for c in colours)
    legend = (f'<div class="gc-legend-title">{html.escape(name)}</div><div class="gc-ramp">{bar}</div>'
              f'<div class="gc-ramp-labels"><span>low</span><span>{vmax:.3g} {html.escape(units)}</span></div>')
    return _Prepared(name=name, kind="kde", data_js="", options={}, legend=legend, count=1,
                     bounds=(float(lon0), float(lat0), float(lon1), float(lat1)),
                     image=(url, [[float(lat0), float(lon0)], [float(lat1), float(lon1)]]))


def _imsave(buf: Any, rgba: np.ndarray) -> None:
    from PIL import Image

    # zlib's default level: 87 KB for a 1,200-pixel KDE in 0.08 s; optimize=True saved 3 % in 0.27 s
    Image.fromarray((rgba * 255).round().astype("uint8"), mode="RGBA").save(buf, format="PNG")


# --------------------------------------------------------------------------- page pieces

class _Slots:
    """Text that must reach the page without passing through a template engine.

    folium and branca render the page with Jinja, and branca compiles the output of every
    element's script macro *again* as a template (``Element(rendered_text)``): any data in it
    that looks like ``{{ ... }}`` would run on the machine building the page.  So nothing of
    ours but fixed code goes to folium: every piece of data, name, legend, title and every
    vendored script is handed over as an opaque token (``gcslot<nonce>n<i>``, letters and
    digits only, inert in Jinja, HTML and JSON), and :meth:`fill` puts the real text in place of
    the tokens in the rendered page, in one pass (what it inserts is never scanned again).
    """

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        self.values: list[str] = []

    def put(self, text: str) -> str:
        """A token standing for ``text`` (inserted verbatim: escape it for its context first)."""
        self.values.append(text)
        return f"gcslot{self.nonce}n{len(self.values) - 1}"

    def put_js_string(self, text: str) -> str:
        """A token for the *content* of a JS string literal (the token sits between quotes)."""
        return self.put(safe_json(text)[1:-1])

    def fill(self, page: str) -> str:
        pattern = re.compile(f"gcslot{self.nonce}n([0-9]+)")
        out = pattern.sub(lambda m: self.values[int(m.group(1))], page)
        if f"gcslot{self.nonce}" in out:  # pragma: no cover - a token in an unforeseen context
            raise RuntimeError("internal error: an HTML slot was not filled")
        return out


def _asset(name: str) -> str:
    """Our own page code (``geoconflict/_assets``): the map runtime and its style sheet."""
    return (ASSETS / name).read_text(encoding="utf-8")


def _vendor_text(name: str) -> str:
    return (VENDOR / name).read_text(encoding="utf-8")


def _vendor_css() -> str:
    css = _vendor_text("leaflet.css")
    for img in ("layers-2x.png", "layers.png", "marker-icon.png"):
        data = base64.b64encode((VENDOR / img).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{img})", f"url(data:image/png;base64,{data})")
    return css


def _inline_script(code: str) -> str:
    return "<script>" + code.replace("</script", "<\\/script").replace("<!--", "<\\!--") + "</script>"


@functools.cache  # one class (its template compiled once) per process
def _offline_map_class() -> type:
    import folium
    from branca.element import Element

    class OfflineMap(folium.Map):
        """A folium Map whose JavaScript and CSS are inline (no CDN)."""

        default_js: list[tuple[str, str]] = []
        default_css: list[tuple[str, str]] = []

        def __init__(self, *args: Any, slots: _Slots, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._gc_slots = slots

        def render(self, **kwargs: Any) -> Any:
            root: Any = self.get_root()
            header = root.header
            css = "<style>" + _vendor_css() + _asset("map.css") + "</style>"
            header.add_child(Element(self._gc_slots.put(css)), name="gc_css", index=0)
            scripts = _inline_script(_vendor_text("leaflet.js"))
            scripts += _inline_script(_asset("map.js"))
            header.add_child(Element(self._gc_slots.put(scripts)), name="gc_js", index=1)
            return super().render(**kwargs)

    return OfflineMap


@functools.cache  # one class (its template compiled once) per process
def _overlay_class() -> type:
    import folium
    from folium.template import Template

    class GeoconflictLayer(folium.map.Layer):
        _template = Template("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = GC.register({{ this.key_js }}, {{ this.id_js }},
                GC.layer({{ this._parent.get_name() }}, {{ this.data_js }}, {{ this.options_js }}));
            {% endmacro %}
        """)

        def __init__(self, prepared: _Prepared, gc_id: str, *, slots: _Slots) -> None:
            super().__init__(name=slots.put_js_string(html.escape(prepared.name)), overlay=True,
                             control=True, show=prepared.show)
            self._name = "GeoconflictLayer"
            self.key_js = slots.put(safe_json(prepared.name))
            self.id_js = slots.put(safe_json(gc_id))
            self.data_js = slots.put(prepared.data_js)
            self.options_js = slots.put(safe_json(prepared.options))

    return GeoconflictLayer


@functools.cache  # one class (its template compiled once) per process
def _image_class() -> type:
    import folium
    from folium.template import Template

    class GeoconflictImage(folium.map.Layer):
        _template = Template("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = GC.register({{ this.key_js }}, {{ this.id_js }},
                GC.image({{ this._parent.get_name() }}, {{ this.url_js }}, {{ this.bounds_js }}, 0.85));
            {% endmacro %}
        """)

        def __init__(self, prepared: _Prepared, gc_id: str, *, slots: _Slots) -> None:
            super().__init__(name=slots.put_js_string(html.escape(prepared.name)), overlay=True,
                             control=True, show=prepared.show)
            self._name = "GeoconflictImage"
            assert prepared.image is not None
            self.key_js = slots.put(safe_json(prepared.name))
            self.id_js = slots.put(safe_json(gc_id))
            self.url_js = slots.put(safe_json(prepared.image[0]))
            self.bounds_js = slots.put(safe_json(prepared.image[1]))

    return GeoconflictImage


def _legend_element(html_text: str, *, slots: _Slots) -> Any:
    return _legend_class()(slots.put(safe_json(html_text)))


@functools.cache  # one class (its template compiled once) per process
def _legend_class() -> type:
    from branca.element import MacroElement
    from folium.template import Template

    class Legend(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            GC.legend({{ this._parent.get_name() }}, {{ this.html_js }});
            {% endmacro %}
        """)

        def __init__(self, html_js: str) -> None:
            super().__init__()
            self._name = "GeoconflictLegend"
            self.html_js = html_js

    return Legend


def _countries_background(bounds: tuple[float, float, float, float]) -> str | None:
    """Natural Earth country outlines around the data, for an offline base map."""
    if not COUNTRIES.exists():  # pragma: no cover
        return None
    w, s, e, n = bounds
    pad = max(e - w, n - s, 1.0) * 3
    world = gpd.read_file(COUNTRIES, engine="pyogrio", bbox=(w - pad, s - pad, e + pad, n + pad))
    if len(world) == 0:
        return None
    props = pd.DataFrame({"name": world["name"].astype(str), "_k": "land"}, index=world.index)
    return escape_json_text(_feature_collection(world, props))


def _focus_bounds(prepared: Sequence[_Prepared]) -> tuple[float, float, float, float] | None:
    focus = [p.bounds for p in prepared if p.bounds and p.kind not in ("admin", "kde")] or \
            [p.bounds for p in prepared if p.bounds]
    if not focus:
        return None
    arr = np.array(focus, dtype=float)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())


def _valid_span(part: gpd.GeoDataFrame, group: str) -> tuple[str | None, str | None, str] | None:
    """(first day, last day, group name) of one dated snapshot; None when it has no dates."""
    if "valid_from" not in part:
        return None
    start = pd.to_datetime(part["valid_from"]).min()
    end = pd.to_datetime(part["valid_to"]).max() if "valid_to" in part else pd.NaT
    return (None if pd.isna(start) else f"{start:%Y-%m-%d}", None if pd.isna(end) else f"{end:%Y-%m-%d}", group)


def _timeline_days(prepared: Sequence[_Prepared]) -> list[str] | None:
    """Every day from the first incident or snapshot to the last (None: nothing is dated)."""
    marks: list[str] = []
    for p in prepared:
        if p.days:
            marks.extend(p.days)
        valid = p.options.get("valid")
        if valid:
            marks.extend(v for v in valid[:1] if v)
    if not marks:
        return None
    start, end = min(marks), max(marks)
    return [f"{d:%Y-%m-%d}" for d in pd.date_range(start, end, freq="D")]


def _density_layer(layer: Layer, *, max_vertices: int, messages: list[str]) -> _Prepared:
    """Hexagon counts of a large incident layer, for the zoomed-out view (switched off)."""
    from .crs import metric_crs_for
    from .grids import count_by_cell

    gdf = layer.data
    assert isinstance(gdf, gpd.GeoDataFrame)
    w, s_, e, n = gdf.to_crs(metric_crs_for(gdf)).total_bounds
    span_km = max(e - w, n - s_) / 1000
    size = next((k for k in (1, 2, 5, 10, 20, 50, 100) if span_km / k <= 120), 200)
    cells = count_by_cell(gdf, cells=f"hex:{size}km", include_imprecise=True).cells
    name = f"{layer.name}: incidents per {size} km hexagon"
    p = _prepare_vector(name, "grid", cells, max_features=MAX_FULL_DETAIL, max_vertices=max_vertices,
                        messages=messages, show=False)
    assert p is not None
    return p


def _timeline_element(spec: dict[str, Any], *, slots: _Slots) -> Any:
    return _timeline_class()(slots.put(safe_json(spec)))


@functools.cache  # one class (its template compiled once) per process
def _timeline_class() -> type:
    from branca.element import MacroElement
    from folium.template import Template

    class Timeline(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            GC.timeline({{ this._parent.get_name() }}, {{ this.spec_js }});
            {% endmacro %}
        """)

        def __init__(self, spec_js: str) -> None:
            super().__init__()
            self._name = "GeoconflictTimeline"
            self.spec_js = spec_js

    return Timeline


def make_map(
    layers: Sequence[Layer],
    *,
    title: str,
    subtitle: str | None = None,
    sources: Sequence[str] | str | None = None,
    data_as_of: str | None = None,
    tiles: str | None = None,
    max_features: int = MAX_FULL_DETAIL,
    max_vertices: int = 40_000,
    time_slider: bool = True,
    window_days: int = 0,
    messages: list[str] | None = None,
) -> Any:
    """One folium map of ``layers`` with a layer control, legends and a title block. Offline
    unless ``tiles`` is given.

    Incidents are drawn on a canvas from packed columns (every one of them, with its popup;
    past ``max_features``, position, day and type only). With ``time_slider``, one day slider
    filters the incidents (up to the day, or the ``window_days`` days before it) and shows the
    control snapshots and front lines in force on that day; ``#date=YYYY-MM-DD`` in the URL
    opens the map on a day. ``messages`` (if given) receives one line per thing done to fit the
    page (simplified, left out, resampled); the map's ``geoconflict_messages`` holds them too.
    """
    import folium

    msgs: list[str] = [] if messages is None else messages
    if not layers:
        raise InputError("no layers to map", fix="give at least one layer file")
    summaries = [layer.data for layer in layers if layer.kind == "zones_summary"
                 and isinstance(layer.data, pd.DataFrame) and "controller" in layer.data]
    summary = summaries[0] if summaries else None
    prepared: list[_Prepared] = []
    for layer in ordered(layers):
        if layer.kind == "kde":
            if not isinstance(layer.data, (str, Path)):
                raise InputError(f"kde layer {layer.name!r} must be a GeoTIFF path")
            kde = _prepare_kde(layer.name, Path(layer.data), msgs)
            kde.show = kde.show and layer.show
            prepared.append(kde)
            continue
        if not isinstance(layer.data, gpd.GeoDataFrame) or layer.data.geometry.name not in layer.data:
            if layer.kind == "zones_summary":
                continue  # a table: its areas label the control legend
            raise InputError(f"layer {layer.name!r} has no geometry")
        if layer.kind == "zones_summary" and layer.data.geometry.isna().all():
            continue
        parts = split_snapshots(layer)
        for name, part, show in parts:
            p = _prepare_vector(name, layer.kind, part, max_features=max_features,
                                max_vertices=max_vertices, messages=msgs, summary=summary,
                                show=show and layer.show, source=layer.source,
                                valid=_valid_span(part, layer.name) if len(parts) > 1 else None)
            if p is not None:
                prepared.append(p)
        if layer.kind == "incidents" and len(layer.data) >= DENSITY_FROM and not any(
                other.kind == "grid" for other in layers):
            prepared.append(_density_layer(layer, max_vertices=max_vertices, messages=msgs))
    if not prepared:
        raise InputError("nothing to draw: the layers have no geometry",
                         fix="add a vector layer or raster (tables such as area by controller only label the legend)")
    seen: dict[str, int] = {}
    for p in prepared:  # names label the layer control: keep them unique
        seen[p.name] = seen.get(p.name, 0) + 1
        if seen[p.name] > 1:
            p.name = f"{p.name} ({seen[p.name]})"
    bounds = _focus_bounds(prepared)
    Map = _offline_map_class()
    slots = _Slots()
    m = Map(location=None if bounds else [0, 0], tiles=None, zoom_start=2, control_scale=True,
            prefer_canvas=False, zoom_snap=0.25, zoom_delta=0.5, slots=slots)
    m.geoconflict_slots = slots
    if tiles:
        source, attribution = _tile_source(tiles)
        if attribution is not None:  # the user's URL: text for the page, not for the template
            source, attribution = slots.put_js_string(source), slots.put_js_string(attribution)
        folium.TileLayer(source, attr=attribution, name=slots.put_js_string(html.escape(tiles)),
                         control=True, overlay=False).add_to(m)
    if bounds:
        bg = _countries_background(bounds)
        if bg:
            land = {"styles": {"land": styles.Symbol(stroke="#b7bec4", width=0.7, fill="#f4f1ea",
                                                     fill_opacity=1.0).leaflet()},
                    "interactive": False, "pane": "gcBase"}
            bg_layer = _Prepared(name="Countries", kind="background", data_js=bg, options=land, legend="")
            bg_layer.name = "Countries (Natural Earth)"
            _overlay_class()(bg_layer, "gc-bg", slots=slots).add_to(m)
    Overlay = _overlay_class()
    legend_parts: list[str] = []
    for i, p in enumerate(prepared):
        gc_id = f"gc-{i}"
        if p.image:
            _image_class()(p, gc_id, slots=slots).add_to(m)
        else:
            Overlay(p, gc_id, slots=slots).add_to(m)
        legend_parts.append(f'<div class="gc-legend-section" data-gc-layer="{gc_id}">{p.legend}</div>')
    folium.LayerControl(collapsed=len(prepared) > 12, position="topright").add_to(m)
    if legend_parts:
        m.add_child(_legend_element("".join(reversed(legend_parts)), slots=slots))
    days = _timeline_days(prepared) if time_slider else None
    if days:
        m.add_child(_timeline_element({"days": days, "window": int(window_days)}, slots=slots))
    _add_title(m, slots=slots, title=title, subtitle=subtitle, sources=sources, data_as_of=data_as_of,
               date_range=date_range(layers), tiles=tiles)
    if bounds:
        w, s, e, n = bounds
        m.fit_bounds([[s, w], [n, e]], padding=(20, 20))
    m.geoconflict_messages = msgs
    m.geoconflict_layers = {p.name: p.count for p in prepared}
    return m


def _add_title(m: Any, *, slots: _Slots, title: str, subtitle: str | None, sources: Sequence[str] | str | None,
               data_as_of: str | None, date_range: str | None, tiles: str | None) -> None:
    from branca.element import Element

    if isinstance(sources, str):
        sources = [sources]
    meta = []
    if date_range:
        meta.append(f"Incidents: {html.escape(date_range)}")
    if data_as_of:
        meta.append(f"Data as of {html.escape(str(data_as_of))}")
    if sources:
        text = "; ".join(str(s) for s in sources)
        if len(text) > 100:  # long credits fold away so the title block stays small
            meta.append(f'<details><summary>Sources</summary>{html.escape(text)}</details>')
        else:
            meta.append("Sources: " + html.escape(text))
    if not tiles:
        meta.append("Background: Natural Earth (offline)")
    block = (
        '<div class="gc-panel gc-title" id="gc-title">'
        f"<h1>{html.escape(title)}</h1>"
        + (f'<div class="gc-sub">{html.escape(subtitle)}</div>' if subtitle else "")
        + (f'<div class="gc-meta">{"<br>".join(meta)}</div>' if meta else "")
        + "</div>"
    )
    m.get_root().html.add_child(Element(slots.put(block)), name="gc_title")


def render_html(m: Any) -> str:
    """The page's HTML text: folium renders the fixed code, then the slots receive the text."""
    return m.geoconflict_slots.fill(m.get_root().render())


def _tile_source(tiles: str) -> tuple[Any, str | None]:
    """(tiles, attribution) for ``folium.TileLayer``: an xyzservices provider for a name in
    :data:`TILES` or of xyzservices (its own attribution), or an ``https://…/{z}/{x}/{y}…`` URL
    given by the user (attributed with its host name, escaped)."""
    import xyzservices

    name = TILES.get(tiles, tiles)
    if name.startswith(("https://", "http://")):
        if not all(k in name for k in ("{z}", "{x}", "{y}")):
            raise InputError(f"tile URL {tiles!r} lacks {{z}}, {{x}} or {{y}}",
                             fix="give a URL template such as https://tile.example.org/{z}/{x}/{y}.png")
        return name, "tiles: " + html.escape(name.split("/")[2])
    try:
        return xyzservices.providers.query_name(
            "OpenStreetMap Mapnik" if name.lower() == "openstreetmap" else name), None
    except ValueError:
        raise InputError(f"unknown tile base map {tiles!r}",
                         fix=f"use one of {', '.join(TILES)}, an xyzservices name or a URL template") from None


def write_map(
    layers: Sequence[Layer],
    path: str | Path,
    *,
    overwrite: bool = False,
    title: str = "geoconflict map",
    **kw: Any,
) -> MapReport:
    """Write an offline HTML map of ``layers`` atomically (see :func:`make_map` for options)."""
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise InputError("the map output must be an .html file", path=target, fix="name it e.g. map.html")
    messages: list[str] = []
    m = make_map(layers, title=title, messages=messages, **kw)
    data = render_html(m).encode("utf-8")  # encoded once: written and measured
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    size = len(data)
    return MapReport(path=target, size_bytes=size, layers=list(m.geoconflict_layers),
                     features=dict(m.geoconflict_layers), messages=messages)
