"""Detection training on Microsoft's quickstart photos (forks and scissors), served by ONNX."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from engine.backbones import resolve
from engine.boxes import box_iou
from engine.bundle import ModelBundle
from engine.detection_metrics import evaluate
from engine.detector import DetectRequest, assign_folds, train_detector
from engine.predict import Detector, Predictor, predictor_for
from engine.recipes import detection_recipe_for
from engine.train import Cancelled
from tests.training.conftest import SAMPLE, TAGS, _sample_set

# The fork in test/test_image.jpg, read off the photo by eye (left, top, width, height).
TEST_FORK = (0.11, 0.25, 0.62, 0.54)


def test_quick_detector_finds_the_fork_in_the_test_photo(fork_detector):
    _boxes, result = fork_detector
    detector = predictor_for(ModelBundle.from_bytes(result.bundle.to_bytes()))
    assert isinstance(detector, Detector)
    found = detector.detect((SAMPLE / "test" / "test_image.jpg").read_bytes())
    tag, probability, *box = found[0]
    assert TAGS[tag] == "fork" and probability > 0.5
    assert box_iou(tuple(box), TEST_FORK) > 0.5


def test_every_photo_is_scored_out_of_fold(fork_detector):
    boxes, result = fork_detector
    assert result.bundle.task == "detection" and result.bundle.export_form == "grid"
    assert len(result.detections) == len(boxes) and all(d is not None for d in result.detections)
    assert sorted(set(result.folds)) == [0, 1, 2]
    assert "3-fold" in result.metrics["estimate"]
    # The stored figures are those of the stored detections.
    figures = evaluate(boxes, result.detections, 2, threshold=0.5, overlap=0.3)
    assert result.metrics["mean_average_precision"] == round(figures.mean_average_precision, 4)
    assert figures.mean_average_precision > 0.5


def test_boxes_and_tags_at_random_get_a_low_out_of_fold_map(maps_cache):
    """Boxes placed and tagged at random teach nothing a held-out photo can confirm."""
    samples, _boxes = _sample_set()
    rng = random.Random(5)

    def box() -> tuple[int, float, float, float, float]:
        w, h = rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6)
        return rng.randrange(2), rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h

    noise = [[box()] for _ in samples]
    recipe = detection_recipe_for("General (compact)")
    backbone = resolve(recipe.torchvision, recipe.bundled)
    result = train_detector(
        DetectRequest(samples, noise, TAGS, recipe), backbone=backbone, cache=maps_cache
    )
    figures = evaluate(noise, result.detections, 2, threshold=0.5, overlap=0.5)
    assert figures.mean_average_precision < 0.2


def test_a_progress_callback_cancels_training(maps_cache):
    samples, boxes = _sample_set()
    recipe = detection_recipe_for("General (compact)")

    def stop(percent: float, phase: str) -> None:
        if phase.startswith("Cross-validating"):
            raise Cancelled

    with pytest.raises(Cancelled):
        train_detector(
            DetectRequest(samples, boxes, TAGS, recipe),
            backbone=resolve(recipe.torchvision, recipe.bundled),
            cache=maps_cache,
            progress=stop,
        )


def test_folds_are_stratified_by_tag():
    boxes = [[(0, 0.1, 0.1, 0.2, 0.2)]] * 9 + [[(1, 0.1, 0.1, 0.2, 0.2)]] * 3 + [[]] * 3
    folds = assign_folds(boxes, 3, seed=0)
    assert sorted(folds[9:12]) == [0, 1, 2] and sorted(folds[12:]) == [0, 1, 2]


def test_a_bundle_written_before_detection_loads_as_a_classifier(fork_detector):
    _boxes, result = fork_detector
    meta = result.bundle.meta()
    for key in ("task", "anchors", "export_form"):
        meta.pop(key)
    old = ModelBundle(
        onnx=result.bundle.onnx, **{k: v for k, v in meta.items() if k not in ("format", "version")}
    )
    assert ModelBundle.from_bytes(old.to_bytes()).task == "classification"
    assert isinstance(predictor_for(ModelBundle.from_bytes(old.to_bytes())), Predictor)


def _few(count: int = 6):
    """The first `count` photos of each tag: enough to run Advanced's every step quickly."""
    samples, boxes = _sample_set()
    chosen = [i for i in range(len(samples)) if i % 20 < count]
    return [samples[i] for i in chosen], [boxes[i] for i in chosen]


def test_advanced_with_no_budget_left_keeps_quicks_model_and_says_so(maps_cache):
    samples, boxes = _few()
    recipe = detection_recipe_for("General (compact)")
    request = DetectRequest(samples, boxes, TAGS, recipe, advanced=True, budget_seconds=1, folds=2)
    result = train_detector(
        request, backbone=resolve(recipe.torchvision, recipe.bundled), cache=maps_cache
    )
    assert result.kind == "frozen" and result.details["kept"] == "frozen"
    assert "Kept quick training's model" in result.details["why"]
    assert all(d is not None for d in result.detections)


def test_advanced_fine_tunes_on_the_folds_and_reports_its_choice(maps_cache):
    samples, boxes = _few()
    # One epoch per fine-tune: this test is about the steps and the reporting, not accuracy.
    recipe = dataclasses.replace(
        detection_recipe_for("General (compact)"), max_epochs=1, min_epochs=1
    )
    request = DetectRequest(
        samples, boxes, TAGS, recipe, advanced=True, budget_seconds=900, folds=2
    )
    result = train_detector(
        request, backbone=resolve(recipe.torchvision, recipe.bundled), cache=maps_cache
    )
    details = result.details
    assert details["estimated_folds"] == 2 and details["fine_tune_epochs"] == 1
    assert details["compared"]["images"] == len(samples)
    assert result.kind == details["kept"] and details["why"]
    assert "probe" in result.phases
    found = Detector(result.bundle).detect((SAMPLE / "test" / "test_image.jpg").read_bytes())
    assert all(0 <= d[2] <= d[2] + d[4] <= 1 for d in found)


def test_augmentation_moves_boxes_with_the_pixels():
    """A white box on black, cropped, mirrored and scaled: its box follows it."""
    from engine.detection_finetune import augment

    pixels = torch.zeros(1, 3, 64, 64, dtype=torch.uint8)
    pixels[:, :, 16:32, 8:24] = 255  # left 0.125, top 0.25, 0.25 × 0.25
    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        out, (moved,) = augment(pixels, [[(0, 0.125, 0.25, 0.25, 0.25)]], True, 0.0, generator)
        if not moved:
            continue
        _tag, left, top, width, height = moved[0]
        mask = out[0, 0] > 127
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert left * 64 == pytest.approx(float(cols.min()), abs=2.5)
        assert (left + width) * 64 == pytest.approx(float(cols.max()) + 1, abs=2.5)
        assert top * 64 == pytest.approx(float(rows.min()), abs=2.5)
        assert (top + height) * 64 == pytest.approx(float(rows.max()) + 1, abs=2.5)
