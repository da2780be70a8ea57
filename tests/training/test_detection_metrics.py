"""Detection figures against values worked out by hand, and against chance."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.detection_metrics import average_precision, evaluate, figures_json, image_matches

TRUTH = [
    [(0, 0.1, 0.1, 0.3, 0.3)],
    [(0, 0.5, 0.5, 0.3, 0.3), (1, 0.0, 0.0, 0.2, 0.2)],
]


def test_precision_recall_and_ap_by_hand():
    predicted = [
        [(0, 0.9, 0.1, 0.1, 0.3, 0.3), (0, 0.6, 0.11, 0.1, 0.3, 0.3)],  # a hit, then a duplicate
        [(0, 0.4, 0.5, 0.5, 0.3, 0.3), (1, 0.7, 0.6, 0.6, 0.2, 0.2)],  # a hit; tag 1 misplaced
    ]
    figures = evaluate(TRUTH, predicted, 2, threshold=0.5, overlap=0.5)
    tag0, tag1 = figures.per_tag
    # Tag 0 at 0.5: 0.9 (hit) and 0.6 (duplicate): precision 1/2, recall 1/2.
    assert (tag0.precision, tag0.recall, tag0.truth_count) == (0.5, 0.5, 2)
    # AP over all of tag 0's detections: hit, miss, hit → 0.5 × 1 + 0.5 × 2/3.
    assert tag0.average_precision == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert (tag1.precision, tag1.recall, tag1.average_precision) == (0.0, 0.0, 0.0)
    assert figures.mean_average_precision == pytest.approx((0.5 + 1 / 3) / 2)
    # Micro: 1 hit of 3 detections at 0.5, of 3 truth boxes.
    assert figures.precision == pytest.approx(1 / 3) and figures.recall == pytest.approx(1 / 3)


def test_overlap_threshold_decides_a_loose_box():
    predicted = [[(0, 0.9, 0.18, 0.18, 0.3, 0.3)], None]  # IoU with the truth 0.37
    strict = evaluate(TRUTH, predicted, 2, threshold=0.5, overlap=0.5)
    loose = evaluate(TRUTH, predicted, 2, threshold=0.5, overlap=0.3)
    assert strict.per_tag[0].recall == 0 and loose.per_tag[0].recall == 1
    # The image without predictions is left out: tag 1 has no truth there, so no AP counts.
    assert loose.per_tag[1].truth_count == 0 and loose.mean_average_precision == 1


def test_average_precision_of_a_perfect_and_an_empty_ranking():
    assert average_precision(np.array([True, True]), 2) == 1
    assert average_precision(np.array([], dtype=bool), 3) == 0


def test_figures_json_is_plain():
    figures = evaluate(TRUTH, [[], []], 2, threshold=0.5, overlap=0.3)
    data = figures_json(figures)
    assert data["mean_average_precision"] == 0 and data["tags"][1]["truth_count"] == 1
    assert data["overlap"] == 0.3


def test_boxes_and_tags_at_random_score_low():
    """Detections that know nothing of the truth (random places, random tags) earn a low mAP."""
    rng = random.Random(0)

    def box() -> tuple[float, float, float, float]:
        w, h = rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.5)
        return rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h

    truth = [[(rng.randrange(3), *box())] for _ in range(200)]
    predicted = [[(rng.randrange(3), rng.random(), *box()) for _ in range(3)] for _ in range(200)]
    figures = evaluate(truth, predicted, 3, threshold=0.5, overlap=0.5)
    assert figures.mean_average_precision < 0.1


def test_one_images_matches_are_the_figures_counts():
    """The Performance page draws each image's found, missed and false boxes with
    `image_matches`: summed over the images they are `evaluate`'s counts."""
    rng = random.Random(7)
    truth, predicted = [], []
    for _ in range(30):
        truth.append([(rng.randrange(2), rng.uniform(0, 0.5), rng.uniform(0, 0.5), 0.3, 0.3)])
        predicted.append(
            [
                (rng.randrange(2), rng.choice([0.3, 0.6, 0.6, 0.9]), *t[1:3], 0.3, 0.3 + d)
                for t in truth[-1] * 2
                for d in (rng.uniform(0, 0.4),)
            ]
        )
    for threshold, overlap in ((0.5, 0.5), (0.3, 0.7), (0.7, 0.3)):
        figures = evaluate(truth, predicted, 2, threshold=threshold, overlap=overlap)
        for tag, numbers in enumerate(figures.per_tag):
            hits = found = misses = 0
            for t, p in zip(truth, predicted, strict=True):
                matched, hit = image_matches(t, p, threshold=threshold, overlap=overlap)
                hits += sum(h for d, h in zip(p, hit, strict=True) if d[0] == tag)
                found += sum(1 for d in p if d[0] == tag and d[1] >= threshold)
                misses += sum(1 for b, m in zip(t, matched, strict=True) if b[0] == tag and not m)
            assert numbers.precision == (hits / found if found else 0.0)
            assert numbers.recall == pytest.approx(1 - misses / numbers.truth_count)
            assert numbers.recall == hits / numbers.truth_count
