"""Boxes of a detector's grid output: decoding, non-maximum suppression, overlap.

numpy only (no torch): the web tier decodes and suppresses what ONNX Runtime returns. The
decoding and the suppression are those of Microsoft's sample script for exported Custom Vision
detectors (customvision-export-samples, `samples/python/onnx/object_detection/predict.py`), so
the server's boxes are the boxes that script prints for the same graph.

Conventions (shared with the rest of the project):
- a `Box` is (tag_index, left, top, width, height), normalised to the image, origin top-left;
- a `Detection` is (tag_index, probability, left, top, width, height), clipped to the image.
"""

from __future__ import annotations

import numpy as np

Box = tuple[int, float, float, float, float]
Detection = tuple[int, float, float, float, float, float]

# Azure's anchors (width, height in grid cells), as the export sample has them.
ANCHORS = np.array([[0.573, 0.677], [1.87, 2.06], [3.34, 5.47], [7.88, 3.53], [9.77, 9.17]])

MAX_DETECTIONS = 64
PROB_THRESHOLD = 0.01
IOU_THRESHOLD = 0.45


def _logistic(x: np.ndarray) -> np.ndarray:
    # Written so neither branch overflows, as the sample does.
    e = np.exp(-np.abs(x))
    return np.where(x > 0, 1 / (1 + e), e / (1 + e))


def decode(grid: np.ndarray, anchors: np.ndarray = ANCHORS) -> tuple[np.ndarray, np.ndarray]:
    """One image's raw grid `(A*(5+C), H, W)` → boxes `(M, 4)` x1,y1,x2,y2 normalised and class
    probabilities `(M, C)` (softmax × sigmoid(objectness)), M = H*W*A, in the sample's order.

    x and y offsets come out of the graph already sigmoid-ed; w, h = exp(t) · anchor / size.
    """
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim == 4:
        (grid,) = grid
    count = len(anchors)
    channels, height, width = grid.shape
    if channels % count:
        raise ValueError(f"{channels} channels are not a multiple of {count} anchors.")
    classes = channels // count - 5
    out = grid.transpose(1, 2, 0).reshape(height, width, count, -1)
    x = (out[..., 0] + np.arange(width)[None, :, None]) / width
    y = (out[..., 1] + np.arange(height)[:, None, None]) / height
    w = np.exp(out[..., 2]) * anchors[:, 0][None, None, :] / width
    h = np.exp(out[..., 3]) * anchors[:, 1][None, None, :] / height
    x, y = x - w / 2, y - h / 2
    boxes = np.stack((x, y, x + w, y + h), axis=-1).reshape(-1, 4)
    objectness = _logistic(out[..., 4, None])
    logits = out[..., 5:]
    exps = np.exp(logits - logits.max(axis=3, keepdims=True))
    probs = exps / exps.sum(axis=3, keepdims=True) * objectness
    return boxes, probs.reshape(-1, classes)


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one x1,y1,x2,y2 box `(4,)` with each of `others` `(K, 4)`."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    xy = np.maximum(box[:2], others[:, :2])
    xy2 = np.minimum(box[2:4], others[:, 2:4])
    wh = np.maximum(0.0, xy2 - xy)
    overlap = wh[:, 0] * wh[:, 1]
    area = max(0.0, float((box[2] - box[0]) * (box[3] - box[1])))
    areas = np.clip(others[:, 2] - others[:, 0], 0, None) * np.clip(
        others[:, 3] - others[:, 1], 0, None
    )
    union = area + areas - overlap
    return np.where(union > 0, overlap / np.where(union > 0, union, 1.0), 0.0)


def corners(left: float, top: float, width: float, height: float) -> np.ndarray:
    """A left, top, width, height box as x1, y1, x2, y2."""
    return np.array([left, top, left + width, top + height], dtype=np.float64)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two left, top, width, height boxes."""
    return float(iou(corners(*a), corners(*b)[None])[0])


def nms(
    boxes: np.ndarray,
    class_probs: np.ndarray,
    *,
    max_detections: int = MAX_DETECTIONS,
    prob_threshold: float = PROB_THRESHOLD,
    iou_threshold: float = IOU_THRESHOLD,
) -> list[Detection]:
    """The sample's greedy suppression: each box keeps its likeliest class; the most probable
    box is taken and every box overlapping it by more than `iou_threshold` (whatever its class)
    is dropped, until `max_detections` or nothing above `prob_threshold` is left.
    Returned as Detections, most probable first, clipped to the image."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    class_probs = np.asarray(class_probs, dtype=np.float64)
    if not len(boxes):
        return []
    classes = np.argmax(class_probs, axis=1)
    probs = class_probs[np.arange(len(class_probs)), classes]
    keep = probs > prob_threshold
    boxes, classes, probs = boxes[keep], classes[keep], probs[keep].copy()
    found: list[Detection] = []
    while len(found) < min(max_detections, len(boxes)):
        i = int(np.argmax(probs))
        if probs[i] < prob_threshold:
            break
        found.append(_detection(int(classes[i]), float(probs[i]), boxes[i]))
        probs[iou(boxes[i], boxes) > iou_threshold] = 0
        probs[i] = 0
    return found


def _detection(tag: int, probability: float, box: np.ndarray) -> Detection:
    x1, y1, x2, y2 = (float(v) for v in np.clip(box, 0.0, 1.0))
    return (tag, probability, x1, y1, x2 - x1, y2 - y1)
