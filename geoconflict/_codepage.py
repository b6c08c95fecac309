"""The code page of a Shapefile's text.

A Shapefile's ``.dbf`` holds its text as bytes in a code page that the file may or may not
declare: a ``.cpg`` sidecar naming it, or the language-driver byte (LDID) of the ``.dbf`` header.
When it declares one GDAL understands, GDAL recodes the text to UTF-8.  When it does not (no
``.cpg``, or one GDAL cannot read such as ``ANSI 1256`` or a ``.cpg`` saved with a byte-order
mark; LDID 0, one GDAL does not know, or 87, "the writer's ANSI code page"), GDAL assumes
ISO-8859-1 or Windows-1252, so Arabic written in Windows-1256 comes back as ``ÅÏáÈ`` for
``إدلب``, without a word.

So before such a file is read, the layer's ``.cpg`` is read leniently (:func:`cpg_encoding`)
and its ``.dbf`` text fields are looked at byte by byte, delimited as GDAL delimits them:

- a ``.cpg`` naming a code page: that one, passed to GDAL explicitly;
- a code page GDAL knows in the header: GDAL's;
- otherwise a code page given (``read_layer(encoding=...)``, :func:`shapefile_encoding`, the
  CLI's ``--encoding``); without one, all-ASCII text needs none, valid UTF-8 is read as UTF-8
  (what QGIS and current tools write; Latin text in a legacy code page is practically never
  valid UTF-8), and anything else is refused, showing the first such value as it reads in the
  code pages analysts usually meet (Arabic, Western European and Cyrillic Windows).

A code page given this way applies to layers that do not declare one; a layer's own ``.cpg``
is kept, so one ``--encoding`` can serve a command that reads several files.  In a zip holding
several shapefiles only the layer read is looked at.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import mmap
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

#: LDID values GDAL (3.12) maps to a code page; the others it reads as ISO-8859-1.  87 is left out:
#: it means "the writer's ANSI code page", which GDAL takes as Windows-1252 and an Arabic Windows
#: machine wrote as Windows-1256.  (tests/test_codepage.py checks this set against GDAL's answers.)
DECLARING_LDID = frozenset({
    1, 2, 3, 8, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31, 34,
    35, 36, 37, 38, 55, 64, 77, 78, 79, 80, 88, 89, 100, 101, 102, 103, 106, 107, 108, 120, 121, 122,
    123, 124, 134, 135, 136, 150, 200, 201, 202, 203, 204,
})
#: code pages shown in the refusal, with what they are for
LIKELY = (("cp1256", "Arabic Windows"), ("cp1252", "Western European Windows"),
          ("cp1251", "Cyrillic Windows"))

_ENCODING: contextvars.ContextVar[str | None] = contextvars.ContextVar("geoconflict_shapefile_encoding",
                                                                      default=None)


def _ascii_compatible(info: codecs.CodecInfo) -> bool:
    """A code page a .dbf can hold: ASCII bytes are ASCII in it (not UTF-16, not EBCDIC)."""
    probe = bytes(range(32, 127))
    try:
        return info.decode(probe)[0] == probe.decode("ascii")
    except (UnicodeDecodeError, TypeError):
        return False


def check_encoding(encoding: str, *, shapefile: bool = True) -> str:
    """Python's name for ``encoding`` (``windows-1256`` -> ``cp1256``), or an :class:`InputError`:
    unknown, a text transform such as rot13, or (``shapefile``) one a ``.dbf`` cannot be written
    in, its ASCII letters not ASCII (UTF-16, EBCDIC; a CSV may be UTF-16)."""
    try:
        info = codecs.lookup(encoding)
        if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib: not a code page
            raise LookupError(encoding)
    except (LookupError, TypeError):
        raise InputError(f"unknown encoding {encoding!r}",
                         fix="name a code page, e.g. --encoding cp1256 (Arabic, Windows), cp1252 "
                             "(Western European) or utf-8") from None
    if shapefile and not _ascii_compatible(info):
        raise InputError(f"{encoding!r} is not a code page a Shapefile can be written in "
                         "(its ASCII letters are not ASCII)",
                         fix="name a code page such as cp1256, cp1252, cp1251, iso8859-6 or utf-8")
    return info.name


def cpg_encoding(text: str) -> str | None:
    """The code page a ``.cpg`` names, read leniently (a byte-order mark, spaces, case and a second
    line are ignored; ``1256`` and ``ANSI 1256`` are ``cp1256``, ``65001`` is UTF-8, ``8859-6``
    is ISO-8859-6): Python's name for it, or None when it names none (``OEM``, ``System``, empty)."""
    lines = text.lstrip("\ufeff").strip().splitlines()
    first = lines[0].strip().strip("\x00") if lines else ""
    t = first.upper().replace(" ", "").replace("_", "-")
    if not t:
        return None
    if m := re.fullmatch(r"(?:ANSI|CP|WINDOWS-?)?(\d+)", t):
        n = int(m.group(1))
        candidate = "utf-8" if n == 65001 else f"cp{n}"
    elif m := re.fullmatch(r"(?:ISO-?)?8859-?(\d+)", t):
        candidate = f"iso8859-{m.group(1)}"
    else:
        candidate = first
    try:
        return check_encoding(candidate)
    except InputError:
        return None


@contextlib.contextmanager
def shapefile_encoding(encoding: str | None) -> Iterator[str | None]:
    """Within the block, Shapefiles that do not declare their code page are read in ``encoding``
    (``None``: as before, refusing text that is not UTF-8)."""
    # checked for shapefiles where it is used: the CLI's --encoding also names a CSV's (UTF-16 too)
    name = check_encoding(encoding, shapefile=False) if encoding is not None else None
    token = _ENCODING.set(name)
    try:
        yield name
    finally:
        _ENCODING.reset(token)


def current_encoding() -> str | None:
    """The code page set by the innermost :func:`shapefile_encoding` block, if any."""
    return _ENCODING.get()


@dataclass(frozen=True)
class DbfText:
    """What a ``.dbf`` holds of its text."""

    ldid: int  #: the language-driver byte of its header
    non_ascii: bool  #: any text field (or field name) holds a byte past ASCII
    #: the first value that is not UTF-8: (record, 1-based; 0 for a field name), field, its bytes
    first_bad: tuple[int, str, bytes] | None


def _utf8_value(raw: bytes, width: int) -> bool:
    """A value is UTF-8, allowing a character cut at the end of a full field (a writer that
    truncated UTF-8 to the field's width in bytes)."""
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return len(raw) == width and exc.reason == "unexpected end of data" and exc.end == len(raw)


def scan_dbf(data: bytes | mmap.mmap) -> DbfText:
    """Read a ``.dbf``'s header and text fields (``C``) as bytes, as GDAL's reader delimits them
    (a field's width is its descriptor's byte 16; a value ends at its first NUL; deleted records
    are skipped): no decoding, no GDAL."""
    if len(data) < 32:
        return DbfText(0, False, None)
    n_records = int.from_bytes(data[4:8], "little")
    header_len = int.from_bytes(data[8:10], "little")
    record_len = int.from_bytes(data[10:12], "little")
    fields: list[tuple[bytes, int, int]] = []  # raw name, offset in the record (-1: not text), width
    offset, at = 1, 32  # a record starts with its deletion flag
    while at + 32 <= min(header_len, len(data)) and data[at] != 0x0D:
        desc = data[at:at + 32]
        width = desc[16]
        fields.append((bytes(desc[:11]).split(b"\0", 1)[0], offset if chr(desc[11]) == "C" else -1, width))
        offset += width
        at += 32
    non_ascii = False
    for raw, _, _ in fields:
        if max(raw, default=0) >= 0x80:
            non_ascii = True
            if not _utf8_value(raw, -1):
                return DbfText(data[29], True, (0, _shown(raw), raw))
    if record_len <= 0 or header_len >= len(data):
        return DbfText(data[29], non_ascii, None)
    n = min(n_records, (len(data) - header_len) // record_len)
    records = np.frombuffer(data, dtype=np.uint8, count=n * record_len, offset=header_len).reshape(n, record_len)
    live = records[:, 0] != ord("*")  # deleted records are not read
    for raw_name, start, width in fields:
        if start < 0 or width == 0 or start + width > record_len:
            continue
        block = records[:, start:start + width]
        rows = np.flatnonzero(live & (block >= 0x80).any(axis=1))
        if not rows.size:
            continue
        # a value ends at its first NUL, as GDAL reads it
        values = [(int(r), v) for r in rows if max(v := block[r].tobytes().split(b"\0", 1)[0], default=0) >= 0x80]
        if not values:
            continue
        non_ascii = True
        try:  # the fast way: every such value at once, each ended by a newline
            b"\n".join(v.rstrip(b" ") for _, v in values).decode("utf-8")
            continue
        except UnicodeDecodeError:
            pass
        for r, raw in values:
            if not _utf8_value(raw, width):
                return DbfText(data[29], True, (r + 1, _shown(raw_name), raw.rstrip(b" ")))
    return DbfText(data[29], non_ascii, None)


def _shown(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class _Parts:
    """The .dbf and .cpg GDAL reads for one layer."""

    dbf_name: str
    dbf: Callable[[], DbfText]
    cpg: str | None  #: the .cpg's text, None without one


def _zip_parts(p: Path, layer: str | int | None) -> _Parts | None:
    with zipfile.ZipFile(p) as zf:
        members = [m for m in zf.namelist() if not m.startswith("__MACOSX/") and not Path(m).name.startswith("._")]
        shps = [m for m in members if m.lower().endswith(".shp")]
        if not shps:
            return None
        chosen: str | None
        if isinstance(layer, str):
            chosen = next((m for m in shps if Path(m).stem == layer), None)
        elif len(shps) == 1:
            chosen = shps[0]
        else:
            import pyogrio  # GDAL's own order of the layers in the zip

            names = [str(n) for n in pyogrio.list_layers(p)[:, 0]]
            index = layer if isinstance(layer, int) else 0
            want = names[index] if 0 <= index < len(names) else None
            chosen = next((m for m in shps if Path(m).stem == want), shps[0])
        if chosen is None:
            return None
        stem = chosen[:-4]
        dbf = next((stem + e for e in (".dbf", ".DBF") if stem + e in members), None)
        cpg = next((stem + e for e in (".cpg", ".CPG") if stem + e in members), None)
        small = cpg is not None and zf.getinfo(cpg).file_size < 4096
        cpg_text = zf.read(cpg).decode("utf-8-sig", errors="replace") if cpg is not None and small else None
    if dbf is None:
        return None

    def read() -> DbfText:
        with zipfile.ZipFile(p) as zf:
            return scan_dbf(zf.read(dbf))

    return _Parts(f"{p.name}/{dbf}", read, cpg_text)


def _disk_parts(p: Path) -> _Parts | None:
    dbf = next((p.with_suffix(e) for e in (".dbf", ".DBF") if p.with_suffix(e).exists()), None)
    if dbf is None:
        return None
    cpg = next((p.with_suffix(e) for e in (".cpg", ".CPG") if p.with_suffix(e).exists()), None)
    cpg_text = cpg.read_bytes()[:4096].decode("utf-8-sig", errors="replace") if cpg is not None else None

    def read() -> DbfText:
        with open(dbf, "rb") as fh:
            if dbf.stat().st_size == 0:
                return scan_dbf(b"")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return scan_dbf(mm)

    return _Parts(dbf.name, read, cpg_text)


def gdal_encoding(path: str | Path, encoding: str | None = None, *, layer: str | int | None = None) -> str | None:
    """The code page to open Shapefile ``path`` (``.shp``, or a ``.zip``/``.shz`` holding
    shapefiles: the one of ``layer``) with, as GDAL's ``ENCODING``; None to leave it to GDAL.

    - Its ``.cpg`` names a code page (read leniently, see :func:`cpg_encoding`): that one, even
      when ``encoding`` is given.
    - Else a code page GDAL knows in the ``.dbf`` header (:data:`DECLARING_LDID`): GDAL's.
    - Else ``encoding`` (else :func:`current_encoding`) when given; else UTF-8 when the text is
      UTF-8; else an :class:`InputError` naming the record, the field and the likely code pages."""
    p = Path(path)
    given = encoding if encoding is not None else current_encoding()
    parts = _zip_parts(p, layer) if p.suffix.lower() in (".zip", ".shz") else _disk_parts(p)
    if parts is None:
        return None  # GDAL says what is missing
    declared = cpg_encoding(parts.cpg) if parts.cpg is not None else None
    if declared is not None:
        return declared
    scan = parts.dbf()
    if scan.ldid in DECLARING_LDID:
        return None
    if given is not None:
        return check_encoding(given)
    if scan.first_bad is not None:
        record, field, raw = scan.first_bad
        readings = []
        for code, _ in LIKELY:
            with contextlib.suppress(UnicodeDecodeError):
                readings.append(f"{raw.decode(code)!r} as {code}")
        inside = f" ({parts.dbf_name})" if p.suffix.lower() in (".zip", ".shz") else ""
        what = "the field's name" if record == 0 else "the text"
        examples = ", ".join(f"{code} for {use}" for code, use in LIKELY)
        said = ("no .cpg file" if parts.cpg is None else
                f"its .cpg holds {parts.cpg.strip()[:40]!r}, which names no code page")
        raise InputError(
            f"{what}{inside} is not UTF-8 and the Shapefile does not say its code page ({said}, "
            f"none in the .dbf header), so it cannot be read safely; it reads {', '.join(readings)}",
            path=p, feature=record or None, column=field,
            fix=f"pass its code page with --encoding (encoding= in Python), e.g. {examples}; or put "
                "a .cpg file holding that name beside the .dbf",
        )
    return "utf-8" if scan.non_ascii else None
