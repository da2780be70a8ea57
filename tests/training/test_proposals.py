"""Class-agnostic proposals: no model, yet boxes around the objects, ranked by confidence."""

from __future__ import annotations

import json

from PIL import Image, ImageDraw

from engine.boxes import box_iou
from engine.proposals import propose
from tests.training.conftest import SAMPLE


def test_a_box_on_a_plain_background_is_the_top_proposal():
    image = Image.new("RGB", (400, 300), (200, 205, 210))
    ImageDraw.Draw(image).rectangle([100, 120, 219, 239], fill=(160, 40, 30))
    top = propose(image)[0]
    assert box_iou(top[1:], (0.25, 0.4, 0.3, 0.4)) > 0.5
    assert 0 < top[0] <= 1


def test_the_quickstart_objects_are_among_the_first_two_proposals():
    regions = json.loads((SAMPLE / "regions.json").read_text())
    found = 0
    for name, region in regions.items():
        proposals = propose(Image.open(SAMPLE / region["tag"] / name), limit=10)
        truth = (region["left"], region["top"], region["width"], region["height"])
        confidences = [p[0] for p in proposals]
        assert confidences == sorted(confidences, reverse=True) and len(proposals) <= 10
        found += any(box_iou(p[1:], truth) >= 0.5 for p in proposals[:2])
    assert found >= 0.9 * len(regions)


def test_a_blank_photo_gets_no_confident_proposal():
    proposals = propose(Image.new("RGB", (320, 240), (120, 120, 120)))
    assert all(p[0] < 0.05 for p in proposals)
