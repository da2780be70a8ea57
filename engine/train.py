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
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from engine import finetune
from engine.backbones import FeatureNet, ResolvedBackbone, WeightsUnavailable, resolve
from engine.bundle import ModelBundle
from engine.features import FeatureCache, NoCache, Sample, extract
from engine.head import LinearHead, fit_head, score
from engine.metrics import bootstrap_wins, evaluate, mean_average_precision
from engine.phases import Phases
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
    # "gpu" or "cpu": which code path trains (see `pick_profile`); None: CV_ENGINE_PROFILE,
    # else the device's own.
    profile: str | None = None
    scratch_dir: Path | None = None  # where a training's decoded images go (None: temp dir)
    # Tags (by index) trained on but left out of the overall figures: Custom Vision's
    # Negative tag, "none of these" rather than a class (see `metrics.evaluate`).
    unscored: Sequence[int] = ()


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
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (`phases.py`)


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


PROFILES = ("cpu", "gpu")


def pick_profile(requested: str | None, device: torch.device) -> bool:
    """True for the GPU code path: bf16 autocast, channels_last, the squares on the device,
    GPU batches, every stage fine-tuned.

    It is the device's own path unless asked for: "gpu" on a CPU runs the GPU path through the
    same code (torch has bf16 autocast and channels_last on CPUs too), so its bugs show in a
    test or a benchmark before a GPU is lent (CV_ENGINE_PROFILE=gpu).
    """
    name = requested or os.environ.get("CV_ENGINE_PROFILE") or ""
    if name and name not in PROFILES:
        raise ValueError(f"Unknown engine profile {name!r}: one of {', '.join(PROFILES)}.")
    return name == "gpu" if name else device.type == "cuda"


# Held while a worker warms up: a training that comes meanwhile waits for it (it needs what the
# warm-up makes) rather than racing it for the cores and the GIL, which slowed both.
_warming = threading.Lock()


def warm_up(recipe: Recipe) -> None:
    """Ready a fresh worker for its first training with `recipe`: the pretrained trunk read and
    the served graph traced, both kept for the trainings that follow (`backbones.build`,
    `serving.export_onnx`). Run while the worker waits, not while a user does."""
    with _warming:
        try:
            backbone = resolve(recipe.torchvision, recipe.bundled)
        except WeightsUnavailable:
            return  # the first training says how to get them
        net = backbone.build()
        head = LinearHead(torch.zeros(net.feature_dim), torch.ones(net.feature_dim), 2)
        model = ServingModel(net, head, backbone.spec, recipe.test_views, multilabel=False)
        export_onnx(model, {}, trunk_key=backbone.source)


def train(
    request: TrainRequest,
    *,
    backbone: ResolvedBackbone | None = None,
    cache: FeatureCache | None = None,
    progress: Progress = lambda percent, phase: None,
) -> TrainResult:
    with _warming:  # a warm-up under way ends first
        started = time.monotonic()
    keep_freed_memory()
    torch.manual_seed(request.seed)
    backbone = backbone or resolve(request.recipe.torchvision, request.recipe.bundled)
    device = pick_device(request.device)
    progress(2, f"Loading {backbone.spec.name}")
    gpu = pick_profile(request.profile, device)
    phases = Phases()
    with phases("load"):
        net = backbone.build()
    job = _Job(request, backbone, net, cache or NoCache(), device, gpu, progress, phases)
    if request.advanced:
        result = _train_advanced(job, started)
    else:
        result, _heads = _train_quick(job)
    progress(98, "Exporting the model")
    with phases("export"):
        result.bundle = model_bundle(request, result)
    result.seconds = time.monotonic() - started
    result.phases = phases.rounded()
    result.details["cpu_threads"] = torch.get_num_threads()
    progress(100, "Completed")
    return result


@dataclass(frozen=True)
class _Job:
    """One training's inputs, as Quick and Advanced training both take them."""

    request: TrainRequest
    backbone: ResolvedBackbone
    net: FeatureNet
    cache: FeatureCache
    device: torch.device
    gpu: bool  # the GPU code path (`pick_profile`)
    progress: Progress
    phases: Phases


# --- Quick ----------------------------------------------------------------------------------


def _train_quick(
    job: _Job, store: SquareStore | None = None
) -> tuple[TrainResult, list[LinearHead]]:
    """Frozen features and a linear head: every image's out-of-fold probabilities, and the
    heads (one per fold, fitted on that fold's training images only, then the final one on
    all images) that fine-tuning starts from."""
    request, backbone, progress = job.request, job.backbone, job.progress
    recipe = request.recipe
    views = tuple(dict.fromkeys(recipe.train_views + recipe.test_views))
    with job.phases("features"):
        features = extract(
            job.net,
            backbone,
            request.samples,
            views,
            job.cache,
            job.device,
            on_progress=lambda done, total: progress(
                5 + 70 * done / max(total, 1), f"Computing features ({done}/{total} images)"
            ),
            batch_size=recipe.gpu_batch_size if job.gpu else None,
            store=store,
            phases=job.phases,
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
    with job.phases("folds"):
        for fold in range(k):
            progress(75 + 18 * fold / k, f"Cross-validating (fold {fold + 1} of {k})")
            held_out = folds == fold
            heads.append(fit(~held_out))
            oof[held_out] = predict(heads[-1], held_out)
    progress(94, "Training the final model")
    with job.phases("final"):
        heads.append(fit(torch.ones(len(targets), dtype=torch.bool)))
        model = _serving_model(request, backbone, job.net, heads[-1])
    with job.phases("metrics"):
        metrics = evaluate(targets, oof, folds, request.unscored)
    result = TrainResult(
        model=model,
        kind="frozen",
        metrics=metrics,
        oof_probabilities=oof,
        folds=folds,
        backbone=backbone.spec.name,
        weights_source=backbone.source,
        device=str(job.device),
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


@dataclass
class _Tuning:
    """What the fold estimates and the choice of the final model of one Advanced training
    share."""

    job: _Job
    setup: finetune.Setup
    quick: TrainResult  # the fallback model, and the figures fine-tuning must beat
    heads: list[LinearHead]  # each fold's starting head, then the final one
    plan: finetune.Plan
    deadline: float
    details: dict[str, Any]

    @property
    def targets(self) -> torch.Tensor:
        return self.setup.targets

    @property
    def k(self) -> int:
        return int(self.quick.folds.max()) + 1

    @property
    def steps(self) -> int:
        return self.plan.folds + 1  # the fine-tunes to run: the estimated folds, then the final

    def keep_quick(self, why: str) -> TrainResult:
        return _keep_quick(self.quick, self.details, why)


@dataclass
class _Estimate:
    """Fine-tuned models' out-of-fold probabilities, on the folds the budget afforded."""

    oof: torch.Tensor  # NaN outside `estimated`
    estimated: torch.Tensor  # bool, per image
    completion: list[float]  # per fine-tune, the share of its planned steps run
    rates: list[float]  # per fine-tune, images/s
    images: int  # compared: the images of the estimated folds
    tuned_ap: float
    frozen_ap: float
    wins: float  # share of bootstrap resamples in which fine-tuning stays ahead


def _train_advanced(job: _Job, started: float) -> TrainResult:
    """Quick training first (its model is the fallback and each fold's starting head), then
    fine-tunes on as many of the same folds as the budget affords, then the final model only
    if fine-tuning beat the frozen features on those folds."""
    request, progress = job.request, job.progress
    spec = job.backbone.spec
    deadline = started + request.budget_seconds - FINISH_SECONDS
    with tempfile.TemporaryDirectory(prefix="cv-train-", dir=request.scratch_dir) as scratch:
        with job.phases("decode"):
            store = SquareStore.build(
                request.samples,
                spec.input_size,
                Path(scratch),
                lambda done, total: progress(
                    2 + 8 * done / max(total, 1), f"Decoding images ({done}/{total})"
                ),
            )
            store.place(job.device, resident=job.gpu)
        quick, heads = _train_quick(
            dataclasses.replace(job, progress=lambda p, ph: progress(10 + p * 0.1, ph)), store
        )
        setup = finetune.Setup(
            request.recipe,
            spec,
            store,
            request.targets.float(),
            request.multilabel,
            job.device,
            gpu_path=job.gpu,
        )
        with job.phases("probe"):
            ips = finetune.throughput(setup, job.net, heads[-1])
        k = int(quick.folds.max()) + 1
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
            "amp": "bf16" if setup.gpu else None,
            "squares_on_device": store.resident is not None,
        }
        if the_plan.folds == 0:
            return _keep_quick(quick, details, f"Kept quick training's model: {the_plan.reason}.")
        tuning = _Tuning(job, setup, quick, heads, the_plan, deadline, details)
        with job.phases("folds"):
            estimate = _estimate_folds(tuning)
        return _choose_model(tuning, estimate)


def _estimate_folds(tuning: _Tuning) -> _Estimate:
    """The honest held-out evaluation: each planned fold fine-tuned from its own head on its
    training images, then scored on its held-out images, and compared with Quick's scores of
    the same images."""
    job, folds, targets = tuning.job, tuning.quick.folds, tuning.targets
    oof = torch.full_like(targets, float("nan"))
    estimated = torch.zeros(len(targets), dtype=torch.bool)
    completion: list[float] = []
    rates: list[float] = []
    for fold in range(tuning.plan.folds):
        held_out = folds == fold
        run = finetune.fine_tune(
            tuning.setup,
            _copy(job.net),
            _copy(tuning.heads[fold]),  # fitted on this fold's training images only
            (~held_out).nonzero().flatten(),
            epochs=tuning.plan.epochs,
            deadline=tuning.deadline,
            seed=job.request.seed + fold,
            progress=_within(job.progress, 20 + 75 * fold / tuning.steps, 75 / tuning.steps),
            label=f"Fine-tuning fold {fold + 1} of {tuning.plan.folds}",
        )
        completion.append(run.completed)
        rates.append(run.images_per_second)
        rows = held_out.nonzero().flatten()
        oof[rows] = finetune.predict(tuning.setup, run.model, rows)
        estimated |= held_out
        del run
    frozen = tuning.quick.oof_probabilities[estimated]
    return _Estimate(
        oof=oof,
        estimated=estimated,
        completion=completion,
        rates=rates,
        images=int(estimated.sum()),
        tuned_ap=mean_average_precision(targets[estimated], oof[estimated]),
        frozen_ap=mean_average_precision(targets[estimated], frozen),
        wins=bootstrap_wins(targets[estimated], oof[estimated], frozen, job.request.seed),
    )


def _choose_model(tuning: _Tuning, estimate: _Estimate) -> TrainResult:
    """Quick's model unless fine-tuning beat it on the estimated folds and the budget leaves
    enough epochs for the final fine-tune on every image; then that fine-tune."""
    job, details, targets = tuning.job, tuning.details, tuning.targets
    details["completed_share"] = estimate.completion
    details["fold_images_per_second"] = [round(r, 1) for r in estimate.rates]
    compared, tuned_ap, frozen_ap = estimate.images, estimate.tuned_ap, estimate.frozen_ap
    wins = estimate.wins
    details["compared"] = {
        "images": compared,
        "fine_tuned_map": round(tuned_ap, 4),
        "frozen_map": round(frozen_ap, 4),
        "fine_tuned_wins": round(wins, 3),
    }
    if tuned_ap < frozen_ap + KEEP_MARGIN or wins < KEEP_CONFIDENCE:
        return tuning.keep_quick(
            f"Kept quick training's model: on the same {compared} held-out images "
            f"fine-tuning scored mean AP {tuned_ap:.1%} against {frozen_ap:.1%} "
            f"(ahead in {wins:.0%} of resamples; replacing it needs {KEEP_CONFIDENCE:.0%}).",
        )
    # Re-planned at the speed the folds really ran, so the final model's schedule ends
    # inside the budget rather than being cut off mid-way.
    epochs = min(
        tuning.plan.epochs,
        math.floor((tuning.deadline - time.monotonic()) * min(estimate.rates) / len(targets)),
    )
    details["final_epochs"] = epochs
    min_epochs = job.request.recipe.min_epochs
    if epochs < min_epochs:
        return tuning.keep_quick(
            f"Kept quick training's model: the budget left {epochs} epochs for the final "
            f"fine-tune, under the {min_epochs} it needs.",
        )
    with job.phases("final"):
        run = finetune.fine_tune(
            tuning.setup,
            job.net,
            tuning.heads[-1],
            torch.arange(len(targets)),
            epochs=epochs,
            deadline=tuning.deadline,
            seed=job.request.seed + tuning.k,
            progress=_within(
                job.progress, 20 + 75 * tuning.plan.folds / tuning.steps, 75 / tuning.steps
            ),
            label="Fine-tuning the final model",
        )
    estimate.completion.append(run.completed)
    return _fine_tuned(tuning, estimate, run.model)


def _fine_tuned(tuning: _Tuning, estimate: _Estimate, model: finetune.Classifier) -> TrainResult:
    """The final fine-tune as the training's result, with the held-out figures it earned."""
    job, details, folds = tuning.job, tuning.details, tuning.quick.folds
    estimated, oof, targets = estimate.estimated, estimate.oof, tuning.targets
    details["kept"] = "finetuned"
    details["why"] = (
        f"Fine-tuned: on the same {estimate.images} held-out images it scored mean AP "
        f"{estimate.tuned_ap:.1%} against {estimate.frozen_ap:.1%} for quick training's model, "
        f"ahead in {estimate.wins:.0%} of resamples."
    )
    if tuning.plan.folds < tuning.k:
        details["why"] += (
            f" Estimated on {tuning.plan.folds} of {tuning.k} folds ({int(estimated.sum())} of "
            f"{len(targets)} images): {tuning.plan.reason}."
        )
    model = model.float().cpu()
    with job.phases("metrics"):
        metrics = evaluate(
            targets[estimated], oof[estimated], folds[estimated], job.request.unscored
        )
    return TrainResult(
        model=_serving_model(job.request, job.backbone, model.trunk, model.head),
        kind="finetuned",
        metrics=metrics,
        oof_probabilities=oof,
        folds=torch.where(estimated, folds, torch.full_like(folds, -1)),
        backbone=job.backbone.spec.name,
        weights_source=job.backbone.source,
        device=str(job.device),
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
    # A quick training's trunk is the pretrained one, unchanged: its traced graph is reused.
    trunk_key = result.weights_source if result.kind == "frozen" else None
    return ModelBundle(
        onnx=export_onnx(model, {"tags": ",".join(request.tag_names)}, trunk_key),
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
