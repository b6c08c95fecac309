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

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import crs as _crs

#: cell texts that mean "no value"
NULL_TOKENS = frozenset(
    {"", "na", "NA", "N/A", "n/a", "nan", "NaN", "NAN", "null", "NULL", "Null", "None", "none",
     "#N/A", "-", "--"}
)
#: day-first and named-month formats tried, in order, on what ISO 8601 could not read
DATE_FORMATS = (
    "%d %B %Y",   # 08 June 2020 (ACLED)
    "%d-%m-%Y",   # 08-06-2020 (ACLED)
    "%d %b %Y",   # 08 Jun 2020
    "%d-%b-%Y",   # 08-Jun-2020 (Excel)
    "%d-%B-%Y",   # 08-June-2020
    "%d/%m/%Y",   # 08/06/2020 (day first, as ACLED's own exports)
    "%d.%m.%Y",   # 08.06.2020
    "%Y/%m/%d",   # 2020/06/08
    "%B %d, %Y",  # June 8, 2020
    "%d/%m/%Y %H:%M",
    "%d-%m-%Y %H:%M",
)
_MIN_DATE = pd.Timestamp("1678-01-02")
_MAX_DATE = pd.Timestamp("2261-12-31")
#: distance tolerance (metres) for "the point lies in the country the row names"
COUNTRY_TOLERANCE_M = 25_000.0


def _as_text(s: pd.Series) -> pd.Series:
    if s.dtype == object or not pd.api.types.is_string_dtype(s.dtype):
        s = s.astype("str")
    return s.str.strip()


def _missing_text(st: pd.Series) -> np.ndarray:
    return (st.isna() | st.isin(NULL_TOKENS)).to_numpy(dtype=bool)


def parse_number(s: pd.Series, *, decimal_comma: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values as float64, missing, not numeric) for a column of numbers or number-like text.

    ``decimal_comma``: accept ``36,5`` as 36.5 (coordinates from ``;``-delimited European exports).
    """
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("str")
    if pd.api.types.is_numeric_dtype(s.dtype):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(vals)
        return vals, missing, np.zeros(len(s), dtype=bool)
    st = _as_text(s)
    missing = _missing_text(st)
    if decimal_comma:
        st = st.str.replace(",", ".", regex=False)
    st = st.where(~missing)
    vals = pd.to_numeric(st, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    invalid = ~missing & np.isnan(vals)
    return vals, missing, invalid


def parse_dates(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray, pd.Series]:
    """(dates datetime64[ns], missing, unparseable, precision hint) for a column of dates.

    Reads ISO 8601 (with or without a time, ``T`` or space), then ``08 June 2020``, ``08-06-2020``
    and the other day-first :data:`DATE_FORMATS`.  The hint is 4 for ``2020`` (a year) and 3 for
    ``2020-06`` (a month), else <NA>.  Time zones are converted to UTC and dropped.
    """
    n = len(s)
    hint = pd.Series(pd.array([pd.NA] * n, dtype="Int8"), index=s.index)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        out = s.astype("datetime64[ns]")
        missing = out.isna().to_numpy()
        return out, missing, np.zeros(n, dtype=bool), hint
    st = _as_text(s)
    missing = _missing_text(st)
    parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    todo = ~missing
    if todo.any():
        year_only = todo & st.str.fullmatch(r"\d{4}").fillna(False).to_numpy(dtype=bool)
        month_only = todo & st.str.fullmatch(r"\d{4}-\d{1,2}").fillna(False).to_numpy(dtype=bool)
        hint[year_only] = 4
        hint[month_only] = 3
        sub = st[todo]
        got = _to_naive(pd.to_datetime(sub, format="ISO8601", errors="coerce", utc=True))
        parsed[todo] = got
        for fmt in DATE_FORMATS:
            left = todo & parsed.isna().to_numpy()
            if not left.any():
                break
            got = pd.to_datetime(st[left], format=fmt, errors="coerce")
            parsed[left] = _to_naive(got)
    invalid = ~missing & parsed.isna().to_numpy()
    return parsed, missing, invalid, hint


def _to_naive(d: pd.Series) -> pd.Series:
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        d = d.dt.tz_convert("UTC").dt.tz_localize(None)
    d = d.where((d >= _MIN_DATE) & (d <= _MAX_DATE))
    return d.astype("datetime64[ns]")


def clean_text(s: pd.Series) -> pd.Series:
    """Text as given (trimmed); empty cells become missing."""
    st = _as_text(s)
    return st.where(st.notna() & (st != ""))


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
    codes, uniques = pd.factorize(country, use_na_sentinel=True)
    lookup = np.array([index.get(fold_country(u), -1) for u in uniques] + [-1], dtype=np.int64)
    row_c = lookup[np.where(codes < 0, len(uniques), codes)]
    known = (row_c >= 0) & np.isfinite(lon) & np.isfinite(lat)
    if not known.any():
        return out
    kidx = np.flatnonzero(known)
    inside = shapely.intersects_xy(geoms[row_c[kidx]], lon[kidx], lat[kidx])
    cand = kidx[~inside]
    for c in np.unique(row_c[cand]):  # one pass per country, not per incident
        rows = cand[row_c[cand] == c]
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon[rows], lat[rows]), crs=4326)
        metric = _crs.metric_crs_for(pts)
        x0, y0, x1, y1 = pts.total_bounds
        window = shapely.clip_by_rect(geoms[c], x0 - 2, max(y0 - 2, -90), x1 + 2, min(y1 + 2, 90))
        if window.is_empty:
            out[rows] = True
            continue
        poly = gpd.GeoSeries([window], crs=4326).to_crs(metric).values[0]
        d = shapely.distance(pts.to_crs(metric).geometry.values, poly)
        out[rows] = ~(d <= tolerance_m)
    return out
