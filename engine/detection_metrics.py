"""Precision, recall and average precision of a detector, per tag and overall.

Pure Python and numpy, so the API computes figures at any probability and overlap threshold
from the stored out-of-fold detections (`IterationImage.detections`) without torch.

Matching, as PASCAL VOC does it: a tag's detections are taken most probable first, each
matched to the unmatched truth box of the same tag and image it overlaps most, when that
overlap (IoU) reaches `overlap`; a detection with no such box is a false positive. Precision
and recall count the detections at or above `threshold`; average precision is VOC 2010's
all-point interpolated area under the precision/recall curve of all the tag's detections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.boxes import Box, Detection, corners, iou


@dataclass(frozen=True)
class TagFigures:
    precision: float
    recall: float
    average_precision: float
    truth_count: int


@dataclass(frozen=True)
class DetectionFigures:
    per_tag: list[TagFigures]
    precision: float
    recall: float
    mean_average_precision: float
    threshold: float = 0.5
    overlap: float = 0.5


@dataclass(frozen=True)
class _Ranked:
    """One tag's detections, most probable first, with whether each matched a truth box."""

    probabilities: np.ndarray
    hits: np.ndarray  # bool
    truth_count: int


def _rank_tag(
    truth: Sequence[Sequence[Box]],
    predicted: Sequence[Sequence[Detection]],
    tag: int,
    overlap: float,
) -> _Ranked:
    boxes = [np.array([corners(*b[1:]) for b in t if b[0] == tag]).reshape(-1, 4) for t in truth]
    found = [
        (d[1], image, corners(*d[2:]))
        for image, ds in enumerate(predicted)
        for d in ds
        if d[0] == tag
    ]
    found.sort(key=lambda f: -f[0])
    used = [np.zeros(len(b), dtype=bool) for b in boxes]
    hits = np.zeros(len(found), dtype=bool)
    for rank, (_p, image, box) in enumerate(found):
        if not len(boxes[image]):
            continue
        overlaps = np.where(used[image], -1.0, iou(box, boxes[image]))
        best = int(np.argmax(overlaps))
        if overlaps[best] >= overlap:
            used[image][best] = True
            hits[rank] = True
    probabilities = np.array([f[0] for f in found], dtype=np.float64)
    return _Ranked(probabilities, hits, sum(len(b) for b in boxes))


def average_precision(hits: np.ndarray, truth_count: int) -> float:
    """All-point interpolated AP of detections ranked most probable first."""
    if truth_count == 0 or not len(hits):
        return 0.0
    true_positives = np.cumsum(hits)
    recall = true_positives / truth_count
    precision = true_positives / np.arange(1, len(hits) + 1)
    # The precision envelope: at each recall, the best precision at that recall or beyond.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    previous = np.concatenate(([0.0], recall[:-1]))
    return float(((recall - previous) * envelope).sum())


def evaluate(
    truth: Sequence[Sequence[Box]],
    predicted: Sequence[Sequence[Detection] | None],
    tag_count: int,
    *,
    threshold: float,
    overlap: float,
) -> DetectionFigures:
    """Figures over the images that have predictions (None: not estimated, left out)."""
    kept = [i for i, p in enumerate(predicted) if p is not None]
    kept_truth = [truth[i] for i in kept]
    kept_predicted = [predicted[i] or [] for i in kept]
    per_tag: list[TagFigures] = []
    total_hits = total_found = total_truth = 0
    for tag in range(tag_count):
        ranked = _rank_tag(kept_truth, kept_predicted, tag, overlap)
        above = ranked.probabilities >= threshold
        hits, found = int(ranked.hits[above].sum()), int(above.sum())
        per_tag.append(
            TagFigures(
                precision=hits / found if found else 0.0,
                recall=hits / ranked.truth_count if ranked.truth_count else 0.0,
                average_precision=average_precision(ranked.hits, ranked.truth_count),
                truth_count=ranked.truth_count,
            )
        )
        total_hits, total_found = total_hits + hits, total_found + found
        total_truth += ranked.truth_count
    aps = [t.average_precision for t in per_tag if t.truth_count > 0]
    return DetectionFigures(
        per_tag=per_tag,
        precision=total_hits / total_found if total_found else 0.0,
        recall=total_hits / total_truth if total_truth else 0.0,
        mean_average_precision=sum(aps) / len(aps) if aps else 0.0,
        threshold=threshold,
        overlap=overlap,
    )


def figures_json(figures: DetectionFigures) -> dict[str, Any]:
    """Plain JSON for `Iteration.metrics`."""
    return {
        "threshold": figures.threshold,
        "overlap": figures.overlap,
        "precision": round(figures.precision, 4),
        "recall": round(figures.recall, 4),
        "mean_average_precision": round(figures.mean_average_precision, 4),
        "tags": [
            {
                "index": index,
                "precision": round(tag.precision, 4),
                "recall": round(tag.recall, 4),
                "average_precision": round(tag.average_precision, 4),
                "truth_count": tag.truth_count,
            }
            for index, tag in enumerate(figures.per_tag)
        ],
    }


def image_matches(
    truth: Sequence[Box], predicted: Sequence[Detection], *, threshold: float, overlap: float
) -> tuple[list[bool], list[bool]]:
    """One image's boxes as `evaluate` matches them at `threshold` and `overlap`: whether each
    truth box was found, and whether each detection at or above `threshold` hit one (those
    below are False). The same matching as `_rank_tag`: within one image a tag's detections
    meet its truth boxes most probable first, and detections below the threshold come after
    every one above it, so they take nothing from them (the Performance page's drawn mistakes
    agree with its figures)."""
    found = [False] * len(truth)
    hits = [False] * len(predicted)
    order = sorted(range(len(predicted)), key=lambda i: -predicted[i][1])
    for i in order:
        tag, probability, *box = predicted[i]
        if probability < threshold:
            break
        same = [j for j, t in enumerate(truth) if t[0] == tag]
        if not same:
            continue
        boxes = np.array([corners(*truth[j][1:]) for j in same])
        used = np.array([found[j] for j in same])
        overlaps = np.where(used, -1.0, iou(corners(*box), boxes))
        best = int(np.argmax(overlaps))
        if overlaps[best] >= overlap:
            found[same[best]] = True
            hits[i] = True
    return found, hits
