"""Quick (frozen features + linear head) and Advanced (fine-tuning) training.

Both estimate performance by k-fold cross-validation (out-of-fold probabilities for every
image), then train the final model on all images. Whatever is fitted on data (standardisation,
heads, fine-tunes) is fitted per fold on that fold's training images only, so no figure comes
from a model that saw the image it scores.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from engine import finetune
from engine.backbones import FeatureNet, ResolvedBackbone, resolve
from engine.bundle import ModelBundle
from engine.features import FeatureCache, NoCache, Sample, extract
from engine.head import LinearHead, fit_head, score
from engine.metrics import bootstrap_wins, evaluate, mean_average_precision
from engine.recipes import Recipe
from engine.runtime import keep_freed_memory
from engine.serving import ServingModel, export_onnx
from engine.squares import SquareStore

ModuleT = TypeVar("ModuleT", bound=nn.Module)

Progress = Callable[[float, str], None]


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
    scratch_dir: Path | None = None  # where a training's decoded images go (None: temp dir)


@dataclass
class TrainResult:
    model: ServingModel  # exported by `model_bundle` once training is done
    kind: str  # "frozen" or "finetuned"
    metrics: dict[str, Any]
    oof_probabilities: torch.Tensor
    folds: torch.Tensor
    backbone: str
    weights_source: str
    device: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    bundle: ModelBundle | None = None  # set by `train` when the model is final


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
    keep_freed_memory()
    torch.manual_seed(request.seed)
    backbone = backbone or resolve(request.recipe.torchvision, request.recipe.bundled)
    device = pick_device(request.device)
    progress(2, f"Loading {backbone.spec.name}")
    net = backbone.build()
    if request.advanced:
        result = _train_advanced(
            request, backbone, net, cache or NoCache(), device, progress, started
        )
    else:
        result, _heads = _train_quick(request, backbone, net, cache or NoCache(), device, progress)
    progress(98, "Exporting the model")
    result.bundle = model_bundle(request, result)
    result.seconds = time.monotonic() - started
    result.details["cpu_threads"] = torch.get_num_threads()
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
    store: SquareStore | None = None,
) -> tuple[TrainResult, list[LinearHead]]:
    """Frozen features and a linear head: every image's out-of-fold probabilities, and the
    heads (one per fold, fitted on that fold's training images only, then the final one on
    all images) that fine-tuning starts from."""
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
        store=store,
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
        return score(head, [features[v][rows] for v in recipe.test_views], request.multilabel)

    heads = []
    for fold in range(k):
        progress(75 + 18 * fold / k, f"Cross-validating (fold {fold + 1} of {k})")
        held_out = folds == fold
        heads.append(fit(~held_out))
        oof[held_out] = predict(heads[-1], held_out)
    progress(94, "Training the final model")
    heads.append(fit(torch.ones(len(targets), dtype=torch.bool)))
    result = TrainResult(
        model=_serving_model(request, backbone, net, heads[-1]),
        kind="frozen",
        metrics=evaluate(targets, oof, folds),
        oof_probabilities=oof,
        folds=folds,
        backbone=backbone.spec.name,
        weights_source=backbone.source,
        device=str(device),
        seconds=0.0,
        details={"views": list(views), "folds": k},
    )
    return result, heads


# --- Advanced -------------------------------------------------------------------------------

# Fine-tuning replaces the frozen-feature model only when its cross-validated mean AP is higher
# by at least KEEP_MARGIN and stays ahead in KEEP_CONFIDENCE of bootstrap resamples of the
# held-out images: with 96 photos under random labels the two differ by ~0.03 by chance
# alone, and a tie goes to the model that is cheaper to train and to serve.
KEEP_MARGIN = 0.005
KEEP_CONFIDENCE = 0.9
# Kept back from the budget for writing the model and the metrics after training.
FINISH_SECONDS = 2.0


def _train_advanced(
    request: TrainRequest,
    backbone: ResolvedBackbone,
    net: FeatureNet,
    cache: FeatureCache,
    device: torch.device,
    progress: Progress,
    started: float,
) -> TrainResult:
    """Quick training first (its model is the fallback and each fold's starting head), then
    fine-tunes on as many of the same folds as the budget affords, then the final model only
    if fine-tuning beat the frozen features on those folds."""
    spec = backbone.spec
    deadline = started + request.budget_seconds - FINISH_SECONDS
    with tempfile.TemporaryDirectory(prefix="cv-train-", dir=request.scratch_dir) as scratch:
        store = SquareStore.build(
            request.samples,
            spec.input_size,
            Path(scratch),
            lambda done, total: progress(
                2 + 8 * done / max(total, 1), f"Decoding images ({done}/{total})"
            ),
        )
        store.place(device)
        quick, heads = _train_quick(
            request, backbone, net, cache, device, lambda p, ph: progress(10 + p * 0.1, ph), store
        )
        setup = finetune.Setup(
            request.recipe, spec, store, request.targets.float(), request.multilabel, device
        )
        final_head = heads[-1]
        ips = finetune.throughput(setup, net, final_head)
        folds = quick.folds
        k = int(folds.max()) + 1
        the_plan = finetune.plan(
            images=len(request.samples),
            k=k,
            seconds=deadline - time.monotonic(),
            images_per_second=ips,
            recipe=request.recipe,
        )
        details: dict[str, Any] = quick.details | {
            "images_per_second": round(ips, 1),
            "plan": the_plan.reason,
            "estimated_folds": the_plan.folds,
            "epochs": the_plan.epochs,
            "fine_tuned_stages": setup.unfreeze or "all",
            "amp": "bf16" if setup.cuda else None,
            "squares_on_device": store.resident is not None,
        }
        if the_plan.folds == 0:
            return _keep_quick(quick, details, f"Kept quick training's model: {the_plan.reason}.")

        steps = the_plan.folds + 1
        targets = request.targets.float()
        oof = torch.full_like(targets, float("nan"))
        estimated = torch.zeros(len(targets), dtype=torch.bool)
        completion: list[float] = []
        rates: list[float] = []
        for fold in range(the_plan.folds):
            held_out = folds == fold
            span = 20 + 75 * fold / steps
            run = finetune.fine_tune(
                setup,
                _copy(net),
                _copy(heads[fold]),  # fitted on this fold's training images only
                (~held_out).nonzero().flatten(),
                epochs=the_plan.epochs,
                deadline=deadline,
                seed=request.seed + fold,
                progress=_within(progress, span, 75 / steps),
                label=f"Fine-tuning fold {fold + 1} of {the_plan.folds}",
            )
            completion.append(run.completed)
            rates.append(run.images_per_second)
            rows = held_out.nonzero().flatten()
            oof[rows] = finetune.predict(setup, run.model, rows)
            estimated |= held_out
            del run
        details["completed_share"] = completion
        details["fold_images_per_second"] = [round(r, 1) for r in rates]
        tuned = evaluate(targets[estimated], oof[estimated], folds[estimated])
        tuned_ap = mean_average_precision(targets[estimated], oof[estimated])
        frozen_ap = mean_average_precision(targets[estimated], quick.oof_probabilities[estimated])
        compared = int(estimated.sum())
        wins = bootstrap_wins(
            targets[estimated], oof[estimated], quick.oof_probabilities[estimated], request.seed
        )
        details["compared"] = {
            "images": compared,
            "fine_tuned_map": round(tuned_ap, 4),
            "frozen_map": round(frozen_ap, 4),
            "fine_tuned_wins": round(wins, 3),
        }
        if tuned_ap < frozen_ap + KEEP_MARGIN or wins < KEEP_CONFIDENCE:
            return _keep_quick(
                quick,
                details,
                f"Kept quick training's model: on the same {compared} held-out images "
                f"fine-tuning scored mean AP {tuned_ap:.1%} against {frozen_ap:.1%} "
                f"(ahead in {wins:.0%} of resamples; replacing it needs {KEEP_CONFIDENCE:.0%}).",
            )
        # Re-planned at the speed the folds really ran, so the final model's schedule ends
        # inside the budget rather than being cut off mid-way.
        epochs = min(
            the_plan.epochs,
            math.floor((deadline - time.monotonic()) * min(rates) / len(targets)),
        )
        details["final_epochs"] = epochs
        if epochs < request.recipe.min_epochs:
            return _keep_quick(
                quick,
                details,
                f"Kept quick training's model: the budget left {epochs} epochs for the final "
                f"fine-tune, under the {request.recipe.min_epochs} it needs.",
            )
        run = finetune.fine_tune(
            setup,
            net,
            final_head,
            torch.arange(len(targets)),
            epochs=epochs,
            deadline=deadline,
            seed=request.seed + k,
            progress=_within(progress, 20 + 75 * the_plan.folds / steps, 75 / steps),
            label="Fine-tuning the final model",
        )
        completion.append(run.completed)
    details["kept"] = "finetuned"
    details["why"] = (
        f"Fine-tuned: on the same {compared} held-out images it scored mean AP "
        f"{tuned_ap:.1%} against {frozen_ap:.1%} for quick training's model, ahead in "
        f"{wins:.0%} of resamples."
    )
    if the_plan.folds < k:
        details["why"] += (
            f" Estimated on {the_plan.folds} of {k} folds ({int(estimated.sum())} of "
            f"{len(targets)} images): {the_plan.reason}."
        )
    model = run.model.float().cpu()
    return TrainResult(
        model=_serving_model(request, backbone, model.trunk, model.head),
        kind="finetuned",
        metrics=tuned,
        oof_probabilities=oof,
        folds=torch.where(estimated, folds, torch.full_like(folds, -1)),
        backbone=spec.name,
        weights_source=backbone.source,
        device=str(device),
        seconds=0.0,
        details=details,
    )


def _within(progress: Progress, start: float, width: float) -> finetune.Progress:
    """A fine-tune's progress (0…1) as a stretch of the whole training's percentage."""

    def report(fraction: float, phase: str) -> None:
        progress(start + width * fraction, phase)

    return report


def _keep_quick(quick: TrainResult, details: dict[str, Any], why: str) -> TrainResult:
    quick.details = details | {"kept": "frozen", "why": why}
    return quick


def _copy(module: ModuleT) -> ModuleT:
    return copy.deepcopy(module)


def _serving_model(
    request: TrainRequest,
    backbone: ResolvedBackbone,
    trunk: FeatureNet,
    head: LinearHead,
) -> ServingModel:
    # Copies: fine-tuning goes on changing the live modules after a model is taken.
    return ServingModel(
        _copy(trunk).float().cpu().eval(),
        _copy(head).float().cpu().eval(),
        backbone.spec,
        request.recipe.test_views,
        request.multilabel,
    )


def model_bundle(request: TrainRequest, result: TrainResult) -> ModelBundle:
    """The trained model as the artefact prediction and export read (exported to ONNX)."""
    model = result.model
    return ModelBundle(
        onnx=export_onnx(model, {"tags": ",".join(request.tag_names)}),
        tag_names=list(request.tag_names),
        multilabel=request.multilabel,
        image_size=model.image_size,
        input_size=model.spec.input_size,
        backbone=result.backbone,
        weights_source=result.weights_source,
        kind=result.kind,
        test_views=list(request.recipe.test_views),
        recipe=dataclasses.asdict(request.recipe),
    )
