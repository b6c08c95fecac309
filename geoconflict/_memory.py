"""Giving memory back to the operating system after a large step.

Reading and validating millions of incidents makes gigabytes of short-lived arrays.  Once freed,
most of that memory stays with the process: pyarrow's allocator (mimalloc) keeps its pages, and
glibc's malloc keeps the heap it grew (blocks under its mmap threshold, which rises as large
arrays are freed).  At 2,500,000 incidents that was about 0.8 GB held after
:func:`geoconflict.incidents.read_incidents` returned, on top of which every later step grew, and
the whole run's peak with it.  :func:`release` hands it back: pyarrow's
``MemoryPool.release_unused`` and, on glibc, ``malloc_trim(0)`` (what dask's workers call for the
same reason).  Only done past :data:`RELEASE_FROM` rows: it costs milliseconds, and memory the
process then needs again is handed out afresh.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys

log = logging.getLogger(__name__)

#: tables of at least this many rows give their freed memory back after reading
RELEASE_FROM = 500_000


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> object | None:
    """glibc's ``malloc_trim``, or None (another C library, or another system)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release(rows: int) -> bool:
    """Give freed memory back to the system after a step over ``rows`` rows (from
    :data:`RELEASE_FROM`); True when it was done."""
    if rows < RELEASE_FROM:
        return False
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
    log.debug("freed memory given back after %d rows", rows)
    return True
