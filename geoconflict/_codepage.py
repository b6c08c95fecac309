"""The code page of a Shapefile's text.

A Shapefile's ``.dbf`` holds its text as bytes in a code page that the file may or may not
declare: a ``.cpg`` sidecar naming it, or the language-driver byte (LDID) of the ``.dbf`` header.
When it declares one, GDAL recodes the text to UTF-8.  When it does not (no ``.cpg``; LDID 0, one GDAL
does not know, or 87, "the writer's ANSI code page"), GDAL assumes ISO-8859-1 or Windows-1252, so Arabic written in Windows-1256
comes back as ``ÅÏáÈ`` for ``إدلب``, without a word.

So before such a file is read, its text fields are looked at here, byte by byte:

- all ASCII: nothing to decide;
- all valid UTF-8: read as UTF-8 (what QGIS and current tools write; Latin text in a legacy code
  page is practically never valid UTF-8);
- otherwise the code page must be given (``read_layer(encoding=...)``, :func:`shapefile_encoding`,
  the CLI's ``--encoding``), and the refusal shows the first such value as it reads in the code
  pages analysts usually meet (Arabic, Western European and Cyrillic Windows).

A code page given this way applies to Shapefiles that do not declare one; a file's own ``.cpg``
is kept, so one ``--encoding`` can serve a command that reads several files.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import mmap
import zipfile
from collections.abc import Iterator
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


def check_encoding(encoding: str) -> str:
    """Python's name for ``encoding`` (``windows-1256`` -> ``cp1256``), or an :class:`InputError`."""
    try:
        info = codecs.lookup(encoding)
        if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib: not a code page
            raise LookupError(encoding)
        name = info.name
    except (LookupError, TypeError):
        raise InputError(f"unknown encoding {encoding!r}",
                         fix="name a code page, e.g. --encoding cp1256 (Arabic, Windows), cp1252 "
                             "(Western European) or utf-8") from None
    return name


@contextlib.contextmanager
def shapefile_encoding(encoding: str | None) -> Iterator[str | None]:
    """Within the block, Shapefiles that do not declare their code page are read in ``encoding``
    (``None``: as before, refusing text that is not UTF-8)."""
    name = check_encoding(encoding) if encoding is not None else None
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
    """What a ``.dbf`` says, and holds, of its text."""

    name: str  #: the .dbf (inside a zip: its member name)
    declared: bool  #: a .cpg beside it, or a code page in its header
    non_ascii: bool  #: any text field (or field name) holds a byte past ASCII
    #: the first value that is not UTF-8: (record, 1-based; 0 for a field name), field, its bytes
    first_bad: tuple[int, str, bytes] | None


def scan_dbf(data: bytes | mmap.mmap, *, name: str, has_cpg: bool) -> DbfText:
    """Read a ``.dbf``'s header and text fields (``C``) as bytes: no decoding, no GDAL."""
    if len(data) < 32:
        return DbfText(name, has_cpg, False, None)
    n_records = int.from_bytes(data[4:8], "little")
    header_len = int.from_bytes(data[8:10], "little")
    record_len = int.from_bytes(data[10:12], "little")
    declared = has_cpg or data[29] in DECLARING_LDID
    fields: list[tuple[bytes, int, int]] = []  # raw name, offset in the record (-1: not text), width
    offset, at = 1, 32  # a record starts with its deletion flag
    while at + 32 <= min(header_len, len(data)) and data[at] != 0x0D:
        desc = data[at:at + 32]
        ftype = chr(desc[11])
        # shapelib's rule: only numeric fields have decimals; others use that byte as width's high byte
        width = desc[16] if ftype in "NF" else desc[16] + 256 * desc[17]
        fields.append((bytes(desc[:11]).split(b"\0", 1)[0], offset if ftype == "C" else -1, width))
        offset += width
        at += 32
    non_ascii = False
    for raw, _, _ in fields:
        if max(raw, default=0) >= 0x80:
            non_ascii = True
            if not _utf8(raw):
                return DbfText(name, declared, True, (0, _shown(raw), raw))
    if record_len <= 0 or header_len >= len(data):
        return DbfText(name, declared, non_ascii, None)
    n = min(n_records, (len(data) - header_len) // record_len)
    records = np.frombuffer(data, dtype=np.uint8, count=n * record_len, offset=header_len).reshape(n, record_len)
    live = records[:, 0] != ord("*")  # deleted records are not read
    for raw_name, start, width in fields:
        if start < 0 or start + width > record_len:
            continue
        block = records[:, start:start + width]
        rows = np.flatnonzero(live & (block >= 0x80).any(axis=1))
        if rows.size:
            non_ascii = True
        for r in rows:
            raw = block[r].tobytes().rstrip(b" \0")
            if not _utf8(raw):
                return DbfText(name, declared, True, (int(r) + 1, _shown(raw_name), raw))
    return DbfText(name, declared, non_ascii, None)


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _shown(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _scan_path(p: Path) -> list[DbfText]:
    """The ``.dbf`` of a ``.shp`` (beside it), or every ``.dbf`` in a zip."""
    if p.suffix.lower() == ".zip":
        out = []
        with zipfile.ZipFile(p) as zf:
            members = zf.namelist()
            lower = {m.lower(): m for m in members}
            for m in members:
                if m.lower().endswith(".dbf"):
                    cpg = m[:-4].lower() + ".cpg"
                    out.append(scan_dbf(zf.read(m), name=f"{p.name}/{m}", has_cpg=cpg in lower))
        return out
    dbf = next((p.with_suffix(s) for s in (".dbf", ".DBF") if p.with_suffix(s).exists()), None)
    if dbf is None:
        return []
    has_cpg = any(p.with_suffix(s).exists() for s in (".cpg", ".CPG"))
    with open(dbf, "rb") as fh:
        if dbf.stat().st_size == 0:
            return [scan_dbf(b"", name=dbf.name, has_cpg=has_cpg)]
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return [scan_dbf(mm, name=dbf.name, has_cpg=has_cpg)]


def gdal_encoding(path: str | Path, encoding: str | None = None) -> str | None:
    """The encoding to open Shapefile ``path`` with (GDAL's ``ENCODING``), or None to leave it to
    GDAL (the file declares its code page, or its text is ASCII).

    ``encoding`` (else :func:`current_encoding`) is used when the file does not declare one.
    Without either, text that is valid UTF-8 is read as UTF-8, and other text is refused with an
    :class:`InputError` naming the record, the field and the likely code pages."""
    p = Path(path)
    given = check_encoding(encoding) if encoding is not None else current_encoding()
    scans = [s for s in _scan_path(p) if not s.declared]
    if not scans:
        return None
    if given is not None:
        return given
    bad = next((s for s in scans if s.first_bad is not None), None)
    if bad is not None:
        assert bad.first_bad is not None
        record, field, raw = bad.first_bad
        readings = []
        for code, _ in LIKELY:
            with contextlib.suppress(UnicodeDecodeError):
                readings.append(f"{raw.decode(code)!r} as {code}")
        inside = f" ({bad.name})" if p.suffix.lower() == ".zip" else ""
        what = "the field's name" if record == 0 else "the text"
        examples = ", ".join(f"{code} for {use}" for code, use in LIKELY)
        raise InputError(
            f"{what}{inside} is not UTF-8 and the Shapefile does not say its code page (no .cpg "
            f"file, none in the .dbf header), so it cannot be read safely; it reads "
            f"{', '.join(readings)}",
            path=p, feature=record or None, column=field,
            fix=f"pass its code page with --encoding (encoding= in Python), e.g. {examples}; or put "
                "a .cpg file holding that name beside the .dbf",
        )
    if any(s.non_ascii for s in scans):
        return "UTF-8"
    return None
