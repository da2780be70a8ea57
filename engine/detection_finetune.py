"""Advanced detection training: the trunk's top stages fine-tuned with the head, on augmented
photos, within the budget, kept only when it beats Quick's model on the same held-out photos.

Mirrors the classification engine (`train._train_advanced`): Quick's model comes first (the
fallback, and each fold's starting head); fine-tunes run on as many of Quick's folds as the
budget affords at a useful number of epochs; their out-of-fold detections are compared with
Quick's on the same photos (mAP at IoU 0.5); the final fine-tune on every photo replaces
Quick's model only when it won. `details` says what ran and why the model was kept.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.boxes import Box, Detection, decode, nms
from engine.data import normalise
from engine.detection_metrics import evaluate
from engine.grid_head import GridHead, activate, build_targets, grid_loss
from engine.squares import decode_threads

if TYPE_CHECKING:
    from engine.detector import TrunkMaps, _Job, _Trained

KEEP_MARGIN = 0.01  # mAP@0.5 fine-tuning must win by, on the same held-out photos
FINISH_SECONDS = 3.0  # kept back from the budget to export and save
GOOD_EPOCHS = 15  # fewer folds are estimated rather than fewer epochs than this
PROBE_STEPS = 2


class Tuned(nn.Module):
    """Trunk and head trained together; the stages below `first` run without gradients."""

    def __init__(self, trunk: TrunkMaps, head: GridHead, unfreeze: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        count = len(trunk.stages)
        self.first = 0 if unfreeze <= 0 else max(0, count - unfreeze)
        for index, stage in enumerate(trunk.stages):
            stage.requires_grad_(index >= self.first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fine = x
        for index, stage in enumerate(self.trunk.stages):
            with torch.set_grad_enabled(torch.is_grad_enabled() and index >= self.first):
                x = stage(x)
            if index == self.trunk.fine:
                fine = x
        maps = torch.cat([x, F.avg_pool2d(fine, 2, ceil_mode=True)], dim=1)
        return self.head(maps)


def decode_all(job: _Job) -> torch.Tensor:
    """Every photo stretched to the recipe's square, uint8 (N, 3, S, S)."""
    from engine.detector import stretched

    side = job.request.recipe.image_size
    with ThreadPoolExecutor(max_workers=decode_threads()) as pool:
        squares = pool.map(lambda s: stretched(s.read(), side), job.request.samples)
        return torch.stack(list(squares))


def augment(
    pixels: torch.Tensor,
    boxes: Sequence[Sequence[Box]],
    flips: bool,
    colour: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, list[list[Box]]]:
    """A random crop (60–100 % of each side, anywhere), mirror and colour jitter per photo;
    the boxes move with the pixels (cut to the crop, dropped when under a third is left)."""
    n, side = pixels.shape[0], pixels.shape[-1]
    scale = torch.rand(n, 2, generator=generator) * 0.4 + 0.6  # crop width, height (share)
    origin = torch.rand(n, 2, generator=generator) * (1 - scale)
    mirror = (torch.rand(n, generator=generator) < 0.5) & flips
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale[:, 0] * torch.where(mirror, -1.0, 1.0)
    theta[:, 1, 1] = scale[:, 1]
    theta[:, :, 2] = (origin + scale / 2) * 2 - 1
    grid = F.affine_grid(theta, [n, 3, side, side], align_corners=False)
    out = F.grid_sample(pixels.float(), grid.to(pixels.device), align_corners=False)
    if colour > 0:
        gain = 1 + (torch.rand(n, 3, 1, 1, generator=generator) * 2 - 1) * colour * 0.3
        bright = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * colour
        out = (out * (gain * bright).to(out.device)).clamp(0, 255)
    moved = []
    for i, image in enumerate(boxes):
        (x0, y0), (sx, sy) = origin[i].tolist(), scale[i].tolist()
        moved.append(_moved(image, x0, y0, sx, sy, bool(mirror[i])))
    return out, moved


def _moved(
    boxes: Sequence[Box], x0: float, y0: float, sx: float, sy: float, mirror: bool
) -> list[Box]:
    kept: list[Box] = []
    for tag, left, top, width, height in boxes:
        x1, y1 = max((left - x0) / sx, 0.0), max((top - y0) / sy, 0.0)
        x2, y2 = min((left + width - x0) / sx, 1.0), min((top + height - y0) / sy, 1.0)
        if x2 <= x1 or y2 <= y1 or (x2 - x1) * (y2 - y1) * sx * sy < width * height / 3:
            continue
        if mirror:
            x1, x2 = 1 - x2, 1 - x1
        kept.append((tag, x1, y1, x2 - x1, y2 - y1))
    return kept


@dataclass
class Run:
    model: Tuned
    completed: float  # the share of planned steps run before the deadline
    images_per_second: float


def fine_tune(
    job: _Job,
    model: Tuned,
    squares: torch.Tensor,
    rows: Sequence[int],
    epochs: int,
    deadline: float,
    seed: int,
    report: Callable[[float], None],
) -> Run:
    """AdamW (head at the recipe's rate, the trunk's stages lower) on a one-cycle schedule."""
    recipe, device = job.request.recipe, job.device
    generator = torch.Generator().manual_seed(seed)
    batch = 32 if device.type == "cuda" else 8
    steps = max(1, epochs * math.ceil(len(rows) / batch))
    trunk_params = [p for p in model.trunk.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(
        [
            {"params": list(model.head.parameters()), "lr": recipe.lr * 0.3},
            {"params": trunk_params, "lr": recipe.lr_body},
        ],
        weight_decay=recipe.weight_decay,
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, [recipe.lr * 0.3, recipe.lr_body], total_steps=steps, pct_start=0.15
    )
    model.to(device).eval()  # BatchNorm keeps its ImageNet statistics: batches are small
    model.head.train()
    order = torch.tensor(list(rows))
    done, seen, started = 0, 0, time.monotonic()
    while done < steps and time.monotonic() < deadline:
        for chunk in order[torch.randperm(len(order), generator=generator)].split(batch):
            if done >= steps or time.monotonic() >= deadline:
                break
            truth = [job.request.boxes[int(i)] for i in chunk]
            pixels, moved = augment(
                squares[chunk].to(device), truth, recipe.flips, recipe.color_jitter, generator
            )
            raw = model(normalise(pixels, job.backbone.spec))
            loss = grid_loss(raw, _on(build_targets(moved, *raw.shape[-2:]), device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            done, seen = done + 1, seen + len(chunk)
            report(done / steps)
    model.eval()
    rate = seen / max(time.monotonic() - started, 1e-6)
    return Run(model, done / steps, rate)


def _on(targets: Any, device: torch.device) -> Any:
    for name in targets.__dataclass_fields__:
        setattr(targets, name, getattr(targets, name).to(device))
    return targets


def detect(job: _Job, model: Tuned, squares: torch.Tensor) -> list[list[Detection]]:
    """Detections of these photos by a fine-tuned model, as the server would make them."""
    found: list[list[Detection]] = []
    with torch.inference_mode():
        for chunk in squares.split(8):
            raw = model(normalise(chunk.to(job.device).float(), job.backbone.spec))
            found += [nms(*decode(g)) for g in activate(raw).float().cpu().numpy()]
    return found


@dataclass(frozen=True)
class Plan:
    folds: int  # Quick's folds to estimate fine-tuning on (0: keep Quick's model)
    epochs: int
    reason: str


def plan(images: int, k: int, seconds: float, images_per_second: float, recipe: Any) -> Plan:
    """As many folds as the budget affords at GOOD_EPOCHS (or the recipe's most), else one
    fold at fewer epochs, else none (Quick's model is kept)."""
    wanted = min(GOOD_EPOCHS, recipe.max_epochs)
    affordable = 0
    for folds in range(k, 0, -1):
        seen_per_epoch = images * (folds * (k - 1) / k + 1)  # the folds, then the final model
        affordable = max(0, math.floor(seconds * images_per_second / seen_per_epoch))
        if affordable >= wanted or (folds == 1 and affordable >= recipe.min_epochs):
            epochs = min(affordable, recipe.max_epochs)
            return Plan(folds, epochs, f"{folds} of {k} folds at {epochs} epochs fit the budget")
    return Plan(
        0,
        affordable,
        f"the budget affords {affordable} epochs of fine-tuning, under the "
        f"{recipe.min_epochs} it needs",
    )


def _unfreeze(job: _Job) -> int:
    recipe = job.request.recipe
    return recipe.unfreeze_stages if job.device.type == "cuda" else recipe.cpu_unfreeze_stages


def _throughput(job: _Job, quick: _Trained, squares: torch.Tensor) -> float:
    model = Tuned(copy.deepcopy(job.trunk), copy.deepcopy(quick.model.head), _unfreeze(job))
    rows = list(range(min(len(squares), 8 * PROBE_STEPS)))
    run = fine_tune(job, model, squares, rows, 1, time.monotonic() + 60, 0, lambda f: None)
    return run.images_per_second


def improve(job: _Job, quick: _Trained, started: float) -> _Trained:
    """Quick's model, or a fine-tune that beat it on the same held-out photos."""
    request = job.request
    deadline = started + request.budget_seconds - FINISH_SECONDS
    if time.monotonic() >= deadline:
        why = "Kept quick training's model: quick training used the whole budget."
        return _keep(quick, quick.details | {"estimated_folds": 0}, why)
    job.progress(91, "Decoding photos for fine-tuning")
    with job.phases("decode"):
        squares = decode_all(job)
    with job.phases("probe"):
        ips = _throughput(job, quick, squares)
    k = max(quick.folds) + 1
    the_plan = plan(len(squares), k, deadline - time.monotonic(), ips, request.recipe)
    details = quick.details | {
        "images_per_second": round(ips, 1),
        "plan": the_plan.reason,
        "estimated_folds": the_plan.folds,
        "fine_tune_epochs": the_plan.epochs,
        "fine_tuned_stages": _unfreeze(job) or "all",
    }
    if the_plan.folds == 0:
        return _keep(quick, details, f"Kept quick training's model: {the_plan.reason}.")
    with job.phases("folds"):
        tuned, estimated = _estimate(job, quick, squares, the_plan, deadline)
    return _choose(job, quick, squares, the_plan, deadline, tuned, estimated, details)


def _estimate(
    job: _Job, quick: _Trained, squares: torch.Tensor, the_plan: Plan, deadline: float
) -> tuple[list[list[Detection] | None], list[bool]]:
    """Each planned fold fine-tuned from Quick's trunk and head on its training photos, then
    detecting on its held-out photos."""
    folds = quick.folds
    tuned: list[list[Detection] | None] = [None] * len(folds)
    estimated = [False] * len(folds)
    steps = the_plan.folds + 1
    for fold in range(the_plan.folds):
        rows = [i for i, f in enumerate(folds) if f != fold]
        held = [i for i, f in enumerate(folds) if f == fold]
        # Each fold starts from its own Quick head, fitted without its held-out photos.
        model = Tuned(copy.deepcopy(job.trunk), copy.deepcopy(quick.heads[fold]), _unfreeze(job))
        start = 92 + 6 * fold / steps
        run = fine_tune(
            job,
            model,
            squares,
            rows,
            the_plan.epochs,
            deadline,
            job.request.seed + fold,
            _stretch(job, start, 6 / steps, "Fine-tuning (estimate)"),
        )
        for i, found in zip(held, detect(job, run.model, squares[held]), strict=True):
            tuned[i], estimated[i] = found, True
    return tuned, estimated


def _stretch(job: _Job, start: float, width: float, phase: str) -> Callable[[float], None]:
    """A fine-tune's progress (0…1) as a stretch of the training's percentage."""

    def report(fraction: float) -> None:
        job.progress(start + width * fraction, phase)

    return report


def _map50(job: _Job, found: Sequence[Sequence[Detection] | None]) -> float:
    classes = len(job.request.tag_names)
    figures = evaluate(job.request.boxes, found, classes, threshold=0.5, overlap=0.5)
    return figures.mean_average_precision


def _choose(
    job: _Job,
    quick: _Trained,
    squares: torch.Tensor,
    the_plan: Plan,
    deadline: float,
    tuned: list[list[Detection] | None],
    estimated: list[bool],
    details: dict[str, Any],
) -> _Trained:
    from engine.detector import DetectorNet, detection_metrics

    same = [d if e else None for d, e in zip(quick.detections, estimated, strict=True)]
    tuned_map, frozen_map = _map50(job, tuned), _map50(job, same)
    compared = sum(estimated)
    details["compared"] = {
        "images": compared,
        "fine_tuned_map50": round(tuned_map, 4),
        "frozen_map50": round(frozen_map, 4),
    }
    if tuned_map < frozen_map + KEEP_MARGIN:
        return _keep(
            quick,
            details,
            f"Kept quick training's model: on the same {compared} held-out photos fine-tuning "
            f"scored mAP@0.5 {tuned_map:.1%} against {frozen_map:.1%}.",
        )
    model = Tuned(copy.deepcopy(job.trunk), copy.deepcopy(quick.model.head), _unfreeze(job))
    with job.phases("final"):
        run = fine_tune(
            job,
            model,
            squares,
            range(len(squares)),
            the_plan.epochs,
            deadline,
            job.request.seed + len(estimated),
            lambda f: job.progress(
                98 - 6 / (the_plan.folds + 1) * (1 - f), "Fine-tuning the final model"
            ),
        )
    details["final_completed_share"] = round(run.completed, 3)
    if run.completed < 1:
        return _keep(
            quick,
            details,
            "Kept quick training's model: the budget ran out in the final fine-tune.",
        )
    details |= {
        "kept": "finetuned",
        "why": (
            f"Fine-tuned: on the same {compared} held-out photos it scored mAP@0.5 "
            f"{tuned_map:.1%} against {frozen_map:.1%} for quick training's model."
        ),
    }
    estimate = (
        f"{the_plan.folds} of {max(quick.folds) + 1} folds fine-tuned: "
        f"{compared} photos scored by models trained without them"
    )
    details["estimate"] = estimate
    classes = len(job.request.tag_names)
    trunk = run.model.trunk.float().cpu().eval()
    return dataclasses.replace(
        quick,
        model=DetectorNet(trunk, run.model.head.float().cpu().eval(), job.backbone.spec),
        detections=tuned,
        folds=[f if e else -1 for f, e in zip(quick.folds, estimated, strict=True)],
        metrics=detection_metrics(job.request.boxes, tuned, classes, estimate),
        kind="finetuned",
        details=details,
    )


def _keep(quick: _Trained, details: dict[str, Any], why: str) -> _Trained:
    quick.details = details | {"kept": "frozen", "why": why}
    return quick
