"""Vectorised parsing and checks for :mod:`geoconflict.incidents`.

Each parser takes a whole column (text or already typed) and returns arrays: the values, which
cells were missing, which could not be parsed.  No Python loop runs over rows; the only loops are
over the few parsing formats and over the distinct country names.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import Transformer

from ._geometry import segment_ends

#: cell texts that mean "no value"
NULL_TOKENS = frozenset(
    {"", "na", "NA", "N/A", "n/a", "nan", "NaN", "NAN", "null", "NULL", "Null", "None", "none",
     "#N/A", "-", "--"}
)
#: distance tolerance (metres) for "the point lies in the country the row names"
COUNTRY_TOLERANCE_M = 25_000.0


_NUM_RE = r"^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$"
_COMMA_RE = r"^[-+]?[0-9]+,[0-9]+$"
_NULL_SET = pa.array(sorted(NULL_TOKENS), type=pa.string())


def arrow_text(s: pd.Series) -> pa.ChunkedArray:
    """The column as a pyarrow string array (no copy for pandas' pyarrow-backed strings)."""
    if not pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        s = s.astype("str")
    arr = getattr(s.array, "_pa_array", None)
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pa.chunked_array([pa.array(s.to_numpy(dtype=object, na_value=None), type=pa.string())])
    return arr


def trim_missing(t: pa.Array) -> tuple[pa.Array, np.ndarray]:
    t = pc.utf8_trim_whitespace(t)
    # a null cell is missing too (is_in answers False for it, not null)
    return t, np_bool(pc.or_(pc.is_in(t, value_set=_NULL_SET), pc.is_null(t)))


def np_bool(a: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def by_distinct(s: pd.Series, parse: Any) -> tuple[np.ndarray, ...]:
    """Run ``parse`` (pyarrow strings -> tuple of numpy arrays) once per distinct text.

    Dates, precisions and often coordinates repeat a lot: parsing the distinct values and
    spreading the answers by index is much cheaper than parsing every cell.
    """
    arr = arrow_text(s)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    n = len(arr)
    # worth it when a sample repeats itself (dates, precisions, places), not for unique values
    if n > 1000 and len(pc.unique(arr.slice(0, 5000))) < 2500:
        enc = pc.dictionary_encode(arr)
        if len(enc.dictionary) < n // 2:
            # one extra slot for null cells (parsed as missing)
            uniq = pa.concat_arrays([enc.dictionary, pa.array([None], type=enc.dictionary.type)])
            # pyarrow's int32 indices made numpy convert them once per array spread
            idx = pc.fill_null(enc.indices, len(enc.dictionary)).to_numpy(zero_copy_only=False).astype(np.intp)
            return tuple(a.take(idx) for a in parse(uniq))
    return parse(arr)


def parse_number(s: pd.Series, *, decimal_comma: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values as float64, missing, not numeric) for a column of numbers or number-like text.

    ``decimal_comma``: also accept ``36,5`` as 36.5 (coordinates from ``;``-delimited European
    exports).  Text such as ``inf``, ``1,234`` or ``36.6x`` is not numeric.
    """
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("str")
    if pd.api.types.is_numeric_dtype(s.dtype):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        return vals, np.isnan(vals), np.zeros(len(s), dtype=bool)

    def parse(a: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t, missing = trim_missing(a)
        vals = np.full(len(t), np.nan)
        # in blocks: one odd cell sends only its block to the regular expressions
        for start in range(0, len(t), _CAST_BLOCK):
            stop = min(start + _CAST_BLOCK, len(t))
            vals[start:stop] = _parse_number_block(t.slice(start, stop - start), missing[start:stop],
                                                   decimal_comma)
        return vals, missing, ~missing & np.isnan(vals)

    vals, missing, invalid = by_distinct(s, parse)
    return vals, missing, invalid


#: cells parsed per pyarrow cast in :func:`parse_number`
_CAST_BLOCK = 4096


def _parse_number_block(t: pa.Array, missing: np.ndarray, decimal_comma: bool) -> np.ndarray:
    """Values of trimmed text cells, NaN where missing or not a number."""
    plain = _cast_plain_numbers(t, missing)
    if plain is not None:
        return plain
    ok = pc.match_substring_regex(t, _NUM_RE)
    if decimal_comma:
        comma = pc.match_substring_regex(t, _COMMA_RE)
        if pc.any(comma).as_py():
            t = pc.if_else(comma, pc.replace_substring(t, ",", "."), t)
            ok = pc.or_(ok, comma)
    num = pc.cast(pc.if_else(ok, t, pa.scalar(None, pa.string())), pa.float64())
    vals = np.array(pc.fill_null(num, np.nan).to_numpy(zero_copy_only=False), dtype="float64")
    vals[missing] = np.nan
    return vals


def _cast_plain_numbers(t: pa.Array, missing: np.ndarray) -> np.ndarray | None:
    """:func:`_parse_number_block`'s answer by one cast, when pyarrow's parser reads every cell
    that is not missing; None when it refuses one (then the regular expressions decide).

    The cast reads exactly what the number pattern accepts, and also ``inf``/``nan`` spellings:
    those are the non-finite results, checked against the pattern.  Coordinates are mostly
    distinct, so this runs on millions of cells, where a regular expression costs seconds.
    """
    try:
        num = pc.cast(t.filter(pa.array(~missing)), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    vals = np.full(len(t), np.nan)
    vals[~missing] = np.asarray(num.to_numpy(zero_copy_only=False), dtype="float64")
    odd = np.flatnonzero(~missing & ~np.isfinite(vals))
    if len(odd):
        numeric = np_bool(pc.match_substring_regex(t.take(pa.array(odd)), _NUM_RE))
        vals[odd[~numeric]] = np.nan
    return vals


def small_ints(values: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """Whole numbers held as floats (NaN: missing) as an ``Int8`` Series, built from numpy
    (the pandas routes, a list of ``pd.NA`` or Float64 then Int8, take seconds on millions of
    rows)."""
    missing = np.isnan(values)
    data = np.where(missing, 0, values).astype(np.int8)
    return pd.Series(pd.arrays.IntegerArray(data, missing), index=index)



def clean_text(s: pd.Series, *, trim: bool = False) -> pd.Series:
    """Text as given; empty cells become missing.  ``trim``: strip surrounding white space
    (ids, names), else long texts (notes) are left as they are, without a copy.

    Text that needs neither is not copied: most columns of a large export are clean, and
    copying millions of cells costs more than checking them (see :func:`_trim` and
    :func:`_null_where_empty`)."""
    t = arrow_text(s)
    if trim:
        t = _trim(t)
    if _any_empty(t):
        t = _null_where_empty(t)
    elif not trim and pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        return s
    out = t.to_pandas()
    out.index = s.index
    return out


def _trim(t: pa.ChunkedArray) -> pa.ChunkedArray:
    """``pc.utf8_trim_whitespace(t)``, but ``t`` itself when no cell has white space to strip.

    Every white space character is a byte <= 0x20 or starts with a byte >= 0x80 in UTF-8, so
    only cells beginning or ending with such a byte can change; those few are trimmed to see.
    """
    maybe = np.concatenate([_edge_bytes_suspect(c) for c in t.chunks]) if t.num_chunks else None
    if maybe is None or not maybe.any():
        return t
    some = t.filter(pa.array(maybe))
    if pc.all(pc.equal(pc.binary_length(pc.utf8_trim_whitespace(some)), pc.binary_length(some))).as_py():
        return t
    return pc.utf8_trim_whitespace(t)


#: bytes that may be (part of) white space in UTF-8: controls, space, DEL and non-ASCII
_MAYBE_SPACE = np.array([b <= 0x20 or b >= 0x7F for b in range(256)])


def _edge_bytes_suspect(a: pa.Array) -> np.ndarray:
    """Per cell: does it begin or end with a byte that may be (part of) white space?"""
    n = len(a)
    bufs = a.buffers()
    if bufs[2] is None or bufs[2].size == 0 or n == 0:
        return np.zeros(n, dtype=bool)
    wide = pa.types.is_large_string(a.type) or pa.types.is_large_binary(a.type)
    offsets: np.ndarray = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[a.offset: a.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8)
    start, stop = offsets[:-1], offsets[1:]
    # an empty cell reads a neighbour's byte here (clipped to the buffer); masked out below
    first = data.take(start, mode="clip")
    last = data.take(stop - 1, mode="clip")
    return (_MAYBE_SPACE[first] | _MAYBE_SPACE[last]) & (stop > start)


def _any_empty(t: pa.ChunkedArray) -> bool:
    """Does a (non-null) cell hold the empty text?  Read from the offsets of plain string
    chunks (``pc.equal(t, "")`` compares every cell: ~0.1 s a column of millions)."""
    for c in t.chunks:
        bufs = c.buffers()
        if not (pa.types.is_string(c.type) or pa.types.is_large_string(c.type)) or len(bufs) != 3:
            if pc.any(pc.equal(c, "")).as_py():
                return True
            continue
        if len(c) == 0:
            continue
        wide = pa.types.is_large_string(c.type)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[c.offset: c.offset + len(c) + 1]
        empty = offsets[1:] == offsets[:-1]
        if c.null_count:
            empty &= np.asarray(c.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        if empty.any():
            return True
    return False


def _null_where_empty(t: pa.ChunkedArray) -> pa.ChunkedArray:
    """``pc.if_else(t == "", null, t)`` without copying the text: an empty cell has no bytes,
    so only the validity bitmap changes (chunks that are not plain string arrays go through
    ``if_else``)."""
    chunks = []
    for c in t.chunks:
        if not (pa.types.is_string(c.type) or pa.types.is_large_string(c.type)) or c.buffers()[2] is None:
            empty = pc.equal(c, "")
            chunks.append(pc.if_else(empty, pa.scalar(None, c.type), c))
            continue
        wide = pa.types.is_large_string(c.type)
        bufs = c.buffers()
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[c.offset: c.offset + len(c) + 1]
        keep = pc.and_(pc.is_valid(c), pc.not_equal(pc.binary_length(c), 0))
        chunks.append(pa.Array.from_buffers(c.type, len(c), [keep.buffers()[1], pa.py_buffer(offsets), bufs[2]]))
    return pa.chunked_array(chunks, type=t.type)


# --------------------------------------------------------------------------------------------
# country check

#: source country names (ACLED, UCDP) -> Natural Earth 110m names, compared folded
COUNTRY_ALIASES: dict[str, str] = {
    "democratic republic of congo": "Dem. Rep. Congo",
    "democratic republic of the congo": "Dem. Rep. Congo",
    "dr congo": "Dem. Rep. Congo",
    "drc": "Dem. Rep. Congo",
    "congo kinshasa": "Dem. Rep. Congo",
    "republic of congo": "Congo",
    "republic of the congo": "Congo",
    "congo brazzaville": "Congo",
    "central african republic": "Central African Rep.",
    "car": "Central African Rep.",
    "south sudan": "S. Sudan",
    "ivory coast": "Côte d'Ivoire",
    "bosnia and herzegovina": "Bosnia and Herz.",
    "bosnia herzegovina": "Bosnia and Herz.",
    "united states": "United States of America",
    "usa": "United States of America",
    "dominican republic": "Dominican Rep.",
    "equatorial guinea": "Eq. Guinea",
    "swaziland": "eSwatini",
    "north macedonia": "Macedonia",
    "solomon islands": "Solomon Is.",
    "falkland islands": "Falkland Is.",
    "czech republic": "Czechia",
    "east timor": "Timor-Leste",
    "western sahara": "W. Sahara",
    "turkiye": "Turkey",
    "burma": "Myanmar",
    "lao pdr": "Laos",
    "viet nam": "Vietnam",
    "syrian arab republic": "Syria",
    "iran islamic republic of": "Iran",
    "russian federation": "Russia",
    "united republic of tanzania": "Tanzania",
    "gambia the": "Gambia",
    "the gambia": "Gambia",
    "kingdom of eswatini": "eSwatini",
    "northern cyprus": "N. Cyprus",
    "occupied palestinian territory": "Palestine",
    "state of palestine": "Palestine",
}
#: a country's incidents may lie in these Natural Earth units too (disputed or split territory)
COUNTRY_UNIONS: dict[str, tuple[str, ...]] = {
    "Somalia": ("Somaliland",),
    "Cyprus": ("N. Cyprus",),
    "Morocco": ("W. Sahara",),
    "Serbia": ("Kosovo",),
    "Israel": ("Palestine",),
    "Palestine": ("Israel",),
    "Sudan": ("S. Sudan",),
}


def fold_country(name: str) -> str:
    """Lower case, accents and parenthetical parts dropped, punctuation as spaces."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"\(.*?\)", " ", text).replace("&", " and ")
    text = re.sub(r"['’`]", "", text)
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _countries() -> tuple[np.ndarray, dict[str, int]]:
    """Natural Earth 110m country polygons (unions applied, prepared) and folded name -> index."""
    path = resources.files("geoconflict") / "data" / "countries_ne110m.geojson"
    with resources.as_file(path) as p:
        gdf = gpd.read_file(p, engine="pyogrio")
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    by_name = dict(zip(gdf["name"], gdf.geometry.values, strict=True))
    names = list(gdf["name"])
    geoms = []
    for name in names:
        parts = [by_name[name]] + [by_name[o] for o in COUNTRY_UNIONS.get(name, ()) if o in by_name]
        geoms.append(shapely.union_all(parts) if len(parts) > 1 else parts[0])
    arr = np.asarray(geoms, dtype=object)
    shapely.prepare(arr)
    index = {fold_country(n): i for i, n in enumerate(names)}
    for alias, target in COUNTRY_ALIASES.items():
        if fold_country(target) in index:
            index.setdefault(fold_country(alias), index[fold_country(target)])
    return arr, index


@lru_cache(maxsize=128)
def _to_utm(epsg: int) -> Transformer:
    return Transformer.from_crs(4326, epsg, always_xy=True)


def _contains_xy(geom: Any, x: np.ndarray, y: np.ndarray, *, n: int = 128) -> np.ndarray:
    """``shapely.intersects_xy(geom, x, y)``, answered for most points by an n×n grid of cells
    classified once (inside / outside / on the boundary); only boundary cells are tested exactly."""
    if len(x) < 20_000:
        return shapely.intersects_xy(geom, x, y)
    x0, y0, x1, y1 = shapely.bounds(geom)
    w, h = max(x1 - x0, 1e-9) / n, max(y1 - y0, 1e-9) / n
    ix, iy = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    boxes = shapely.box(x0 + ix.ravel() * w, y0 + iy.ravel() * h, x0 + (ix.ravel() + 1) * w,
                        y0 + (iy.ravel() + 1) * h)
    shapely.prepare(geom)
    state = np.where(shapely.contains(geom, boxes), 1, np.where(shapely.intersects(geom, boxes), 2, 0))
    within_box = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    # a point on the far edge of the bounds belongs to the last cell
    col = np.clip(np.floor((np.where(within_box, x, x0) - x0) / w).astype(np.int64), 0, n - 1)
    row = np.clip(np.floor((np.where(within_box, y, y0) - y0) / h).astype(np.int64), 0, n - 1)
    cls = np.zeros(len(x), dtype=np.int64)
    cls[within_box] = state[col[within_box] * n + row[within_box]]
    out = cls == 1
    exact = cls == 2
    out[exact] = shapely.intersects_xy(geom, x[exact], y[exact])
    return out


def outside_country(
    lon: np.ndarray, lat: np.ndarray, country: pd.Series, *, tolerance_m: float = COUNTRY_TOLERANCE_M
) -> np.ndarray:
    """True where a point lies more than ``tolerance_m`` metres outside the country its row names.

    Rows naming no country, or a country Natural Earth 110m does not know, are never flagged.
    Containment is one vectorised test against the (prepared) polygons; the few points outside
    are measured in metres in a UTM zone chosen for them (never in degrees).
    """
    n = len(lon)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    geoms, index = _countries()
    enc = pc.dictionary_encode(arrow_text(country)).combine_chunks()
    uniques = enc.dictionary.to_pylist()
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    lookup = np.array([index.get(fold_country(u), -1) for u in uniques] + [-1], dtype=np.int64)
    row_c = lookup[np.where(codes < 0, len(uniques), codes)]
    known = (row_c >= 0) & np.isfinite(lon) & np.isfinite(lat)
    if not known.any():
        return out
    kidx = np.flatnonzero(known)
    inside = np.zeros(len(kidx), dtype=bool)
    kc = row_c[kidx]
    for c in np.flatnonzero(np.bincount(kc)):  # one pass per named country, not per incident
        sel = np.flatnonzero(kc == c)
        inside[sel] = _contains_xy(geoms[c], lon[kidx[sel]], lat[kidx[sel]])
    cand = kidx[~inside]
    # each point is measured in its own UTM zone (from its longitude and hemisphere), so the
    # answer for a row never depends on the other rows of the file (or of a dask block)
    zone = np.clip(np.floor((lon[cand] + 180.0) / 6.0).astype(np.int64) + 1, 1, 60)
    epsg = np.where(lat[cand] >= 0, 32600, 32700) + zone
    groups = pd.DataFrame({"c": row_c[cand], "epsg": epsg}).groupby(["c", "epsg"]).indices
    for (c, code), pos in groups.items():  # one pass per country and zone, not per incident
        rows = cand[pos]
        x, y = lon[rows], lat[rows]
        x0, y0, x1, y1 = float(x.min()), float(y.min()), float(x.max()), float(y.max())
        window = shapely.clip_by_rect(geoms[c], x0 - 2, max(y0 - 2, -90), x1 + 2, min(y1 + 2, 90))
        if window.is_empty:
            out[rows] = True
            continue
        to_metric = _to_utm(int(code))
        poly = shapely.transform(window, lambda xy, t=to_metric: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        px, py = to_metric.transform(x, y)
        out[rows] = _farther_than(poly, np.asarray(px), np.asarray(py), tolerance_m)
    return out


#: numpy measures point-to-boundary distances for polygons with at most this many segments
_MAX_NUMPY_SEGMENTS = 512
#: points whose numpy distance is this close (metres) to the tolerance are measured by GEOS
_DISTANCE_MARGIN_M = 1.0


def _farther_than(poly: Any, px: np.ndarray, py: np.ndarray, tolerance: float) -> np.ndarray:
    """``~(shapely.distance(shapely.points(px, py), poly) <= tolerance)``, with the same answers
    but without a GEOS point per row when the polygon is simple.

    A point's distance to a polygon is 0 inside it, else the distance to its boundary.  The
    boundary distance is computed with numpy; only the points within a metre of the tolerance
    (rounding could matter there) are measured by GEOS, and the far ones are tested for lying
    inside the polygon (projected, a point outside in longitude/latitude can be inside).
    """
    segments = _boundary_segments(poly)
    if segments is None:
        return ~(shapely.distance(shapely.points(px, py), poly) <= tolerance)
    bd = _segment_distance(px, py, *segments)
    near = bd <= tolerance - _DISTANCE_MARGIN_M
    far = bd > tolerance + _DISTANCE_MARGIN_M
    unsure = ~near & ~far  # includes NaN
    out = np.zeros(len(px), dtype=bool)
    if far.any():
        out[far] = ~shapely.intersects_xy(poly, px[far], py[far])
    if unsure.any():
        d = shapely.distance(shapely.points(px[unsure], py[unsure]), poly)
        out[unsure] = ~(d <= tolerance)
    return out


def _boundary_segments(poly: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(ax, ay, bx, by) of the polygon's boundary segments; None when there are too many for
    numpy to beat GEOS, or none."""
    a, b, _ = segment_ends(shapely.get_parts(shapely.boundary(poly)))
    if not 0 < len(a) <= _MAX_NUMPY_SEGMENTS:
        return None
    return a[:, 0], a[:, 1], b[:, 0], b[:, 1]


def _segment_distance(px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray,
                      bx: np.ndarray, by: np.ndarray, block: int = 16_384) -> np.ndarray:
    """Euclidean distance from each point to the nearest segment, in blocks of points."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    inv = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)  # a point-segment: t = 0
    out = np.empty(len(px))
    for i in range(0, len(px), block):
        x, y = px[i:i + block, None], py[i:i + block, None]
        t = np.clip(((x - ax) * dx + (y - ay) * dy) * inv, 0.0, 1.0)
        ex, ey = x - (ax + t * dx), y - (ay + t * dy)
        out[i:i + block] = np.sqrt((ex * ex + ey * ey).min(axis=1))
    return out
