"""An offline gazetteer: place names (transliterated Arabic) matched to coordinates.

A gazetteer is any table with a name column and coordinates: a CSV with lon/lat (OCHA populated
places), an Excel sheet, or a point layer.  Several tables can be combined (OCHA places plus a
project's own list of neighbourhoods).  Every name is indexed by its folded form
(:func:`geoconflict.names.fold_name`) together with its alternative spellings (``*ALT*`` and
``*REF_NAM*`` columns) and its base form without a bracketed qualifier (``Dana (Dana)`` ->
``Dana``) or a ``/``-separated second part (``Ashrafia/Madlousah`` -> ``Ashrafia``).

Statuses of :meth:`Gazetteer.match` (scores from :func:`geoconflict.names.folded_score`, 0-100):

``exact`` (score 100)
    The folded name equals the folded name or an alternative of exactly one place among the
    candidates (after the context restriction).  When a context restricted the candidates and
    several of them still share the folded form (OCHA lists ``Kalta`` and ``Kaltah`` in one
    sub-district), the one whose name or alternative (as given, not a base form) is spelled the
    same letter for letter (case and diacritics aside) is taken; without context such a name is
    ``ambiguous``.
``fuzzy`` (``FUZZY_MIN`` <= score < 100)
    No folded form is equal, the best place scores at least ``FUZZY_MIN`` (90) and every other
    place scores at least ``MARGIN`` (4) less.  A fuzzy answer is never reported as ``exact``.
``ambiguous``
    Several places share the folded name (score 100), or two or more places score at least
    ``FUZZY_MIN`` within ``MARGIN`` of each other.  No coordinates; all the contenders are listed.
``none``
    Nothing scores ``FUZZY_MIN`` or more (or the name is blank).  The nearest places scoring at
    least ``CANDIDATE_MIN`` (50) are listed.

A wrong answer given with confidence is worse than ``none`` with candidates, so the thresholds
err towards ``ambiguous``/``none``.

Context (governorate, district, sub-district) restricts the candidates: each context value is
matched, transliteration-tolerant, against the gazetteer's context columns (``ADM1_EN``,
``ADM1_PCODE``, ``ADM2_*``, ``ADM3_*``, ``admin1`` ...), as a name (``Idlib``, ``Idleb``,
``Hamah``) or, when it contains a digit, as a code compared letter for letter (``SY07``).  A value
that matches nothing in the gazetteer (or is blank) does not restrict.  Candidates must satisfy
every recognised context value of their row; when no place satisfies them all (an incident's
district from another boundary set), the later context columns are dropped until some place
does, so give the coarsest first (``admin1``, then ``admin2``...).

Fuzzy matching works on distinct (folded name, context) pairs only, blocked by the first letter of
the folded name (vowels, ``w`` and ``y`` form one block) unless the context leaves few places:
a spelling whose first consonant differs from the gazetteer's is not found without context.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from .errors import CRSError, InputError, LayerError, SchemaError
from .names import (
    SAME_PLACE_THRESHOLD,
    anagram,
    anagram_weight,
    fold_name,
    loose_form,
    loose_weight,
    name_score,
    skeleton,
    skeleton_weight,
)

__all__ = [
    "Gazetteer",
    "geocode",
    "read_table",
    "fold_name",
    "STATUSES",
    "FUZZY_MIN",
    "MARGIN",
    "CANDIDATE_MIN",
    "GEO_PRECISION",
]

log = logging.getLogger(__name__)

#: the values of ``geocode_status``
STATUSES = ("exact", "fuzzy", "ambiguous", "none")
#: the lowest score a fuzzy match may have
FUZZY_MIN = 90.0
#: how far ahead of every other place a fuzzy match must be
MARGIN = 4.0
#: the lowest score listed among the candidates
CANDIDATE_MIN = 50.0
#: ACLED-style ``geo_precision`` for a geocoded row (ingest uses it): the community's point is
#: exact for an exact name match, "near" for a fuzzy one; other statuses give no point
GEO_PRECISION: dict[str, int] = {"exact": 1, "fuzzy": 2}

_NAME_COLUMNS = (
    "PP_NAME_EN", "name", "NAME", "Name", "name_en", "NAME_EN", "place", "place_name",
    "PLACE", "location", "Location", "toponym",
)
_COORD_PAIRS = (
    ("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"), ("long", "lat"), ("x", "y"),
)
_ALT = re.compile(
    r"(?:^|_)ALT(?:ERNATE)?(?:\d|_|$)|ALT\d|REF_?NAM|ALIAS|VARIANT|OTHER_?NAME", re.IGNORECASE
)
_CONTEXT = re.compile(
    r"^(ADM|ADMIN)_?[0-3]|GOVERNORATE|PROVINCE|DISTRICT|NAHIYA|REGION", re.IGNORECASE
)
_CODE = re.compile(r"PCODE|P_CODE", re.IGNORECASE)
_BRACKET = re.compile(r"\s*[(\[].*?[)\]]\s*")
_SECOND_PART = re.compile(r"\s*(?:/|\\|\s-\s).*$")
_VECTOR_EXT = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".parquet", ".geoparquet")
#: cells of one score matrix chunk (float64), to bound memory
_CHUNK_CELLS = 4_000_000
#: at most this many entries are compared without blocking by first letter
_UNBLOCKED_MAX = 2_500


def read_table(path: str | Path, *, what: str = "input", layer: str | None = None) -> pd.DataFrame:
    """Read any table: CSV (text cells kept as written), Excel, or a vector layer
    (via :func:`geoconflict.io.read_layer`)."""
    from .io import read_layer, require_file

    p = require_file(path, what)
    ext = p.suffix.lower()
    if ext in (".csv", ".txt", ".tsv"):
        try:
            return pd.read_csv(
                p, sep="\t" if ext == ".tsv" else ",", encoding="utf-8-sig",
                keep_default_na=False, na_values=[""], low_memory=False,
            )
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(
                f"cannot read as CSV: {str(exc).splitlines()[0]}", path=p,
                fix="save it as UTF-8 CSV with one header row",
            ) from None
    if ext in (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"):
        try:
            return pd.read_excel(p, engine="calamine")  # as incidents are read (geoconflict._sheets)
        except Exception as exc:  # noqa: BLE001 - the reader raises many types
            raise InputError(f"cannot read as Excel: {exc}", path=p) from None
    if ext in _VECTOR_EXT:
        return read_layer(p, layer=layer, what=what)
    raise InputError(
        f"unsupported {what} extension {ext or '(none)'!r}", path=p,
        fix="use CSV, Excel (.xlsx) or a vector layer (.geojson, .gpkg, .shp, .parquet)",
    )


def _lengths(strings: Sequence[str]) -> np.ndarray:
    """String lengths, clipped to the last entry of the weight tables."""
    n = np.fromiter((len(x) for x in strings), dtype=np.int64, count=len(strings))
    return np.minimum(n, _MAX_W)


_MAX_W = 6
#: weights by (shortest) length, as in geoconflict.names.folded_score
_LOOSE_W = np.array([loose_weight(k) for k in range(_MAX_W + 1)])
_SKELETON_W = np.array([skeleton_weight(k) for k in range(_MAX_W + 1)])
_ANAGRAM_W = np.array([anagram_weight(k) for k in range(_MAX_W + 1)])


def _literal(s: str) -> str:
    text = unicodedata.normalize("NFKD", s)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().split())


def _block(folded: str) -> str:
    c = folded[:1]
    return "V" if c in "aeiouwy" else c


def _text(values: Any) -> np.ndarray:
    """An object array of str, stripped (blank for missing)."""
    s = pd.Series(values, dtype=object).reset_index(drop=True)
    text = s.astype("string").str.strip().fillna("")
    return text.to_numpy(dtype=object)


def _factorize_text(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct texts (stripped, blank for missing) of a column: the cleaning runs
    on the distinct values only."""
    raw = pd.Series(values, dtype=object).reset_index(drop=True)
    code, uniques = pd.factorize(raw, use_na_sentinel=False)
    return code.astype(np.int64), _text(np.asarray(uniques, dtype=object))


def _missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _find_column(columns: Sequence[str], wanted: str | None, options: Sequence[str],
                 what: str, path: str | None) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise SchemaError(
                f"no column {wanted!r} for the {what}", path=path,
                fix=f"choose one of: {', '.join(map(str, columns))}",
            )
        return wanted
    for option in options:
        if option in columns:
            return option
    lower = {str(c).lower(): c for c in columns}
    for option in options:
        if option.lower() in lower:
            return lower[option.lower()]
    raise SchemaError(
        f"cannot find the {what} column (looked for {', '.join(options[:6])} ...)", path=path,
        fix=f"name it explicitly; columns are: {', '.join(map(str, columns))}",
    )


def _geometry_name(df: pd.DataFrame) -> str | None:
    """The active geometry column of a GeoDataFrame, if it has one."""
    if isinstance(df, gpd.GeoDataFrame):
        name = df._geometry_column_name
        if name in df.columns:
            return str(name)
    return None


@dataclass
class _Part:
    """One gazetteer table, normalised."""

    attrs: pd.DataFrame
    name_col: str
    lon: np.ndarray
    lat: np.ndarray
    names: np.ndarray
    alts: list[np.ndarray]
    code_col: str | None
    context_cols: list[str]


def _prepare(df: pd.DataFrame, *, name_col: str | None, alt_cols: Sequence[str] | None,
             lon: str | None, lat: str | None, path: str | None) -> tuple[_Part, int]:
    columns = [str(c) for c in df.columns]
    geom_name = _geometry_name(df)
    plain = [c for c in columns if c != geom_name]
    name = _find_column(plain, name_col, _NAME_COLUMNS, "place-name", path)
    if alt_cols is None:
        alts = [c for c in plain if c != name and _ALT.search(c)]
    else:
        alts = [_find_column(plain, a, (), "alternative-name", path) for a in alt_cols]
    coord_cols: list[str] = []
    if lon is not None or lat is not None:
        if lon is None or lat is None:
            raise SchemaError("give both lon and lat columns", path=path, fix="name both columns")
        xcol = _find_column(plain, lon, (), "longitude", path)
        ycol = _find_column(plain, lat, (), "latitude", path)
        coord_cols = [xcol, ycol]
    else:
        lower = {c.lower(): c for c in plain}
        for xc, yc in _COORD_PAIRS:
            if xc in lower and yc in lower:
                coord_cols = [lower[xc], lower[yc]]
                break
    if coord_cols:
        x = pd.to_numeric(df[coord_cols[0]], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(df[coord_cols[1]], errors="coerce").to_numpy(dtype=float)
    elif geom_name is not None:
        gdf = df
        if gdf.crs is None:
            raise CRSError(
                f"{path or 'the gazetteer layer'} has no CRS; fix: add a CRS to the file"
            )
        if gdf.crs.to_epsg() != 4326:
            gdf = gdf.to_crs(4326)
        geoms = gdf.geometry
        bad = ~(geoms.isna() | geoms.is_empty | (geoms.geom_type == "Point"))
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise LayerError(
                f"the gazetteer must be points; feature {first} is a {geoms.iloc[first].geom_type}",
                path=path, feature=first,
                fix="convert the layer to points (e.g. representative points)",
            )
        x = geoms.x.to_numpy(dtype=float)
        y = geoms.y.to_numpy(dtype=float)
    else:
        raise SchemaError(
            "the gazetteer has no coordinates (lon/lat, longitude/latitude, x/y or point geometry)",
            path=path, fix="add lon and lat columns (WGS84), or pass lon=/lat= column names",
        )
    names = _text(df[name])
    ok = (np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)
          & (names != ""))
    skipped = int((~ok).sum())
    if skipped:
        log.warning("%s: %d gazetteer rows without a name or valid coordinates were skipped",
                    path or "gazetteer", skipped)
    attrs = pd.DataFrame(df.drop(columns=[c for c in [geom_name, *coord_cols] if c]))
    attrs = attrs.loc[ok].reset_index(drop=True)
    code_col = next(
        (c for c in attrs.columns if _CODE.search(str(c)) and not _CONTEXT.search(str(c))), None
    )
    if code_col is None:
        code_col = next(
            (c for c in attrs.columns if str(c).lower() in ("pcode", "code", "id")), None
        )
    context_cols = [c for c in attrs.columns
                    if c not in (name, code_col, *alts) and _CONTEXT.search(str(c))]
    part = _Part(
        attrs=attrs, name_col=name, lon=x[ok], lat=y[ok], names=names[ok],
        alts=[_text(df[a])[ok] for a in alts], code_col=code_col, context_cols=context_cols,
    )
    return part, skipped


@dataclass(eq=False)
class Gazetteer:
    """Places with coordinates and an index of their folded names.

    Build with :meth:`from_files` or :meth:`from_frame`; match with :meth:`match`.
    ``places`` holds one row per place: the gazetteer's own attributes plus ``lon``, ``lat``
    (WGS84).
    """

    places: pd.DataFrame
    name_cols: tuple[str, ...]
    context_cols: tuple[str, ...]
    skipped: int = 0
    _place_group: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _label: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, object))
    _entry_place: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _entry_text: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, object))
    _entry_folded: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, object))
    _entry_loose: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, object))
    _entry_skel: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, object))
    _entry_anagram: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, object))
    _entry_block: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, object))
    _by_folded: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    _by_literal: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    _ctx_values: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    _text_for: dict[tuple[int, str], str] = field(repr=False, default_factory=dict)
    _label_name: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, object))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_files(
        cls,
        paths: str | Path | Sequence[str | Path],
        *,
        name_col: str | None = None,
        alt_cols: Sequence[str] | None = None,
        lon: str | None = None,
        lat: str | None = None,
    ) -> Gazetteer:
        """Read one or several gazetteer tables (CSV, Excel or point layers) into one gazetteer.

        Columns are detected per file (name: ``PP_NAME_EN``/``name``/...; alternatives:
        ``*ALT*``, ``*REF_NAM*``; coordinates: lon/lat, longitude/latitude, x/y or point
        geometry; code: ``*PCODE*``; context: ``ADM1_*``, ``ADM2_*``, ``ADM3_*``, ``admin1``...).
        The explicit options apply to every file.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if not paths:
            raise InputError("no gazetteer given", fix="pass --places FILE (repeatable)")
        parts: list[_Part] = []
        skipped = 0
        for p in paths:
            df = read_table(p, what="gazetteer")
            if len(df) == 0:
                raise InputError("the gazetteer has no rows", path=p,
                                 fix="give a table of place names with coordinates")
            part, n = _prepare(
                df, name_col=name_col, alt_cols=alt_cols, lon=lon, lat=lat, path=str(p)
            )
            parts.append(part)
            skipped += n
        return cls._build(parts, skipped)

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        name_col: str | None = None,
        alt_cols: Sequence[str] | None = None,
        lon: str | None = None,
        lat: str | None = None,
    ) -> Gazetteer:
        """A gazetteer from a DataFrame (lon/lat columns) or a point GeoDataFrame."""
        part, skipped = _prepare(
            df, name_col=name_col, alt_cols=alt_cols, lon=lon, lat=lat, path=None
        )
        return cls._build([part], skipped)

    @classmethod
    def _build(cls, parts: list[_Part], skipped: int) -> Gazetteer:
        attrs = pd.concat([p.attrs for p in parts], ignore_index=True, sort=False)
        for reserved in ("lon", "lat"):
            if reserved in attrs.columns:  # a coordinate-like attribute that is not the coordinates
                attrs = attrs.rename(columns={reserved: f"gazetteer_{reserved}"})
        for c in attrs.columns:  # so that rows without a match keep integer columns integer
            dtype = attrs[c].dtype
            if pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
                attrs[c] = attrs[c].astype("Int64")
            elif pd.api.types.is_bool_dtype(dtype) and isinstance(dtype, np.dtype):
                attrs[c] = attrs[c].astype("boolean")
        attrs["lon"] = np.concatenate([p.lon for p in parts])
        attrs["lat"] = np.concatenate([p.lat for p in parts])
        n = len(attrs)
        offsets = np.cumsum([0] + [len(p.attrs) for p in parts])
        # identity: a code shared by rows (even across files) is one place
        keys = np.empty(n, dtype=object)
        names = np.empty(n, dtype=object)
        region = np.full(n, "", dtype=object)
        codes = np.full(n, "", dtype=object)
        context_cols: list[str] = []
        for i, p in enumerate(parts):
            sl = slice(offsets[i], offsets[i + 1])
            names[sl] = p.names
            if p.code_col is not None:
                c = _text(p.attrs[p.code_col])
                codes[sl] = c
                keys[sl] = np.where(c != "", np.char.add("code:", c.astype(str)),
                                    np.char.add(f"row{i}:", np.arange(len(c)).astype(str)))
            else:
                keys[sl] = np.char.add(f"row{i}:", np.arange(len(p.attrs)).astype(str))
            named = [c for c in p.context_cols if not _CODE.search(str(c))
                     and 1 < p.attrs[c].nunique() ]
            if named:
                top = min(named, key=lambda c: p.attrs[c].nunique())
                region[sl] = _text(p.attrs[top])
            context_cols += [c for c in p.context_cols if c not in context_cols]
        group = pd.factorize(pd.Series(keys, dtype=object))[0]
        label = np.array([
            f"{nm} ({', '.join(x for x in (cd, rg) if x)})" if (cd or rg) else nm
            for nm, cd, rg in zip(names, codes, region, strict=True)
        ], dtype=object)

        # entries: name, alternatives, and base forms
        e_place: list[np.ndarray] = []
        e_text: list[np.ndarray] = []
        e_given: list[np.ndarray] = []
        for i, p in enumerate(parts):
            idx = np.arange(offsets[i], offsets[i + 1])
            for values in [p.names, *p.alts]:
                base = np.array(
                    [_SECOND_PART.sub("", _BRACKET.sub(" ", v)).strip() for v in values],
                    dtype=object,
                )
                for arr, given in ((values, True), (base, False)):
                    keep = arr != ""
                    e_place.append(idx[keep])
                    e_text.append(arr[keep])
                    e_given.append(np.full(int(keep.sum()), given))
        place = np.concatenate(e_place)
        text = np.concatenate(e_text)
        folded = np.array([fold_name(t) for t in text], dtype=object)
        literal = np.array([_literal(t) for t in text], dtype=object)
        ent = pd.DataFrame({"place": place, "text": text, "folded": folded, "literal": literal,
                            "given": np.concatenate(e_given)})
        # a spelling given in the table wins over the same spelling derived from it
        ent = ent[ent["folded"] != ""].sort_values("given", ascending=False, kind="stable")
        ent = ent.drop_duplicates(["place", "folded", "literal"]).sort_index()
        ent = ent.reset_index(drop=True)
        ent_place = ent["place"].to_numpy(dtype=np.int64)
        by_folded = {k: np.unique(ent_place[v]) for k, v in ent.groupby("folded").indices.items()}
        given = ent[ent["given"]]
        given_place = given["place"].to_numpy(dtype=np.int64)
        by_literal = {k: np.unique(given_place[v])
                      for k, v in given.groupby("literal").indices.items()}
        fuzz_ent = ent.drop_duplicates(["place", "folded"]).reset_index(drop=True)
        f = fuzz_ent["folded"].to_numpy(dtype=object)

        # context values -> places
        ctx: dict[str, np.ndarray] = {}
        for c in context_cols:
            if c not in attrs.columns:
                continue
            for v, rows in pd.Series(_text(attrs[c])).groupby(_text(attrs[c])).indices.items():
                if v:
                    ctx[v] = np.union1d(ctx[v], rows) if v in ctx else np.asarray(rows)
        gaz = cls(
            places=attrs,
            name_cols=tuple(dict.fromkeys(p.name_col for p in parts)),
            context_cols=tuple(context_cols),
            skipped=skipped,
        )
        gaz._place_group = group
        gaz._label = label
        gaz._entry_place = fuzz_ent["place"].to_numpy(dtype=np.int64)
        gaz._entry_text = fuzz_ent["text"].to_numpy(dtype=object)
        gaz._entry_folded = f
        gaz._entry_loose = np.array([loose_form(x) for x in f], dtype=object)
        gaz._entry_skel = np.array([skeleton(x) for x in f], dtype=object)
        gaz._entry_anagram = np.array([anagram(x) for x in f], dtype=object)
        gaz._entry_block = np.array([_block(x) for x in f], dtype=object)
        gaz._by_folded = by_folded
        gaz._by_literal = by_literal
        gaz._ctx_values = ctx
        gaz._text_for = dict(zip(zip(fuzz_ent["place"].tolist(), fuzz_ent["folded"].tolist(), strict=False),
                                 fuzz_ent["text"].tolist(), strict=False))
        gaz._label_name = names
        return gaz

    def __len__(self) -> int:
        return len(self.places)

    def __repr__(self) -> str:
        return (f"Gazetteer({len(self)} places, {len(self._entry_place)} spellings, "
                f"names {list(self.name_cols)}, context {list(self.context_cols)})")

    # ------------------------------------------------------------------ context
    def context_mask(self, value: Any) -> np.ndarray | None:
        """The places a context value (a name or a code) designates, or None if it matches no
        context value of the gazetteer (then it does not restrict)."""
        if _missing(value) or not str(value).strip():
            return None
        v = str(value).strip()
        if any(ch.isdigit() for ch in v):
            hits = [k for k in self._ctx_values if k.casefold() == v.casefold()]
        else:
            fv = fold_name(v)
            hits = [k for k in self._ctx_values if fold_name(k) == fv and fv]
            if not hits:
                scored = [(name_score(v, k), k) for k in self._ctx_values
                          if not any(ch.isdigit() for ch in k)]
                best = max((s for s, _ in scored), default=0.0)
                if best >= SAME_PLACE_THRESHOLD:
                    hits = [k for s, k in scored
                            if s >= best - MARGIN and s >= SAME_PLACE_THRESHOLD]
        if not hits:
            return None
        mask = np.zeros(len(self.places), dtype=bool)
        for k in hits:
            mask[self._ctx_values[k]] = True
        return mask

    # ------------------------------------------------------------------ matching
    def match(
        self,
        names: Sequence[str] | pd.Series,
        *,
        context: Mapping[str, Sequence[Any]] | pd.DataFrame | pd.Series | None = None,
        candidates: int = 3,
    ) -> pd.DataFrame:
        """Match place names; one output row per input name, in the same order.

        Columns: ``geocode_status`` (``exact``/``fuzzy``/``ambiguous``/``none``, see the module
        docstring for the thresholds), ``geocode_score`` (0-100), ``matched_name`` (the
        gazetteer's spelling that matched; exact and fuzzy only), the gazetteer's attributes
        (e.g. ``PP_PCODE``, ``PP_NAME_EN``, ``ADM1_EN``; exact and fuzzy only), ``lon``, ``lat``
        (WGS84; exact and fuzzy only) and ``geocode_candidates`` for anything not exact: the best
        places as ``"Name (CODE, Region) score"`` joined by ``"; "``, best first (for a fuzzy
        match the chosen place comes first).  An ambiguous row lists every contender even beyond
        ``candidates``.

        ``context`` maps a label (e.g. ``"admin1"``) to values aligned with ``names`` by
        position (a DataFrame, or one Series, is taken column by column).
        """
        name_code, name_uniques = _factorize_text(names)
        n = len(name_code)
        mask_of_row, masks = self._row_masks(context, n)

        # resolution unit: a distinct (name, context mask)
        unit_key = name_code.astype(np.int64) * (len(masks) + 1) + (mask_of_row + 1)
        unit, unit_uniques = pd.factorize(unit_key)
        u_name = unit_uniques // (len(masks) + 1)
        u_mask = unit_uniques % (len(masks) + 1) - 1
        folded_u = np.array([fold_name(x) for x in name_uniques], dtype=object)
        folded = folded_u[u_name]
        m = len(unit_uniques)
        status = np.full(m, "none", dtype=object)
        score = np.zeros(m, dtype=float)
        chosen = np.full(m, -1, dtype=np.int64)
        matched = np.full(m, None, dtype=object)
        cands = np.full(m, "", dtype=object)
        pending: list[int] = []
        groups = self._place_group
        by_folded = self._by_folded
        for i, (f, mk) in enumerate(zip(folded.tolist(), u_mask.tolist(), strict=True)):
            if not f:
                continue
            hit = by_folded.get(f)
            if hit is not None and mk >= 0:
                hit = hit[masks[mk][hit]]
            if hit is None or len(hit) == 0:
                pending.append(i)
                continue
            if len(hit) > 1:
                _, first = np.unique(groups[hit], return_index=True)
                hit = hit[np.sort(first)]
            if len(hit) > 1 and mk >= 0:
                lit = self._by_literal.get(_literal(name_uniques[u_name[i]]))
                if lit is not None:
                    same = hit[np.isin(hit, lit)]
                    if len(same) == 1:
                        hit = same
            score[i] = 100.0
            if len(hit) == 1:
                status[i], chosen[i] = "exact", hit[0]
                matched[i] = self._text_for.get((int(hit[0]), f), self._label_name[hit[0]])
            else:
                status[i] = "ambiguous"
                cands[i] = "; ".join(f"{self._label[p]} 100" for p in hit)
        if pending:
            self._fuzzy(np.asarray(pending), folded, u_mask, masks, candidates,
                        status, score, chosen, matched, cands)

        # expand to the input rows
        out = pd.DataFrame({
            "geocode_status": status[unit],
            "geocode_score": np.round(score[unit], 1),
            "matched_name": matched[unit],
        })
        attrs = self.places.reindex(chosen[unit]).reset_index(drop=True)
        out = pd.concat([out, attrs], axis=1)
        out["geocode_candidates"] = cands[unit]
        return out

    def _row_masks(self, context: Mapping[str, Sequence[Any]] | pd.DataFrame | pd.Series | None,
                   n: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Per row, the id of its candidate mask (-1: unrestricted), and the masks."""
        mask_of_row = np.full(n, -1, dtype=np.int64)
        masks: list[np.ndarray] = []
        if isinstance(context, pd.DataFrame):
            context = {str(c): context[c] for c in context.columns}
        elif isinstance(context, pd.Series):  # one context column given as such
            context = {str(context.name or "context"): context}
        if context is None or len(context) == 0:
            return mask_of_row, masks
        combo = np.zeros(n, dtype=np.int64)
        value_codes: list[np.ndarray] = []
        value_masks: list[list[np.ndarray | None]] = []
        for label, values in context.items():
            code, uniques = _factorize_text(values)
            if len(code) != n:
                raise InputError(
                    f"context {label!r} has {len(code)} values for {n} names",
                    fix="give one context value per name",
                )
            value_codes.append(code)
            # the distinct combinations so far, renumbered (no overflow)
            combo = pd.factorize(combo * (len(uniques) + 1) + code)[0].astype(np.int64)
            value_masks.append([self.context_mask(v) for v in uniques])
            unknown = sorted(v for v, mk in zip(uniques, value_masks[-1], strict=True)
                             if mk is None and v)
            if unknown:
                log.warning("context %s values not found in the gazetteer (not used): %s",
                            label, ", ".join(unknown[:10]))
        # one representative row per distinct combination of context values
        _, first_rows = np.unique(combo, return_index=True)
        combo_mask = np.full(len(first_rows), -1, dtype=np.int64)
        mask_cache: dict[bytes, int] = {}
        for j, r in enumerate(first_rows.tolist()):
            given = [vm[codes[r]] for vm, codes in zip(value_masks, value_codes, strict=True)
                     if vm[codes[r]] is not None]
            if not given:
                continue
            # values that contradict each other: drop the later ones until some place fits
            combined = np.logical_and.reduce(given)
            while not combined.any() and len(given) > 1:
                given.pop()
                combined = np.logical_and.reduce(given)
            key = np.packbits(combined).tobytes()
            if key not in mask_cache:
                mask_cache[key] = len(masks)
                masks.append(combined)
            combo_mask[j] = mask_cache[key]
        return combo_mask[combo], masks

    def _fuzzy(self, pending: np.ndarray, folded: np.ndarray, mask_ids: np.ndarray,
               masks: list[np.ndarray], candidates: int, status: np.ndarray, score: np.ndarray,
               chosen: np.ndarray, matched: np.ndarray, cands: np.ndarray) -> None:
        """Score pending units against the (context-restricted, blocked) entries, once per
        distinct (folded name, mask)."""
        width = len(masks) + 1
        f_code, f_uniques = pd.factorize(folded[pending])
        key, uniq = pd.factorize(f_code.astype(np.int64) * width + (mask_ids[pending] + 1))
        uq = pd.DataFrame({"f": np.asarray(f_uniques, dtype=object)[uniq // width],
                           "mask": uniq % width - 1})
        uq["block"] = [_block(x) for x in uq["f"]]
        res_status = np.full(len(uq), "none", dtype=object)
        res_score = np.zeros(len(uq), dtype=float)
        res_place = np.full(len(uq), -1, dtype=np.int64)
        res_matched = np.full(len(uq), None, dtype=object)
        res_cands = np.full(len(uq), "", dtype=object)
        for mid, sub in uq.groupby("mask", sort=False):
            if mid >= 0:
                allowed = masks[int(mid)][self._entry_place]
            else:
                allowed = np.ones(len(self._entry_place), dtype=bool)
            blocked = allowed.sum() > _UNBLOCKED_MAX
            parts = sub.groupby("block", sort=False) if blocked else [(None, sub)]
            for blk, qs in parts:
                sel = allowed & (self._entry_block == blk) if blocked else allowed
                rows = qs.index.to_numpy()
                results = self._score_block(qs["f"].to_numpy(dtype=object), np.flatnonzero(sel),
                                            candidates)
                for r, (st, sc, pl, mt, cd) in zip(rows.tolist(), results, strict=True):
                    res_status[r], res_score[r], res_place[r] = st, sc, pl
                    res_matched[r], res_cands[r] = mt, cd
        status[pending] = res_status[key]
        score[pending] = res_score[key]
        chosen[pending] = res_place[key]
        matched[pending] = res_matched[key]
        cands[pending] = res_cands[key]

    def _score_block(self, queries: np.ndarray, ent: np.ndarray,
                     candidates: int) -> list[tuple[str, float, int, str | None, str]]:
        out: list[tuple[str, float, int, str | None, str]] = []
        if len(ent) == 0:
            return [("none", 0.0, -1, None, "")] * len(queries)
        e_f = list(self._entry_folded[ent])
        e_l = list(self._entry_loose[ent])
        e_s = list(self._entry_skel[ent])
        e_a = list(self._entry_anagram[ent])
        e_slen = _lengths(e_s)
        e_llen = _lengths(e_l)
        e_place = self._entry_place[ent]
        e_group = self._place_group[e_place]
        chunk = max(1, _CHUNK_CELLS // len(ent))
        top = min(len(ent), 3 * candidates + 8)
        for start in range(0, len(queries), chunk):
            qf = list(queries[start:start + chunk])
            ql = [loose_form(x) for x in qf]
            qs = [skeleton(x) for x in qf]
            s = process.cdist(qf, e_f, scorer=fuzz.ratio, dtype=np.float64, workers=1)
            s2 = process.cdist(ql, e_l, scorer=fuzz.ratio, dtype=np.float64, workers=1)
            s2 *= _LOOSE_W[np.minimum.outer(_lengths(ql), e_llen)]
            np.maximum(s, s2, out=s)
            del s2
            minlen = np.minimum.outer(_lengths(qs), e_slen)
            s3 = process.cdist(qs, e_s, scorer=fuzz.ratio, dtype=np.float64, workers=1)
            s3 *= _SKELETON_W[minlen]
            np.maximum(s, s3, out=s)
            del s3
            s4 = process.cdist([anagram(x) for x in qf], e_a, scorer=fuzz.ratio,
                               dtype=np.float64, workers=1)
            s4 *= _ANAGRAM_W[minlen]
            np.maximum(s, s4, out=s)
            del s4, minlen
            if top < len(ent):
                idx = np.argpartition(-s, top - 1, axis=1)[:, :top]
            else:
                idx = np.broadcast_to(np.arange(len(ent)), s.shape)
            rows = np.arange(len(qf))[:, None]
            sc = s[rows, idx]
            order = np.argsort(-sc, axis=1, kind="stable")
            idx = np.take_along_axis(idx, order, axis=1)
            sc = np.take_along_axis(sc, order, axis=1)
            for g_row, p_row, e_row, s_row in zip(e_group[idx].tolist(), e_place[idx].tolist(),
                                                  ent[idx].tolist(), sc.tolist(), strict=True):
                out.append(self._decide(g_row, p_row, e_row, s_row, candidates))
        return out

    def _decide(self, g_row: list[int], p_row: list[int], e_row: list[int], s_row: list[float],
                candidates: int) -> tuple[str, float, int, str | None, str]:
        """Status from one query's best entries (sorted, best first), one per place."""
        seen: set[int] = set()
        places: list[tuple[int, float, int]] = []
        for g, p, e, s in zip(g_row, p_row, e_row, s_row, strict=True):
            if g not in seen:
                seen.add(g)
                places.append((p, s, e))
        best_place, best, best_entry = places[0]
        second = places[1][1] if len(places) > 1 else 0.0
        if best >= FUZZY_MIN and best - second >= MARGIN:
            st = "fuzzy"
            listed = places[:candidates]
        elif best >= FUZZY_MIN:
            st = "ambiguous"
            tied = [p for p in places if p[1] > best - MARGIN]
            listed = tied + places[len(tied):candidates]
        else:
            st = "none"
            listed = places[:candidates]
        label = self._label
        text = "; ".join(f"{label[p]} {s:.0f}" for p, s, _ in listed if s >= CANDIDATE_MIN)
        if st == "fuzzy":
            return (st, best, best_place, str(self._entry_text[best_entry]), text)
        return (st, best, -1, None, text)


def geocode(
    df: pd.DataFrame,
    gazetteer: Gazetteer,
    *,
    name_col: str = "location",
    context_cols: Sequence[str] = (),
    candidates: int = 3,
) -> gpd.GeoDataFrame:
    """Geocode every row of ``df`` by its place name; every row is kept, in order.

    The result has the input's columns, then the columns of :meth:`Gazetteer.match`
    (``geocode_status``, ``geocode_score``, ``matched_name``, the gazetteer's attributes,
    ``lon``, ``lat``, ``geocode_candidates``); a gazetteer attribute whose name the input already
    uses is prefixed ``gazetteer_``.  The geometry is the place's point (EPSG:4326) for
    ``exact`` and ``fuzzy`` rows and missing otherwise; an input geometry is replaced.
    ``context_cols`` (e.g. ``admin1``, ``admin2``) restrict the candidates and break ties.
    """
    columns = [str(c) for c in df.columns]
    for col, what in [(name_col, "place-name"), *[(c, "context") for c in context_cols]]:
        if col not in columns:
            raise SchemaError(
                f"no {what} column {col!r} in the input", column=col,
                fix=f"choose one of: {', '.join(columns)}",
            )
    result = gazetteer.match(
        df[name_col], context={c: df[c] for c in context_cols}, candidates=candidates
    )
    base = pd.DataFrame(df)
    geom_name = _geometry_name(df)
    if geom_name is not None:
        base = base.drop(columns=[geom_name])
    own = ("geocode_status", "geocode_score", "matched_name", "geocode_candidates")
    base = base.drop(columns=[c for c in own if c in base.columns]).reset_index(drop=True)
    rename = {c: f"gazetteer_{c}" for c in result.columns if c not in own and c in base.columns}
    result = result.rename(columns=rename)
    lon_col, lat_col = rename.get("lon", "lon"), rename.get("lat", "lat")
    placed = result["geocode_status"].isin(["exact", "fuzzy"]).to_numpy()
    geometry = gpd.points_from_xy(result[lon_col], result[lat_col], crs=4326)
    geometry = np.where(placed, geometry, None)
    out = pd.concat([base, result], axis=1)
    out.index = df.index
    points = gpd.GeoSeries(geometry, index=df.index, crs=4326)
    return gpd.GeoDataFrame(out, geometry=points, crs=4326)
