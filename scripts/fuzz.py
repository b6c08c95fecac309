"""A seeded fuzzer for every geoconflict command (issue #18, "Done when").

    python scripts/fuzz.py --seed 1 --cases 300 --out /tmp/fuzz        # run, print the failure classes
    python scripts/fuzz.py --seed 1 --cases 40 --commands map,zones    # only some commands
    python scripts/fuzz.py --replay /tmp/fuzz/case-0042                # one case again, in this process

Small valid inputs of every kind the commands read are built in code (``write_seeds``); each case
copies them into ``<out>/case-NNNN/in/``, mutates ONE of them (``MUTATIONS``: byte flips, truncation,
huge numbers, out-of-range coordinates and dates, empty geometry, EMPTY polygon parts, template and
script syntax in text fields, bad UTF-8, BOMs, NULs, CRLF...) or one option, and runs one command
writing into ``case-NNNN/out/`` (empty before the run).

The cases run in child processes (``--jobs``, default 2), each running many cases in a row through
click's ``CliRunner`` (one import of the library per child); a child that dies (segfault) or stalls
(``--timeout`` per case) is replaced and the case is recorded as a crash or a hang.  C-level writes
to stderr (GDAL, PROJ, faulthandler) are captured per case too.

The oracle (``judge``), per case:
  * exit status 0 or 2; no exception escaping the command (that is a traceback for the user);
  * stderr without "Traceback", "Exception ignored", Python warning lines or C-level library text;
  * on exit 2, no file at all in ``out/`` (no partial output, no temporaries) and none new in ``in/``;
  * on exit 0, the main output exists; for ``ingest`` the accounting holds: rows in the output +
    rows in ``.quarantine.csv`` == data rows of the input (CSV records counted with the csv module,
    GeoJSON elements of ``features``);
  * template payloads are never evaluated: no marker file is created, no ``fzqxqxqx`` in any output.

Each case folder keeps ``case.json`` (command, mutation, argv), ``result.json`` (exit code, stderr,
exception, traceback) and ``repro.sh``.  ``<out>/summary.json`` groups the failures into classes
(command, check, exception or message) with the mutations and case folders that show each.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("ingest", "geocode", "join", "zones", "corridor", "ceasefire", "grid", "flows", "map", "run")
#: relative share of the cases per command (run and map are slower; ingest reads the most kinds)
WEIGHTS = {"ingest": 5, "geocode": 2, "join": 3, "zones": 3, "corridor": 2, "ceasefire": 2,
           "grid": 3, "flows": 3, "map": 3, "run": 1}
MARKER = "pwned"  # file a template payload would create in the case folder
EVALUATED = "fzqxqxqx"  # what {{ 'fz' ~ 'qx' * 3 }} renders to


# ----------------------------------------------------------------------------------------- seeds

ACLED_HEADER = [
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
    "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
    "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
    "fatalities", "tags", "timestamp",
]
_ACLED_POINTS = [  # id, date, lat, lon, place, sub-event, fatalities
    ("SYR1", "2020-03-04", "35.8141", "36.6103", "Ariha", "Air/drone strike", "2"),
    ("SYR2", "2020-03-05", "35.6477", "36.6767", "Maarat al-Numan", "Shelling/artillery/missile attack", "0"),
    ("SYR3", "2020-03-06", "35.6853", "36.5419", "Bara", "Air/drone strike", "1"),
    ("SYR4", "2020-03-07", "35.6599", "36.4849", "Kansafra", "Shelling/artillery/missile attack", "0"),
    ("SYR5", "2020-03-09", "35.9306", "36.6339", "Idleb", "Air/drone strike", "3"),
    ("SYR6", "2020-03-10", "35.8611", "36.8061", "Saraqab", "Shelling/artillery/missile attack", "1"),
]


def _acled_rows() -> list[list[str]]:
    rows = []
    for eid, date, lat, lon, place, sub, fat in _ACLED_POINTS:
        rows.append([
            eid, date, date[:4], "1", "Political violence", "Explosions/Remote violence", sub,
            "Military Forces of Syria (2000-)", "", "1", "Civilians (Syria)", "", "7", "17",
            "Civilian targeting", "760", "Middle East", "Syria", "Idleb", "Ariha", place, place, lat,
            lon, "1", "SOHR", "National", f"Strike on {place}, with a comma.", fat, "", "1600000000",
        ])
    return rows


UCDP_HEADER = ["id", "relid", "year", "type_of_violence", "conflict_name", "side_a", "side_b",
               "source_article", "where_prec", "where_coordinates", "adm_1", "latitude", "longitude",
               "country", "date_prec", "date_start", "date_end", "best", "high", "low"]


def _ucdp_rows() -> list[list[str]]:
    rows = []
    for i, (_eid, date, lat, lon, place, _sub, fat) in enumerate(_ACLED_POINTS):
        rows.append([str(330001 + i), f"SYR-2020-1-{i}", "2020", "1", "Syria: Government",
                     "Government of Syria", "Syrian insurgents", "AFP", "1", place,
                     "Idlib governorate", lat, lon, "Syria", "1", f"{date} 00:00:00.000",
                     f"{date} 00:00:00.000", fat, fat, fat])
    return rows


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _fc(name: str, features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "name": name, "features": features}


def _feature(props: dict, geom: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


def seed_texts() -> dict[str, str]:
    """File name -> text of every seed input (all valid: each command succeeds on them)."""
    acled = _acled_rows()
    generic = [["ref", "when", "X", "Y", "place", "deaths"]] + [
        [f"g{i}", r[1], r[23], r[22], r[21], r[28]] for i, r in enumerate(acled)]
    incidents = _fc("incidents", [
        _feature({"incident_id": r[0], "event_date": r[1], "sub_event_type": r[6], "location": r[21],
                  "fatalities": int(r[28]), "notes": r[27]},
                 {"type": "Point", "coordinates": [float(r[23]), float(r[22])]}) for r in acled])
    control = _fc("control", [
        _feature({"controller": "Opposition", "date": "2020-01-01"}, _box(36.3, 35.5, 36.75, 36.0)),
        _feature({"controller": "Government", "date": "2020-01-01"}, _box(36.75, 35.5, 37.0, 36.0)),
        _feature({"controller": "Opposition", "date": "2020-03-06"}, _box(36.3, 35.5, 36.65, 36.0)),
        _feature({"controller": "Government", "date": "2020-03-06"}, _box(36.65, 35.5, 37.0, 36.0)),
    ])
    admin = _fc("admin", [
        _feature({"ADM1_PCODE": "SY07", "ADM1_EN": "Idleb", "pcode": "SY07", "name": "Idleb"},
                 _box(36.3, 35.6, 36.7, 36.0)),
        _feature({"ADM1_PCODE": "SY02", "ADM1_EN": "Aleppo", "pcode": "SY02", "name": "Aleppo"},
                 _box(36.7, 35.6, 37.1, 36.0)),
        _feature({"ADM1_PCODE": "SY05", "ADM1_EN": "Hama", "pcode": "SY05", "name": "Hama"},
                 _box(36.3, 35.2, 37.1, 35.6)),
    ])
    line = _fc("line", [_feature({"name": "M4"}, {"type": "LineString", "coordinates": [
        [36.3, 35.8], [36.6, 35.78], [36.9, 35.8]]})])
    records = _csv_text(["date", "origin", "destination", "individuals", "families"], [
        ["2020-02-03", "Idleb", "Aleppo", "1000", "200"],
        ["2020-02-04", "Hama", "Idleb", "500", "100"],
        ["2020-02-10", "Idleb", "Aleppo", "250", "50"],
        ["2020-02-11", "SY05", "SY02", "400", "80"],
    ])
    matrix = ("IDP movements by governorate - February 2020,,,,\n"
              "Origin \\ Destination,Aleppo,Idleb,Hama,Grand Total\n"
              "Aleppo,1200,300,,1500\nIdleb,2500,4000,100,6600\nHama,,800,150,950\n"
              "Grand Total,3700,5100,250,9050\n")
    places = _csv_text(["PP_NAME_EN", "PP_PCODE", "ADM1_EN", "lon", "lat"], [
        [r[21], f"C{4300 + i}", "Idleb", r[23], r[22]] for i, r in enumerate(acled)]
        + [["Aleppo", "C4400", "Aleppo", "37.16", "36.2"], ["Hama", "C4401", "Hama", "36.75", "35.13"]])
    scenario = (
        '[scenario]\nname = "fuzz"\ntitle = "Fuzz scenario"\ndata_as_of = "2020-03-10"\n'
        'sources = ["hand-made"]\n\n'
        '[inputs]\nincidents = "acled.csv"\nadmin = ["admin.geojson"]\ncontrol = "control.geojson"\n'
        'corridor_line = "line.geojson"\nplaces = ["places.csv"]\ndisplacement = ["records.csv"]\n\n'
        '[zones]\ndate = "2020-03-07"\nadmin = "admin.geojson"\nchange_from = "2020-01-02"\n'
        'change_to = "2020-03-08"\n\n[corridor]\nname = "m4"\nwidth = "6km"\n\n'
        '[ceasefire]\nstart = "2020-03-06T00:01"\ntypes = ["Air/drone strike", '
        '"Shelling/artillery/missile attack"]\n\n[grid]\nhex = "5km"\n'
    )
    dump = lambda d: json.dumps(d, indent=1) + "\n"  # noqa: E731
    return {
        "acled.csv": _csv_text(ACLED_HEADER, acled),
        "ucdp.csv": _csv_text(UCDP_HEADER, _ucdp_rows()),
        "generic.csv": _csv_text(generic[0], generic[1:]),
        "incidents.geojson": dump(incidents),
        "control.geojson": dump(control),
        "admin.geojson": dump(admin),
        "line.geojson": dump(line),
        "records.csv": records,
        "matrix.csv": matrix,
        "places.csv": places,
        "scenario.toml": scenario,
    }


# ------------------------------------------------------------------------------------- mutations

HUGE = ["1e308", "1e400", "-1e400", "-0", "NaN", "nan", "inf", "-inf", "Infinity",
        "99999999999999999999999", "1e-400", "0x1F", "1_000"]
BAD_COORDS = ["95", "-91", "200", "-181", "90.0000001", "1e10"]
BAD_DATES = ["1600-01-01", "2263-01-01", "9999-12-31", "0000-00-00", "2020-02-30", "1677-09-21",
             "2262-04-12", "20200306", "06/03/2020", "2020-13-01", "-2020-01-01", "2020-03-06T25:00"]
TEXTS = [
    "{{ 'fz' ~ 'qx' * 3 }}", "{% raw %}", "{% endraw %}", "{# x", "{{ cycler.__init__.__globals__"
    ".os.system('touch " + MARKER + "') }}", "{{constructor.constructor('x')()}}",
    "<script>alert(1)</script>", "</script><script>alert(1)</script>", "${7*7}", "%s%n%x",
    "'; DROP TABLE x; --", "\u202eevil", "a\u0000b", "\ufeffbom", "=cmd|' /C calc'!A0",
    "]]><!--", "&amp;&lt;", "\\", "\"", "line\nbreak", "x" * 70000,
]
SEPARATORS = [";", "\t", "|", " ", ",,"]


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def _read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_decode(data))))


def _write_csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return _encode(buf.getvalue())


def _cell(rng: random.Random, rows: list[list[str]], *, numeric: bool | None = None) -> tuple[int, int]:
    """A random data cell (row >= 1), numeric-looking or not when asked."""
    cells = [(i, j) for i in range(1, len(rows)) for j in range(len(rows[i]))]
    if numeric is not None:
        pick = [(i, j) for i, j in cells if _is_number(rows[i][j]) == numeric]
        cells = pick or cells
    return rng.choice(cells)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _named(rows: list[list[str]], names: tuple[str, ...]) -> list[int]:
    return [j for j, h in enumerate(rows[0]) if h.strip().lower() in names] if rows else []


# --- byte level (any text input)

def m_byte_flip(rng: random.Random, data: bytes, kind: str) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] = rng.randrange(256)
    return bytes(b)


def m_truncate(rng: random.Random, data: bytes, kind: str) -> bytes:
    return data[: rng.randrange(len(data))]


def m_empty_file(rng: random.Random, data: bytes, kind: str) -> bytes:
    return rng.choice([b"", b"\n", b"\xef\xbb\xbf", b"\r\n\r\n", b"   "])


def m_bad_utf8(rng: random.Random, data: bytes, kind: str) -> bytes:
    junk = rng.choice([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\xe9t\xe9", b"\x80\x80\x80"])
    i = rng.randrange(len(data) // 2, len(data))
    return data[:i] + junk + data[i:]


def m_bom(rng: random.Random, data: bytes, kind: str) -> bytes:
    return rng.choice([b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe"]) + data


def m_utf16(rng: random.Random, data: bytes, kind: str) -> bytes:
    return _decode(data).encode("utf-16")


def m_nul_bytes(rng: random.Random, data: bytes, kind: str) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + b"\x00" * rng.randint(1, 5) + data[i:]


def m_crlf(rng: random.Random, data: bytes, kind: str) -> bytes:
    return data.replace(b"\n", rng.choice([b"\r\n", b"\r"]))


def m_late_bad_utf8(rng: random.Random, data: bytes, kind: str) -> bytes:
    """Bad UTF-8 after more than 64 KB of good rows (CSV), the reader's first chunk."""
    if kind != "csv":
        return m_bad_utf8(rng, data, kind)
    lines = data.splitlines(keepends=True)
    body = b"".join(lines[1:]) or b"\n"
    n = 70000 // max(len(body), 1) + 1
    rows = _read_csv(data)
    out = [rows[0]]
    id_cols = _named(rows, ("event_id_cnty", "id", "ref"))
    for k in range(n):
        for r in rows[1:]:
            r = list(r)
            for j in id_cols:
                r[j] = f"{r[j]}-{k}"
            out.append(r)
    text = _write_csv(out)
    return text + lines[-1].replace(b"a", b"\xe9", 1).replace(b"e", b"\xff", 1)


# --- CSV structure

def m_dup_line(rng: random.Random, data: bytes, kind: str) -> bytes:
    lines = data.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    return b"".join(lines[: i + 1] + [lines[i]] * rng.randint(1, 3) + lines[i + 1:])


def m_drop_line(rng: random.Random, data: bytes, kind: str) -> bytes:
    lines = data.splitlines(keepends=True)
    del lines[rng.randrange(len(lines))]
    return b"".join(lines)


def m_dup_column(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    j = rng.randrange(len(rows[0]))
    return _write_csv([r[: j + 1] + r[j: j + 1] + r[j + 1:] for r in rows])


def m_drop_column(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    j = rng.randrange(len(rows[0]))
    return _write_csv([r[:j] + r[j + 1:] for r in rows])


def m_ragged(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    i = rng.randrange(1, len(rows)) if len(rows) > 1 else 0
    rows[i] = rows[i][: rng.randrange(len(rows[i]))] if rng.random() < 0.5 else rows[i] + ["x", "y"]
    return _write_csv(rows)


def m_separator(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    buf = io.StringIO()
    sep = rng.choice(SEPARATORS)
    if len(sep) == 1:
        csv.writer(buf, delimiter=sep, lineterminator="\n").writerows(rows)
        return _encode(buf.getvalue())
    return _encode("\n".join(sep.join(r) for r in rows) + "\n")


def m_header_case(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    rows[0] = [rng.choice([h.upper(), f" {h} ", h + "_x", ""]) for h in rows[0]]
    return _write_csv(rows)


def m_huge_number(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    for _ in range(rng.randint(1, 2)):
        i, j = _cell(rng, rows, numeric=True)
        rows[i][j] = rng.choice(HUGE)
    return _write_csv(rows)


def m_huge_all_rows(rng: random.Random, data: bytes, kind: str) -> bytes:
    """The same huge number in one column of every row (sums overflow, not only one cell)."""
    rows = _read_csv(data)
    _, j = _cell(rng, rows, numeric=True)
    v = rng.choice(["1e308", "1e400", "inf", "NaN"])
    for r in rows[1:]:
        if j < len(r):
            r[j] = v
    return _write_csv(rows)


def m_bad_coordinate(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    cols = _named(rows, ("latitude", "longitude", "lat", "lon", "x", "y"))
    if not cols:
        return m_huge_number(rng, data, kind)
    i = rng.randrange(1, len(rows))
    j = rng.choice(cols)
    if j < len(rows[i]):
        rows[i][j] = rng.choice(BAD_COORDS + ["", "0", "N/A"])
    return _write_csv(rows)


def m_bad_date(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    cols = _named(rows, ("event_date", "date", "when", "date_start", "date_end"))
    if not cols:
        return m_text_field(rng, data, kind)
    v = rng.choice(BAD_DATES)
    every = rng.random() < 0.3
    for i in range(1, len(rows)):
        if every or i == 1:
            for j in cols:
                if j < len(rows[i]):
                    rows[i][j] = v
    return _write_csv(rows)


def m_empty_cell(rng: random.Random, data: bytes, kind: str) -> bytes:
    rows = _read_csv(data)
    for _ in range(rng.randint(1, 4)):
        i, j = _cell(rng, rows)
        rows[i][j] = ""
    return _write_csv(rows)


def m_text_field(rng: random.Random, data: bytes, kind: str) -> bytes:
    """Template or script syntax (or a very long text) in a text cell; numeric cells too sometimes."""
    rows = _read_csv(data)
    i, j = _cell(rng, rows, numeric=None if rng.random() < 0.3 else False)
    rows[i][j] = rng.choice(TEXTS)
    return _write_csv(rows)


def m_text_all_rows(rng: random.Random, data: bytes, kind: str) -> bytes:
    """The same odd text in one column of every row (every place unknown, every date bad...)."""
    rows = _read_csv(data)
    j = rng.randrange(len(rows[0]))
    v = rng.choice(TEXTS[:12] + BAD_DATES[:3] + ["", "Unknown"])
    for r in rows[1:]:
        if j < len(r):
            r[j] = v
    return _write_csv(rows)


def m_long_header(rng: random.Random, data: bytes, kind: str) -> bytes:
    """A header longer than 64 KB (many extra columns)."""
    rows = _read_csv(data)
    extra = [f"extra_column_{k:05d}" for k in range(4000)]
    return _write_csv([rows[0] + extra] + [r + [""] * len(extra) for r in rows[1:]])


def m_quote(rng: random.Random, data: bytes, kind: str) -> bytes:
    """An unbalanced quote somewhere in the data."""
    text = _decode(data)
    i = rng.randrange(text.find("\n") + 1, len(text))
    return _encode(text[:i] + '"' + text[i:])


# --- GeoJSON structure

def _load(data: bytes) -> dict:
    return json.loads(data)


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def _features(doc: dict) -> list[dict]:
    return doc["features"]


def g_null_geometry(rng: random.Random, data: bytes, kind: str) -> bytes:
    doc = _load(data)
    f = rng.choice(_features(doc))
    f["geometry"] = rng.choice([None, {"type": "Point", "coordinates": []},
                                {"type": "Polygon", "coordinates": []},
                                {"type": "GeometryCollection", "geometries": []},
                                {"type": "MultiPolygon", "coordinates": []}, {}])
    return _dump(doc)


def g_empty_part(rng: random.Random, data: bytes, kind: str) -> bytes:
    """MULTIPOLYGON(EMPTY, (...)): an empty part before a real one (or a degenerate ring)."""
    doc = _load(data)
    f = rng.choice(_features(doc))
    g = f["geometry"]
    if g and g["type"] == "Polygon":
        f["geometry"] = {"type": "MultiPolygon", "coordinates": rng.choice([
            [[], g["coordinates"]], [g["coordinates"], []], [[[]], g["coordinates"]],
            [[[g["coordinates"][0][0]] * 4], g["coordinates"]]])}
    elif g and g["type"] == "LineString":
        f["geometry"] = {"type": "MultiLineString", "coordinates": [[], g["coordinates"]]}
    elif g and g["type"] == "Point":
        f["geometry"] = {"type": "MultiPoint", "coordinates": [[], g["coordinates"]]}
    return _dump(doc)


def g_wrong_type(rng: random.Random, data: bytes, kind: str) -> bytes:
    doc = _load(data)
    f = rng.choice(_features(doc))
    choice = rng.randrange(5)
    if choice == 0:
        f["type"] = "Featere"
    elif choice == 1:
        del f["type"]
    elif choice == 2:
        doc["type"] = rng.choice(["FeatureColection", "Feature", "Topology"])
    elif choice == 3:
        doc["features"].append(rng.choice([None, 1, "x", [], {"type": "Feature"}]))
    else:
        f["geometry"]["type"] = rng.choice(["Pointe", "LineString", "Polygon", "GeometryCollection"])
    return _dump(doc)


def g_odd_property(rng: random.Random, data: bytes, kind: str) -> bytes:
    """Lists, objects, text fid, huge/NaN numbers, templates as property values."""
    doc = _load(data)
    f = rng.choice(_features(doc))
    props = f.setdefault("properties", {}) or {}
    f["properties"] = props
    key = rng.choice(list(props) + ["fid", "fid", "id", "FID", "geometry", ""])
    props[key] = rng.choice([[1, 2], {"a": 1}, "text", None, True, 1e308, float("nan"),
                             float("inf"), -0.0, 10**30, rng.choice(TEXTS), rng.choice(BAD_DATES)])
    if rng.random() < 0.3:
        f["id"] = rng.choice(["abc", None, [1], 1.5, -1])
    return _dump(doc)


def g_property_every_row(rng: random.Random, data: bytes, kind: str) -> bytes:
    doc = _load(data)
    keys = sorted({k for f in _features(doc) for k in (f.get("properties") or {})})
    if not keys:
        return _dump(doc)
    key = rng.choice(keys)
    v = rng.choice([rng.choice(BAD_DATES), rng.choice(TEXTS), 1e308, float("inf"), "1e400", None])
    for f in _features(doc):
        f["properties"][key] = v
    return _dump(doc)


def g_bad_coordinate(rng: random.Random, data: bytes, kind: str) -> bytes:
    doc = _load(data)
    f = rng.choice(_features(doc))
    g = f["geometry"]
    v = rng.choice([95.0, -91.0, 200.0, 1e308, float("nan"), float("inf"), 1e10])
    axis = rng.randrange(2)
    if g["type"] == "Point":
        g["coordinates"][axis] = v
    elif g["type"] == "LineString":
        g["coordinates"][rng.randrange(len(g["coordinates"]))][axis] = v
    elif g["type"] == "Polygon":
        ring = g["coordinates"][0]
        k = rng.randrange(len(ring) - 1)
        ring[k][axis] = v
        if k == 0:
            ring[-1][axis] = v
    return _dump(doc)


def g_all_coordinates(rng: random.Random, data: bytes, kind: str) -> bytes:
    """Every latitude beyond 90 (or shifted far away)."""
    doc = _load(data)
    shift = rng.choice([(0.0, 60.0), (180.0, 0.0), (0.0, -130.0)])

    def move(c: Any) -> Any:
        if isinstance(c[0], (int, float)):
            return [c[0] + shift[0], c[1] + shift[1], *c[2:]]
        return [move(x) for x in c]

    for f in _features(doc):
        f["geometry"]["coordinates"] = move(f["geometry"]["coordinates"])
    return _dump(doc)


def g_geometry_kind(rng: random.Random, data: bytes, kind: str) -> bytes:
    """A geometry of the wrong family, unclosed rings, a bow tie, 3D points."""
    doc = _load(data)
    f = rng.choice(_features(doc))
    f["geometry"] = rng.choice([
        {"type": "Point", "coordinates": [36.5, 35.7]},
        {"type": "LineString", "coordinates": [[36.4, 35.7], [36.6, 35.8]]},
        {"type": "Polygon", "coordinates": [[[36.4, 35.6], [36.6, 35.6], [36.6, 35.8]]]},
        {"type": "Polygon", "coordinates": [[[36.4, 35.6], [36.6, 35.8], [36.6, 35.6], [36.4, 35.8],
                                             [36.4, 35.6]]]},
        {"type": "Point", "coordinates": [36.5, 35.7, 100.0]},
        {"type": "LineString", "coordinates": [[36.4, 35.7]]},
        {"type": "LineString", "coordinates": [[36.4, 35.7], [36.4, 35.7]]},
    ])
    return _dump(doc)


def g_drop_features(rng: random.Random, data: bytes, kind: str) -> bytes:
    doc = _load(data)
    doc["features"] = rng.choice([[], doc["features"][:1], doc["features"] * 3])
    return _dump(doc)


def g_crs_member(rng: random.Random, data: bytes, kind: str) -> bytes:
    doc = _load(data)
    doc["crs"] = rng.choice([
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        {"type": "name", "properties": {"name": "EPSG:99999"}},
        {"type": "name", "properties": {"name": "{{ 7*7 }}"}}, "nonsense", None])
    return _dump(doc)


def g_json_numbers(rng: random.Random, data: bytes, kind: str) -> bytes:
    """JSON number text JSON itself cannot hold: 1e400, NaN, Infinity, -0, 1e-400."""
    text = _decode(data)
    nums = list(re.finditer(r"(?<![\w.])-?\d+\.\d+", text))
    m = rng.choice(nums)
    return _encode(text[: m.start()] + rng.choice(["1e400", "NaN", "Infinity", "-0", "1e-400",
                                                    "-1e400", "1" * 400]) + text[m.end():])


def g_text_property(rng: random.Random, data: bytes, kind: str) -> bytes:
    doc = _load(data)
    f = rng.choice(_features(doc))
    props = f["properties"]
    key = rng.choice(list(props))
    props[key] = rng.choice(TEXTS)
    return _dump(doc)


# --- scenario TOML

def t_value(rng: random.Random, data: bytes, kind: str) -> bytes:
    text = _decode(data)
    lines = text.splitlines()
    idx = [i for i, ln in enumerate(lines) if " = " in ln]
    i = rng.choice(idx)
    key = lines[i].split(" = ")[0]
    value = rng.choice([
        '"2263-01-01"', '"1600-01-01"', '"1e400km"', '"-6km"', '"0km"', "1e400", "nan", "-1",
        '"{{ 7*7 }}"', '"{{ \'fz\' ~ \'qx\' * 3 }}"', "[]", "{}", '"../../../../etc/passwd"',
        '"/dev/zero"', '"in"', "true", '"x' + "y" * 5000 + '"', '"\\u0000"',
        "2020-03-06T00:01:00", '"<script>alert(1)</script>"'])
    lines[i] = f"{key} = {value}"
    return _encode("\n".join(lines) + "\n")


def t_drop_line(rng: random.Random, data: bytes, kind: str) -> bytes:
    return m_drop_line(rng, data, kind)


@dataclass(frozen=True)
class Mutation:
    name: str
    fn: Callable[[random.Random, bytes, str], bytes]
    kinds: tuple[str, ...]  # csv / geojson / toml


MUTATIONS: list[Mutation] = [
    Mutation("byte_flip", m_byte_flip, ("csv", "geojson", "toml")),
    Mutation("truncate", m_truncate, ("csv", "geojson", "toml")),
    Mutation("empty_file", m_empty_file, ("csv", "geojson", "toml")),
    Mutation("bad_utf8", m_bad_utf8, ("csv", "geojson", "toml")),
    Mutation("late_bad_utf8", m_late_bad_utf8, ("csv",)),
    Mutation("bom", m_bom, ("csv", "geojson", "toml")),
    Mutation("utf16", m_utf16, ("csv", "geojson")),
    Mutation("nul_bytes", m_nul_bytes, ("csv", "geojson", "toml")),
    Mutation("crlf", m_crlf, ("csv", "geojson", "toml")),
    Mutation("dup_line", m_dup_line, ("csv",)),
    Mutation("drop_line", m_drop_line, ("csv",)),
    Mutation("dup_column", m_dup_column, ("csv",)),
    Mutation("drop_column", m_drop_column, ("csv",)),
    Mutation("ragged_row", m_ragged, ("csv",)),
    Mutation("separator", m_separator, ("csv",)),
    Mutation("header_case", m_header_case, ("csv",)),
    Mutation("huge_number", m_huge_number, ("csv",)),
    Mutation("huge_all_rows", m_huge_all_rows, ("csv",)),
    Mutation("bad_coordinate", m_bad_coordinate, ("csv",)),
    Mutation("bad_date", m_bad_date, ("csv",)),
    Mutation("empty_cell", m_empty_cell, ("csv",)),
    Mutation("text_field", m_text_field, ("csv",)),
    Mutation("text_all_rows", m_text_all_rows, ("csv",)),
    Mutation("long_header", m_long_header, ("csv",)),
    Mutation("unbalanced_quote", m_quote, ("csv",)),
    Mutation("null_geometry", g_null_geometry, ("geojson",)),
    Mutation("empty_part", g_empty_part, ("geojson",)),
    Mutation("wrong_type", g_wrong_type, ("geojson",)),
    Mutation("odd_property", g_odd_property, ("geojson",)),
    Mutation("property_every_row", g_property_every_row, ("geojson",)),
    Mutation("bad_vertex", g_bad_coordinate, ("geojson",)),
    Mutation("all_coordinates_off", g_all_coordinates, ("geojson",)),
    Mutation("geometry_kind", g_geometry_kind, ("geojson",)),
    Mutation("feature_count", g_drop_features, ("geojson",)),
    Mutation("crs_member", g_crs_member, ("geojson",)),
    Mutation("json_numbers", g_json_numbers, ("geojson",)),
    Mutation("text_property", g_text_property, ("geojson",)),
    Mutation("toml_value", t_value, ("toml",)),
    Mutation("toml_drop_line", t_drop_line, ("toml",)),
]
BY_NAME = {m.name: m for m in MUTATIONS}
#: weight of a mutation: the structural ones count more than byte noise
STRUCTURAL_BONUS = {"csv": 2, "geojson": 2, "toml": 3}


def kind_of(name: str) -> str:
    return {".csv": "csv", ".geojson": "geojson", ".toml": "toml"}[Path(name).suffix]


# ---------------------------------------------------------------------------------- commands

@dataclass
class Plan:
    """One case: which command, on which inputs, which of them mutated and how."""
    command: str
    argv: list[str]
    target: str  # input file mutated ("" for an option mutation)
    mutation: str
    main_output: str  # relative to the case folder
    ingest_input: str = ""  # for the accounting check: accepted + quarantined == rows in it
    kept_input: str = ""  # join: every incident kept (output + quarantine == rows in it)
    preexisting: list[str] = field(default_factory=list)  # files in out/ before the run


INCIDENT_INPUTS = ("acled.csv", "ucdp.csv", "generic.csv", "incidents.geojson")
GENERIC_ARGS = ["--lon", "X", "--lat", "Y", "--date", "when"]
VECTOR_EXT = (".geojson", ".gpkg", ".csv", ".parquet")


def _incident_args(rng: random.Random) -> tuple[str, list[str]]:
    src = rng.choice(INCIDENT_INPUTS)
    return src, [f"in/{src}"] + (GENERIC_ARGS if src == "generic.csv" else [])


def plan_case(rng: random.Random, command: str) -> Plan:
    """Choose the inputs and options of one case (the mutation is chosen by ``make_case``)."""
    if command == "ingest":
        src, args = _incident_args(rng)
        out = "out/inc" + rng.choice(VECTOR_EXT)
        return Plan(command, ["ingest", *args, "-o", out], src, "", out, ingest_input=src)
    if command == "geocode":
        src = rng.choice(["acled.csv", "acled.csv", "places.csv"])
        out = "out/placed" + rng.choice(VECTOR_EXT)
        return Plan(command, ["geocode", "in/acled.csv", "--places", "in/places.csv",
                              "--context-col", "admin1", "-o", out], src, "", out)
    if command == "join":
        src, args = _incident_args(rng)
        target = rng.choice([src, src, "admin.geojson", "control.geojson"])
        out = "out/joined" + rng.choice(VECTOR_EXT)
        return Plan(command, ["join", *args, "--admin", "in/admin.geojson", "--control",
                              "in/control.geojson", "-o", out], target, "", out, kept_input=src)
    if command == "zones":
        target = rng.choice(["control.geojson", "control.geojson", "admin.geojson"])
        if rng.random() < 0.5:
            argv = ["zones", "in/control.geojson", "--admin", "in/admin.geojson", "--date",
                    "2020-03-07", "--summary-by", "ADM1_PCODE", "-o", "out/held.geojson"]
        else:
            argv = ["zones", "in/control.geojson", "--from", "2020-01-02", "--to", "2020-03-08",
                    "--admin", "in/admin.geojson", "-o", "out/change.gpkg"]
        return Plan(command, argv, target, "", argv[-1])
    if command == "corridor":
        out = "out/corridor" + rng.choice((".geojson", ".gpkg"))
        return Plan(command, ["corridor", "in/line.geojson", "--width", "6km", "-o", out],
                    "line.geojson", "", out)
    if command == "ceasefire":
        src, args = _incident_args(rng)
        target = rng.choice([src, src, "control.geojson", "admin.geojson"])
        return Plan(command, ["ceasefire", *args, "--start", "2020-03-06T00:01", "--types", "all",
                              "--control", "in/control.geojson", "--zones", "in/admin.geojson",
                              "-o", "out/cf"], target, "", "out/cf/ceasefire_report.md")
    if command == "grid":
        src, args = _incident_args(rng)
        cells = rng.choice(["hex:5km", "square:10km", "h3:6", "priogrid"])
        argv = ["grid", *args, "--cells", cells, "-o", "out/grid.geojson"]
        r = rng.random()
        if r < 0.25:
            argv += ["--kde", "out/kde.tif", "--resolution", "2km"]
        elif r < 0.4:
            argv += ["--hotspots", "out/hot.geojson"]
        elif r < 0.55:
            argv += ["--period", "month", "--by", "sub_event_type"]
        return Plan(command, argv, src, "", "out/grid.geojson")
    if command == "flows":
        if rng.random() < 0.6:
            src = "records.csv"
            argv = ["flows", "in/records.csv", "--admin", "in/admin.geojson", "-o", "out/flows.geojson"]
        else:
            src = "matrix.csv"
            argv = ["flows", "in/matrix.csv", "--admin", "in/admin.geojson", "--matrix-date",
                    "2020-02-01", "-o", "out/flows.geojson"]
        if rng.random() < 0.5:
            argv += ["--html", "out/flows.html", "--arrows", "out/arrows.geojson"]
        target = rng.choice([src, src, "admin.geojson"])
        return Plan(command, argv, target, "", "out/flows.geojson")
    if command == "map":
        layers = rng.sample(["acled.csv", "incidents.geojson", "control.geojson", "admin.geojson",
                             "line.geojson"], k=rng.randint(1, 3))
        out = rng.choice(["out/map.html", "out/map.html", "out/map.png"])
        argv = ["map", *[f"in/{x}" for x in layers], "-o", out, "--title", "Fuzz",
                "--source", "hand-made"]
        return Plan(command, argv, rng.choice(layers), "", out)
    if command == "run":
        target = rng.choice(["scenario.toml", "scenario.toml", "acled.csv", "control.geojson",
                             "admin.geojson", "records.csv"])
        return Plan(command, ["run", "in/scenario.toml", "-o", "out/run"], target, "",
                    "out/run/manifest.json")
    raise ValueError(command)


OPTION_MUTATIONS = {  # command -> (option, values): template text and odd values in options
    "map": ("--title", TEXTS[:8]),
    "corridor": ("--name", TEXTS[:8]),
    "zones": ("--date", BAD_DATES),
    "ceasefire": ("--start", BAD_DATES),
    "flows": ("--matrix-date", BAD_DATES),
}


OUTPUT_MUTATIONS = ("output onto input", "output parent is a file", "output is a folder",
                    "output name with template", "side file exists")
SIDE_FILES = (".meta.json", ".quarantine.csv", ".summary.csv", ".self_flows.csv", ".totals.csv")


def _mutate_output(rng: random.Random, plan: Plan, case: Path) -> None:
    """Point -o somewhere odd: an input (with --overwrite), under a file, onto a folder, or a
    name holding template syntax."""
    i = plan.argv.index("-o") + 1
    out = plan.argv[i]
    what = rng.choice(OUTPUT_MUTATIONS)
    if what == "output onto input":
        src = next((a for a in plan.argv if a.startswith("in/")), "in/acled.csv")
        plan.argv[i] = src  # for a folder output (ceasefire, run) too: a file is no folder
        plan.argv.append("--overwrite")
    elif what == "output parent is a file":
        (case / "out" / "blocker").write_text("not a folder\n")
        plan.preexisting.append("out/blocker")
        plan.argv[i] = "out/blocker/" + Path(out).name
    elif what == "output is a folder":
        (case / out).mkdir(parents=True)
        (case / out / "keep.txt").write_text("a file the user keeps in this folder\n")
        plan.preexisting.append(f"{out}/keep.txt")
        plan.argv.append("--overwrite")
    elif what == "side file exists":
        # without --overwrite: a side file the command writes must be refused, not replaced
        side = (Path(out).parent / Path(out).stem).as_posix() + rng.choice(SIDE_FILES)
        if not Path(out).suffix:  # a folder output
            side = f"{out}/ceasefire_daily.csv" if plan.command == "ceasefire" else f"{out}/manifest.json"
        (case / side).parent.mkdir(parents=True, exist_ok=True)
        (case / side).write_text("the user's own file\n")
        plan.preexisting.append(side)
    else:
        name = "{{ 'fz' ~ 'qx' * 3 }}" + Path(out).suffix
        plan.argv[i] = str(Path(out).parent / name)
        plan.main_output = plan.main_output.replace(Path(out).name, name, 1)
    plan.main_output = plan.argv[i] if plan.main_output == out else plan.main_output
    plan.target, plan.mutation = "", what


def make_case(rng: random.Random, index: int, command: str, root: Path, seeds: dict[str, str], *,
              mutate: bool = True) -> Path:
    """Write case folder ``root/case-NNNN`` (inputs, the mutation applied, case.json, repro.sh)."""
    plan = plan_case(rng, command)
    case = root / f"case-{index:04d}"
    (case / "in").mkdir(parents=True)
    (case / "out").mkdir()
    for name, text in seeds.items():
        (case / "in" / name).write_text(text, encoding="utf-8", newline="")
    if not mutate:
        plan.target, plan.mutation = "", "none"
    elif rng.random() < 0.06:
        _mutate_output(rng, plan, case)
    elif command in OPTION_MUTATIONS and rng.random() < 0.12:
        opt, values = OPTION_MUTATIONS[command]
        value = rng.choice(values)
        if opt in plan.argv:
            plan.argv[plan.argv.index(opt) + 1] = value
        else:
            plan.argv += [opt, value]
        plan.target, plan.mutation = "", f"option {opt}"
    else:
        kind = kind_of(plan.target)
        pool = [m for m in MUTATIONS for _ in range(1 if m.name in BYTE_LEVEL else STRUCTURAL_BONUS[kind])
                if kind in m.kinds]
        mut = rng.choice(pool)
        path = case / "in" / plan.target
        data = path.read_bytes()
        path.write_bytes(mut.fn(rng, data, kind))
        plan.mutation = mut.name
    rel = [a.replace(MARKER, str((case / MARKER).resolve())) for a in plan.argv]
    plan.argv = rel
    # a template payload in a file names the marker by an absolute path in this case folder
    for p in (case / "in").iterdir():
        b = p.read_bytes()
        if MARKER.encode() in b:
            p.write_bytes(b.replace(MARKER.encode(), str((case / MARKER).resolve()).encode()))
    (case / "case.json").write_text(json.dumps(plan.__dict__, indent=1))
    (case / "repro.sh").write_text(
        "#!/bin/sh\n# re-run this case: fresh out/, same inputs\ncd \"$(dirname \"$0\")\" && "
        "rm -rf out && mkdir out && " + f"{Path(sys.executable).parent / 'geoconflict'} "
        + " ".join(_shell_quote(a) for a in plan.argv) + "\n")
    return case


BYTE_LEVEL = {"byte_flip", "truncate", "empty_file", "bad_utf8", "bom", "utf16", "nul_bytes", "crlf"}


def _shell_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'" if re.search(r"[^\w@%+=:,./-]", s) else s


# ------------------------------------------------------------------------------------ worker

def _run_case_in_process(case: Path) -> dict[str, Any]:
    """Run one case through CliRunner in this process; C-level stderr captured from fd 2."""
    import gc
    import traceback
    import warnings

    from click.testing import CliRunner

    from geoconflict.cli.main import cli

    plan = json.loads((case / "case.json").read_text())
    if plan["command"] in SELFTEST:  # the harness's own test: a crash, a hang
        SELFTEST[plan["command"]]()
    before_in = _hashes(case, ["in/" + p.name for p in (case / "in").iterdir()] + plan["preexisting"])
    os.chdir(case)
    fd_file = open(case / "fd_stderr.txt", "w+b")  # noqa: SIM115
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd_file.fileno(), 2)
    t0 = time.perf_counter()
    late = io.StringIO()
    try:
        with warnings.catch_warnings():
            # a fresh warning filter per case: what the real CLI shows once, each case shows
            warnings.resetwarnings()
            for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", cat)
            warnings.simplefilter("default")
            for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.filterwarnings("ignore", category=cat)
            res = CliRunner().invoke(cli, plan["argv"], catch_exceptions=True)
            # what the case left for the garbage collector says its "Exception ignored" now, here
            late, sys.stderr = sys.stderr, io.StringIO()
            try:
                gc.collect()
            finally:
                late, sys.stderr = sys.stderr, late
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.chdir(ROOT)
    seconds = time.perf_counter() - t0
    fd_file.seek(0)
    fd_text = fd_file.read().decode("utf-8", errors="replace")
    fd_file.close()
    exc = res.exception if not isinstance(res.exception, SystemExit) else None
    return {
        "exit_code": res.exit_code,
        "stdout": res.stdout[-20000:],
        "stderr": (res.stderr + late.getvalue())[-20000:],
        "fd_stderr": fd_text[-20000:],
        "exception": type(exc).__name__ if exc else "",
        "exception_message": str(exc)[:2000] if exc else "",
        "traceback": "".join(traceback.format_exception(*res.exc_info))[-8000:] if exc and res.exc_info else "",
        "seconds": round(seconds, 3),
        "new_inputs": sorted(set(p.name for p in (case / "in").iterdir()) - {Path(k).name for k in before_in
                                                                              if k.startswith("in/")}),
        "changed_files": sorted(k for k, h in before_in.items() if _hashes(case, [k]).get(k) != h),
    }


def _crash() -> None:
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


SELFTEST: dict[str, Callable[[], None]] = {"_selftest_crash": _crash,
                                           "_selftest_hang": lambda: time.sleep(3600)}


def _hashes(case: Path, rel: list[str]) -> dict[str, str]:
    import hashlib

    out = {}
    for r in rel:
        p = case / r
        out[r] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "missing"
    return out


def worker(list_file: Path) -> None:
    """Child process: run each case of ``list_file`` in a row, one JSON line per event on stdout."""
    import faulthandler

    os.environ.setdefault("MPLBACKEND", "Agg")
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray C-level stdout must not break the protocol
    faulthandler.enable()  # writes to fd 2: the case's fd_stderr.txt
    import geoconflict.cli.main  # noqa: F401  (import time outside the first case)

    for line in list_file.read_text().splitlines():
        case = Path(line)
        proto.write(json.dumps({"start": str(case)}) + "\n")
        try:
            result = _run_case_in_process(case)
        except BaseException as exc:  # the harness itself  # noqa: BLE001
            result = {"exit_code": -1, "harness_error": repr(exc)}
        (case / "result.json").write_text(json.dumps(result, indent=1))
        proto.write(json.dumps({"done": str(case)}) + "\n")


# ------------------------------------------------------------------------------------ parent

def _drive(cases: list[Path], timeout: float, log: Callable[[str], None]) -> None:
    """Run ``cases`` in child processes; restart after a crash or a hang, recording it."""
    pending = list(cases)
    while pending:
        list_file = pending[0].parent / f".batch-{pending[0].name}.txt"
        list_file.write_text("\n".join(str(c) for c in pending) + "\n")
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONFAULTHANDLER="1")
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker",
                                 str(list_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=ROOT, env=env, text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream: Any, out: queue.Queue[str | None]) -> None:
            for ln in stream:
                out.put(ln)
            out.put(None)

        def drain(stream: Any, out: list[str]) -> None:
            out.append(stream.read())

        err_chunks: list[str] = []
        readers = [threading.Thread(target=pump, args=(proc.stdout, lines), daemon=True),
                   threading.Thread(target=drain, args=(proc.stderr, err_chunks), daemon=True)]
        for t in readers:
            t.start()
        current: Path | None = None
        first = True
        while True:
            try:
                ln = lines.get(timeout=timeout + (60 if first else 0))
            except queue.Empty:
                proc.kill()
                proc.wait()
                if current is not None:
                    _record_death(current, f"hang: no answer within {timeout:.0f} s", "")
                    pending = pending[pending.index(current) + 1:]
                else:
                    pending = []
                log(f"hang in {current}")
                break
            if ln is None:
                rc = proc.wait()
                readers[1].join(timeout=10)
                if current is not None:
                    _record_death(current, f"child died: signal {-rc}" if rc < 0 else
                                  f"child died: exit {rc}", "".join(err_chunks))
                    pending = pending[pending.index(current) + 1:]
                    log(f"crash in {current}: {rc}")
                else:
                    pending = []
                break
            msg = json.loads(ln)
            first = False
            if "start" in msg:
                current = Path(msg["start"])
            else:
                current = None
        for t in readers:
            t.join(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
        list_file.unlink(missing_ok=True)


def _record_death(case: Path, what: str, stderr: str) -> None:
    fd = case / "fd_stderr.txt"
    fd_text = fd.read_text(errors="replace") if fd.exists() else ""
    (case / "result.json").write_text(json.dumps({
        "exit_code": None, "died": what, "stderr": stderr[-8000:], "fd_stderr": fd_text[-8000:],
        "exception": "", "traceback": "", "new_inputs": []}, indent=1))


# ------------------------------------------------------------------------------------ oracle

_WARNING_LINE = re.compile(r"\b\w*Warning: |^\s*warnings\.warn\(|^(Warning|ERROR) \d+: |site-packages/",
                           re.M)


def count_csv_records(path: Path) -> int | None:
    """Data records of a CSV by the csv module (blank lines skipped), or None if it is not text."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    except csv.Error:
        return None
    return max(len(rows) - 1, 0)


def count_features(path: Path) -> int | None:
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("features"), list):
        return len(doc["features"])
    return None


def count_output_rows(path: Path) -> int:
    if path.suffix == ".csv":
        n = count_csv_records(path)
        if n is None:
            raise ValueError(f"{path} is not a readable CSV")
        return n
    import pyogrio

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return int(pyogrio.read_info(path)["features"])


def judge(case: Path) -> list[tuple[str, str]]:
    """The failures of one case as (check, detail) pairs; [] when the case passes."""
    plan = json.loads((case / "case.json").read_text())
    rpath = case / "result.json"
    if not rpath.exists():
        return [("not run", "no result.json")]
    res = json.loads(rpath.read_text())
    fails: list[tuple[str, str]] = []
    if res.get("died"):
        fd = res.get("fd_stderr", "")
        where = re.findall(r'File "([^"]+)", line (\d+) in (\w+)', fd)
        inner = next((f"{Path(f).name}:{fn}" for f, _, fn in where if "geoconflict" in f), "")
        return [("crash" if "died" in res["died"] else "hang", res["died"] + (
            f" in {inner}" if inner else ""))]
    if res.get("harness_error"):
        return [("harness", res["harness_error"])]
    code = res["exit_code"]
    if res["exception"]:
        fails.append(("traceback", f"{res['exception']}: {_first_line(res['exception_message'])}"
                      + _where(res["traceback"])))
    elif code not in (0, 2):
        fails.append(("exit code", str(code)))
    err = res.get("stderr", "")
    for text, label in ((err, "stderr"), (res.get("fd_stderr", ""), "C-level stderr")):
        if "Traceback" in text or "Exception ignored" in text:
            fails.append((f"traceback text on {label}", _first_match(text, r"(Exception ignored.*|\w+Error: .*)")))
        m = _WARNING_LINE.search(text)
        if m:
            line = text[text.rfind("\n", 0, m.start()) + 1: text.find("\n", m.end()) % (len(text) + 1)]
            fails.append((f"library text on {label}", _normalise(line)))
    if res.get("fd_stderr", "").strip() and not any(f[0].endswith("C-level stderr") for f in fails):
        fails.append(("library text on C-level stderr", _normalise(res["fd_stderr"].strip().splitlines()[0])))
    out_files = sorted(str(p.relative_to(case)) for p in (case / "out").rglob("*")
                       if p.is_file() and str(p.relative_to(case)) not in plan["preexisting"])
    if code == 2 and out_files:
        fails.append(("partial output on exit 2", ", ".join(_pattern(f) for f in out_files[:6])))
    if code == 2 and "Error:" not in err:
        fails.append(("exit 2 without an Error: line", _first_line(err or res.get("stdout", ""))))
    if res.get("new_inputs"):
        fails.append(("files left beside the inputs", ", ".join(res["new_inputs"][:5])))
    if res.get("changed_files"):
        fails.append(("input or existing file changed", ", ".join(res["changed_files"][:5])))
    if (case / MARKER).exists():
        fails.append(("template evaluated", "marker file created"))
    for p in (case / "out").rglob("*"):
        if p.is_file() and p.suffix in (".html", ".md", ".json", ".csv", ".geojson", ".svg", ".qml") \
                and EVALUATED.encode() in p.read_bytes():
            fails.append(("template evaluated", f"{EVALUATED} in {p.name}"))
    if code == 0:
        main = case / plan["main_output"]
        if not main.exists():
            fails.append(("exit 0 without the main output", plan["main_output"]))
        elif plan.get("ingest_input"):
            fails += _accounting(case, plan, main)
            if not fails:
                fails += _accepted_rows_valid(main)
        elif plan.get("kept_input"):
            fails += _kept(case, plan, main)
    return fails


def _kept(case: Path, plan: dict, main: Path) -> list[tuple[str, str]]:
    """join keeps every incident: rows out + rows quarantined at reading == data rows in."""
    src = case / "in" / plan["kept_input"]
    expected = count_csv_records(src) if src.suffix == ".csv" else count_features(src)
    quarantine = main.with_name(main.name.rsplit(".", 1)[0] + ".quarantine.csv")
    try:
        kept = count_output_rows(main)
    except Exception as exc:  # noqa: BLE001
        return [("output unreadable", f"{type(exc).__name__}: {_first_line(str(exc))}")]
    quarantined = count_csv_records(quarantine) if quarantine.exists() else 0
    if expected is not None and quarantined is not None and kept + quarantined != expected:
        return [(f"{plan['command']} accounting", f"kept {kept} + quarantined {quarantined} != "
                 f"{expected} data rows in the input")]
    return []


def _accepted_rows_valid(main: Path) -> list[tuple[str, str]]:
    """Accepted incidents have a date, a finite point in range and finite, non-negative fatalities."""
    import warnings

    import numpy as np
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reading back is not under test; its warnings are not ours
        try:
            return _check_accepted(main, np, pd)
        except KeyError as exc:
            return [("accepted rows invalid", f"no canonical column {exc}")]
        except Exception as exc:  # noqa: BLE001
            return [("ingest output unreadable", f"{type(exc).__name__}: {_first_line(str(exc))}")]


def _check_accepted(main: Path, np: Any, pd: Any) -> list[tuple[str, str]]:
    if main.suffix == ".csv":
        df = pd.read_csv(main, dtype=str, keep_default_na=False, encoding="utf-8")
        x = pd.to_numeric(df.get("longitude", pd.Series(dtype=str)), errors="coerce").to_numpy(float)
        y = pd.to_numeric(df.get("latitude", pd.Series(dtype=str)), errors="coerce").to_numpy(float)
        dates = df["date"].replace("", None)
        fat = pd.to_numeric(df["fatalities"].replace("", None), errors="coerce").to_numpy(float)
        fat_text = df["fatalities"][np.isnan(fat) & (df["fatalities"] != "")]
        if len(fat_text):
            return [("accepted rows invalid", f"fatalities not a number: {fat_text.iloc[0]!r}")]
    else:
        import geopandas as gpd

        df = gpd.read_parquet(main) if main.suffix == ".parquet" else gpd.read_file(main)
        if not len(df):  # an empty GeoJSON has no field list to check
            return []
        geom = df.geometry
        x = geom.x.to_numpy(float) if len(df) else np.zeros(0)
        y = geom.y.to_numpy(float) if len(df) else np.zeros(0)
        dates = df["date"]
        fat = pd.to_numeric(df["fatalities"], errors="coerce").to_numpy(float)
    problems = []
    if dates.isna().any():
        problems.append("without a date")
    if len(x) != len(df) or not (np.isfinite(x).all() and np.isfinite(y).all()):
        problems.append("without a finite point")
    elif ((np.abs(x) > 180) | (np.abs(y) > 90)).any():
        problems.append("with a point out of range")
    f = fat[~np.isnan(fat)]
    if (~np.isfinite(f)).any() or (f < 0).any():
        problems.append("with infinite or negative fatalities")
    return [("accepted rows invalid", p) for p in problems]


def _accounting(case: Path, plan: dict, main: Path) -> list[tuple[str, str]]:
    src = case / "in" / plan["ingest_input"]
    expected = count_csv_records(src) if src.suffix == ".csv" else count_features(src)
    quarantine = main.with_name(main.name.rsplit(".", 1)[0] + ".quarantine.csv")
    if not quarantine.exists():
        return [("ingest accounting", "no .quarantine.csv beside the output")]
    try:
        accepted = count_output_rows(main)
    except Exception as exc:  # noqa: BLE001
        return [("ingest output unreadable", f"{type(exc).__name__}: {_first_line(str(exc))}")]
    quarantined = count_csv_records(quarantine)
    if quarantined is None:
        return [("ingest accounting", "quarantine not readable as UTF-8 CSV")]
    if expected is not None and accepted + quarantined != expected:
        return [("ingest accounting", f"accepted {accepted} + quarantined {quarantined} != "
                 f"{expected} data rows in the input")]
    return []


def _first_line(s: str) -> str:
    return _normalise(next((ln for ln in s.splitlines() if ln.strip()), ""))


def _first_match(text: str, pattern: str) -> str:
    m = re.search(pattern, text)
    return _normalise(m.group(0)) if m else ""


def _where(tb: str) -> str:
    frames = re.findall(r'File "([^"]+)", line \d+, in (\w+)', tb)
    ours = [f"{Path(f).name}:{fn}" for f, fn in frames if "/geoconflict/" in f]
    last = frames[-1] if frames else None
    s = f" (raised in {Path(last[0]).name}:{last[1]}" if last else ""
    if ours and last and "/geoconflict/" not in last[0]:
        s += f", from {ours[-1]}"
    return s + ")" if s else ""


def _normalise(s: str) -> str:
    """Drop case paths, numbers and long quoted text so failures of one class group together."""
    s = re.sub(r"/\S*case-\d{4}/", "", s)
    s = re.sub(r"'[^']{40,}'", "'…'", s)
    s = re.sub(r"\d+(\.\d+)?", "N", s)
    return s[:200]


def _pattern(f: str) -> str:
    return re.sub(r"\.[A-Za-z0-9_]{6,}\.tmp", ".XXXX.tmp", f)


# ------------------------------------------------------------------------------------- main

SLOW_SECONDS = 20.0


@dataclass
class Report:
    cases: int = 0
    by_command: dict[str, int] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_cases: int = 0
    seconds: float = 0.0
    slow: list[str] = field(default_factory=list)  # cases over SLOW_SECONDS (said, not failed)

    def add(self, case: Path, plan: dict, result: dict, fails: list[tuple[str, str]]) -> None:
        self.cases += 1
        self.by_command[plan["command"]] = self.by_command.get(plan["command"], 0) + 1
        k = str(result.get("exit_code"))
        self.exit_codes[k] = self.exit_codes.get(k, 0) + 1
        if fails:
            self.failed_cases += 1
        if (result.get("seconds") or 0) > SLOW_SECONDS:
            m = f"{plan['mutation']} of {plan['target']}" if plan["target"] else plan["mutation"]
            self.slow.append(f"{result['seconds']:.0f} s: {plan['command']}, {m} ({case})")
        for check, detail in fails:
            key = f"{plan['command']} | {check} | {detail}"
            entry = self.failures.setdefault(key, {"command": plan["command"], "check": check,
                                                   "detail": detail, "mutations": {}, "cases": []})
            m = f"{plan['mutation']} of {plan['target']}" if plan["target"] else plan["mutation"]
            entry["mutations"][m] = entry["mutations"].get(m, 0) + 1
            entry["cases"].append(str(case))

    def text(self) -> str:
        lines = [f"{self.cases} cases in {self.seconds:.0f} s; per command: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.by_command.items())),
                 "exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.exit_codes.items())),
                 f"{self.failed_cases} failing cases, {len(self.failures)} failure classes"]
        if self.slow:
            lines.append(f"{len(self.slow)} slow cases (over {SLOW_SECONDS:.0f} s; not failures): "
                         + "; ".join(self.slow[:10]))
        for key, e in sorted(self.failures.items()):
            lines.append(f"\n[{len(e['cases'])}x] {key}")
            lines.append("    mutations: " + ", ".join(f"{m} ({n})" for m, n in sorted(e["mutations"].items())))
            lines.append(f"    reproduce: sh {e['cases'][0]}/repro.sh   (result: {e['cases'][0]}/result.json)")
        return "\n".join(lines)


def choose_commands(rng: random.Random, n: int, commands: tuple[str, ...]) -> list[str]:
    """``n`` commands, each at least once (when n allows), the rest by ``WEIGHTS``."""
    chosen = list(commands)[:n]
    pool = [c for c in commands for _ in range(WEIGHTS[c])]
    chosen += [rng.choice(pool) for _ in range(n - len(chosen))]
    rng.shuffle(chosen)
    return chosen


def fuzz(*, seed: int, cases: int, out: Path, jobs: int = 2, timeout: float = 90.0,
         commands: tuple[str, ...] = COMMANDS, mutate: bool = True,
         log: Callable[[str], None] = print) -> Report:
    """Make ``cases`` cases under ``out`` (emptied first), run them, judge them; write summary.json.

    ``mutate=False`` runs the seeds as they are (every case must then pass: a check of the seeds
    and of the oracle on successful runs)."""
    t0 = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    seeds = seed_texts()
    (out / "seeds").mkdir()
    for name, text in seeds.items():
        (out / "seeds" / name).write_text(text, encoding="utf-8", newline="")
    rng = random.Random(seed)
    folders = [make_case(rng, i, cmd, out, seeds, mutate=mutate)
               for i, cmd in enumerate(choose_commands(rng, cases, commands))]
    # the slow commands first, spread over the children
    order = sorted(folders, key=lambda c: json.loads((c / "case.json").read_text())["command"]
                   not in ("run", "map"))
    shares = [order[i::jobs] for i in range(jobs)]
    threads = [threading.Thread(target=_drive, args=(s, timeout, log)) for s in shares if s]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = Report()
    for case in folders:
        plan = json.loads((case / "case.json").read_text())
        rpath = case / "result.json"
        result = json.loads(rpath.read_text()) if rpath.exists() else {}
        fails = judge(case)
        (case / "verdict.json").write_text(json.dumps(fails, indent=1))
        report.add(case, plan, result, fails)
    report.seconds = time.perf_counter() - t0
    (out / "summary.json").write_text(json.dumps(report.__dict__, indent=1))
    (out / "summary.txt").write_text(report.text() + "\n")
    return report


def replay(case: Path) -> int:
    """Run one case folder again in this process (fresh out/) and print the verdict."""
    shutil.rmtree(case / "out", ignore_errors=True)
    (case / "out").mkdir()
    (case / MARKER).unlink(missing_ok=True)
    result = _run_case_in_process(case.resolve())
    (case / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "stdout"}, indent=1))
    fails = judge(case)
    print("verdict:", fails or "pass")
    return 1 if fails else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path("/tmp/geoconflict-fuzz"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds per case before it is a hang")
    ap.add_argument("--commands", default=",".join(COMMANDS))
    ap.add_argument("--replay", type=Path)
    ap.add_argument("--no-mutation", action="store_true", help="run the seeds unmutated (check them)")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker)
        return 0
    if a.replay:
        return replay(a.replay)
    commands = tuple(c for c in a.commands.split(",") if c)
    unknown = set(commands) - set(COMMANDS)
    if unknown:
        ap.error(f"unknown commands: {', '.join(sorted(unknown))}")
    report = fuzz(seed=a.seed, cases=a.cases, out=a.out.resolve(), jobs=a.jobs, timeout=a.timeout,
                  commands=commands, mutate=not a.no_mutation, log=lambda s: print(s, file=sys.stderr))
    print(report.text())
    print(f"\ncase folders and summary.json in {a.out}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
