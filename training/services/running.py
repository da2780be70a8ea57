"""Training a queued iteration, in a worker: claim, heartbeat, train, record."""

from __future__ import annotations

import functools
import logging
import time
import traceback
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import jobs, storage, threads
from engine.recipes import detection_recipe_for, recipe_for
from projects.domains import DOMAINS_BY_ID, OBJECT_DETECTION
from projects.models import Project, Tag
from training.jobs import TRAINING
from training.models import Iteration, IterationImage
from training.services.features import feature_cache

if TYPE_CHECKING:
    import torch

    from engine.bundle import ModelBundle
    from engine.features import Sample

# torch and the engine's training modules are imported where training runs (a worker), not
# here: the web tier and the light worker import this module and never train.

logger = logging.getLogger(__name__)


def iteration_claim(*, iteration_id: uuid.UUID | str, worker: str) -> bool:
    """Atomically move a Queued iteration to Training; False if someone else already did.

    A redelivered task (the broker gave it out again after a worker died) finds the row no
    longer Queued and does nothing, so an iteration never trains twice.
    """
    return jobs.claim(TRAINING, iteration_id, worker=worker, progress=1, phase="Starting")


class _Reporter:
    """Progress callback for the engine: writes progress + heartbeat, and notices a cancel."""

    def __init__(self, iteration_id: uuid.UUID) -> None:
        self.iteration_id = iteration_id
        self.last = 0.0

    def __call__(self, percent: float, phase: str) -> None:
        now = time.time()
        if percent < 100 and (now - self.last) < 0.5:
            return
        self.last = now
        going_on = jobs.beat(
            TRAINING, self.iteration_id, progress=min(99, int(percent)), phase=phase[:200]
        )
        if not going_on:  # cancelled (or failed by the sweep) meanwhile
            from engine.train import Cancelled

            raise Cancelled


def _samples(iteration: Iteration) -> tuple[list[Sample], torch.Tensor, list[IterationImage]]:
    import torch

    from engine.features import Sample

    rows = list(iteration.images.select_related("image").order_by("image__created_at", "image_id"))
    order = {tag["id"]: index for index, tag in enumerate(iteration.tags)}
    targets = torch.zeros(len(rows), len(order))
    samples = []
    for r, row in enumerate(rows):
        for tag_id in row.tag_ids:
            targets[r, order[tag_id]] = 1
        name = str(row.image.file.name)

        samples.append(
            Sample(key=row.image.content_hash, read=functools.partial(storage.read, name))
        )
    return samples, targets, rows


def iteration_run(*, iteration_id: uuid.UUID | str, worker: str = "") -> None:
    """Train a Queued iteration to Completed, Failed or Cancelled. Never leaves it Training."""
    if not iteration_claim(iteration_id=iteration_id, worker=worker):
        logger.info("Iteration %s is not Queued any more; nothing to do.", iteration_id)
        return
    from engine.backbones import WeightsUnavailable
    from engine.train import Cancelled

    iteration = Iteration.objects.select_related("project").get(pk=iteration_id)
    with jobs.heartbeat(TRAINING, iteration.id, every=settings.CV_HEARTBEAT_SECONDS):
        try:
            _train(iteration)
        except Cancelled:
            Iteration.objects.filter(
                pk=iteration.id, status__in=[Iteration.Status.TRAINING, Iteration.Status.CANCELLED]
            ).update(
                status=Iteration.Status.CANCELLED, phase="Cancelled", heartbeat_at=timezone.now()
            )
        except WeightsUnavailable as exc:
            _fail(iteration, str(exc), "")
        except Exception as exc:
            logger.exception("Training %s failed", iteration.id)
            _fail(iteration, f"Training failed: {exc}", traceback.format_exc())


def _fail(iteration: Iteration, message: str, trace: str) -> None:
    jobs.finish(
        TRAINING,
        iteration.id,
        Iteration.Status.FAILED,
        error=message[:5000],
        traceback=trace,
        heartbeat_at=timezone.now(),
    )


def _scratch_dir() -> Path:
    path = Path(settings.CV_DATA_DIR) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _request_common(iteration: Iteration) -> dict[str, Any]:
    """What a classification and a detection training request share."""
    return {
        "tag_names": [t["name"] for t in iteration.tags],
        "advanced": iteration.training_type == Iteration.TrainingType.ADVANCED,
        "budget_seconds": iteration.reserved_budget_hours * 3600,
        "device": settings.CV_TRAINING_DEVICE or None,
        "scratch_dir": _scratch_dir(),
    }


def _train(iteration: Iteration) -> None:
    from engine.backbones import resolve
    from engine.train import TrainRequest, train

    threads.configure(threads.TRAINING)
    domain = DOMAINS_BY_ID[iteration.domain_id]
    if domain.type == OBJECT_DETECTION:
        _train_detector(iteration, domain.name)
        return
    recipe = recipe_for(domain.name)
    backbone = resolve(recipe.torchvision, recipe.bundled)
    Iteration.objects.filter(pk=iteration.id).update(
        backbone=backbone.spec.name, weights_source=backbone.source
    )
    samples, targets, rows = _samples(iteration)
    request = TrainRequest(
        samples=samples,
        targets=targets,
        multilabel=iteration.classification_type == Project.ClassificationType.MULTILABEL,
        recipe=recipe,
        # As Custom Vision: the Negative tag trains, but is not scored as a class.
        unscored=[i for i, t in enumerate(iteration.tags) if t["type"] == Tag.Type.NEGATIVE],
        **_request_common(iteration),
    )
    cache = feature_cache(iteration.project_id)
    result = train(
        request,
        backbone=backbone,
        progress=_Reporter(iteration.id),
        cache=cache,
    )
    assert result.bundle is not None
    saving = time.perf_counter()
    name = _save_bundle(iteration, result.bundle)
    for r, row in enumerate(rows):
        # An image outside the folds an Advanced training could afford to estimate has no
        # out-of-fold probability: it is left out of the figures rather than guessed.
        estimated = int(result.folds[r]) >= 0
        row.fold = int(result.folds[r]) if estimated else None
        row.probabilities = (
            [round(float(p), 5) for p in result.oof_probabilities[r]] if estimated else None
        )
    _record(iteration, result, rows, name, saving, ["fold", "probabilities"], cache.hits)


def _save_bundle(iteration: Iteration, bundle: ModelBundle) -> str:
    bundle = bundle.with_ids(
        tag_ids=[str(t["id"]) for t in iteration.tags],
        project_id=str(iteration.project_id),
        iteration_id=str(iteration.id),
    )
    # The name is new and only recorded once the file is complete, so a reader never sees a
    # half-written model.
    return storage.save(storage.model_key(iteration.project_id, iteration.id), bundle.to_bytes())


def _record(
    iteration: Iteration,
    result: Any,
    rows: list[IterationImage],
    name: str,
    saving: float,
    fields: list[str],
    features_reused: int,
) -> None:
    """Write the rows' out-of-fold answers and complete the iteration, in one transaction."""
    with transaction.atomic():
        IterationImage.objects.bulk_update(rows, fields, batch_size=500)
        # Where the seconds went (Details): the engine's phases, then this service's writes;
        # as [name, seconds] pairs, since PostgreSQL's jsonb does not keep an object's order.
        phases = [*result.phases.items(), ("save", round(time.perf_counter() - saving, 3))]
        done = jobs.finish(
            TRAINING,
            iteration.id,
            Iteration.Status.COMPLETED,
            trained_at=timezone.now(),
            progress=100,
            training_seconds=round(result.seconds, 2),
            metrics=result.metrics,
            model_file=name,
            device=result.device,
            details={**result.details, "features_reused": features_reused, "phases": phases},
            heartbeat_at=timezone.now(),
        )
    if not done:  # cancelled at the last moment: drop the file nobody points at
        storage.delete([name])


def _train_detector(iteration: Iteration, domain_name: str) -> None:
    """An object-detection iteration: the same life cycle, the engine's detector."""
    from engine.backbones import resolve
    from engine.detector import DetectRequest, train_detector

    recipe = detection_recipe_for(domain_name)  # names repeat across types: the OD table
    backbone = resolve(recipe.torchvision, recipe.bundled)
    Iteration.objects.filter(pk=iteration.id).update(
        backbone=backbone.spec.name, weights_source=backbone.source
    )
    samples, _targets, rows = _samples(iteration)
    request = DetectRequest(
        samples=samples,
        boxes=[[_box(region) for region in row.regions or []] for row in rows],
        recipe=recipe,
        **_request_common(iteration),
    )
    cache = feature_cache(iteration.project_id)
    result = train_detector(
        request, backbone=backbone, progress=_Reporter(iteration.id), cache=cache
    )
    saving = time.perf_counter()
    name = _save_bundle(iteration, result.bundle)
    for r, row in enumerate(rows):
        # As classification: an image no fold model left out has no estimate, and no say.
        estimated = int(result.folds[r]) >= 0 and result.detections[r] is not None
        row.fold = int(result.folds[r]) if estimated else None
        found = result.detections[r] if estimated else None
        row.detections = None if found is None else [_rounded(d) for d in found]
    _record(iteration, result, rows, name, saving, ["fold", "detections"], cache.hits)


def _box(region: list[float]) -> tuple[int, float, float, float, float]:
    tag, left, top, width, height = region
    return (int(tag), float(left), float(top), float(width), float(height))


def _rounded(detection: tuple[int, float, float, float, float, float]) -> list[float]:
    tag, *numbers = detection
    return [int(tag), *(round(float(n), 5) for n in numbers)]
