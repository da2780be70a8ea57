"""The detector's head: a small conv net over the trunk's grid, and its YOLOv2-style loss.

Each cell of the H × W grid predicts, per anchor, (tx, ty, tw, th, objectness, class logits),
the layout of Azure's compact detectors: the served graph applies a sigmoid to tx and ty, and
Microsoft's export sample (and `boxes.decode`) does the rest with Azure's anchors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.boxes import ANCHORS, Box

IGNORE_IOU = 0.6  # a predicted box this close to a truth box is not taught "no object"
NOOBJ_WEIGHT = 1.0
OBJECTNESS_PRIOR = 0.01  # the head starts out predicting almost nothing, as focal-loss heads do


class GridHead(nn.Module):
    """Standardised trunk maps (N, Cin, H, W) → raw grid (N, A*(5+C), H, W)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, hidden: int, classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone().view(1, -1, 1, 1))
        self.register_buffer("std", std.clone().view(1, -1, 1, 1))
        self.anchors = len(ANCHORS)
        self.classes = classes
        self.reduce = nn.Conv2d(mean.numel(), hidden, 1)
        self.mix = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.out = nn.Conv2d(hidden, self.anchors * (5 + classes), 1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            assert self.out.bias is not None
            bias = self.out.bias.view(self.anchors, 5 + classes)
            bias.zero_()
            bias[:, 4] = math.log(OBJECTNESS_PRIOR / (1 - OBJECTNESS_PRIOR))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        x = (maps - self.mean) / self.std  # type: ignore[operator]
        x = F.relu(self.reduce(x))
        x = F.relu(self.mix(x))
        return self.out(x)


def activate(raw: torch.Tensor, anchors: int = len(ANCHORS)) -> torch.Tensor:
    """The graph's output: the raw grid with x and y offsets sigmoid-ed (the sample's input)."""
    n, channels, height, width = raw.shape
    parts = raw.reshape(n, anchors, channels // anchors, height, width)
    xy = torch.sigmoid(parts[:, :, :2])
    return torch.cat([xy, parts[:, :, 2:]], dim=2).reshape(n, channels, height, width)


@dataclass
class Targets:
    """What the loss needs of a batch's truth, per (image, anchor, row, column)."""

    positive: torch.Tensor  # bool (N, A, H, W)
    xywh: torch.Tensor  # (N, A, H, W, 4): sigmoid-space x, y; log-space w, h
    scale: torch.Tensor  # (N, A, H, W): 2 - w·h, so small boxes weigh more
    tag: torch.Tensor  # long (N, A, H, W)
    boxes: torch.Tensor  # (N, T, 4) x1 y1 x2 y2 of every truth box, zero padded


def build_targets(truth: Sequence[Sequence[Box]], height: int, width: int) -> Targets:
    """Each box is the responsibility of the cell holding its centre and the anchor whose shape
    fits it best."""
    n, a = len(truth), len(ANCHORS)
    positive = torch.zeros(n, a, height, width, dtype=torch.bool)
    xywh = torch.zeros(n, a, height, width, 4)
    scale = torch.zeros(n, a, height, width)
    tag = torch.zeros(n, a, height, width, dtype=torch.long)
    boxes = torch.zeros(n, max([1, *map(len, truth)]), 4)
    anchor_w, anchor_h = ANCHORS[:, 0] / width, ANCHORS[:, 1] / height
    for i, image in enumerate(truth):
        for j, (t, left, top, w, h) in enumerate(image):
            boxes[i, j] = torch.tensor([left, top, left + w, top + h])
            cx, cy = left + w / 2, top + h / 2
            col, row = min(int(cx * width), width - 1), min(int(cy * height), height - 1)
            inter = np.minimum(w, anchor_w) * np.minimum(h, anchor_h)
            best = int(np.argmax(inter / (w * h + anchor_w * anchor_h - inter)))
            positive[i, best, row, col] = True
            xywh[i, best, row, col] = torch.tensor(
                [
                    cx * width - col,
                    cy * height - row,
                    math.log(max(w, 1e-4) / anchor_w[best]),
                    math.log(max(h, 1e-4) / anchor_h[best]),
                ]
            )
            scale[i, best, row, col] = 2 - w * h
            tag[i, best, row, col] = t
    return Targets(positive, xywh, scale, tag, boxes)


def select(targets: Targets, rows: torch.Tensor) -> Targets:
    return Targets(*(getattr(targets, f)[rows] for f in Targets.__dataclass_fields__))


def _predicted_corners(parts: torch.Tensor) -> torch.Tensor:
    """(N, A, 5+C, H, W) raw → (N, A, H, W, 4) x1 y1 x2 y2, as `boxes.decode` computes them."""
    _n, a, _c, height, width = parts.shape
    anchors = torch.as_tensor(ANCHORS, dtype=parts.dtype, device=parts.device)
    cols = torch.arange(width, device=parts.device).view(1, 1, 1, width)
    rows = torch.arange(height, device=parts.device).view(1, 1, height, 1)
    x = (torch.sigmoid(parts[:, :, 0]) + cols) / width
    y = (torch.sigmoid(parts[:, :, 1]) + rows) / height
    w = torch.exp(parts[:, :, 2].clamp(max=6)) * anchors[:, 0].view(1, a, 1, 1) / width
    h = torch.exp(parts[:, :, 3].clamp(max=6)) * anchors[:, 1].view(1, a, 1, 1) / height
    return torch.stack((x - w / 2, y - h / 2, x + w / 2, y + h / 2), dim=-1)


def _best_overlap(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(N, A, H, W, 4) and (N, T, 4) → (N, A, H, W) highest IoU with any truth box."""
    n = predicted.shape[0]
    p = predicted.reshape(n, -1, 1, 4)
    t = truth.view(n, 1, -1, 4)
    wh = (torch.minimum(p[..., 2:], t[..., 2:]) - torch.maximum(p[..., :2], t[..., :2])).clamp(
        min=0
    )
    inter = wh[..., 0] * wh[..., 1]
    area_p = (p[..., 2] - p[..., 0]) * (p[..., 3] - p[..., 1])
    area_t = (t[..., 2] - t[..., 0]) * (t[..., 3] - t[..., 1])
    overlap = inter / (area_p + area_t - inter).clamp(min=1e-9)
    return overlap.max(dim=2).values.view(predicted.shape[:4])


def grid_loss(raw: torch.Tensor, targets: Targets) -> torch.Tensor:
    """YOLOv2's loss, summed per image and averaged over the batch: box offsets and sizes and
    the class of each responsible anchor, objectness everywhere (except predictions already
    overlapping a truth box well, which are neither taught object nor no-object)."""
    n, channels, height, width = raw.shape
    a = len(ANCHORS)
    parts = raw.float().reshape(n, a, channels // a, height, width)
    pos = targets.positive
    objectness = parts[:, :, 4]
    with torch.no_grad():
        ignore = _best_overlap(_predicted_corners(parts), targets.boxes) > IGNORE_IOU
    negative = ~pos & ~ignore
    no_object = F.binary_cross_entropy_with_logits(
        objectness[negative], torch.zeros_like(objectness[negative]), reduction="sum"
    )
    if not bool(pos.any()):
        return NOOBJ_WEIGHT * no_object / n
    chosen = parts.permute(0, 1, 3, 4, 2)[pos]  # (P, 5+C)
    goal = targets.xywh[pos]
    weight = targets.scale[pos]
    box = weight * (
        (torch.sigmoid(chosen[:, :2]) - goal[:, :2]).pow(2).sum(1)
        + (chosen[:, 2:4] - goal[:, 2:4]).pow(2).sum(1)
    )
    has_object = F.binary_cross_entropy_with_logits(
        chosen[:, 4], torch.ones_like(chosen[:, 4]), reduction="sum"
    )
    tags = F.cross_entropy(chosen[:, 5:], targets.tag[pos], reduction="sum")
    return (box.sum() + has_object + tags + NOOBJ_WEIGHT * no_object) / n
