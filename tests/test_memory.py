"""The node's allocator settings (``assistant.memory``): on glibc they take, and the pages freed by
a call's buffers go back to the system when ``release_free_memory`` runs (what the soak's flat
memory relies on; bench/soak.py measures the node as a whole)."""

from __future__ import annotations

import gc
from pathlib import Path

from assistant.memory import release_free_memory, tune_allocator


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_allocator_is_tuned_on_glibc():
    assert tune_allocator() is True


def test_freed_buffers_pages_go_back_to_the_system():
    tune_allocator()
    # 200 MiB of 64 KiB buffers (under the mmap threshold: they live in the heap), every tenth kept
    # so the freed ones are holes the heap cannot give back by shrinking from its top.
    buffers = [bytearray(64 * 1024) for _ in range(3200)]
    for block in buffers:
        block[::4096] = b"\x01" * len(block[::4096])  # touch every page: resident
    kept = buffers[::10]
    del buffers
    gc.collect()
    before = rss_mib()
    release_free_memory()
    after = rss_mib()
    assert before - after > 100, (before, after)
    assert len(kept) == 320
