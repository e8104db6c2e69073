"""threadline.allocators: freed Arrow blocks and the free space inside malloc's arenas go back to the system (run in
subprocesses: the settings are process-wide)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from threadline.allocators import release_free_memory

PROBE = """
import sys
import pyarrow as pa

def rss_anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) * 1024

if sys.argv[1] == "tuned":
    from threadline.allocators import tune_allocators
    tune_allocators()
texts = ["x" * 1000] * 4000
before = rss_anon()
for _ in range(3):
    arrays = [pa.array(texts) for _ in range(64)]  # ~256 MiB of Arrow buffers in ~4 MiB blocks, then freed
    del arrays
print(pa.default_memory_pool().backend_name, (rss_anon() - before) // 2**20)
"""


def _kept_mib(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    backend, kept = out.stdout.split()
    return backend, int(kept)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_freed_arrow_blocks_are_given_back() -> None:
    backend, kept = _kept_mib("tuned")
    assert backend == "system"
    assert kept < 100  # of 256 MiB allocated and freed three times


def test_tuning_twice_is_harmless() -> None:
    out = subprocess.run([sys.executable, "-c", "from threadline.allocators import tune_allocators; "
                          "tune_allocators(); tune_allocators(); import pyarrow as pa; "
                          "print(pa.default_memory_pool().backend_name)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "system"


RELEASE_PROBE = """
import sys
from threadline.allocators import release_free_memory, tune_allocators

def rss_anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) * 1024

tune_allocators()
blocks = [bytes(4000) for _ in range(50_000)]  # ~200 MiB in malloc's arenas (above pymalloc's 512 B)
kept = blocks[::64]  # live blocks all through the arena: free() alone can only trim its top
del blocks
before = rss_anon()
released = release_free_memory()
print(released, (before - rss_anon()) // 2**20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_free_memory_inside_malloc_arenas_is_given_back() -> None:
    out = subprocess.run([sys.executable, "-c", RELEASE_PROBE], capture_output=True, text=True, check=True)
    released, dropped_mib = out.stdout.split()
    assert released == "True"
    assert int(dropped_mib) > 100  # of ~195 MiB freed between live blocks


def test_releasing_without_glibc_or_twice_is_harmless() -> None:
    release_free_memory()
    assert release_free_memory() in (True, False)
