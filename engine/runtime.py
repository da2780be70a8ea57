"""Process settings: glibc's malloc for training (keep freed memory) and for the processes
that decode users' images (give it back).

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
from collections.abc import Callable

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30
# Below a megabyte the heap serves it (small objects, a thumbnail's pixels); Pillow's blocks of
# a decoded photo and uploads' bytes are above, mapped on their own and unmapped when freed.
RETURN_THRESHOLD = 1 << 20

_done = False


def _mallopt() -> Callable[[int, int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        mallopt: Callable[[int, int], int] = ctypes.CDLL(name or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None
    return mallopt


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed memory instead of unmapping it; True if applied.

    Harmless where it doesn't apply (another C library, another OS): nothing changes there.
    """
    global _done
    if _done:
        return True
    mallopt = _mallopt()
    if mallopt is None:
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


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold at RETURN_THRESHOLD, for a web or light worker process; True
    if applied.

    glibc serves an allocation above its mmap threshold with mmap and unmaps it when freed. The
    threshold starts at 128 KB and rises to the size of any mapped block that is freed (up to
    32 MB): after the first large image, Pillow's 16 MB blocks of pixels come from the heap,
    and freed heap between live allocations, or in another thread's arena, stays with the
    process. Web workers that had decoded large PNGs for half a minute kept 2.8 and 2.9 GB. A
    fixed threshold stops the rise, so a decoded image's memory goes back when it is freed.
    The training worker wants the opposite (`keep_freed_memory`) and never calls this.
    """
    mallopt = _mallopt()
    if mallopt is None:
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, RETURN_THRESHOLD) == 1)
    if not applied:
        logger.info("malloc tuning not applied (not glibc?)")
    return applied
