"""Quick (frozen features + linear head) and Advanced (fine-tuning) training.

Both estimate performance by k-fold cross-validation (out-of-fold probabilities for every
image), then train the final model on all images.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torchvision.transforms.v2 as T
from torch import nn

from training.engine.backbones import FeatureNet, ResolvedBackbone, resolve
from training.engine.data import load_rgb, normalise, view
from training.engine.features import FeatureCache, NoCache, Sample, extract
from training.engine.head import LinearHead, fit_head, probabilities
from training.engine.metrics import evaluate
from training.engine.recipes import Recipe

Progress = Callable[[float, str], None]
MODEL_FORMAT = "customvision-classifier"


class Cancelled(Exception):
    """Raised from a progress callback to stop training."""


@dataclass
class TrainRequest:
    samples: Sequence[Sample]
    targets: torch.Tensor  # (N, C) of 0/1
    tag_names: Sequence[str]
    multilabel: bool
    recipe: Recipe
    advanced: bool = False
    budget_seconds: float = 3600.0
    folds: int = 5
    seed: int = 0
    device: str | None = None  # None: CUDA when available, else CPU


@dataclass
class TrainResult:
    bundle: dict[str, Any]
    metrics: dict[str, Any]
    oof_probabilities: torch.Tensor
    folds: torch.Tensor
    backbone: str
    weights_source: str
    device: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


def assign_folds(targets: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Stratified folds: images ordered by their rarest tag, then dealt out round-robin."""
    generator = torch.Generator().manual_seed(seed)
    counts = targets.sum(0)
    rarity = torch.where(targets.bool(), counts.expand_as(targets), counts.max() + 1)
    rarest = rarity.argmin(1)
    order = torch.randperm(len(targets), generator=generator)
    order = order[torch.argsort(rarest[order], stable=True)]
    folds = torch.empty(len(targets), dtype=torch.long)
    folds[order] = torch.arange(len(targets)) % k
    return folds


def fold_count(targets: torch.Tensor, requested: int, multilabel: bool) -> int:
    smallest = int(targets.sum(0)[targets.sum(0) > 0].min()) if targets.any() else 0
    limit = len(targets) if multilabel else smallest
    return max(2, min(requested, limit, len(targets)))


def pick_device(requested: str | None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train(
    request: TrainRequest,
    *,
    backbone: ResolvedBackbone | None = None,
    cache: FeatureCache | None = None,
    progress: Progress = lambda percent, phase: None,
) -> TrainResult:
    started = time.monotonic()
    torch.manual_seed(request.seed)
    backbone = backbone or resolve(request.recipe.torchvision, request.recipe.bundled)
    device = pick_device(request.device)
    progress(2, f"Loading {backbone.spec.name}")
    net = backbone.build()
    runner = _train_advanced if request.advanced else _train_quick
    result = runner(request, backbone, net, cache or NoCache(), device, progress)
    result.seconds = time.monotonic() - started
    progress(100, "Completed")
    return result


# --- Quick ----------------------------------------------------------------------------------


def _train_quick(
    request: TrainRequest,
    backbone: ResolvedBackbone,
    net: FeatureNet,
    cache: FeatureCache,
    device: torch.device,
    progress: Progress,
) -> TrainResult:
    recipe = request.recipe
    views = tuple(dict.fromkeys(recipe.train_views + recipe.test_views))
    features = extract(
        net,
        backbone,
        request.samples,
        views,
        cache,
        device,
        on_progress=lambda done, total: progress(
            5 + 70 * done / max(total, 1), f"Computing features ({done}/{total} images)"
        ),
    )
    targets = request.targets.float()
    k = fold_count(targets, request.folds, request.multilabel)
    folds = assign_folds(targets, k, request.seed)
    oof = torch.zeros_like(targets)

    def fit(rows: torch.Tensor) -> LinearHead:
        x = torch.cat([features[v][rows] for v in recipe.train_views])
        y = targets[rows].repeat(len(recipe.train_views), 1)
        return fit_head(x, y, request.multilabel, recipe.head_weight_decay, recipe.head_steps)

    def predict(head: LinearHead, rows: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.stack(
                [
                    probabilities(head(features[v][rows]), request.multilabel)
                    for v in recipe.test_views
                ]
            ).mean(0)

    for fold in range(k):
        progress(75 + 18 * fold / k, f"Cross-validating (fold {fold + 1} of {k})")
        held_out = folds == fold
        oof[held_out] = predict(fit(~held_out), held_out)
    progress(94, "Training the final model")
    head = fit(torch.ones(len(targets), dtype=torch.bool))
    bundle = _bundle(request, backbone, net, head, kind="frozen")
    return TrainResult(
        bundle=bundle,
        metrics=evaluate(targets, oof, folds),
        oof_probabilities=oof,
        folds=folds,
        backbone=backbone.spec.name,
        weights_source=backbone.source,
        device=str(device),
        seconds=0.0,
        details={"views": list(views), "folds": k},
    )


# --- Advanced -------------------------------------------------------------------------------


class Classifier(nn.Module):
    def __init__(self, trunk: FeatureNet, head: LinearHead) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def _augment(recipe: Recipe, size: int) -> T.Compose:
    steps: list[Any] = [T.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True)]
    if recipe.flips:
        steps.append(T.RandomHorizontalFlip())
    if recipe.rotation:
        steps.append(T.RandomRotation(recipe.rotation))
    if recipe.color_jitter:
        cj = recipe.color_jitter
        steps.append(T.ColorJitter(brightness=cj, contrast=cj, saturation=cj))
    return T.Compose(steps)


def _train_advanced(
    request: TrainRequest,
    backbone: ResolvedBackbone,
    net: FeatureNet,
    cache: FeatureCache,
    device: torch.device,
    progress: Progress,
) -> TrainResult:
    recipe, spec = request.recipe, backbone.spec
    # The frozen-feature head is a good start for fine-tuning, and the same k-fold protocol
    # gives every image an out-of-fold probability.
    quick = _train_quick(
        dataclasses.replace(request, advanced=False),
        backbone,
        net,
        cache,
        device,
        lambda p, phase: progress(p * 0.2, phase),
    )
    targets = request.targets.float()
    images = [load_rgb(s.read(), spec.input_size) for s in request.samples]
    images = [view(im, "full", round(spec.input_size * 1.15)) for im in images]
    folds = quick.folds
    k = int(folds.max()) + 1
    deadline = time.monotonic() + request.budget_seconds
    slices = k + 1
    oof = torch.zeros_like(targets)
    initial = quick.bundle["head_state"]
    epochs_run: list[int] = []
    for part in range(slices):
        final = part == k
        rows = torch.ones(len(targets), dtype=torch.bool) if final else folds != part
        seconds = max(1.0, (deadline - time.monotonic()) / (slices - part))
        span = (20 + 75 * part / slices, 20 + 75 * (part + 1) / slices)
        label = "Fine-tuning the final model" if final else f"Fine-tuning fold {part + 1} of {k}"
        model, epochs = _fine_tune(
            request,
            spec,
            net if final else _copy(net),
            initial,
            images,
            targets,
            rows,
            seconds,
            device,
            progress,
            span,
            label,
        )
        epochs_run.append(epochs)
        if not final:
            held = folds == part
            oof[held] = _predict_images(
                model,
                [images[i] for i in held.nonzero().flatten()],
                spec,
                recipe,
                request.multilabel,
                device,
            )
    head = model.head.cpu()
    bundle = _bundle(request, backbone, model.trunk.cpu(), head, kind="finetuned")
    return TrainResult(
        bundle=bundle,
        metrics=evaluate(targets, oof, folds),
        oof_probabilities=oof,
        folds=folds,
        backbone=spec.name,
        weights_source=backbone.source,
        device=str(device),
        seconds=0.0,
        details={"folds": k, "epochs": epochs_run, "amp": device.type == "cuda"},
    )


def _copy(net: FeatureNet) -> FeatureNet:
    import copy

    return copy.deepcopy(net)


def _fine_tune(
    request: TrainRequest,
    spec: Any,
    trunk: FeatureNet,
    head_state: dict[str, torch.Tensor],
    images: list[Any],
    targets: torch.Tensor,
    rows: torch.Tensor,
    seconds: float,
    device: torch.device,
    progress: Progress,
    span: tuple[float, float],
    label: str,
    max_epochs: int = 40,
    patience: int = 4,
) -> tuple[Classifier, int]:
    recipe = request.recipe
    head = LinearHead(head_state["mean"], head_state["std"], targets.shape[1])
    head.load_state_dict(head_state)
    model = Classifier(trunk, head).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    trainable = list(trunk.stages)[-recipe.unfreeze_stages :]
    for parameter in trunk.parameters():
        parameter.requires_grad_(False)
    for stage in trainable:
        for parameter in stage.parameters():
            parameter.requires_grad_(True)
    groups = [
        {"params": [p for s in trainable for p in s.parameters()], "lr": recipe.lr_body},
        {"params": list(head.parameters()), "lr": recipe.lr_head},
    ]
    optimiser = torch.optim.AdamW(groups, weight_decay=1e-4)
    base = [g["lr"] for g in optimiser.param_groups]
    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    augment = _augment(recipe, spec.input_size)
    indices = rows.nonzero().flatten()
    y = targets
    loss_fn: nn.Module
    if request.multilabel:
        loss_fn = nn.BCEWithLogitsLoss()
    else:
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    started, best, stale, epoch = time.monotonic(), math.inf, 0, 0
    while epoch < max_epochs and time.monotonic() - started < seconds and stale < patience:
        model.train()
        for stage in list(trunk.stages)[: -recipe.unfreeze_stages]:
            stage.eval()  # frozen BatchNorm statistics stay ImageNet's
        order = indices[torch.randperm(len(indices))]
        total, seen = 0.0, 0
        for start in range(0, len(order), recipe.batch_size):
            if start and time.monotonic() - started >= seconds:
                break  # the budget is a promise: stop mid-epoch rather than overrun it
            batch_rows = order[start : start + recipe.batch_size]
            x = torch.stack([normalise(augment(images[i]), spec) for i in batch_rows]).to(device)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            target = y[batch_rows].to(device)
            elapsed = (time.monotonic() - started) / seconds
            for group, lr in zip(optimiser.param_groups, base, strict=True):
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(elapsed, 1.0)))
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                logits = model(x)
                loss = loss_fn(logits.float(), target if request.multilabel else target.argmax(1))
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += float(loss.detach()) * len(batch_rows)
            seen += len(batch_rows)
            # Report within epochs too: keeps the bar moving and lets a cancel stop us soon.
            fraction = min(1.0, (time.monotonic() - started) / seconds)
            progress(span[0] + (span[1] - span[0]) * fraction, f"{label}: epoch {epoch + 1}")
        epoch += 1
        mean_loss = total / max(seen, 1)
        stale = 0 if mean_loss < best - 1e-3 else stale + 1
        best = min(best, mean_loss)
        fraction = min(1.0, (time.monotonic() - started) / seconds)
        progress(
            span[0] + (span[1] - span[0]) * fraction,
            f"{label}: epoch {epoch}, loss {mean_loss:.3f}",
        )
    return model.eval(), epoch


def _predict_images(
    model: Classifier,
    images: list[Any],
    spec: Any,
    recipe: Recipe,
    multilabel: bool,
    device: torch.device,
) -> torch.Tensor:
    outputs = []
    with torch.inference_mode():
        for name in recipe.test_views:
            x = torch.stack([normalise(view(im, name, spec.input_size), spec) for im in images])
            outputs.append(probabilities(model(x.to(device)).float(), multilabel).cpu())
    return torch.stack(outputs).mean(0)


def _bundle(
    request: TrainRequest,
    backbone: ResolvedBackbone,
    trunk: FeatureNet,
    head: LinearHead,
    kind: str,
) -> dict[str, Any]:
    """Everything prediction needs, with no reference to this process or database."""
    spec = backbone.spec
    return {
        "format": MODEL_FORMAT,
        "version": 1,
        "kind": kind,
        "backbone": spec.name,
        "weights_source": backbone.source,
        "input_size": spec.input_size,
        "mean": list(spec.mean),
        "std": list(spec.std),
        "test_views": list(request.recipe.test_views),
        "multilabel": request.multilabel,
        "tag_names": list(request.tag_names),
        "recipe": dataclasses.asdict(request.recipe),
        "trunk_state": {k: v.detach().cpu() for k, v in trunk.state_dict().items()},
        "head_state": {k: v.detach().cpu() for k, v in head.state_dict().items()},
    }
