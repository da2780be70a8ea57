"""Fine-tuning a pretrained trunk and its head on squares, within a time plan.

The loop is built to keep a GPU busy: batches are gathered from the decoded squares (on the
GPU already when they fit) and augmented in batch on the device by a producer thread, one
batch ahead of the optimiser; bf16 autocast and channels_last on the GPU path. On a CPU the
same producer overlaps augmentation with the training step (threads, not DataLoader
processes: a Celery prefork child is daemonic and may not start processes of its own).

The GPU path is chosen by `Setup.gpu`, not by the device alone: it runs on a CPU too (torch
has bf16 autocast and channels_last there), so a test exercises it where no GPU is lent.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from engine.augment import augment
from engine.backbones import BackboneSpec, FeatureNet
from engine.data import normalise, views
from engine.head import LinearHead, score
from engine.recipes import Recipe
from engine.squares import SquareStore

Progress = Callable[[float, str], None]


class Classifier(nn.Module):
    def __init__(self, trunk: FeatureNet, head: LinearHead) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


@dataclass(frozen=True)
class Setup:
    """What every fine-tune of one training shares."""

    recipe: Recipe
    spec: BackboneSpec
    store: SquareStore
    targets: torch.Tensor  # (N, C) of 0/1
    multilabel: bool
    device: torch.device
    # The GPU code path (bf16 autocast, channels_last, GPU batches, every stage trained);
    # None: on CUDA only. True on a CPU runs that path where no GPU is.
    gpu_path: bool | None = None

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def gpu(self) -> bool:
        return self.cuda if self.gpu_path is None else self.gpu_path

    @property
    def batch_size(self) -> int:
        return self.recipe.gpu_batch_size if self.gpu else self.recipe.batch_size

    @property
    def unfreeze(self) -> int:
        """Stages trained from the top; 0 means all of them."""
        return self.recipe.unfreeze_stages if self.gpu else self.recipe.cpu_unfreeze_stages


# --- Planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    folds: int  # how many of the k folds get a fine-tune of their own (0: none can)
    epochs: int
    reason: str


def plan(
    *,
    images: int,
    k: int,
    seconds: float,
    images_per_second: float,
    recipe: Recipe,
) -> Plan:
    """The most folds (up to k) whose fine-tunes, and the final model's, all get a good number
    of epochs in `seconds`; fewer folds rather than under-trained ones.

    Every fine-tune runs the same number of epochs, so the folds estimate the final model.
    A fold trains on (k-1)/k of the images and also scores its held-out 1/k (about a third of
    a training step's cost per image).
    """
    per_epoch_final = images / images_per_second

    def affordable(folds: int) -> int:
        per_epoch = per_epoch_final * (1 + folds * (k - 1) / k)
        scoring = folds * (images / k) / (3 * images_per_second)
        return math.floor((seconds - scoring) / per_epoch) if per_epoch > 0 else 0

    for folds in range(k, 0, -1):
        epochs = affordable(folds)
        if epochs >= recipe.good_epochs:
            epochs = min(epochs, recipe.max_epochs)
            note = "" if folds == k else f" (the budget affords {folds} of {k} folds)"
            return Plan(folds, epochs, f"{folds} fold fine-tunes of {epochs} epochs{note}")
    epochs = min(affordable(1), recipe.max_epochs)
    if epochs >= recipe.min_epochs:
        return Plan(1, epochs, f"1 fold fine-tune of {epochs} epochs (the budget affords no more)")
    return Plan(
        0,
        0,
        f"the budget left after quick training affords {max(epochs, 0)} epochs of fine-tuning, "
        f"under the {recipe.min_epochs} that could improve on it",
    )


# The probe runs a few steps with nothing beside them; a whole fine-tune also reports
# progress and evaluates, and ran ~15 % slower on this project's CPU machine.
PROBE_DISCOUNT = 0.85


def throughput(setup: Setup, trunk: FeatureNet, head: LinearHead, steps: int = 3) -> float:
    """Training images per second to plan with, measured on a throwaway copy after warm-up
    steps and discounted (PROBE_DISCOUNT)."""
    import copy

    model = _prepare(setup, copy.deepcopy(trunk), copy.deepcopy(head))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.0)
    rows = torch.arange(min(setup.batch_size, setup.store.count))
    generator = torch.Generator().manual_seed(0)
    warm = 3 if setup.gpu else 1  # cuDNN picks its kernels on the first calls
    started = 0.0
    for step in range(warm + steps):
        if step == warm:
            _sync(setup)
            started = time.perf_counter()
        _step(setup, model, optimiser, _batch(setup, rows, generator), setup.targets[rows])
    _sync(setup)
    return PROBE_DISCOUNT * steps * len(rows) / max(time.perf_counter() - started, 1e-6)


# --- Training ---------------------------------------------------------------------------------


def fine_tune(
    setup: Setup,
    trunk: FeatureNet,
    head: LinearHead,
    rows: torch.Tensor,
    *,
    epochs: int,
    deadline: float,
    seed: int,
    progress: Progress,
    label: str,
) -> Run:
    """Train on `rows` (sample indices) for `epochs`, stopping early only at `deadline`."""
    model = _prepare(setup, trunk, head)
    recipe = setup.recipe
    # Larger GPU batches take larger steps (square-root scaling, as for Adam-type optimisers).
    lr_scale = math.sqrt(setup.batch_size / recipe.batch_size)
    body = [p for p in model.trunk.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(
        [
            {"params": body, "lr": recipe.lr_body * lr_scale},
            {"params": list(model.head.parameters()), "lr": recipe.lr_head * lr_scale},
        ],
        weight_decay=recipe.weight_decay,
    )
    base = [group["lr"] for group in optimiser.param_groups]
    per_epoch = math.ceil(len(rows) / setup.batch_size)
    total = max(1, epochs * per_epoch)
    warmup = min(total // 10, 3 * per_epoch)
    done, seen = 0, 0
    generator = torch.Generator().manual_seed(seed)
    started = time.monotonic()
    for x, y in _batches(setup, rows, epochs, generator):
        if time.monotonic() >= deadline:
            break  # the budget is a promise: stop rather than overrun it
        factor = (
            (done + 1) / (warmup + 1)
            if done < warmup
            else 0.5 * (1 + math.cos(math.pi * (done - warmup) / max(total - warmup, 1)))
        )
        for group, lr in zip(optimiser.param_groups, base, strict=True):
            group["lr"] = lr * factor
        _step(setup, model, optimiser, x, y)
        done += 1
        seen += len(x)
        if done % 4 == 0 or done == total:
            progress(done / total, f"{label}: epoch {min(epochs, done // per_epoch + 1)}/{epochs}")
    _sync(setup)
    rate = seen / max(time.monotonic() - started, 1e-6)
    return Run(model.eval(), round(done / total, 3), rate)


@dataclass
class Run:
    model: Classifier
    completed: float  # share of the planned steps run: under 1 only if the deadline came first
    images_per_second: float


def predict(setup: Setup, model: Classifier, rows: torch.Tensor) -> torch.Tensor:
    """Probabilities for `rows` with the recipe's test views: what prediction will compute."""
    outputs = []
    model.eval()
    for start in range(0, len(rows), setup.batch_size):
        part = rows[start : start + setup.batch_size]
        squares = setup.store.gather(part, setup.device)
        batches = [_layout(setup, b) for b in views(squares, setup.recipe.test_views, setup.spec)]
        with torch.autocast(setup.device.type, dtype=torch.bfloat16, enabled=setup.gpu):
            outputs.append(score(model, batches, setup.multilabel).float().cpu())
    return torch.cat(outputs)


def _prepare(setup: Setup, trunk: FeatureNet, head: LinearHead) -> Classifier:
    model = Classifier(trunk, head).to(setup.device)
    if setup.gpu:
        model = model.to(memory_format=torch.channels_last)
    if setup.cuda:
        torch.backends.cudnn.benchmark = True  # one input size: let cuDNN pick its fastest
    stages = list(trunk.stages)
    trainable = stages if setup.unfreeze == 0 else stages[-setup.unfreeze :]
    for parameter in trunk.parameters():
        parameter.requires_grad_(False)
    for stage in trainable:
        for parameter in stage.parameters():
            parameter.requires_grad_(True)
    model.train()
    # BatchNorm keeps ImageNet's statistics (its scale and shift still learn): batches of a
    # few dozen user photos are too small and too alike to re-estimate them, and the Keras
    # guide to fine-tuning EfficientNet does the same.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    return model


def _loss(setup: Setup, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if setup.multilabel:
        return nn.functional.binary_cross_entropy_with_logits(logits, target)
    return nn.functional.cross_entropy(logits, target.argmax(1), label_smoothing=0.1)


def _step(
    setup: Setup,
    model: Classifier,
    optimiser: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
) -> None:
    with torch.autocast(setup.device.type, dtype=torch.bfloat16, enabled=setup.gpu):
        logits = model(x)
    loss = _loss(setup, logits.float(), y.to(setup.device, non_blocking=True))
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def _layout(setup: Setup, x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if setup.gpu else x


def _batch(setup: Setup, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    squares = setup.store.gather(rows, setup.device)
    pixels = augment(squares, setup.recipe, setup.spec.input_size, generator)
    return _layout(setup, normalise(pixels, setup.spec))


def _batches(
    setup: Setup, rows: torch.Tensor, epochs: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Augmented batches, prepared by a producer thread one or two ahead of the consumer."""
    ready: queue.Queue[tuple[torch.Tensor, torch.Tensor] | BaseException | None] = queue.Queue(2)
    stop = threading.Event()

    def offer(item: tuple[torch.Tensor, torch.Tensor] | BaseException | None) -> bool:
        """Queue an item unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for _ in range(epochs):
                order = rows[torch.randperm(len(rows), generator=generator)]
                for start in range(0, len(order), setup.batch_size):
                    part = order[start : start + setup.batch_size]
                    if not offer((_batch(setup, part, generator), setup.targets[part])):
                        return
            offer(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(exc)

    producer = threading.Thread(target=produce, name="augment", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join(timeout=10)


def _sync(setup: Setup) -> None:
    if setup.cuda:
        torch.cuda.synchronize(setup.device)
