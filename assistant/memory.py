"""Native memory of a long-running node. The speech, embedding and VAD libraries allocate and free
large buffers from many threads; with glibc's defaults each thread may grow its own arena and
freed pages stay with the process, so a node's resident memory creeps up call after call though
nothing leaks (bench/soak.py measured +31–36 % in 10 minutes; Python's own heap stayed flat under
tracemalloc). Two arenas instead of eight per core, and the free pages handed back to the system
after each call, keep it flat."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 — present in glibc only (musl, macOS: nothing to tune)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


def tune_allocator(arenas: int = 2) -> bool:
    """Call once at start-up, before the models' threads exist. False where the C library is not
    glibc (nothing done). The mmap threshold is left dynamic: fixing it low sends the models'
    per-operation buffers to mmap, and the page faults cost about 15 % of decoding time."""
    if _LIBC is None:
        return False
    ok = bool(_LIBC.mallopt(M_ARENA_MAX, arenas))
    log.info("allocator tuned", extra={"arenas": arenas, "ok": ok})
    return ok


def release_free_memory() -> None:
    """Give the allocator's free pages back to the system (glibc ``malloc_trim``)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class MemoryReleaser:
    """A call observer (``sessions.CallObserver``): after each call, its buffers' pages go back."""

    async def on_end(self, session) -> None:
        await asyncio.to_thread(release_free_memory)
