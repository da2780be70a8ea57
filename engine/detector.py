"""Object detection training: an ImageNet trunk, a grid head with Azure's anchors, honest mAP.

Quick training runs the pretrained trunk once per photo and once per mirrored photo, keeps its
grid maps (stride 32, with the stride-16 stage pooled onto it), and trains only the small
`GridHead` on those cached maps: a few seconds of convolutions at 13 × 13 instead of the trunk
at 416 × 416 every step. The estimate is k-fold: each fold's head is trained on the other folds'
photos only and detects on its own, so every photo gets detections from a model that never
saw it; then the final head is trained on every photo.

The photo is stretched to the recipe's square (no aspect kept), as Microsoft's export samples
feed an exported detector, so the server, an export and those samples see the same pixels.
"""

from __future__ import annotations

import dataclasses
import io
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn

from engine.backbones import BackboneSpec, FeatureNet, ResolvedBackbone
from engine.boxes import ANCHORS, Box, Detection, decode, nms
from engine.bundle import ModelBundle
from engine.data import Sample, normalise
from engine.detection_metrics import evaluate, figures_json
from engine.features import FeatureCache, NoCache
from engine.grid_head import GridHead, activate, build_targets, grid_loss, select
from engine.phases import Phases
from engine.pixels import load_rgb, square_image
from engine.recipes import DetectionRecipe
from engine.runtime import keep_freed_memory
from engine.serving import PIXEL_METADATA
from engine.signature import INPUT_NAME, OUTPUT_NAME
from engine.train import Progress, pick_device

MAPS_VERSION = 1  # bump when the maps change: cached maps are keyed by it
REPORT_THRESHOLD = 0.5  # the figures stored with the iteration
REPORT_OVERLAP = 0.3


@dataclass
class DetectRequest:
    samples: Sequence[Sample]
    boxes: Sequence[Sequence[Box]]
    tag_names: Sequence[str]
    recipe: DetectionRecipe
    advanced: bool = False
    budget_seconds: float = 3600.0
    folds: int = 3
    seed: int = 0
    device: str | None = None
    profile: str | None = None
    scratch_dir: Path | None = None


@dataclass
class DetectResult:
    bundle: ModelBundle
    detections: list[list[Detection] | None]  # out of fold, per sample (None: not estimated)
    folds: list[int]  # -1: not estimated
    metrics: dict[str, Any]
    kind: str
    backbone: str
    weights_source: str
    device: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)


class TrunkMaps(nn.Module):
    """A FeatureNet's stages as a grid of features: the last block's stride-32 map, with the
    last stride-16 map average-pooled onto the same grid (finer detail for small objects)."""

    def __init__(self, net: FeatureNet) -> None:
        super().__init__()
        stages = list(net.stages)
        sizes = []
        with torch.no_grad():
            x = torch.zeros(1, 3, 64, 64)
            for stage in stages:
                x = stage.eval()(x)
                sizes.append(int(x.shape[-1]))
        if sizes[-1] == sizes[-2]:
            # A classifier's last stage is a 1×1 widening at the same stride (EfficientNet,
            # MobileNet): left out, the head reads the last block. A ResNet's last is a block.
            stages, sizes = stages[:-1], sizes[:-1]
        if sizes[-1] != 2:
            raise ValueError("The trunk's last block is not at stride 32.")
        self.fine = max(i for i, s in enumerate(sizes) if s == 4)
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fine = x
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index == self.fine:
                fine = x
        return torch.cat([x, F.avg_pool2d(fine, 2, ceil_mode=True)], dim=1)


class DetectorNet(nn.Module):
    """The served graph: (N, 3, S, S) RGB 0..255 → (N, A*(5+C), S/32, S/32), x, y sigmoid-ed."""

    def __init__(self, trunk: TrunkMaps, head: GridHead, spec: BackboneSpec) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.spec = spec

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return activate(self.head(self.trunk(normalise(pixels, self.spec))))


def stretched(data: bytes, side: int) -> torch.Tensor:
    """The photo resized to side × side (aspect not kept), uint8 (3, side, side)."""
    return TF.pil_to_tensor(square_image(load_rgb(data, side), side))


def mirrored(boxes: Sequence[Box]) -> list[Box]:
    return [(t, 1.0 - left - w, top, w, h) for t, left, top, w, h in boxes]


@dataclass(frozen=True)
class _Job:
    request: DetectRequest
    backbone: ResolvedBackbone
    trunk: TrunkMaps
    cache: FeatureCache
    device: torch.device
    progress: Progress
    phases: Phases


def _maps(job: _Job) -> tuple[torch.Tensor, torch.Tensor]:
    """float16 maps of every photo (N, C, H, W) and of its mirror, from the cache when there."""
    request, spec = job.request, job.backbone.spec
    side = request.recipe.image_size
    namespace = f"detect-{spec.name}-{side}-v{MAPS_VERSION}"
    cached = list(job.cache.get_many(namespace, [s.key for s in request.samples]))
    missing = [i for i, value in enumerate(cached) if value is None]
    trunk = job.trunk.eval().to(job.device)
    for start in range(0, len(missing), 8):
        chunk = missing[start : start + 8]
        with job.phases("decode"):
            pixels = torch.stack([stretched(request.samples[i].read(), side) for i in chunk])
        with torch.inference_mode():
            x = normalise(pixels.to(job.device), spec)
            plain, flipped = trunk(x).half().cpu(), trunk(x.flip(-1)).half().cpu()
        for offset, index in enumerate(chunk):
            value = {"center": plain[offset].clone(), "flip": flipped[offset].clone()}
            cached[index] = value
            job.cache.put(namespace, request.samples[index].key, value)
        done = len(request.samples) - len(missing) + start + len(chunk)
        job.progress(5 + 55 * done / len(request.samples), f"Computing features ({done} images)")
    job.cache.flush()
    values = [v for v in cached if v is not None]
    return torch.stack([v["center"] for v in values]), torch.stack([v["flip"] for v in values])


def assign_folds(boxes: Sequence[Sequence[Box]], k: int, seed: int) -> list[int]:
    """Stratified: photos ordered by their rarest tag (photos without boxes last), dealt out."""
    counts: dict[int, int] = {}
    for image in boxes:
        for tag in {b[0] for b in image}:
            counts[tag] = counts.get(tag, 0) + 1
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(boxes))

    def rarest(i: int) -> tuple[int, int]:
        tags = {b[0] for b in boxes[i]}
        return min(((counts[t], t) for t in tags), default=(len(boxes) + 1, -1))

    ranked = sorted(order.tolist(), key=rarest)
    folds = [0] * len(boxes)
    for position, index in enumerate(ranked):
        folds[index] = position % k
    return folds


@dataclass(frozen=True)
class _Data:
    """The cached maps of a training set: the photos, then (when the recipe flips) their
    mirrors, with their boxes."""

    maps: torch.Tensor  # float16 (V·N, C, H, W)
    boxes: list[list[Box]]  # V·N
    count: int  # N

    @classmethod
    def of(
        cls, plain: torch.Tensor, flipped: torch.Tensor, boxes: Sequence[Sequence[Box]], flips: bool
    ) -> _Data:
        if not flips:
            return cls(plain, [list(b) for b in boxes], len(boxes))
        return cls(
            torch.cat([plain, flipped]),
            [*(list(b) for b in boxes), *map(mirrored, boxes)],
            len(boxes),
        )

    def rows(self, photos: Sequence[int]) -> torch.Tensor:
        """The rows of these photos in every view."""
        views = self.maps.shape[0] // self.count
        return torch.tensor([p + v * self.count for v in range(views) for p in photos])


def fit_head(
    data: _Data,
    rows: Sequence[int],
    recipe: DetectionRecipe,
    classes: int,
    seed: int,
    on_epoch: Callable[[int, int], None] = lambda epoch, total: None,
) -> GridHead:
    """A GridHead trained on these rows' photos and their mirrors (AdamW, cosine schedule)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    index = data.rows(rows)
    maps = data.maps[index].float()
    targets = build_targets([data.boxes[int(i)] for i in index], *maps.shape[-2:])
    mean = maps.mean(dim=(0, 2, 3))
    std = maps.std(dim=(0, 2, 3)).clamp(min=1e-3)
    head = GridHead(mean, std, recipe.hidden, classes)
    optimiser = torch.optim.AdamW(head.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    per_epoch = max(1, -(-len(index) // recipe.batch_size))
    # Large sets get fewer epochs: past `max_steps` steps a head has seen enough.
    epochs = max(1, min(recipe.epochs, recipe.max_steps // per_epoch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, recipe.lr, total_steps=epochs * per_epoch, pct_start=0.1
    )
    head.train()
    for epoch in range(epochs):
        for batch in torch.randperm(len(index), generator=generator).split(recipe.batch_size):
            loss = grid_loss(head(maps[batch]), select(targets, batch))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        on_epoch(epoch + 1, epochs)
    return head.eval()


def detect_maps(head: GridHead, maps: torch.Tensor) -> list[list[Detection]]:
    """Detections (after NMS, floor 0.01) of each of these maps, as the server makes them."""
    with torch.inference_mode():
        grids = activate(head(maps.float())).numpy()
    return [nms(*decode(grid)) for grid in grids]


def train_detector(
    request: DetectRequest,
    *,
    backbone: ResolvedBackbone,
    progress: Progress = lambda percent, phase: None,
    cache: FeatureCache | NoCache | None = None,
) -> DetectResult:
    """Quick training (or Advanced: `detection_finetune`), its k-fold estimate and the model."""
    started = time.monotonic()
    keep_freed_memory()
    torch.manual_seed(request.seed)
    device = pick_device(request.device)
    phases = Phases()
    progress(2, f"Loading {backbone.spec.name}")
    with phases("load"):
        trunk = TrunkMaps(backbone.build())
    job = _Job(request, backbone, trunk, cache or NoCache(), device, progress, phases)
    result = _train_quick(job)
    if request.advanced:
        from engine.detection_finetune import improve

        result = improve(job, result, started)
    progress(98, "Exporting the model")
    with phases("export"):
        result.bundle = detection_bundle(request, result.model, result)
    result.seconds = time.monotonic() - started
    result.phases = phases.rounded()
    result.details["cpu_threads"] = torch.get_num_threads()
    progress(100, "Completed")
    return result.as_result()


@dataclass
class _Trained:
    """A training's outcome before its graph is exported."""

    model: DetectorNet
    detections: list[list[Detection] | None]
    folds: list[int]
    metrics: dict[str, Any]
    kind: str
    backbone: ResolvedBackbone
    device: str
    details: dict[str, Any]
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    bundle: ModelBundle | None = None
    heads: list[GridHead] = field(default_factory=list)  # each fold's, for fine-tuning

    def as_result(self) -> DetectResult:
        assert self.bundle is not None
        return DetectResult(
            bundle=self.bundle,
            detections=self.detections,
            folds=self.folds,
            metrics=self.metrics,
            kind=self.kind,
            backbone=self.backbone.spec.name,
            weights_source=self.backbone.source,
            device=self.device,
            seconds=self.seconds,
            details=self.details,
            phases=self.phases,
        )


def fold_count(boxes: Sequence[Sequence[Box]], requested: int) -> int:
    return max(2, min(requested, len(boxes)))


def detection_metrics(
    truth: Sequence[Sequence[Box]],
    detections: Sequence[Sequence[Detection] | None],
    classes: int,
    estimate: str,
) -> dict[str, Any]:
    figures = evaluate(
        truth, detections, classes, threshold=REPORT_THRESHOLD, overlap=REPORT_OVERLAP
    )
    return figures_json(figures) | {"estimate": estimate}


def _epochs(progress: Progress, fold: int, k: int) -> Callable[[int, int], None]:
    """A fold's head reports each epoch, so a cancel stops it within an epoch."""

    def report(epoch: int, total: int) -> None:
        progress(60 + 30 * (fold + epoch / total) / k, f"Cross-validating (fold {fold + 1} of {k})")

    return report


def _train_quick(job: _Job) -> _Trained:
    request, progress, recipe = job.request, job.progress, job.request.recipe
    classes = len(request.tag_names)
    with job.phases("features"):
        plain, flipped = _maps(job)
    data = _Data.of(plain, flipped, request.boxes, recipe.flips)
    k = fold_count(request.boxes, request.folds)
    folds = assign_folds(request.boxes, k, request.seed)
    detections: list[list[Detection] | None] = [None] * len(folds)
    heads: list[GridHead] = []
    with job.phases("folds"):
        for fold in range(k):
            progress(60 + 30 * fold / k, f"Cross-validating (fold {fold + 1} of {k})")
            rows = [i for i, f in enumerate(folds) if f != fold]
            held = [i for i, f in enumerate(folds) if f == fold]
            head = fit_head(
                data,
                rows,
                recipe,
                classes,
                request.seed + fold,
                _epochs(progress, fold, k),
            )
            heads.append(head)
            for i, found in zip(held, detect_maps(head, plain[held]), strict=True):
                detections[i] = found
    progress(90, "Training the final model")
    with job.phases("final"):
        head = fit_head(data, range(len(folds)), recipe, classes, request.seed + k)
    with job.phases("metrics"):
        estimate = f"{k}-fold cross-validation: every photo scored by a model trained without it"
        metrics = detection_metrics(request.boxes, detections, classes, estimate)
    return _Trained(
        model=DetectorNet(job.trunk, head, job.backbone.spec).eval(),
        detections=detections,
        folds=folds,
        metrics=metrics,
        kind="frozen",
        backbone=job.backbone,
        device=str(job.device),
        details={"folds": k, "estimate": estimate, "epochs": recipe.epochs, "kept": "frozen"},
        heads=heads,
    )


def export_detector(model: DetectorNet, side: int, metadata: dict[str, str]) -> bytes:
    """The model as an ONNX graph (float32, free batch size) with `metadata` attached."""
    import onnx

    example = torch.zeros(1, 3, side, side)
    buffer = io.BytesIO()
    model = model.float().cpu().eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object is accepted, as documented
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    for name, text in (PIXEL_METADATA | metadata).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = name, text
    graph.producer_name = "custom-vision-self-hosted"
    return bytes(graph.SerializeToString())


def detection_bundle(request: DetectRequest, model: DetectorNet, result: _Trained) -> ModelBundle:
    side = request.recipe.image_size
    return ModelBundle(
        onnx=export_detector(model, side, {"tags": ",".join(request.tag_names)}),
        tag_names=list(request.tag_names),
        multilabel=False,
        image_size=side,
        input_size=side,
        backbone=result.backbone.spec.name,
        weights_source=result.backbone.source,
        kind=result.kind,
        test_views=["center"],
        recipe=dataclasses.asdict(request.recipe),
        task="detection",
        anchors=ANCHORS.tolist(),
        export_form=request.recipe.export_form,
    )
