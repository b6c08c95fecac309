"""Incidents as compact columns for the HTML page (no GeoJSON, no DOM marker per event).

A country's export (200,000-300,000 events) goes into one offline page as typed columns in a
single gzip-compressed, base64-encoded block that the browser unpacks with
``DecompressionStream`` and draws on a canvas (``_assets/map.js``, ``GC.points``):

* positions: longitude and latitude quantised to 1e-5° (about a metre), ``Int32``;
* the day: days since the first day, ``Uint16`` (``Uint32`` past 179 years), the largest value
  standing for no date;
* repeated text (types, actors, places, sources, flags): dictionary codes (``Uint8/16/32``,
  largest value = missing) and the dictionary as JSON;
* numbers (fatalities): ``Float32`` (NaN = missing);
* nearly unique text (ids, notes): a JSON list of strings.

The popup builds its rows from these columns with ``textContent``: every field is text, never
markup.  Columns are dropped, in :data:`DROP_ORDER`, when the page would pass its budget, and
notes are cut or left out by the rule of :func:`pack_incidents`; what was left out is reported.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: bytes of the packed block (base64) that one incident layer may take in the page
PAGE_BUDGET_BYTES = 5_500_000
#: optional columns left out first when the page would be over budget (position, day and type stay)
DROP_ORDER: tuple[str, ...] = ("notes", "source", "flags", "actor2", "location", "fatalities", "actor1",
                               "incident_id", "event_type")
NOTES_MAX_CHARS = 1000
NOTES_MIN_CHARS = 160
QUANT = 1e5
#: zlib level: 1 is several times faster than 6 for about 10 % more bytes
COMPRESS_LEVEL = 1


@dataclass
class Packed:
    """The packed block, its description for the page, and what was left out."""

    payload: dict[str, Any]
    size_bytes: int
    left_out: list[str] = field(default_factory=list)
    notes: str = "none"  # "all", "cut to N characters", "left out" or "none" (no notes column)


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str], str]:
    """Dictionary codes (largest value = missing), the dictionary, the dtype name."""
    if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
        values = values.astype(object)
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    words = [str(u) for u in uniques]
    n = len(words)
    dtype, kind = (np.uint8, "u8") if n < 255 else (np.uint16, "u16") if n < 65535 else (np.uint32, "u32")
    miss = np.iinfo(dtype).max
    out = np.where(codes < 0, miss, codes).astype(dtype)
    return out, words, kind


def _text_list(values: pd.Series) -> list[str | None]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)
            for v in values.astype(object).tolist()]


class _Blob:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def add(self, data: bytes) -> tuple[int, int]:
        pad = (-self.offset) % 8  # typed-array views need aligned offsets
        if pad:
            self.parts.append(b"\0" * pad)
            self.offset += pad
        start = self.offset
        self.parts.append(data)
        self.offset += len(data)
        return start, len(data)

    def add_json(self, obj: Any) -> tuple[int, int]:
        return self.add(json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode())


def _encode(cols: dict[str, pd.Series], lon: np.ndarray, lat: np.ndarray, day: np.ndarray | None,
            day0: str | None, type_col: str | None) -> tuple[dict[str, Any], int]:
    blob = _Blob()
    head: dict[str, Any] = {"n": int(len(lon)), "quant": QUANT, "columns": {}}
    head["x"] = blob.add(np.round(lon * QUANT).astype("<i4").tobytes())
    head["y"] = blob.add(np.round(lat * QUANT).astype("<i4").tobytes())
    if day is not None:
        big = int(day.max(initial=0)) >= 65535
        dt = np.dtype("<u4") if big else np.dtype("<u2")
        d = np.where(day < 0, np.iinfo(dt).max, day).astype(dt)
        last = pd.Timestamp(day0) + pd.Timedelta(days=int(day.max(initial=0)))
        head["day"] = {"at": blob.add(d.tobytes()), "type": "u32" if big else "u16", "day0": day0,
                       "last": f"{last:%Y-%m-%d}"}
    for name, s in cols.items():
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
            v = np.where(np.isfinite(v), v, np.nan).astype("<f4")
            head["columns"][name] = {"kind": "f32", "at": blob.add(v.tobytes())}
            continue
        codes, words, kind = _codes(s)
        text = s
        if name != type_col and len(words) > 0.5 * max(len(text), 1):
            head["columns"][name] = {"kind": "text", "at": blob.add_json(_text_list(text))}
            continue
        head["columns"][name] = {"kind": kind, "at": blob.add(codes.astype(codes.dtype.newbyteorder("<")).tobytes()),
                                 "dict": blob.add_json(words)}
        if name == type_col:
            head["types"] = words
    raw = b"".join(blob.parts)
    packed = base64.b64encode(gzip.compress(raw, compresslevel=COMPRESS_LEVEL, mtime=0)).decode("ascii")
    head["data"] = packed
    return head, len(packed)


def pack_incidents(frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, *, columns: list[str],
                   type_col: str | None, dates: pd.Series | None, full_detail: bool = True,
                   budget_bytes: int | None = None) -> Packed:
    """Pack ``columns`` of ``frame`` (text, numbers; ``date`` becomes the day column).

    What goes in: position, day and type always; the other columns while the block fits
    ``budget_bytes`` (else they are left out in :data:`DROP_ORDER`); notes, in a block of their
    own that the page unpacks only when a popup opens, whole (up to :data:`NOTES_MAX_CHARS`) if
    they fit what is left of the budget, else cut to :data:`NOTES_MIN_CHARS`, else left out (the
    popup then names the data file and the incident id).  ``full_detail=False`` (past
    ``max_features``) keeps only position, day and type.
    """
    budget_bytes = PAGE_BUDGET_BYTES if budget_bytes is None else budget_bytes
    day = day0 = None
    if dates is not None:
        d = pd.to_datetime(dates).dt.normalize()
        if d.notna().any():
            start = d.min()
            day = (d - start).dt.days.fillna(-1).astype("int64").to_numpy()
            day0 = f"{start:%Y-%m-%d}"
    wanted = [c for c in columns if c in frame.columns and c != "date"]
    keep = [c for c in wanted if c != "notes" and (full_detail or c == type_col)]
    cols = {c: frame[c] for c in keep}
    left_out = [c for c in wanted if c not in keep and c != "notes"]
    head, size = _encode(cols, lon, lat, day, day0, type_col)
    for name in DROP_ORDER:
        if size <= budget_bytes:
            break
        if name in cols and name != type_col:
            del cols[name]
            left_out.append(name)
            head, size = _encode(cols, lon, lat, day, day0, type_col)
    notes = "none"
    if "notes" in wanted:
        notes = "left out"
        room = budget_bytes - size
        for limit, label in ((NOTES_MAX_CHARS, "all"), (NOTES_MIN_CHARS, f"cut to {NOTES_MIN_CHARS} characters")):
            if not full_detail or room <= 0:
                break
            if _estimate_b64(frame["notes"], limit) <= 0.9 * room:
                text = _cut(frame["notes"], limit)
                block = base64.b64encode(gzip.compress(
                    json.dumps(_text_list(text), ensure_ascii=False, separators=(",", ":")).encode(),
                    compresslevel=COMPRESS_LEVEL, mtime=0)).decode("ascii")
                if len(block) <= room:
                    head["notes"] = block
                    size += len(block)
                    notes = label
                    break
        if notes == "left out":
            left_out.append("notes")
    return Packed(payload=head, size_bytes=size, left_out=left_out, notes=notes)


def _estimate_b64(notes: pd.Series, limit: int, sample: int = 2000) -> float:
    """The base64 size of the notes cut to ``limit``, gzip-compressed, from a compressed sample."""
    if len(notes) == 0:
        return 0.0
    step = max(1, len(notes) // sample)
    part = json.dumps(_text_list(_cut(notes.iloc[::step], limit)), ensure_ascii=False,
                      separators=(",", ":")).encode()
    ratio = len(gzip.compress(part, compresslevel=COMPRESS_LEVEL, mtime=0)) / max(len(part), 1)
    text = notes if isinstance(notes.dtype, pd.StringDtype) else notes.astype("string")
    lengths = text.str.len()
    total = float(lengths.clip(upper=limit + 1).fillna(0).sum()) + 4 * len(notes)
    return total * 1.1 * ratio * 4 / 3  # 10 %: non-ASCII text is longer in UTF-8 than in characters


def _cut(s: pd.Series, limit: int) -> pd.Series:
    text = s.astype(object)
    return text.map(lambda v: v if not isinstance(v, str) or len(v) <= limit else v[:limit] + "…")


def unpack(payload: dict[str, Any]) -> pd.DataFrame:
    """The columns of a packed block back as a table (``lon``, ``lat``, ``day``, the fields):
    what the page's ``GC.points`` reads, for tests and for checking a page."""
    raw = gzip.decompress(base64.b64decode(payload["data"]))

    def arr(at: list[int], dtype: str) -> np.ndarray:
        return np.frombuffer(raw, dtype=np.dtype(dtype), count=at[1] // np.dtype(dtype).itemsize, offset=at[0])

    def js(at: list[int]) -> Any:
        return json.loads(raw[at[0]:at[0] + at[1]].decode())

    q = payload["quant"]
    out = pd.DataFrame({"lon": arr(payload["x"], "<i4") / q, "lat": arr(payload["y"], "<i4") / q})
    if payload.get("day"):
        d = payload["day"]
        days = arr(d["at"], "<u4" if d["type"] == "u32" else "<u2").astype("int64")
        miss = days == (2**32 - 1 if d["type"] == "u32" else 65535)
        out["date"] = (pd.Timestamp(d["day0"]) + pd.to_timedelta(days, unit="D")).where(~miss)
    sizes = {"u8": "<u1", "u16": "<u2", "u32": "<u4"}
    for name, c in payload["columns"].items():
        if c["kind"] == "text":
            out[name] = pd.Series(js(c["at"]), dtype=object)
        elif c["kind"] == "f32":
            out[name] = arr(c["at"], "<f4").astype("float64")
        else:
            words = np.array(js(c["dict"]) + [None], dtype=object)
            codes = arr(c["at"], sizes[c["kind"]]).astype("int64")
            codes = np.where(codes == np.iinfo(np.dtype(sizes[c["kind"]])).max, len(words) - 1, codes)
            out[name] = pd.Series(words[codes], dtype=object)
    if "notes" in payload:
        out["notes"] = pd.Series(json.loads(gzip.decompress(base64.b64decode(payload["notes"])).decode()),
                                 dtype=object)
    return out


def payloads_in_page(page: str) -> list[dict[str, Any]]:
    """Every packed block in a page written by :func:`geoconflict.maps.write_map`."""
    dec = json.JSONDecoder()
    out = []
    for m in re.finditer(r'\{"n":', page):
        obj, _ = dec.raw_decode(page, m.start())
        if "quant" in obj and "data" in obj:
            out.append(obj)
    return out
