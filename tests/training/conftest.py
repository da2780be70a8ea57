"""What the engine's detection tests share: Microsoft's quickstart photos with their boxes, their
trunk maps and one Quick detector trained on them, computed once per session rather than once
per module (tests/training/test_detector.py, test_detection_export.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from engine.backbones import resolve
from engine.detector import DetectRequest, train_detector
from engine.features import DirectoryCache, Sample
from engine.recipes import detection_recipe_for

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "custom-vision-od-sample"
TAGS = ["fork", "scissors"]


def _sample_set() -> tuple[list[Sample], list[list[tuple[int, float, float, float, float]]]]:
    regions = json.loads((SAMPLE / "regions.json").read_text())
    samples, boxes = [], []
    for name, region in sorted(regions.items()):
        data = (SAMPLE / region["tag"] / name).read_bytes()
        samples.append(Sample(hashlib.sha256(data).hexdigest(), lambda d=data: d))
        box = (region["left"], region["top"], region["width"], region["height"])
        boxes.append([(TAGS.index(region["tag"]), *box)])
    return samples, boxes


@pytest.fixture(scope="session")
def maps_cache(tmp_path_factory):
    """The trunk's maps of the quickstart photos, computed once for every detection test."""
    return DirectoryCache(tmp_path_factory.mktemp("maps"))


@pytest.fixture(scope="session")
def fork_detector(maps_cache):
    """One Quick detector of General (compact) on the 40 quickstart photos."""
    torch.set_num_threads(2)
    samples, boxes = _sample_set()
    recipe = detection_recipe_for("General (compact)")
    request = DetectRequest(samples, boxes, TAGS, recipe)
    backbone = resolve(recipe.torchvision, recipe.bundled)
    return boxes, train_detector(request, backbone=backbone, cache=maps_cache)
