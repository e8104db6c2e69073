"""tune_allocators: Arrow's freed blocks go back to the system (run in subprocesses: the setting is process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import pyarrow as pa

def rss_anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) * 1024

if sys.argv[1] == "tuned":
    from threadline.cli.memory_tuning import tune_allocators
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
    out = subprocess.run([sys.executable, "-c", "from threadline.cli.memory_tuning import tune_allocators; "
                          "tune_allocators(); tune_allocators(); import pyarrow as pa; "
                          "print(pa.default_memory_pool().backend_name)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "system"
