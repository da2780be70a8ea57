"""Precision, recall and average precision as Custom Vision defines them.

An image's predicted tags are those whose probability is at or above the threshold. Precision
is undefined (None) where nothing is predicted, recall where a tag has no images; "overall" is
micro-averaged over the scored tags, and its AP is their mean. A tag left `unscored` (Custom
Vision's Negative tag: "none of these", not a class) keeps its own row, but its hits and
misses are not the model's score: an image of it predicted as another tag still counts, as that
tag's false positive. Every number comes from out-of-fold probabilities: no image is scored by
a model that saw it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from engine.thresholds import (
    DEFAULT_THRESHOLD,
    THRESHOLD_COUNT,
    at_threshold,
    is_predicted,
    threshold_index,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "THRESHOLDS",
    "at_threshold",
    "evaluate",
    "is_predicted",
    "threshold_index",
]

THRESHOLDS = torch.tensor([i / 100 for i in range(THRESHOLD_COUNT)], dtype=torch.float64)


def rounded(probabilities: torch.Tensor) -> torch.Tensor:
    """Probabilities as compared with a threshold, rounded to 6 decimals first: a float32 0.9
    is 0.89999998, and a probability shown as 90% must count at the 90% threshold."""
    return torch.round(probabilities.double() * 1e6) / 1e6


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    out = num.double() / den.double()
    out[den == 0] = float("nan")
    return out


def pr_curves(
    truth: torch.Tensor, probs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per tag (C, T) and overall (T,) precision and recall at THRESHOLDS; NaN = undefined."""
    truth = truth.bool()
    predicted = rounded(probs)[:, :, None] >= THRESHOLDS[None, None, :]  # (N, C, T)
    tp = (predicted & truth[:, :, None]).sum(0)
    pp = predicted.sum(0)
    positives = truth.sum(0)[:, None].expand_as(tp)
    precision, recall = _ratio(tp, pp), _ratio(tp, positives)
    overall_p = _ratio(tp.sum(0), pp.sum(0))
    overall_r = _ratio(tp.sum(0), positives.sum(0))
    return precision, recall, overall_p, overall_r


def average_precision(truth: torch.Tensor, scores: torch.Tensor) -> float | None:
    """Area under the precision-recall curve as sum over thresholds of ΔR × P (no
    interpolation), with tied scores taken together. None when the tag has no images."""
    truth = truth.bool()
    positives = int(truth.sum())
    if positives == 0:
        return None
    order = torch.argsort(scores.double(), descending=True, stable=True)
    s, t = scores.double()[order], truth[order]
    tp = torch.cumsum(t.double(), 0)
    predicted = torch.arange(1, len(s) + 1, dtype=torch.float64)
    # Only the last position of each run of equal scores is a real threshold.
    last = torch.ones(len(s), dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]
    precision, recall = tp[last] / predicted[last], tp[last] / positives
    previous = torch.cat([torch.zeros(1, dtype=torch.float64), recall[:-1]])
    return float(((recall - previous) * precision).sum())


def mean_average_precision(truth: torch.Tensor, probs: torch.Tensor) -> float:
    """Mean of the per-tag APs that are defined (tags with at least one image)."""
    aps = [average_precision(truth[:, c], probs[:, c]) for c in range(truth.shape[1])]
    defined = [ap for ap in aps if ap is not None]
    return sum(defined) / len(defined) if defined else 0.0


def bootstrap_wins(
    truth: torch.Tensor, challenger: torch.Tensor, incumbent: torch.Tensor, seed: int = 0
) -> float:
    """Share of bootstrap resamples of the images in which the challenger's mean AP beats the
    incumbent's: how sure a lead measured on these images is, not just how big."""
    n, c = truth.shape
    # ~2e7 sorted elements in all: a fraction of a second for any project's size.
    resamples = int(min(200, max(20, 2e7 / max(n * c, 1))))
    generator = torch.Generator().manual_seed(seed)
    wins = 0
    for _ in range(resamples):
        rows = torch.randint(n, (n,), generator=generator)
        wins += mean_average_precision(truth[rows], challenger[rows]) > mean_average_precision(
            truth[rows], incumbent[rows]
        )
    return wins / resamples


def _std(values: list[torch.Tensor]) -> torch.Tensor:
    stacked = torch.stack(values)  # (folds, ...)
    mask = ~torch.isnan(stacked)
    count = mask.sum(0)
    filled = torch.where(mask, stacked, torch.zeros_like(stacked))
    mean = filled.sum(0) / count.clamp(min=1)
    var = torch.where(mask, (stacked - mean) ** 2, torch.zeros_like(stacked)).sum(0)
    std = torch.sqrt(var / count.clamp(min=1))
    std[count < 2] = float("nan")
    return std


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _clean(values: torch.Tensor) -> list[float | None]:
    return [None if math.isnan(v) else round(v, 4) for v in values.tolist()]


def evaluate(
    truth: torch.Tensor,
    probs: torch.Tensor,
    folds: torch.Tensor,
    unscored: Sequence[int] = (),
) -> dict[str, Any]:
    """The whole Performance table: JSON-ready, one entry per threshold 0.00 … 1.00. The
    overall figures leave out the `unscored` tags (by index)."""
    scored = [c for c in range(truth.shape[1]) if c not in set(unscored)]
    precision, recall, _, _ = pr_curves(truth, probs)
    _, _, overall_p, overall_r = pr_curves(truth[:, scored], probs[:, scored])
    fold_p, fold_r, fold_op, fold_or = [], [], [], []
    for fold in sorted(set(folds.tolist())):
        rows = folds == fold
        p, r, _, _ = pr_curves(truth[rows], probs[rows])
        _, _, op, orr = pr_curves(truth[rows][:, scored], probs[rows][:, scored])
        fold_p.append(p)
        fold_r.append(r)
        fold_op.append(op)
        fold_or.append(orr)
    aps = [average_precision(truth[:, c], probs[:, c]) for c in range(truth.shape[1])]
    defined = [ap for c, ap in enumerate(aps) if c in scored and ap is not None]
    p_std, r_std = _std(fold_p), _std(fold_r)
    return {
        "thresholds": [round(float(t), 2) for t in THRESHOLDS],
        "folds": len(fold_p),
        "unscored": sorted(set(unscored)),
        "overall": {
            "precision": _clean(overall_p),
            "recall": _clean(overall_r),
            "precision_std": _clean(_std(fold_op)),
            "recall_std": _clean(_std(fold_or)),
            "average_precision": round(sum(defined) / len(defined), 4) if defined else None,
        },
        "tags": [
            {
                "index": c,
                "image_count": int(truth[:, c].sum()),
                "precision": _clean(precision[c]),
                "recall": _clean(recall[c]),
                "precision_std": _clean(p_std[c]),
                "recall_std": _clean(r_std[c]),
                "average_precision": _round(aps[c]),
            }
            for c in range(truth.shape[1])
        ],
    }
