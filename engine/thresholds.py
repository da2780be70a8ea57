"""The probability-threshold rule and the per-threshold table's layout, in plain Python: the
web tier reads stored figures with these and never needs torch (`metrics.py` computes them)."""

from __future__ import annotations

from typing import Any

THRESHOLD_COUNT = 101  # 0 %, 1 %, … 100 %
DEFAULT_THRESHOLD = 0.5  # where the Performance tab opens, and Azure's default


def rounded(probability: float) -> float:
    """A probability as compared with a threshold, rounded to 6 decimals first: a float32 0.9
    is 0.89999998, and a probability shown as 90% must count at the 90% threshold. (Python's
    round is round-half-even on the double, as torch.round is in `metrics.rounded`.)"""
    return round(float(probability) * 1e6) / 1e6


def is_predicted(probability: float, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """The one rule for whether a tag is predicted: its rounded probability ≥ threshold."""
    return rounded(probability) >= threshold


def threshold_index(threshold: float) -> int:
    """The row of the per-threshold table for `threshold`."""
    return min(max(round(threshold * 100), 0), THRESHOLD_COUNT - 1)


def at_threshold(metrics: dict[str, Any], threshold: float) -> dict[str, Any]:
    """The numbers shown for one threshold (what Azure's GetIterationPerformance returns)."""
    index = threshold_index(threshold)

    def pick(block: dict[str, Any]) -> dict[str, Any]:
        return {
            "precision": block["precision"][index],
            "recall": block["recall"][index],
            "precision_std": block["precision_std"][index],
            "recall_std": block["recall_std"][index],
            "average_precision": block["average_precision"],
        }

    return {
        "overall": pick(metrics["overall"]),
        "tags": [pick(t) | {"image_count": t["image_count"]} for t in metrics["tags"]],
    }
