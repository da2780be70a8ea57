"""Metric code against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from engine.metrics import (
    at_threshold,
    average_precision,
    bootstrap_wins,
    evaluate,
    is_predicted,
    mean_average_precision,
    pr_curves,
    threshold_index,
)

TRUTH = torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1]])
PROBS = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]])


def test_precision_and_recall_at_thresholds():
    precision, recall, overall_p, overall_r = pr_curves(TRUTH, PROBS)
    # At 0.50 each tag is predicted for two images, one of them right.
    assert precision[0, 50] == pytest.approx(0.5) and recall[0, 50] == pytest.approx(0.5)
    assert precision[1, 50] == pytest.approx(0.5) and recall[1, 50] == pytest.approx(0.5)
    assert overall_p[50] == pytest.approx(0.5) and overall_r[50] == pytest.approx(0.5)
    # At 0.00 everything is predicted: recall 1, precision = share of positives.
    assert precision[0, 0] == pytest.approx(0.5) and recall[0, 0] == 1
    # "At or above": 0.90 still predicts the 0.9 image (one right out of one).
    assert precision[0, 90] == 1 and recall[0, 90] == pytest.approx(0.5)
    # Above every probability nothing is predicted: precision undefined, recall 0.
    assert math.isnan(precision[0, 95]) and recall[0, 95] == 0


def test_average_precision_by_hand():
    # Tag 0 ranked: 0.9 (yes), 0.8 (no), 0.4 (yes), 0.3 (no): 0.5 × 1 + 0.5 × 2/3.
    assert average_precision(TRUTH[:, 0], PROBS[:, 0]) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision(torch.tensor([1, 1, 0]), torch.tensor([0.9, 0.8, 0.1])) == 1.0
    # Tied scores are one threshold: precision 1/2 at recall 1.
    assert average_precision(torch.tensor([1, 0]), torch.tensor([0.5, 0.5])) == 0.5
    assert average_precision(torch.tensor([0, 0]), torch.tensor([0.5, 0.2])) is None


def test_evaluate_reports_tables_means_and_fold_spread():
    metrics = evaluate(TRUTH, PROBS, folds=torch.tensor([0, 0, 1, 1]))
    assert len(metrics["thresholds"]) == 101 and metrics["thresholds"][50] == 0.5
    assert metrics["folds"] == 2
    tag0 = metrics["tags"][0]
    assert tag0["image_count"] == 2
    assert tag0["average_precision"] == pytest.approx(0.8333, abs=1e-4)
    assert metrics["overall"]["average_precision"] == pytest.approx(0.8333, abs=1e-4)
    # Fold 0 (images 0, 1): tag 0 precision 1 at 0.5; fold 1 (images 2, 3): 0. Spread 0.5.
    assert tag0["precision_std"][50] == pytest.approx(0.5)
    # Recall of tag 0 is undefined in fold 1 (no positives): no spread from one fold.
    assert tag0["recall_std"][50] is None
    assert tag0["precision"][95] is None
    numbers = at_threshold(metrics, 0.5)
    assert numbers["overall"]["precision"] == 0.5
    assert numbers["tags"][1]["recall"] == 0.5


def test_one_rule_decides_what_is_predicted_at_a_threshold():
    # A float32 0.9 is 0.89999998: shown as 90 %, it counts at the 90 % threshold.
    assert is_predicted(float(torch.tensor(0.9, dtype=torch.float32)), 0.9)
    assert not is_predicted(0.8999, 0.9)
    assert threshold_index(0.5) == 50 and threshold_index(1.7) == 100
    # The table's row for a threshold agrees with the rule, for every image.
    precision, _, _, _ = pr_curves(TRUTH, PROBS)
    for threshold in (0.3, 0.4, 0.6, 0.9):
        predicted = [is_predicted(float(p), threshold) for p in PROBS[:, 0]]
        right = sum(bool(t) and p for t, p in zip(TRUTH[:, 0], predicted, strict=True))
        expected = right / sum(predicted) if any(predicted) else math.nan
        got = float(precision[0, threshold_index(threshold)])
        assert got == pytest.approx(expected, nan_ok=True)


def test_bootstrap_wins_tells_a_real_lead_from_noise():
    generator = torch.Generator().manual_seed(0)
    truth = torch.zeros(200, 2)
    truth[torch.arange(200), torch.randint(2, (200,), generator=generator)] = 1
    perfect = truth * 0.8 + 0.1
    noise = torch.rand(200, 2, generator=generator)
    assert mean_average_precision(truth, perfect) == 1.0
    assert bootstrap_wins(truth, perfect, noise) == 1.0
    assert bootstrap_wins(truth, noise, perfect) == 0.0
    other_noise = torch.rand(200, 2, generator=generator)
    assert 0.05 < bootstrap_wins(truth, noise, other_noise) < 0.95


def test_an_unscored_tag_keeps_its_row_but_stays_out_of_the_overall_figures():
    # A third tag, Negative (Custom Vision's "none of these"), on a fifth image.
    truth = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]])
    probs = torch.tensor(
        [[0.9, 0.1, 0.2], [0.4, 0.6, 0.2], [0.3, 0.7, 0.2], [0.8, 0.2, 0.2], [0.3, 0.6, 0.1]]
    )
    metrics = evaluate(truth, probs, torch.tensor([0, 0, 1, 1, 1]), unscored=[2])

    assert metrics["unscored"] == [2]
    assert metrics["tags"][2]["image_count"] == 1  # its row stays
    # Overall AP is the two classes' mean, not pulled down by the Negative tag's 0 ...
    assert metrics["tags"][2]["average_precision"] == pytest.approx(0.2)
    assert metrics["overall"]["average_precision"] == pytest.approx(
        (metrics["tags"][0]["average_precision"] + metrics["tags"][1]["average_precision"]) / 2,
        abs=1e-4,
    )
    # ... and precision and recall count the two classes only, the Negative image included:
    # predicted as the second tag at 0.5, it is that tag's false positive.
    _p, _r, overall_p, overall_r = pr_curves(truth[:, :2], probs[:, :2])
    assert metrics["overall"]["precision"][50] == pytest.approx(float(overall_p[50]), abs=1e-4)
    assert metrics["overall"]["precision"][50] == pytest.approx(2 / 5)
    assert metrics["overall"]["recall"][50] == pytest.approx(float(overall_r[50]), abs=1e-4)
