"""The distributed engine: ingest, joins and grid counts on partitioned GeoParquet, with
dask.distributed (a LocalCluster on this machine, or an existing cluster).

Every function gives the **same answer as the in-process engine** (:func:`read_incidents`,
:func:`join_all`, :func:`count_by_cell`), partition by partition:

* :func:`ingest_partitioned` splits a CSV export into byte blocks at record boundaries (a line
  break outside quotes, found with a quote-parity scan, so notes with line breaks are safe), reads
  and validates each block on a worker with the in-process code, and writes one GeoParquet part
  per block.  No process ever holds the whole file: a 10 GB export needs about
  ``n_workers × (a few × blocksize)`` of memory.  Rows are numbered in the file (``source_row``,
  ``row-<n>`` ids), and a duplicate id is quarantined exactly as in-process: among rows that pass
  every other check, the first occurrence in the file stays, whichever blocks the copies are in
  (two passes: ids first, then the write).
* :func:`join_partitioned` broadcasts the admin / control / front-line layers to the workers once
  (``client.scatter(broadcast=True)``) and runs :func:`geoconflict.join.join_all` per part.
* :func:`count_partitioned` counts per part with :func:`geoconflict.grids.count_by_cell` in one
  CRS chosen for the whole data set, then sums by cell (and group / period).

Results are written as ``<out>/part.NNNNN.parquet`` (readable with ``geopandas.read_parquet`` on one
part, ``dask_geopandas.read_parquet(out)`` on all).  Outputs are written to a temporary folder and
renamed into place at the end; an existing output is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import glob as _glob
import io as _io
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError, OutputExistsError
from .incidents import IngestReport

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BLOCKSIZE",
    "PartitionedIngest",
    "PartitionedJoin",
    "count_partitioned",
    "get_client",
    "ingest_partitioned",
    "join_partitioned",
    "parse_bytes",
    "parts_of",
]

#: bytes of CSV text per partition
DEFAULT_BLOCKSIZE = 64 << 20
#: bytes searched after a block's nominal end for a record boundary before reading on
_WINDOW = 1 << 20
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 1 << 10, "m": 1e6, "mb": 1e6, "mib": 1 << 20,
          "g": 1e9, "gb": 1e9, "gib": 1 << 30, "t": 1e12, "tb": 1e12, "tib": 1 << 40}


def parse_bytes(value: str | int | float) -> int:
    """``"64MB"`` -> 64000000, ``"2GiB"`` -> 2147483648, ``1000`` -> 1000."""
    if isinstance(value, (int, float)):
        if value <= 0:
            raise InputError(f"{value!r} must be a positive size", fix="write e.g. 64MB or 2GB")
        return int(value)
    m = _SIZE.match(str(value))
    if not m or (m.group(2) or "").lower() not in _UNITS:
        raise InputError(f"{value!r} is not a size", fix="write e.g. 64MB, 1GB or 512MiB")
    size = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    if size <= 0:
        raise InputError(f"{value!r} must be a positive size", fix="write e.g. 64MB or 2GB")
    return size


# --------------------------------------------------------------------------------------------
# the client


def get_client(
    scheduler: str | None = None,
    *,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    memory_limit: str | int | None = "auto",
    processes: bool = True,
) -> Any:
    """A :class:`distributed.Client`: connected to ``scheduler`` (``tcp://HOST:PORT``) when given,
    else to a new LocalCluster of ``n_workers`` workers, each limited to ``memory_limit`` (e.g.
    ``"2GB"``; workers spill to disk at 60 % and pause at 80 % of it).

    Close it with ``client.close()`` (a LocalCluster the client created closes with it), or use
    it as a context manager.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency of this build
        raise InputError("the dask engine needs dask.distributed and dask-geopandas",
                         fix="pip install 'dask[distributed]' dask-geopandas") from exc
    if scheduler:
        if not re.match(r"^(tcp|tls|ws|wss|inproc|ucx)://", scheduler):
            raise InputError(f"scheduler address {scheduler!r} is not a URL",
                             fix="write e.g. --scheduler tcp://10.0.0.5:8786")
        try:
            return Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the dask scheduler at {scheduler}: {exc}",
                             fix="start it (dask scheduler) or check the address and firewall") from None
    limit: Any = memory_limit
    if isinstance(memory_limit, str) and memory_limit != "auto":
        limit = parse_bytes(memory_limit)
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                           memory_limit=limit, processes=processes, dashboard_address=":0")
    client = Client(cluster)
    client._geoconflict_owns_cluster = True  # type: ignore[attr-defined]
    # closing the client closes the cluster it started
    _close = client.close

    def close(*args: Any, **kwargs: Any) -> Any:
        out = _close(*args, **kwargs)
        cluster.close()
        return out

    client.close = close  # type: ignore[method-assign]
    return client


def _gather(client: Any, futures: list[Any]) -> list[Any]:
    """Results in order, collected as tasks finish (so workers drop them at once); on the first
    failure the other tasks are cancelled (they would write into a folder that is about to be
    removed) and the task's own error is raised."""
    from distributed import as_completed

    index = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    try:
        for fut, result in as_completed(futures, with_results=True):
            out[index[fut.key]] = result
            fut.release()
    except BaseException:
        client.cancel(futures)
        raise
    return out


@contextlib.contextmanager
def _client_or_local(client: Any) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    c = get_client()
    try:
        yield c
    finally:
        c.close()


# --------------------------------------------------------------------------------------------
# outputs: a folder of parts, written beside the target and renamed into place


@contextlib.contextmanager
def _output_dir(path: str | Path, *, overwrite: bool) -> Iterator[Path]:
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            if not overwrite:  # raced by another writer
                raise OutputExistsError(target)
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def parts_of(path: str | Path) -> list[tuple[str, int | None]]:
    """The partitions of a GeoParquet input: (file, row group or None) in order.

    ``path`` is a folder of ``*.parquet`` parts, a glob (``data/*.parquet``) or one file (split by
    its row groups when it has several).
    """
    text = str(path)
    p = Path(text)
    if p.is_dir():
        files = sorted(str(f) for f in p.glob("*.parquet"))
    elif any(ch in text for ch in "*?["):
        files = sorted(_glob.glob(text))
    elif p.is_file():
        files = [text]
    else:
        raise InputError("partitioned input not found", path=text,
                         fix="give a folder of .parquet parts, a glob such as 'parts/*.parquet', or a file")
    if not files:
        raise InputError("no .parquet parts found", path=text,
                         fix="ingest the export first: ingest_partitioned(...) / --engine dask")
    if len(files) == 1:
        import pyarrow.parquet as pq

        n = pq.ParquetFile(files[0]).metadata.num_row_groups
        if n > 1:
            return [(files[0], i) for i in range(n)]
    return [(f, None) for f in files]


def _read_part(part: tuple[str, int | None]) -> gpd.GeoDataFrame:
    file, group = part
    if group is None:
        return gpd.read_parquet(file)
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(file)
    table = pf.read_row_group(group)
    # the file's GeoParquet metadata names the geometry column and its CRS
    return gpd.GeoDataFrame.from_arrow(table.replace_schema_metadata(pf.schema_arrow.metadata))


def _write_part(gdf: gpd.GeoDataFrame, folder: Path, k: int) -> str:
    path = folder / f"part.{k:05d}.parquet"
    gdf.to_parquet(path, index=False)
    return path.name


# --------------------------------------------------------------------------------------------
# ingest: CSV blocks at record boundaries


@dataclass
class _CsvLayout:
    path: str
    encoding: str
    delimiter: str
    names: list[str]
    headerless: bool
    data_start: int  # byte offset of the first data row
    blocks: list[tuple[int, int]]  # [start, end) byte ranges of whole records


def _csv_layout(path: Path, blocksize: int, encoding: str | None, ucdp_ok: bool) -> _CsvLayout:
    """Sniff the header like the in-process reader, then cut the data into blocks."""
    import csv

    from . import _readers as R

    p = R.require_file(path, "input")
    with open(p, "rb") as fh:
        sample = fh.read(R.SAMPLE_BYTES)
    enc = R.detect_encoding(sample, p, encoding)
    if enc.lower().replace("_", "-") in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        raise InputError(f"the dask engine reads 8-bit text encodings, not {enc}", path=p,
                         fix="convert the file to UTF-8 first, or use the in-process engine")
    # find the header line in bytes (blank lines and an Excel "sep=" line before it)
    pos = len(_bom(sample))
    delimiter: str | None = None
    while True:
        nl = sample.find(b"\n", pos)
        line = sample[pos: nl if nl >= 0 else len(sample)]
        text = line.decode(enc, errors="replace").strip("\r").lstrip("\ufeff")
        if not text.strip():
            if nl < 0:
                raise InputError("the file has no header and no rows (only blank lines)", path=p,
                                 fix="export the data again")
            pos = nl + 1
            continue
        if text.lower().startswith("sep=") and len(text.strip()) == 5 and delimiter is None:
            delimiter = text.strip()[4]
            pos = nl + 1
            continue
        break
    if nl < 0 and len(sample) == R.SAMPLE_BYTES:
        raise InputError("the header line is longer than 64 KiB", path=p, fix="check the file is a CSV export")
    if delimiter is None:
        delimiter = R._detect_delimiter(text)
    fields = next(csv.reader([text], delimiter=delimiter))
    headerless = ucdp_ok and R.looks_like_headerless_ucdp(fields)
    if headerless:
        names, start = list(R.GED_COLUMNS), pos
    else:
        names, start = R.dedupe_names(fields), (nl + 1 if nl >= 0 else len(sample))
    size = p.stat().st_size
    return _CsvLayout(str(p), enc, delimiter, names, headerless, start,
                      _record_blocks(p, start, size, blocksize))


def _bom(sample: bytes) -> bytes:
    import codecs

    return codecs.BOM_UTF8 if sample.startswith(codecs.BOM_UTF8) else b""


def _record_blocks(p: Path, start: int, size: int, blocksize: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``blocksize`` that end at a record boundary: a ``\\n`` preceded by an
    even number of ``"`` since the data start (RFC 4180 quoting; ``""`` inside quotes counts
    twice, so the parity rule holds).  One sequential pass counting quotes (C speed)."""
    cuts = [start]
    target = start + blocksize
    if target < size:
        with open(p, "rb") as fh:
            fh.seek(start)
            posn, parity = start, 0  # parity: quotes before posn, mod 2
            while target < size:
                chunk = fh.read(max(blocksize, _WINDOW))
                if not chunk:
                    break
                end = posn + len(chunk)
                while target < end:
                    local = target - posn
                    found = _first_boundary(chunk, local, (parity + chunk.count(b'"', 0, local)) & 1)
                    if found is None:  # no boundary in this chunk: go on from the next one
                        target = end
                        break
                    cuts.append(posn + found + 1)
                    target = cuts[-1] + blocksize
                parity = (parity + chunk.count(b'"')) & 1
                posn = end
    if cuts[-1] < size:
        cuts.append(size)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def _first_boundary(chunk: bytes, local: int, parity: int) -> int | None:
    """Position in ``chunk`` of the first ``\\n`` at or after ``local`` whose preceding quote count
    (with ``parity`` quotes before ``local``) is even."""
    pos = local
    while pos < len(chunk):
        window = np.frombuffer(chunk, dtype=np.uint8, count=min(_WINDOW, len(chunk) - pos), offset=pos)
        q = window == 34
        before = (np.cumsum(q, dtype=np.uint8) - q) & 1  # quotes before each byte (mod 2)
        nl = np.flatnonzero((window == 10) & (((before + parity) & 1) == 0))
        if len(nl):
            return pos + int(nl[0])
        parity = (parity + int(q.sum())) & 1
        pos += len(window)
    return None


def _read_block(layout: _CsvLayout, block: tuple[int, int]) -> tuple[pd.DataFrame, list[tuple[int | None, str]]]:
    """One block's rows (every column as text) and its malformed rows (1-based within the block)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    a, b = block
    with open(layout.path, "rb") as fh:
        fh.seek(a)
        data = fh.read(b - a)
    malformed: list[tuple[int | None, str]] = []

    def on_invalid(row: Any) -> str:
        malformed.append((row.number, row.text))
        return "skip"

    names = layout.names
    try:
        table = pacsv.read_csv(
            _io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, encoding=layout.encoding,
                                           use_threads=False, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=layout.delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"cannot parse bytes {a}-{b}: {str(exc).splitlines()[0][:200]}",
                         path=layout.path, fix="check the export (quotes must be balanced)") from None
    del data
    return table.to_pandas(), malformed


def _ingest_block(layout: _CsvLayout, block: tuple[int, int], options: dict[str, Any],
                  row_offset: int, frame_offset: int) -> tuple[Any, pd.DataFrame, Any]:
    """Read and validate one block with the in-process code; source rows and ``row-<n>`` ids
    numbered in the whole file.  Returns (IngestResult, raw frame, accepted frame positions)."""
    from ._readers import RawTable
    from .incidents import ingest_raw

    frame, malformed = _read_block(layout, block)
    n, m = len(frame), len(malformed)
    bad = np.array([r for r, _ in malformed if r is not None], dtype=np.int64)
    if m and len(bad) == m:
        local = np.setdiff1d(np.arange(1, n + m + 1), bad)
    else:
        local = np.arange(1, n + 1)
    row_numbers = local + row_offset
    raw = RawTable(frame=frame, kind="csv", path=Path(layout.path), headerless=layout.headerless,
                   encoding=layout.encoding, delimiter=layout.delimiter,
                   malformed=[(None if r is None else r + row_offset, t) for r, t in malformed],
                   row_numbers=row_numbers)
    res = ingest_raw(raw, fmt=options["format"], lon=options["lon"], lat=options["lat"],
                     date=options["date"], places=None)
    q = res.quarantine
    from_frame = q["reason"].astype(str).to_numpy() != "malformed_row"
    rej_rows = q["source_row"].to_numpy(dtype="float64", na_value=np.nan)[from_frame]
    rej_pos = np.searchsorted(row_numbers, rej_rows.astype(np.int64))
    acc_pos = np.setdiff1d(np.arange(n), rej_pos)
    if len(acc_pos) != len(res.incidents):  # pragma: no cover - internal check
        raise AssertionError("partition accounting broken")
    # ids made from row numbers ("row-<n>") are numbered in the whole file
    idcol = res.report.columns.get("incident_id")
    if idcol is None:
        made = np.ones(len(acc_pos), bool)
    else:
        from ._validate import clean_text

        made = clean_text(frame[idcol]).isna().to_numpy()[acc_pos]
    if made.any() and frame_offset:
        ids = res.incidents["incident_id"].astype(object).to_numpy(copy=True)
        ids[made] = "row-" + (acc_pos[made] + frame_offset + 1).astype(str).astype(object)
        res.incidents["incident_id"] = pd.Series(ids, index=res.incidents.index, dtype="str")
    res.incidents.attrs["_made_id"] = made
    return res, frame, acc_pos


def _trim() -> None:
    """Give freed memory back to the OS (glibc keeps it otherwise, and a dask worker whose RSS
    stays above its pause threshold would wait forever)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(Exception):
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _ingest_pass1(layout: _CsvLayout, block: tuple[int, int], options: dict[str, Any]) -> dict[str, Any]:
    """Rows in the block and the ids it accepts (those from the file, not ``row-<n>``)."""
    res, frame, _ = _ingest_block(layout, block, options, 0, 0)
    made = res.incidents.attrs.pop("_made_id")
    ids = res.incidents["incident_id"][~made].reset_index(drop=True)
    n_rows = len(frame)
    del frame
    res.incidents = None
    _trim()
    return {"rows": n_rows, "malformed": int(res.report.quarantined_by_reason.get("malformed_row", 0)),
            "ids": ids}


def _ingest_pass2(layout: _CsvLayout, block: tuple[int, int], options: dict[str, Any],
                  row_offset: int, frame_offset: int, dup_ids: Any, out: str, k: int) -> dict[str, Any]:
    """Validate the block again with file-wide numbering, quarantine ids first accepted in an
    earlier block, write the part; return the counts and the quarantine rows."""
    from .incidents import QUARANTINE_REASONS

    res, frame, acc_pos = _ingest_block(layout, block, options, row_offset, frame_offset)
    made = res.incidents.attrs.pop("_made_id")
    inc = res.incidents
    q = res.quarantine
    if dup_ids is not None and len(dup_ids):
        dup = inc["incident_id"].isin(dup_ids).to_numpy() & ~made
        if dup.any():
            pos = acc_pos[dup]
            extra = pd.DataFrame(frame.take(pos)).reset_index(drop=True)
            for col in ("reason", "source_row"):
                if col in extra.columns:
                    extra = extra.rename(columns={col: f"{col}_source"})
            extra["reason"] = pd.Series(["duplicate_id"] * len(pos), dtype="str")
            extra["source_row"] = pd.Series(pos + 1 + row_offset, dtype="Int64")
            if len(q.columns) and set(q.columns) - set(extra.columns):
                extra = extra.reindex(columns=list(q.columns))
            q = pd.concat([q, extra], ignore_index=True) if len(q) else extra.reindex(
                columns=list(q.columns) if len(q.columns) else list(extra.columns))
            # the rows of a block are numbered in order: row numbers = positions + offsets
            q = q.sort_values("source_row", kind="stable", na_position="last").reset_index(drop=True)
            inc = inc[~dup].reset_index(drop=True)
    flags = inc["flags"].astype(str)
    tokens = flags[flags != ""].str.split(";").explode()
    counts = tokens.value_counts()
    reasons = q["reason"].value_counts()
    path = _write_part(inc, Path(out), k)
    n_acc, rep = len(inc), res.report
    del inc, frame, res
    _trim()
    return {
        "part": path, "accepted": n_acc, "flagged": int((flags != "").sum()),
        "flags": {str(f): int(v) for f, v in counts.items()},
        "by_reason": {r: int(reasons[r]) for r in QUARANTINE_REASONS if r in reasons.index},
        "source_format": rep.source_format, "columns": rep.columns,
        "quarantine": q,
    }


@dataclass(kw_only=True)
class PartitionedIngest(IngestReport):
    """What :func:`ingest_partitioned` wrote: the in-process
    :class:`~geoconflict.incidents.IngestReport` (summed over the blocks) and the parts."""

    out_dir: Path
    quarantine_path: Path
    partitions: int

    @property
    def parts(self) -> list[Path]:
        return sorted(self.out_dir.glob("*.parquet"))

    def summary(self) -> str:
        return super().summary() + f"; {self.partitions} partition(s)"

    def read(self) -> gpd.GeoDataFrame:
        """All parts in one GeoDataFrame (for data that fits in memory)."""
        parts = [gpd.read_parquet(p) for p in self.parts]
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs) if parts else parts


def ingest_partitioned(
    path: str | Path,
    out_dir: str | Path,
    *,
    client: Any = None,
    blocksize: int | str = DEFAULT_BLOCKSIZE,
    format: str = "auto",  # noqa: A002 - the option's name in the CLI
    lon: str | None = None,
    lat: str | None = None,
    date: str | None = None,
    encoding: str | None = None,
    overwrite: bool = False,
    quarantine: str | Path | None = None,
) -> PartitionedIngest:
    """Read a CSV export (ACLED, UCDP GED or generic) block by block into validated, partitioned
    GeoParquet at ``out_dir`` (one ``part.NNNNN.parquet`` per block) and the quarantined rows
    into ``quarantine`` (default ``<out_dir>.quarantine.csv``).

    The incidents, their order, the quarantine and the counts equal
    :func:`geoconflict.incidents.read_incidents` on the same file.  ``client``: a
    :func:`get_client` client (default: a 2-worker LocalCluster for this call).  Point layers and
    GeoParquet inputs are not split: read them with ``read_incidents`` (they are already columnar).
    """
    from .incidents import FORMATS, QUARANTINE_REASONS
    from .io import check_output, quarantine_path

    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}", fix=f"use one of {', '.join(FORMATS)}")
    p = Path(path)
    from ._readers import SPREADSHEET_EXTENSIONS
    from .io import VECTOR_EXTENSIONS

    if p.suffix.lower() in VECTOR_EXTENSIONS or p.suffix.lower() in SPREADSHEET_EXTENSIONS:
        raise InputError(f"the dask engine ingests CSV text, not {p.suffix} files", path=p,
                         fix="read point layers, workbooks and GeoParquet with the in-process engine")
    out = Path(out_dir)
    qpath = Path(quarantine) if quarantine is not None else quarantine_path(out)
    for target in (out, qpath):
        if target.exists() and not overwrite:
            raise OutputExistsError(target)
    layout = _csv_layout(p, parse_bytes(blocksize), encoding, format in ("auto", "ucdp"))
    options = {"format": format, "lon": lon, "lat": lat, "date": date}
    with _client_or_local(client) as c:
        lay = c.scatter(layout, broadcast=True, hash=False)
        first = _gather(c, c.map(_ingest_pass1, [lay] * len(layout.blocks), layout.blocks,
                               [options] * len(layout.blocks), pure=False))
        rows = np.array([f["rows"] for f in first], dtype=np.int64)
        mal = np.array([f["malformed"] for f in first], dtype=np.int64)
        frame_off = np.r_[0, np.cumsum(rows)[:-1]]
        row_off = np.r_[0, np.cumsum(rows + mal)[:-1]]
        # ids accepted in an earlier block: quarantined as duplicate_id where they come again
        all_ids = pd.concat([f["ids"] for f in first], ignore_index=True) if first else pd.Series([], dtype="str")
        owner = np.repeat(np.arange(len(first)), [len(f["ids"]) for f in first])
        dup = all_ids.duplicated(keep="first").to_numpy()
        dup_by_block: list[Any] = [None] * len(first)
        for k in np.unique(owner[dup]):
            dup_by_block[int(k)] = pd.unique(all_ids[dup & (owner == k)])
        del all_ids, first
        with _output_dir(out, overwrite=overwrite) as tmp:
            futures = c.map(_ingest_pass2, [lay] * len(layout.blocks), layout.blocks,
                            [options] * len(layout.blocks), row_off.tolist(), frame_off.tolist(),
                            dup_by_block, [str(tmp)] * len(layout.blocks),
                            list(range(len(layout.blocks))), pure=False)
            results = _gather(c, futures)
    qframes = [r.pop("quarantine") for r in results]
    check_output(qpath, overwrite=overwrite)
    _write_quarantine(qframes, qpath)
    by_reason: dict[str, int] = {}
    flags: dict[str, int] = {}
    for r in results:
        for k2, v in r["by_reason"].items():
            by_reason[k2] = by_reason.get(k2, 0) + v
        for k2, v in r["flags"].items():
            flags[k2] = flags.get(k2, 0) + v
    report = PartitionedIngest(
        path=str(p), out_dir=out, quarantine_path=qpath, partitions=len(results),
        rows_read=int(rows.sum() + mal.sum()), accepted=sum(r["accepted"] for r in results),
        flagged=sum(r["flagged"] for r in results),
        source_format=results[0]["source_format"] if results else format,
        quarantined_by_reason={r: by_reason[r] for r in QUARANTINE_REASONS if r in by_reason},
        flags_by_name=flags, columns=results[0]["columns"] if results else {},
    )
    if report.accepted + report.quarantined != report.rows_read:
        raise AssertionError(f"row accounting broken: {report.summary()}")
    log.info("%s: %s", p, report.summary())
    return report


def _write_quarantine(frames: list[pd.DataFrame], path: Path) -> None:
    """Concatenate the blocks' quarantine rows into one CSV (columns: their union, in order)."""
    from .io import atomic_path, table_for_csv

    cols: list[str] = []
    for q in frames:
        cols += [c for c in q.columns if c not in cols]
    tail: list[str] = [c for c in ("reason", "source_row") if c in cols]
    if "raw_line" in cols:  # as in-process: raw_line last, after reason and source_row
        tail.append("raw_line")
    cols = [c for c in cols if c not in tail] + tail
    with atomic_path(path, overwrite=True) as tmp:
        header = True
        for q in frames:
            if not len(q) and not header:
                continue
            table_for_csv(q.reindex(columns=cols)).to_csv(tmp, index=False, lineterminator="\n",
                                                           mode="w" if header else "a", header=header)
            header = False
        if header:
            pd.DataFrame(columns=cols).to_csv(tmp, index=False, lineterminator="\n")


# --------------------------------------------------------------------------------------------
# joins


@dataclass
class PartitionedJoin:
    """Where :func:`join_partitioned` wrote the joined parts, and the join report (counts summed
    over the parts)."""

    out_dir: Path
    report: Any  # geoconflict.join.JoinReport
    partitions: int

    @property
    def parts(self) -> list[Path]:
        return sorted(self.out_dir.glob("*.parquet"))

    def frame(self) -> Any:
        """A lazy ``dask_geopandas`` GeoDataFrame over the parts."""
        import dask_geopandas

        return dask_geopandas.read_parquet(str(self.out_dir))

    def read(self) -> gpd.GeoDataFrame:
        """All parts in one GeoDataFrame (for results that fit in memory)."""
        parts = [gpd.read_parquet(p) for p in self.parts]
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)


def _join_part(part: tuple[str, int | None], layers: dict[str, Any], options: dict[str, Any],
               out: str, k: int) -> dict[str, Any]:
    from .crs import metric_crs_for
    from .join import join_all

    inc = _read_part(part)
    admin = [gdf for _, gdf in layers["admin"]]
    joined, report = join_all(inc, admin=admin, control=layers["control"],
                              front_line=layers["front_line"], areas=layers["areas"], **options)
    # join_all names GeoDataFrame layers admin1, admin2...: give them their files' names
    rename: dict[str, str] = {}
    for i, (name, gdf) in enumerate(layers["admin"]):
        generic = f"admin{i + 1}_"
        if name == generic[:-1]:
            continue
        attrs = {c for c in gdf.columns if c != gdf.geometry.name}
        for c in joined.columns:
            if c not in inc.columns and c.startswith(generic) and c[len(generic):] in attrs:
                rename[c] = name + "_" + c[len(generic):]
        for a in report.admin:
            if a["layer"] == generic[:-1]:
                a["layer"] = name
    if rename:
        joined = joined.rename(columns=rename)
    metric = metric_crs_for(inc).to_string() if len(inc) else None
    path = _write_part(joined, Path(out), k)
    return {"part": path, "report": report, "metric_crs": metric}


def join_partitioned(
    parquet: str | Path,
    out_dir: str | Path,
    *,
    admin: Sequence[str | Path | gpd.GeoDataFrame] = (),
    admin_fields: Sequence[str] | None = None,
    snap_distance_m: float = 2000.0,
    control: str | Path | gpd.GeoDataFrame | None = None,
    front_line: str | Path | gpd.GeoDataFrame | None = None,
    areas: str | Path | gpd.GeoDataFrame | None = None,
    client: Any = None,
    overwrite: bool = False,
) -> PartitionedJoin:
    """:func:`geoconflict.join.join_all` on every part of ``parquet`` (a folder of parts, a glob
    or a file), written to ``out_dir`` part by part.  The layers are read once here and
    broadcast to the workers once; the joined parts equal the in-process join of the same rows.
    """
    from .control import read_control, validate_control
    from .crs import metric_crs_for
    from .io import read_layer
    from .join import CONTROL_STATUS, JoinReport, read_front_line
    from .join import layer_name as _layer_name

    parts = parts_of(parquet)
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise OutputExistsError(out)
    if not (admin or control is not None or front_line is not None or areas is not None):
        raise InputError("nothing to join", fix="give admin=, control=, front_line= or areas=")

    def load(layer: Any, what: str) -> gpd.GeoDataFrame:
        return layer if isinstance(layer, gpd.GeoDataFrame) else read_layer(layer, what=what)

    layers = {
        "admin": [(_layer_name(a, i), load(a, "admin layer")) for i, a in enumerate(admin)],
        "control": read_control(control) if control is not None else None,
        "front_line": read_front_line(front_line) if front_line is not None else None,
        "areas": load(areas, "areas layer") if areas is not None else None,
    }
    problems = ([p.describe() for p in validate_control(layers["control"], strict=False).problems]
                if layers["control"] is not None else [])
    options = {"admin_fields": list(admin_fields) if admin_fields is not None else None,
               "snap_distance_m": snap_distance_m}
    with _client_or_local(client) as c:
        shared = c.scatter(layers, broadcast=True, hash=False)
        with _output_dir(out, overwrite=overwrite) as tmp:
            results = _gather(c, c.map(_join_part, parts, [shared] * len(parts), [options] * len(parts),
                                       [str(tmp)] * len(parts), list(range(len(parts))), pure=False))
    report = JoinReport(rows_in=0)
    report.control_problems = problems
    for r in results:
        rep = r["report"]
        report.rows_in += rep.rows_in
        report.rows_out += rep.rows_out
        if not report.admin:
            report.admin = [dict(a) for a in rep.admin]
        else:
            for tot, a in zip(report.admin, rep.admin, strict=True):
                for key in ("within", "nearest", "none", "name_mismatch"):
                    tot[key] += a[key]
        for s in CONTROL_STATUS if rep.control_status else ():
            report.control_status[s] = report.control_status.get(s, 0) + rep.control_status.get(s, 0)
        for k, v in rep.areas.items():
            report.areas[k] = report.areas.get(k, 0) + v
        for note in rep.notes:
            if note not in report.notes:
                report.notes.append(note)
        if rep.front_line:
            report.front_line.setdefault("measured", 0)
            report.front_line["measured"] += rep.front_line["measured"]
            report.front_line["source"] = rep.front_line["source"]
    if report.front_line:  # the median over every part, exactly
        import pyarrow.parquet as pq

        d = np.concatenate([pq.read_table(out / r["part"], columns=["front_line_distance_m"]).column(0)
                            .to_numpy(zero_copy_only=False) for r in results]) if results else np.zeros(0)
        d = d[~np.isnan(d)]
        report.front_line = {"measured": report.front_line["measured"],
                             "median_m": float(np.median(d)) if len(d) else None,
                             "source": report.front_line["source"]}
    if report.areas:
        report.areas = dict(sorted(report.areas.items(), key=lambda kv: -kv[1]))
    zones = {r["metric_crs"] for r in results if r["metric_crs"]}
    if len(zones) > 1:
        report.notes.append(
            "distances were measured in different UTM zones per partition ("
            + ", ".join(sorted(zones)) + "); the in-process engine uses one for the whole data")
    elif zones and results:
        bounds = _total_bounds([str(out / r["part"]) for r in results])
        whole = metric_crs_for(gpd.GeoDataFrame(geometry=[_box(bounds)], crs=4326)).to_string()
        if whole not in zones:
            report.notes.append(f"distances measured in {zones.pop()}; the whole data's UTM zone is {whole}")
    if report.rows_out != report.rows_in:  # pragma: no cover
        raise AssertionError("join changed the number of rows")
    return PartitionedJoin(out_dir=out, report=report, partitions=len(results))


def _box(b: np.ndarray) -> Any:
    import shapely

    return shapely.box(*b)


def _total_bounds(files: list[str]) -> np.ndarray:
    """Bounds of every part from the GeoParquet metadata (no geometry read)."""
    import json

    import pyarrow.parquet as pq

    boxes = []
    for f in files:
        meta = pq.read_schema(f).metadata or {}
        geo = json.loads(meta.get(b"geo", b"{}"))
        col = geo.get("columns", {}).get(geo.get("primary_column", "geometry"), {})
        if col.get("bbox"):
            boxes.append(col["bbox"])
    if not boxes:
        return np.array([np.nan] * 4)
    a = np.array(boxes, dtype=float)
    return np.array([a[:, 0].min(), a[:, 1].min(), a[:, 2].max(), a[:, 3].max()])


# --------------------------------------------------------------------------------------------
# grid counts


def _extent_part(part: tuple[str, int | None], include_imprecise: bool, need_date: bool) -> tuple[float, ...] | None:
    from ._points import prepare_points

    prep = prepare_points(_read_part(part), include_imprecise=include_imprecise, need_date=need_date)
    if not len(prep.lon):
        return None
    return (float(prep.lon.min()), float(prep.lon.max()), float(prep.lat.min()), float(prep.lat.max()))


def _count_part(part: tuple[str, int | None], options: dict[str, Any]) -> tuple[pd.DataFrame, Any, dict[str, Any]]:
    from .grids import count_by_cell

    res = count_by_cell(_read_part(part), **options)
    return res.table, res.report, res.metadata  # the counts only: polygons are built once, merged


_NOTE = re.compile(r"^([0-9][0-9,]*) (.*)$")


def _merge_notes(note_lists: list[list[str]]) -> list[str]:
    """Notes that start with a count are summed across parts; others kept once."""
    order: list[str] = []
    sums: dict[str, int] = {}
    for notes in note_lists:
        for note in notes:
            m = _NOTE.match(note)
            key = m.group(2) if m else note
            if key not in sums:
                order.append(key)
                sums[key] = 0
            sums[key] += int(m.group(1).replace(",", "")) if m else 0
    return [f"{sums[k]:,} {k}" if sums[k] else k for k in order]


def _cell_sort_key(kind: str, ids: pd.Series) -> list[np.ndarray]:
    """Sort keys giving the in-process cell order (the integer cell keys)."""
    if kind == "priogrid":
        return [ids.to_numpy(dtype=np.int64)]
    if kind == "h3":
        import h3

        return [np.array([h3.str_to_int(str(c)) for c in ids], dtype=np.uint64).view(np.int64)]
    parts = ids.astype(str).str.rsplit("_", n=2, expand=True)
    return [parts[1].astype(np.int64).to_numpy(), parts[2].astype(np.int64).to_numpy()]


def count_partitioned(
    parquet: str | Path,
    *,
    cells: Any = "hex:5km",
    by: str | None = None,
    period: str | None = None,
    include_imprecise: bool = False,
    long: bool = False,
    crs: Any = None,
    client: Any = None,
) -> Any:
    """:func:`geoconflict.grids.count_by_cell` over every part of ``parquet``, summed by cell:
    the same :class:`~geoconflict.grids.GridResult` (cells, counts, order, report) as in-process.

    Square and hex cells use one UTM zone for all parts: ``crs``, else the zone the in-process
    engine would choose for the whole data (a first pass reads the parts' extents).
    ``all_cells`` / ``extent`` are not offered here: count, then add empty cells in-process.
    """
    from pyproj import CRS

    from ._points import metric_crs_at
    from .crs import to_crs
    from .grids import GridReport, GridResult, cell_polygons, parse_cells

    spec = parse_cells(cells)
    parts = parts_of(parquet)
    with _client_or_local(client) as c:
        cell_crs = None
        if spec.metric:
            if crs is not None:
                cell_crs = to_crs(crs)
            else:
                ext = [e for e in c.gather(c.map(_extent_part, parts, [include_imprecise] * len(parts),
                                                 [period is not None] * len(parts), pure=False)) if e]
                if ext:
                    a = np.array(ext)
                    cell_crs = metric_crs_at(round((a[:, 0].min() + a[:, 1].max()) / 2, 6),
                                             round((a[:, 2].min() + a[:, 3].max()) / 2, 6))
                else:
                    cell_crs = CRS.from_epsg(32637)
        keyed = by is not None or period is not None
        options = {"cells": spec, "by": by, "period": period, "include_imprecise": include_imprecise,
                   "long": keyed, "crs": cell_crs}
        results = c.gather(c.map(_count_part, parts, [options] * len(parts), pure=False))
    frames = [r[0] for r in results]
    reports = [r[1] for r in results]
    meta = dict(results[0][2]) if results else {}
    meta["long"] = long
    geo_crs = meta.get("crs")
    sums = [s for s in ("count", "fatalities", "fatalities_low", "fatalities_high") if s in frames[0].columns]
    allf = pd.concat([pd.DataFrame(f) for f in frames], ignore_index=True)
    # one row per cell: its fixed attributes from the first part that has it (its polygon is
    # built once, below, from its id: the parts send counts, not polygons)
    fixed_cols = [col for col in ("row", "col", "area_km2", "plane_area_km2") if col in allf.columns]
    cellinfo = allf.drop_duplicates("cell_id")[["cell_id", *fixed_cols]]
    keys = ["cell_id"] + ([by] if by is not None else []) + (["period"] if period is not None else [])
    if "month_id" in allf.columns:
        keys.append("month_id")
    summed = allf.groupby(keys, sort=False, dropna=False)[sums].sum().reset_index()
    summed["count"] = summed["count"].astype("int64")
    order_cells = cellinfo.assign(_k=range(len(cellinfo)))
    sk = _cell_sort_key(spec.kind, order_cells["cell_id"])
    rank = np.empty(len(order_cells), dtype=np.int64)
    rank[np.lexsort(sk[::-1])] = np.arange(len(order_cells))
    cell_rank = pd.Series(rank, index=order_cells["cell_id"].to_numpy())
    summed["_cell"] = cell_rank.reindex(summed["cell_id"].to_numpy()).to_numpy()
    sort_cols = ["_cell"] + keys[1:2] + (["period"] if period is not None and by is not None else [])
    if period is not None and by is None:
        sort_cols = ["_cell", "period"]
    summed = summed.sort_values(sort_cols, kind="stable").reset_index(drop=True)
    cellinfo = cellinfo.assign(_cell=cell_rank.reindex(cellinfo["cell_id"].to_numpy()).to_numpy()) \
        .sort_values("_cell").reset_index(drop=True)
    cellinfo["geometry"] = cell_polygons(spec, cellinfo["cell_id"].to_numpy())
    fixed_cols.append("geometry")
    if keyed and long:
        out = summed.merge(cellinfo[["cell_id", *fixed_cols]], on="cell_id", how="left")
        first = [*frames[0].columns, "geometry"]
        out = out[[c for c in first if c in out.columns]]
    elif keyed:
        per_cell = summed.groupby("_cell", sort=True)[sums].sum()
        base = cellinfo.set_index("_cell")
        data: dict[str, Any] = {"cell_id": base["cell_id"].to_numpy()}
        if spec.kind == "priogrid":
            g = base["cell_id"].to_numpy(dtype=np.int64)
            data["row"], data["col"] = (g - 1) // 720 + 1, (g - 1) % 720 + 1
        for s in sums:
            data[s] = per_cell[s].reindex(base.index).to_numpy()
        data["count"] = data["count"].astype("int64")
        data["area_km2"] = base["area_km2"].to_numpy()
        if "plane_area_km2" in base.columns:
            data["plane_area_km2"] = base["plane_area_km2"].to_numpy()
        glab = sorted(summed[by].astype(str).unique()) if by is not None else [None]
        plab = sorted(summed["period"].astype(str).unique()) if period is not None else [None]
        combos = summed[[k for k in (by, "period" if period is not None else None) if k]].astype(str)
        label = combos.agg("_".join, axis=1) if len(combos.columns) > 1 else combos.iloc[:, 0]
        present = set(label)
        wanted = [("_".join(x for x in (g, p) if x is not None)) for g in glab for p in plab]
        wanted = [w for w in wanted if w in present]
        mat = (summed.assign(_lab=label.to_numpy())
               .pivot_table(index="_cell", columns="_lab", values="count", aggfunc="sum", fill_value=0)
               .reindex(index=base.index, columns=wanted, fill_value=0))
        for w in wanted:
            data[f"count_{w}"] = mat[w].to_numpy().astype("int64")
        out = pd.DataFrame(data)
        out["geometry"] = base["geometry"].to_numpy()
        if period == "month" and spec.kind == "priogrid":
            mids = summed.drop_duplicates("period").set_index("period")["month_id"]
            meta["month_ids"] = {str(p): int(mids[p]) for p in plab}
    else:
        out = summed.merge(cellinfo, on="cell_id", how="left")
        first = [*frames[0].columns, "geometry"]
        out = out[[c for c in first if c in out.columns]]
    cells_gdf = gpd.GeoDataFrame(out.drop(columns=["_cell"], errors="ignore"), geometry="geometry", crs=geo_crs)
    report = GridReport(rows_in=sum(r.rows_in for r in reports), counted=sum(r.counted for r in reports))
    for r in reports:
        for k, v in r.excluded.items():
            report.excluded[k] = report.excluded.get(k, 0) + v
    report.notes = _merge_notes([r.notes for r in reports])
    report.cells = len(cellinfo)
    report.nonempty_cells = int((cells_gdf.groupby("cell_id")["count"].sum() > 0).sum()) if len(cells_gdf) else 0
    report.cells_label = spec.label
    report.crs = reports[0].crs if reports else ""
    report.check()
    meta["report"] = report.as_dict()
    return GridResult(cells=cells_gdf, report=report, metadata=meta)

