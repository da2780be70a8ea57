"""Starting, running, cancelling and deleting iterations.

`iteration_train_start` is what the portal's Train button and the API's TrainProject call;
`iteration_run` is what a worker does with the queued iteration. The engine (training/engine)
does the maths and knows nothing of Django.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import traceback
import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Max
from django.utils import timezone

from portal import threads
from projects.domains import DOMAINS_BY_ID
from projects.models import Image, Project, Resource, Tag
from projects.selectors import active_images
from projects.services import images_purge_removed
from projects.services.storage import delete_files_on_commit
from training.engine.recipes import recipe_for
from training.models import Iteration, IterationImage
from training.rules import (
    MAX_BUDGET_HOURS,
    MIN_IMAGES_PER_TAG,
    MIN_IMAGES_PER_TAG_MULTILABEL,
    MIN_TAGS,
)
from training.signals import iteration_deleted

if TYPE_CHECKING:
    import torch

    from training.engine.features import Sample

# torch and the engine's training modules are imported where training runs (a worker), not
# here: the web tier and the light worker import this module and never train.

logger = logging.getLogger(__name__)

__all__ = ["MAX_BUDGET_HOURS", "MIN_IMAGES_PER_TAG", "MIN_IMAGES_PER_TAG_MULTILABEL", "MIN_TAGS"]


# --- Starting -------------------------------------------------------------------------------


def _training_set(
    project: Project, selected_tag_ids: Iterable[uuid.UUID | str] | None
) -> tuple[list[Tag], dict[uuid.UUID, list[uuid.UUID]]]:
    """The tags to train and each image's tags among them (images without one are skipped)."""
    tags = list(Tag.objects.filter(project=project).order_by("created_at", "id"))
    if selected_tag_ids is not None:
        try:
            wanted = {uuid.UUID(str(t)) for t in selected_tag_ids}
        except ValueError:
            wanted = {uuid.UUID(int=0)}  # not an id at all: as unknown as a foreign one
        unknown = wanted - {t.id for t in tags}
        if unknown:
            raise ValidationError(
                "A selected tag does not belong to this project.",
                code="BadRequestTrainingValidationFailed",
            )
        tags = [t for t in tags if t.id in wanted]
    tag_ids = {t.id for t in tags}
    labels: dict[uuid.UUID, list[uuid.UUID]] = {}
    pairs = (
        active_images(project)
        .filter(image_tags__tag_id__in=tag_ids)
        .values_list("id", "image_tags__tag_id")
    )
    for image_id, tag_id in pairs:
        labels.setdefault(image_id, []).append(tag_id)
    used = {t for ids in labels.values() for t in ids}
    return [t for t in tags if t.id in used], labels


def _check_trainable(
    project: Project, tags: Sequence[Tag], labels: dict[uuid.UUID, list[uuid.UUID]]
) -> None:
    regular = [t for t in tags if not t.is_negative]
    kind = "MultiClass" if project.is_multiclass else "MultiLabel"
    if len(regular) < MIN_TAGS:
        raise ValidationError(
            f"Training needs at least {MIN_TAGS} tags with images; this project has "
            f"{len(regular)}.",
            code=f"BadRequest{kind}ClassificationTrainingValidationFailed",
        )
    counts = {t.id: 0 for t in tags}
    for ids in labels.values():
        for tag_id in ids:
            counts[tag_id] += 1
    minimum = MIN_IMAGES_PER_TAG if project.is_multiclass else MIN_IMAGES_PER_TAG_MULTILABEL
    short = [f"{t.name} ({counts[t.id]})" for t in tags if counts[t.id] < minimum]
    if short:
        raise ValidationError(
            f"Each tag needs at least {minimum} images; add more to: {', '.join(short)}.",
            code="BadRequestNotEnoughImagesPerTag",
        )


def _fingerprint(
    project: Project, tags: Sequence[Tag], labels: dict[uuid.UUID, list[uuid.UUID]]
) -> str:
    data = {
        "domain": str(project.domain_id),
        "type": project.classification_type,
        "tags": [[str(t.id), t.type] for t in tags],
        "images": sorted([str(i), sorted(str(t) for t in ids)] for i, ids in labels.items()),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@transaction.atomic
def iteration_train_start(
    *,
    project: Project,
    training_type: str = Iteration.TrainingType.REGULAR,
    reserved_budget_hours: float = 0,
    force: bool = False,
    selected_tag_ids: Iterable[uuid.UUID | str] | None = None,
) -> Iteration:
    """Queue a training of the project's current images, or say clearly why not."""
    # Lock the project row so two Train clicks can't both pass the "already running" check.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    if project.iterations.filter(status__in=Iteration.ACTIVE).exists():
        raise ValidationError(
            "A training is already in progress for this project.",
            code="BadRequestTrainingAlreadyInProgress",
        )
    if training_type not in Iteration.TrainingType.values:
        raise ValidationError(
            "Training type is Regular or Advanced.", code="BadRequestTrainingValidationFailed"
        )
    if training_type == Iteration.TrainingType.ADVANCED and not reserved_budget_hours > 0:
        raise ValidationError(
            "Advanced training needs a budget in hours.",
            code="BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining",
        )
    if not math.isfinite(reserved_budget_hours) or reserved_budget_hours > MAX_BUDGET_HOURS:
        raise ValidationError(
            f"reservedBudgetInHours is at most {MAX_BUDGET_HOURS}.",
            code="BadRequestTrainingValidationFailed",
        )
    tags, labels = _training_set(project, selected_tag_ids)
    _check_trainable(project, tags, labels)
    fingerprint = _fingerprint(project, tags, labels)
    last = project.iterations.filter(status=Iteration.Status.COMPLETED).first()
    if last is not None and last.fingerprint == fingerprint and not force:
        raise ValidationError(
            f"Nothing changed since {last.name}: add or re-tag images, or force training.",
            code="BadRequestTrainingNotNeeded",
        )
    number = (project.iterations.aggregate(n=Max("number"))["n"] or 0) + 1
    iteration = Iteration.objects.create(
        project=project,
        name=f"Iteration {number}",
        number=number,
        training_type=training_type,
        reserved_budget_hours=reserved_budget_hours if training_type == "Advanced" else 0,
        domain_id=project.domain_id,
        classification_type=project.classification_type,
        tags=[{"id": str(t.id), "name": t.name, "type": t.type} for t in tags],
        fingerprint=fingerprint,
        task_id=str(uuid.uuid4()),
    )
    IterationImage.objects.bulk_create(
        [
            IterationImage(
                iteration=iteration, image_id=image_id, tag_ids=sorted(str(t) for t in ids)
            )
            for image_id, ids in labels.items()
        ]
    )
    transaction.on_commit(lambda: _enqueue(iteration))
    return iteration


class TrainingUnavailable(Exception):
    """The job broker could not take the training: nothing was queued."""


# A few quick tries, then a clear answer: the request must not hang while the broker is down.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


def _enqueue(iteration: Iteration) -> None:
    from training.tasks import train_iteration

    try:
        train_iteration.apply_async(
            args=(str(iteration.id),),
            task_id=iteration.task_id,
            retry=True,
            retry_policy=_PUBLISH_RETRY,
        )
    except Exception as exc:  # kombu's OperationalError, a refused socket, a DNS failure…
        logger.exception("Could not queue the training of %s", iteration.id)
        # No Queued iteration that no worker will ever see: it would block every later Train.
        Iteration.objects.filter(pk=iteration.pk, status=Iteration.Status.QUEUED).delete()
        raise TrainingUnavailable(
            "The training queue can't be reached right now, so nothing was queued. "
            "Try again in a minute; if it persists, check that the broker (Redis) is running."
        ) from exc


# --- Running (in a worker) ------------------------------------------------------------------


def iteration_claim(*, iteration_id: uuid.UUID | str, worker: str) -> bool:
    """Atomically move a Queued iteration to Training; False if someone else already did.

    A redelivered task (the broker gave it out again after a worker died) finds the row no
    longer Queued and does nothing, so an iteration never trains twice.
    """
    now = timezone.now()
    return bool(
        Iteration.objects.filter(pk=iteration_id, status=Iteration.Status.QUEUED).update(
            status=Iteration.Status.TRAINING,
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            progress=1,
            phase="Starting",
        )
    )


class _Reporter:
    """Progress callback for the engine: writes progress + heartbeat, and notices a cancel."""

    def __init__(self, iteration_id: uuid.UUID) -> None:
        self.iteration_id = iteration_id
        self.last = 0.0

    def __call__(self, percent: float, phase: str) -> None:
        now = timezone.now()
        if percent < 100 and (now.timestamp() - self.last) < 0.5:
            return
        self.last = now.timestamp()
        updated = Iteration.objects.filter(
            pk=self.iteration_id, status=Iteration.Status.TRAINING
        ).update(progress=min(99, int(percent)), phase=phase[:200], heartbeat_at=now)
        if not updated:  # cancelled (or failed by the sweep) meanwhile
            from training.engine.train import Cancelled

            raise Cancelled


class _Heartbeat(threading.Thread):
    """Keeps heartbeat_at fresh while a long step runs without reporting progress."""

    def __init__(self, iteration_id: uuid.UUID, every: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{iteration_id}")
        self.iteration_id, self.every = iteration_id, every
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    Iteration.objects.filter(
                        pk=self.iteration_id, status=Iteration.Status.TRAINING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    # A busy database (SQLite's writer lock) costs one beat, not all of them.
                    logger.warning("Heartbeat of %s skipped", self.iteration_id, exc_info=True)
        finally:
            close_old_connections()


def _samples(iteration: Iteration) -> tuple[list[Sample], torch.Tensor, list[IterationImage]]:
    import torch

    from training.engine.features import Sample

    rows = list(iteration.images.select_related("image").order_by("image__created_at", "image_id"))
    order = {tag["id"]: index for index, tag in enumerate(iteration.tags)}
    targets = torch.zeros(len(rows), len(order))
    samples = []
    for r, row in enumerate(rows):
        for tag_id in row.tag_ids:
            targets[r, order[tag_id]] = 1
        name = str(row.image.file.name)

        def read(name: str = name) -> bytes:
            with default_storage.open(name, "rb") as handle:
                return bytes(handle.read())

        samples.append(Sample(key=row.image.content_hash, read=read))
    return samples, targets, rows


def iteration_run(*, iteration_id: uuid.UUID | str, worker: str = "") -> None:
    """Train a Queued iteration to Completed, Failed or Cancelled. Never leaves it Training."""
    if not iteration_claim(iteration_id=iteration_id, worker=worker):
        logger.info("Iteration %s is not Queued any more; nothing to do.", iteration_id)
        return
    from training.engine.backbones import WeightsUnavailable
    from training.engine.train import Cancelled

    iteration = Iteration.objects.select_related("project").get(pk=iteration_id)
    heartbeat = _Heartbeat(iteration.id, settings.CV_HEARTBEAT_SECONDS)
    heartbeat.start()
    try:
        _train(iteration)
    except Cancelled:
        Iteration.objects.filter(
            pk=iteration.id, status__in=[Iteration.Status.TRAINING, Iteration.Status.CANCELLED]
        ).update(status=Iteration.Status.CANCELLED, phase="Cancelled", heartbeat_at=timezone.now())
    except WeightsUnavailable as exc:
        _fail(iteration, str(exc), "")
    except Exception as exc:
        logger.exception("Training %s failed", iteration.id)
        _fail(iteration, f"Training failed: {exc}", traceback.format_exc())
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)


def _fail(iteration: Iteration, message: str, trace: str) -> None:
    Iteration.objects.filter(pk=iteration.id, status=Iteration.Status.TRAINING).update(
        status=Iteration.Status.FAILED,
        error=message[:5000],
        traceback=trace,
        phase="Failed",
        heartbeat_at=timezone.now(),
    )


def _scratch_dir() -> Path:
    path = Path(settings.CV_DATA_DIR) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _train(iteration: Iteration) -> None:
    from training.engine.backbones import resolve
    from training.engine.features import DirectoryCache
    from training.engine.train import TrainRequest, train

    threads.configure(threads.TRAINING)
    domain = DOMAINS_BY_ID[iteration.domain_id]
    recipe = recipe_for(domain.name)
    backbone = resolve(recipe.torchvision, recipe.bundled)
    Iteration.objects.filter(pk=iteration.id).update(
        backbone=backbone.spec.name, weights_source=backbone.source
    )
    samples, targets, rows = _samples(iteration)
    request = TrainRequest(
        samples=samples,
        targets=targets,
        tag_names=[t["name"] for t in iteration.tags],
        multilabel=iteration.classification_type == Project.ClassificationType.MULTILABEL,
        recipe=recipe,
        advanced=iteration.training_type == Iteration.TrainingType.ADVANCED,
        budget_seconds=iteration.reserved_budget_hours * 3600,
        device=settings.CV_TRAINING_DEVICE or None,
        scratch_dir=_scratch_dir(),
    )
    result = train(
        request,
        backbone=backbone,
        progress=_Reporter(iteration.id),
        cache=DirectoryCache(settings.CV_DATA_DIR / "features"),
    )
    assert result.bundle is not None
    bundle = result.bundle.with_ids(
        tag_ids=[str(t["id"]) for t in iteration.tags],
        project_id=str(iteration.project_id),
        iteration_id=str(iteration.id),
    )
    # The name is new and only recorded once the file is complete, so a reader never sees a
    # half-written model.
    name = default_storage.save(
        f"models/{iteration.project_id}/{iteration.id}.zip", ContentFile(bundle.to_bytes())
    )
    for r, row in enumerate(rows):
        # An image outside the folds an Advanced training could afford to estimate has no
        # out-of-fold probability: it is left out of the figures rather than guessed.
        estimated = int(result.folds[r]) >= 0
        row.fold = int(result.folds[r]) if estimated else None
        row.probabilities = (
            [round(float(p), 5) for p in result.oof_probabilities[r]] if estimated else None
        )
    with transaction.atomic():
        IterationImage.objects.bulk_update(rows, ["fold", "probabilities"], batch_size=500)
        done = Iteration.objects.filter(pk=iteration.id, status=Iteration.Status.TRAINING).update(
            status=Iteration.Status.COMPLETED,
            trained_at=timezone.now(),
            progress=100,
            phase="Completed",
            training_seconds=round(result.seconds, 2),
            metrics=result.metrics,
            model_file=name,
            device=result.device,
            details=result.details,
            heartbeat_at=timezone.now(),
        )
    if not done:  # cancelled at the last moment: drop the file nobody points at
        default_storage.delete(name)


# --- Managing -------------------------------------------------------------------------------


def iteration_cancel(*, iteration: Iteration) -> None:
    Iteration.objects.filter(pk=iteration.pk, status=Iteration.Status.QUEUED).update(
        status=Iteration.Status.CANCELLED, phase="Cancelled"
    )
    # A running training sees the change at its next progress report and stops.
    Iteration.objects.filter(pk=iteration.pk, status=Iteration.Status.TRAINING).update(
        status=Iteration.Status.CANCELLED, phase="Cancelling"
    )


def iteration_rename(*, iteration: Iteration, name: str) -> Iteration:
    name = " ".join(name.split())
    if not name:
        raise ValidationError("Give the iteration a name.", code="BadRequestIterationName")
    iteration.name = name[:200]
    iteration.save(update_fields=["name"])
    return iteration


@transaction.atomic
def iteration_delete(*, iteration: Iteration) -> int:
    """Delete the iteration and its model, then the removed images only it still kept.

    Returns how many such images were deleted with it.
    """
    iteration.refresh_from_db()  # status and model file as they are now, not as loaded
    if iteration.is_published:
        raise ValidationError(
            "Unpublish the iteration before deleting it.", code="BadRequestIterationIsPublished"
        )
    if iteration.status == Iteration.Status.TRAINING:
        raise ValidationError(
            "Cancel the training before deleting the iteration.",
            code="BadRequestIterationIsNotTrained",
        )
    project = iteration.project
    if iteration.model_file:
        delete_files_on_commit([str(iteration.model_file.name)])
    delete_files_on_commit([n for n in iteration.exports.values_list("file", flat=True) if n])
    iteration_id = iteration.id
    iteration.delete()
    transaction.on_commit(
        lambda: iteration_deleted.send(sender=Iteration, iteration_id=iteration_id)
    )
    return images_purge_removed(project=project)


def iterations_fail_stale(
    *, older_than: timedelta | None = None, queued_longer_than: timedelta | None = None
) -> int:
    """End iterations no worker will finish, with a reason; returns how many.

    Training whose worker stopped heart-beating: the worker crashed or was killed. Queued for
    longer than CV_QUEUED_TIMEOUT_SECONDS while no worker has shown any sign of life for a
    heartbeat timeout: the message was lost (a broker restarted without its data) or no
    worker runs, and a Queued iteration would block every later Train of its project.
    """
    limit = older_than or timedelta(seconds=settings.CV_HEARTBEAT_TIMEOUT_SECONDS)
    now = timezone.now()
    failed = Iteration.objects.filter(
        status=Iteration.Status.TRAINING, heartbeat_at__lt=now - limit
    ).update(
        status=Iteration.Status.FAILED,
        phase="Failed",
        error=(
            f"The worker training this iteration stopped responding (no heartbeat for "
            f"{int(limit.total_seconds())} s): it crashed or was killed. Train again."
        ),
    )
    waited = queued_longer_than or timedelta(seconds=settings.CV_QUEUED_TIMEOUT_SECONDS)
    workers_busy = Iteration.objects.filter(heartbeat_at__gte=now - limit).exists()
    if not workers_busy:
        failed += Iteration.objects.filter(
            status=Iteration.Status.QUEUED, created_at__lt=now - waited
        ).update(
            status=Iteration.Status.FAILED,
            phase="Failed",
            heartbeat_at=now,
            error=(
                f"No worker took this training in {int(waited.total_seconds() // 60)} minutes: "
                "its job was lost or no training worker is running. Train again."
            ),
        )
    return failed


def removed_images_kept(iteration: Iteration) -> int:
    """How many images deleting this iteration would delete for good."""
    return (
        Image.objects.filter(iteration_images__iteration=iteration, removed_at__isnull=False)
        .exclude(iteration_images__iteration__in=Iteration.objects.exclude(pk=iteration.pk))
        .count()
    )


# --- Publishing -----------------------------------------------------------------------------


def prediction_resource_for(*, owner: Any, prediction_id: str) -> Resource:
    """One of the owner's prediction resources, by id or by an Azure resource path ending in
    its name ("/subscriptions/…/providers/Microsoft.CognitiveServices/accounts/NAME")."""
    value = (prediction_id or "").strip().rstrip("/")
    resources = Resource.objects.filter(owner=owner, kind=Resource.Kind.PREDICTION)
    try:
        found = resources.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        found = resources.filter(name__iexact=value.rsplit("/", 1)[-1]).first()
    if found is None:
        raise ValidationError(
            "predictionId must be one of your prediction resources: its id, or an Azure "
            "resource path ending in its name.",
            code="BadRequestInvalidPublishTarget",
        )
    return found


@transaction.atomic
def iteration_publish(
    *,
    iteration: Iteration,
    publish_name: str,
    prediction_resource: Resource,
    overwrite: bool = False,
) -> Iteration:
    iteration.refresh_from_db()
    if not iteration.is_completed:
        raise ValidationError(
            "Only a completed iteration can be published.", code="BadRequestIterationIsNotTrained"
        )
    name = " ".join((publish_name or "").split())
    if not name:
        raise ValidationError(
            "Give the published iteration a name.", code="BadRequestInvalidPublishName"
        )
    # The name is a path segment of the prediction URL, and Django decodes %2F before routing:
    # a name with a slash could be published but never called.
    if "/" in name or len(name) > 200:
        raise ValidationError(
            "A published name can't contain / (it is part of the prediction URL) and is at "
            "most 200 characters.",
            code="BadRequestInvalidPublishName",
        )
    if (
        prediction_resource.kind != Resource.Kind.PREDICTION
        or prediction_resource.owner_id != iteration.project.owner_id
    ):
        raise ValidationError(
            "Choose one of your prediction resources.", code="BadRequestInvalidPublishTarget"
        )
    clash = (
        Iteration.objects.filter(project=iteration.project_id, publish_name=name)
        .exclude(pk=iteration.pk)
        .first()
    )
    if clash is not None:
        if not overwrite:
            raise ValidationError(
                f"{clash.name} is already published as {name!r}.",
                code="BadRequestPublishNameNotUnique",
            )
        iteration_unpublish(iteration=clash)
    iteration.publish_name = name
    iteration.prediction_resource = prediction_resource
    iteration.published_at = timezone.now()
    iteration.save(update_fields=["publish_name", "prediction_resource", "published_at"])
    return iteration


def iteration_unpublish(*, iteration: Iteration) -> Iteration:
    iteration.publish_name = ""
    iteration.prediction_resource = None
    iteration.published_at = None
    iteration.save(update_fields=["publish_name", "prediction_resource", "published_at"])
    return iteration
