"""Process settings the engine needs to run at full speed on a CPU.

glibc serves every allocation above its mmap threshold (at most 32 MB, adjusted as it goes)
with a fresh mmap and returns it with munmap when freed. A training step allocates and frees
activations of hundreds of MB, so each step faulted its memory in anew, page by page, from a
zeroed kernel page: on this project's 2-core machine half of fine-tuning's CPU time went to
the kernel (sys 11 s against user 11 s for three epochs of 96 images, 23 images/s). Serving
large blocks from the heap and keeping up to 1 GB of freed heap for reuse took sys to 0.6 s
and fine-tuning to 45 images/s (`bench/cpu.py` measures it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30

_done = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed memory instead of unmapping it; True if applied.

    Harmless where it doesn't apply (another C library, another OS): nothing changes there.
    """
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = all(
        mallopt(option, value) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, _KEEP_BYTES),
            (_M_TRIM_THRESHOLD, _KEEP_BYTES),
            (_M_TOP_PAD, 64 << 20),
        )
    )
    if not applied:
        logger.info("malloc tuning not applied (not glibc?)")
    _done = applied
    return applied
