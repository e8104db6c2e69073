"""Memory allocators of the long-running commands (``serve``, ``demo``, ``worker``).

Under ingest a server allocates and frees tens of MB a second in large blocks: each request's Arrow table of rows,
the batches the writer gathers (up to ``THREADLINE_FLUSH_MAX_SPANS`` spans), the facts of a rollup pass. Freed
blocks are not always given back to the system, so the resident set grows by what the allocators keep in reserve:

* pyarrow's default pool (mimalloc) keeps freed pages for reuse. The system allocator gives large blocks back:
  :func:`tune_allocators` makes it Arrow's default pool.
* glibc's malloc makes up to 8 arenas per core for the decoding threads, each keeping its own free space, and raises
  its threshold for ``mmap`` to 32 MiB after the first large block is freed, after which large blocks stay in those
  arenas. Two arenas and a fixed 1 MiB threshold (``mallopt``) keep large blocks out of them.
* glibc gives back only the free space at the top of an arena when blocks are freed; the free chunks between live
  ones stay resident (~90-140 MiB of a server under ingest). :func:`release_free_memory` (``malloc_trim(0)``)
  returns their pages; the writer calls it after each rollup pass.

Measured with ``bench/ingest_at_scale.py --spans 300000 --memory-log`` (issue 11): see docs/benchmarks.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

import pyarrow as pa

log = logging.getLogger("threadline")

# glibc's mallopt parameters (malloc.h) and the values set.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1024 * 1024
ARENA_MAX = 2


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (the functions below are glibc's), else None."""
    if platform.libc_ver()[0] != "glibc":
        return None
    libc_name = ctypes.util.find_library("c")
    return ctypes.CDLL(libc_name) if libc_name is not None else None


_LIBC = _glibc()


def tune_allocators() -> None:
    """Make the system allocator Arrow's default memory pool and, on glibc, cap malloc's arenas at
    :data:`ARENA_MAX` with a fixed ``mmap`` threshold of :data:`MMAP_THRESHOLD_BYTES`. Call once at start, before
    the worker threads start. Process-wide; leaves malloc alone on other C libraries."""
    pa.set_memory_pool(pa.system_memory_pool())
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None:
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error: an unknown parameter leaves the default, which is only less lean.
    if not (mallopt(M_ARENA_MAX, ARENA_MAX) and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)):
        log.warning("glibc refused a malloc setting; memory use may be higher than documented")


def release_free_memory() -> bool:
    """Return the free pages inside malloc's arenas to the system (glibc ``malloc_trim(0)``, which, unlike the trim
    done on ``free``, also releases free chunks below the top of each arena). Takes a few ms with the arenas'
    locks held, so call it between units of work (the writer: after each rollup pass). True when memory was
    released; False when none was, and on other C libraries (a no-op there)."""
    malloc_trim = getattr(_LIBC, "malloc_trim", None)
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(0))
