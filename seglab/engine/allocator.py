"""Keep freed memory in the process heap (glibc) so large CPU tensors reuse it instead of fresh kernel pages.

By default glibc serves every allocation above its mmap threshold (at most 32 MiB, adjusted at run time)
with a fresh ``mmap`` and gives it back with ``munmap`` on free. A CPU forward allocates and frees many
activations of that size, and each one then costs the kernel page faults and zeroing of every page:
measured ~0.5 s of system time per DeepLabV3+-R50 512x512 forward (docs/inference.md). With
``M_MMAP_MAX = 0`` those blocks come from the heap, and a large ``M_TRIM_THRESHOLD`` keeps freed heap
at the top instead of returning it to the OS, so the next tensor reuses pages that are already mapped.
The cost: the process's resident memory stays at its peak.

Process-wide, so one switch for the process: ``SEGLAB_RETAIN_HEAP=0`` never applies it; the config key
``retain_heap = False`` (``init_model(..., retain_heap=False)``) keeps a run from applying it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

__all__ = ["ENV_VAR", "retain_freed_memory"]

ENV_VAR = "SEGLAB_RETAIN_HEAP"
# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 1 << 30  # freed memory at the top of the heap beyond 1 GiB still goes back to the OS

logger = logging.getLogger(__name__)
_active = False


def retain_freed_memory() -> bool:
    """Make glibc keep freed memory in the heap for reuse (once per process); whether it is active."""
    global _active
    if _active:
        return True
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if platform.libc_ver()[0] != "glibc":  # macOS, musl, Windows: their allocators have no mallopt
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # No mmap'ed blocks: large blocks come from the heap (brk). Should brk fail (address space
    # exhausted), glibc falls back to mmap for the arena anyway, so no allocation fails because of this.
    if mallopt(_M_MMAP_MAX, 0) != 1 or mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) != 1:
        return False
    _active = True
    logger.info("glibc malloc keeps freed memory for reuse (no mmap per large tensor, trim above 1 GiB); "
                "%s=0 or retain_heap=False turns it off", ENV_VAR)
    return True
