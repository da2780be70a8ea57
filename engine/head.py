"""The classifier on top of frozen features: a class-balanced linear model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class LinearHead(nn.Module):
    """Standardise features, then one linear layer (softmax or sigmoid outside)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.linear = nn.Linear(mean.numel(), num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std)  # type: ignore[operator]


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)


def score(
    forward: Callable[[torch.Tensor], torch.Tensor],
    batches: Sequence[torch.Tensor],
    multilabel: bool,
) -> torch.Tensor:
    """Probabilities averaged over the views of the same images (one batch per view)."""
    with torch.inference_mode():
        return torch.stack([probabilities(forward(b).float(), multilabel) for b in batches]).mean(0)


def class_weights(targets: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Inverse-frequency weights, so a rare tag counts as much as a common one."""
    if multilabel:
        positives = targets.sum(0).clamp(min=1)
        return ((targets.shape[0] - positives) / positives).clamp(max=50.0)
    counts = targets.sum(0).clamp(min=1)
    return targets.shape[0] / (targets.shape[1] * counts)


def fit_head(
    features: torch.Tensor,
    targets: torch.Tensor,
    multilabel: bool,
    weight_decay: float,
    steps: int = 150,
) -> LinearHead:
    """Fit by L-BFGS on the full batch: deterministic and quick at these sizes.

    `targets` is (N, C) of 0/1. Multiclass rows have exactly one 1; Negative-only images are
    rows of zeros in multilabel mode (they teach every tag what it is not).
    """
    features = features.float()
    mean = features.mean(0)
    std = features.std(0).clamp(min=1e-4)
    head = LinearHead(mean, std, targets.shape[1])
    weights = class_weights(targets, multilabel)
    if multilabel:
        loss_fn: nn.Module = nn.BCEWithLogitsLoss(pos_weight=weights)
        labels = targets.float()
    else:
        loss_fn = nn.CrossEntropyLoss(weight=weights)
        labels = targets.argmax(1)
    optimiser = torch.optim.LBFGS(
        head.linear.parameters(),
        lr=1.0,
        max_iter=steps,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = loss_fn(head(features), labels)
        loss = loss + weight_decay * head.linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return head.eval()
