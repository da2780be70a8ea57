"""Grocery-store data for the benchmarks (../shared/datasets/grocery-store)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from engine.features import Sample

ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "grocery-store"


def load_split(split: str) -> tuple[list[Path], list[int], list[str]]:
    """Image paths, fine class ids (0..80) and class names for "train" or "val"."""
    names: dict[int, str] = {}
    for line in (ROOT / "classes.csv").read_text().splitlines()[1:]:
        parts = [p.strip() for p in line.split(",")]
        names[int(parts[1])] = parts[0]
    paths, labels = [], []
    for line in (ROOT / f"{split}.txt").read_text().splitlines():
        if not line.strip():
            continue
        path, fine, _coarse = (p.strip() for p in line.split(","))
        paths.append(ROOT / path)
        labels.append(int(fine))
    return paths, labels, [names[i] for i in range(len(names))]


def samples_and_targets(
    paths: list[Path], labels: list[int], classes: int
) -> tuple[list[Sample], torch.Tensor]:
    # Keyed by content, as the product does: train and val reuse file names.
    samples = [
        Sample(key=hashlib.sha256(p.read_bytes()).hexdigest(), read=p.read_bytes) for p in paths
    ]
    targets = torch.zeros(len(paths), classes)
    targets[torch.arange(len(paths)), torch.tensor(labels)] = 1
    return samples, targets
