"""Grid decoding and suppression against Microsoft's export sample, which they must match."""

from __future__ import annotations

import numpy as np
import pytest

from engine.boxes import ANCHORS, box_iou, decode, nms
from tests.training.detection_samples import sample_module


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return sample_module("object_detection", tmp_path_factory.mktemp("sample"))


def _grid(seed: int, classes: int = 3, side: int = 13) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = rng.normal(0, 2, size=(len(ANCHORS) * (5 + classes), side, side)).astype(np.float32)
    # The graph's x, y offsets are already sigmoid-ed: in 0..1.
    view = grid.reshape(len(ANCHORS), 5 + classes, side, side)
    view[:, :2] = 1 / (1 + np.exp(-view[:, :2]))
    return grid


def test_anchors_are_the_samples():
    assert np.array_equal(ANCHORS, _sample_anchors())


def _sample_anchors() -> np.ndarray:
    from tests.training.detection_samples import SAMPLES

    text = (SAMPLES / "object_detection" / "predict.py.txt").read_text()
    line = next(x for x in text.splitlines() if "ANCHORS = np.array" in x)
    return np.array(eval(line.split("=", 1)[1].replace("np.array", "")))  # noqa: S307


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decode_and_nms_give_the_samples_boxes(sample, seed):
    grid = _grid(seed)
    # The sample sets its suppression up in __init__, which needs a model file.
    model = sample.Model.__new__(sample.Model)
    model.nms = sample.NonMaxSuppression(64, 0.01, 0.45)
    expected = model._postprocess(grid[None], ANCHORS)
    boxes, probs = decode(grid)
    found = nms(boxes, probs)
    assert len(found) == expected["detected_boxes"].shape[1] > 0
    for detection, box, tag, score in zip(
        found,
        expected["detected_boxes"][0],
        expected["detected_classes"][0],
        expected["detected_scores"][0],
        strict=True,
    ):
        clipped = np.clip(box, 0, 1)
        assert detection[0] == tag
        assert detection[1] == pytest.approx(score, rel=1e-5)
        left, top, width, height = detection[2:]
        assert [left, top, left + width, top + height] == pytest.approx(clipped, abs=1e-6)


def test_nms_keeps_the_best_of_overlapping_boxes_and_respects_the_floor():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.52], [0.6, 0.6, 0.9, 0.9]])
    probs = np.array([[0.8, 0.1], [0.1, 0.9], [0.005, 0.004]])
    found = nms(boxes, probs)
    # The second box (0.9, tag 1) wins; the first overlaps it and goes; the third is too faint.
    assert [(d[0], round(d[1], 3)) for d in found] == [(1, 0.9)]
    assert nms(boxes, probs, iou_threshold=0.99)[1][0] == 0


def test_boxes_are_clipped_to_the_image():
    (found,) = nms(np.array([[-0.2, 0.5, 0.5, 1.3]]), np.array([[0.7]]))
    assert found[2:] == pytest.approx((0.0, 0.5, 0.5, 0.5))


def test_iou_by_hand():
    assert box_iou((0, 0, 0.5, 0.5), (0.25, 0, 0.5, 0.5)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 0.1, 0.1), (0.5, 0.5, 0.1, 0.1)) == 0
