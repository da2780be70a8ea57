"""Every image of one training decoded once, as uint8 squares, in bounded memory.

The squares live in a memory-mapped file (3 × 256² bytes each for a 224 px backbone, so
100,000 images are ~20 GB of disk and only what is being read of RAM), and are copied to the
GPU whole when they fit in a fraction of its free memory: then a training batch is one
indexing op on the device, with no host work at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from engine.data import Sample, square
from engine.pixels import square_size

# Share of the GPU's free memory the squares may take; the rest is for the model's activations.
GPU_SHARE = 0.3


def decode_threads() -> int:
    # Decoding (libjpeg, Pillow's resize) releases the GIL, so threads scale with the cores
    # this process may use; torch's own count is what the process was given on purpose.
    return max(1, min(torch.get_num_threads(), len(os.sched_getaffinity(0))))


def decode_squares(
    samples: Sequence[Sample], input_size: int, pool: ThreadPoolExecutor | None = None
) -> list[torch.Tensor]:
    """Squares of a few samples, decoded in parallel (a chunk, never a whole training)."""
    if pool is None:
        with ThreadPoolExecutor(max_workers=decode_threads()) as own:
            return decode_squares(samples, input_size, own)
    return list(pool.map(lambda s: square(s.read(), input_size), samples))


def _free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class SquareStore:
    """uint8 (N, 3, S, S) squares of a training's images, indexed like its samples."""

    def __init__(self, path: Path, count: int, input_size: int) -> None:
        self.side = square_size(input_size)
        self.input_size = input_size
        self.count = count
        size = count * 3 * self.side * self.side
        self.path = path
        self.host = torch.from_file(str(path), shared=True, size=size, dtype=torch.uint8).view(
            count, 3, self.side, self.side
        )
        self.resident: torch.Tensor | None = None  # the whole store on the GPU, when it fits

    @classmethod
    def build(
        cls,
        samples: Sequence[Sample],
        input_size: int,
        directory: Path,
        on_progress: Callable[[int, int], None] = lambda done, total: None,
        chunk: int = 64,
    ) -> SquareStore:
        store = cls(directory / "squares.u8", len(samples), input_size)
        with ThreadPoolExecutor(max_workers=decode_threads()) as pool:
            for start in range(0, len(samples), chunk):
                part = samples[start : start + chunk]
                for offset, pixels in enumerate(decode_squares(part, input_size, pool)):
                    store.host[start + offset] = pixels
                on_progress(min(start + chunk, len(samples)), len(samples))
        return store

    @property
    def nbytes(self) -> int:
        return self.host.numel()

    def place(self, device: torch.device, *, resident: bool) -> None:
        """Copy the squares to the device when `resident` (the GPU path) and they fit
        comfortably; otherwise batches are gathered from the mapped file (on CUDA into pinned
        memory, copied without blocking)."""
        if not resident:
            return
        if self.nbytes > GPU_SHARE * _free_bytes(device):
            return
        copy = torch.empty_like(self.host, device=device)
        for start in range(0, self.count, 1024):
            part = self.host[start : start + 1024]
            copy[start : start + 1024].copy_(part.pin_memory() if device.type == "cuda" else part)
        self.resident = copy

    def gather(self, rows: torch.Tensor, device: torch.device) -> torch.Tensor:
        """uint8 (B, 3, S, S) on `device` for these sample indices."""
        if self.resident is not None:
            return self.resident[rows.to(self.resident.device)]
        batch = self.host[rows]
        if device.type == "cuda":
            return batch.pin_memory().to(device, non_blocking=True)
        return batch
