"""Training memory against project size (not a test: read the slope within one run).

Quick training of synthetic photos (a few colours, JPEG 640×480, read lazily as a worker reads
them from storage) at two sizes, each in a fresh process, printing its peak resident memory
and the growth per 1,000 images: what a 100,000-image project would take, extrapolated.
Images are decoded in chunks, never all at once; what grows with the project is the
backbone's features (1,280 floats per image and view) and the per-image bookkeeping.

    .venv/bin/python bench/train_memory.py                # 400 and 1,600 images
    .venv/bin/python bench/train_memory.py --sizes 1000 5000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLOURS = [(200, 40, 40), (40, 160, 60), (40, 70, 200), (220, 200, 40)]


def photo(index: int) -> bytes:
    """A 640×480 JPEG of one class's colour with a little texture, different every time."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(index)  # noqa: S311 (texture for synthetic photos, not a secret)
    base = COLOURS[index % len(COLOURS)]
    image = Image.new("RGB", (640, 480), base)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(600), rng.randrange(440)
        shade = tuple(max(0, min(255, c + rng.randrange(-60, 60))) for c in base)
        draw.ellipse((x, y, x + rng.randrange(20, 120), y + rng.randrange(20, 120)), fill=shade)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def child(size: int) -> dict[str, float]:
    """Train on `size` photos in this process; its peak memory and time."""
    import torch

    from engine.features import NoCache, Sample
    from engine.recipes import recipe_for
    from engine.train import TrainRequest, train

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # as a training worker does
    samples = [Sample(key=f"{i:08d}", read=lambda i=i: photo(i)) for i in range(size)]
    targets = torch.zeros(size, len(COLOURS))
    for i in range(size):
        targets[i, i % len(COLOURS)] = 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        request = TrainRequest(
            samples,
            targets,
            [f"c{i}" for i in range(len(COLOURS))],
            False,
            recipe_for("General"),
            scratch_dir=Path(scratch),
        )
        result = train(request, cache=NoCache())
    assert result.bundle is not None
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs=2, type=int, default=[400, 1600])
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    rows = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((size, result))
        print(f"{size:>7,} images: peak {result['peak_mb']:,.0f} MB, {result['seconds']:.0f} s")
    (small, a), (big, b) = rows
    per_thousand = (b["peak_mb"] - a["peak_mb"]) / (big - small) * 1000
    at_100k = a["peak_mb"] + per_thousand * (100_000 - small) / 1000
    print(f"growth: {per_thousand:.1f} MB per 1,000 images; 100,000 images ≈ {at_100k:,.0f} MB")


if __name__ == "__main__":
    main()
