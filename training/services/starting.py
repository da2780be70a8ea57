"""Queueing a training: the checks the Train button and TrainProject make, then the job."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from core import jobs
from core.codes import AzureCode
from projects.models import Project, Region, Tag
from projects.rules import (
    MAX_BUDGET_HOURS,
    MIN_IMAGES_PER_TAG,
    MIN_IMAGES_PER_TAG_MULTILABEL,
    MIN_TAGS,
    detection_training_check,
)
from projects.selectors import active_images
from training.jobs import TRAINING
from training.models import Iteration, IterationImage


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
                code=AzureCode.BAD_REQUEST_TRAINING_VALIDATION_FAILED,
            )
        tags = [t for t in tags if t.id in wanted]
    tag_ids = {t.id for t in tags}
    labels: dict[uuid.UUID, list[uuid.UUID]] = {}
    pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]
    if project.is_detection:
        # A detection image's tags are those of its regions (an image tag without a box
        # teaches a detector nothing).
        pairs = (
            Region.objects.filter(image__in=active_images(project), tag_id__in=tag_ids)
            .values_list("image_id", "tag_id")
            .distinct()
        )
    else:
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
    counts = {t.id: 0 for t in tags}
    for ids in labels.values():
        for tag_id in ids:
            counts[tag_id] += 1
    if project.is_detection:
        detection_training_check({t.name: counts[t.id] for t in tags})
        return
    regular = [t for t in tags if not t.is_negative]
    if len(regular) < MIN_TAGS:
        raise ValidationError(
            f"Training needs at least {MIN_TAGS} tags with images; this project has "
            f"{len(regular)}.",
            code=AzureCode.BAD_REQUEST_MULTICLASS_TRAINING_VALIDATION_FAILED
            if project.is_multiclass
            else AzureCode.BAD_REQUEST_MULTILABEL_TRAINING_VALIDATION_FAILED,
        )
    minimum = MIN_IMAGES_PER_TAG if project.is_multiclass else MIN_IMAGES_PER_TAG_MULTILABEL
    short = [f"{t.name} ({counts[t.id]})" for t in tags if counts[t.id] < minimum]
    if short:
        raise ValidationError(
            f"Each tag needs at least {minimum} images; add more to: {', '.join(short)}.",
            code=AzureCode.BAD_REQUEST_NOT_ENOUGH_IMAGES_PER_TAG,
        )


def _regions(
    project: Project, tags: Sequence[Tag], labels: dict[uuid.UUID, list[uuid.UUID]]
) -> dict[uuid.UUID, list[list[float]]]:
    """A detection project's boxes per image, as [tag index, left, top, width, height] with
    the index into the iteration's tags (what IterationImage.regions keeps)."""
    if not project.is_detection:
        return {}
    index = {t.id: i for i, t in enumerate(tags)}
    boxes: dict[uuid.UUID, list[list[float]]] = {}
    rows = Region.objects.filter(image_id__in=list(labels), tag_id__in=list(index)).values_list(
        "image_id", "tag_id", "left", "top", "width", "height"
    )
    for image_id, tag_id, left, top, width, height in rows.order_by("created_at", "id"):
        boxes.setdefault(image_id, []).append([index[tag_id], left, top, width, height])
    return boxes


def _fingerprint(
    project: Project,
    tags: Sequence[Tag],
    labels: dict[uuid.UUID, list[uuid.UUID]],
    regions: dict[uuid.UUID, list[list[float]]],
) -> str:
    data: dict[str, object] = {
        "domain": str(project.domain_id),
        "type": project.classification_type,
        "tags": [[str(t.id), t.type] for t in tags],
        "images": sorted([str(i), sorted(str(t) for t in ids)] for i, ids in labels.items()),
    }
    if regions:  # a moved box is a change worth training for
        data["regions"] = sorted([str(i), sorted(boxes)] for i, boxes in regions.items())
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _check_owners_share(project: Project, budget_hours: float) -> None:
    """One user's trainings can't hold the queue for everyone: at most
    CV_MAX_ACTIVE_TRAININGS_PER_USER queued or running at once, and together at most
    CV_MAX_TRAINING_HOURS_PER_USER of Advanced budget."""
    # The owner's row serialises their Train clicks across projects (the project lock above
    # only covers this one).
    User.objects.select_for_update().filter(pk=project.owner_id).first()
    active = Iteration.objects.filter(
        project__owner_id=project.owner_id, status__in=Iteration.ACTIVE
    )
    limit = settings.CV_MAX_ACTIVE_TRAININGS_PER_USER
    if active.count() >= limit:
        raise ValidationError(
            f"You already have {limit} trainings queued or running, the most one user may; "
            "train this project when one of them ends.",
            code=AzureCode.BAD_REQUEST_EXCEEDED_QUOTA,
        )
    hours_limit = settings.CV_MAX_TRAINING_HOURS_PER_USER
    booked = sum(active.values_list("reserved_budget_hours", flat=True))
    if booked + budget_hours > hours_limit:
        raise ValidationError(
            f"Your trainings may reserve {hours_limit:g} hours at once; {booked:g} are reserved "
            f"by trainings queued or running, so this one may ask at most "
            f"{max(hours_limit - booked, 0):g}.",
            code=AzureCode.BAD_REQUEST_EXCEEDED_QUOTA,
        )


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
            code=AzureCode.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS,
        )
    if training_type not in Iteration.TrainingType.values:
        raise ValidationError(
            "Training type is Regular or Advanced.",
            code=AzureCode.BAD_REQUEST_TRAINING_VALIDATION_FAILED,
        )
    if training_type == Iteration.TrainingType.ADVANCED and not reserved_budget_hours > 0:
        raise ValidationError(
            "Advanced training needs a budget in hours.",
            code=AzureCode.BAD_REQUEST_RESERVED_BUDGET_NOT_ENOUGH,
        )
    if not math.isfinite(reserved_budget_hours) or reserved_budget_hours > MAX_BUDGET_HOURS:
        raise ValidationError(
            f"reservedBudgetInHours is at most {MAX_BUDGET_HOURS}.",
            code=AzureCode.BAD_REQUEST_TRAINING_VALIDATION_FAILED,
        )
    _check_owners_share(project, reserved_budget_hours if training_type == "Advanced" else 0)
    tags, labels = _training_set(project, selected_tag_ids)
    _check_trainable(project, tags, labels)
    regions = _regions(project, tags, labels)
    fingerprint = _fingerprint(project, tags, labels, regions)
    last = project.iterations.filter(status=Iteration.Status.COMPLETED).first()
    if last is not None and last.fingerprint == fingerprint and not force:
        raise ValidationError(
            f"Nothing changed since {last.name}: add or re-tag images, or force training.",
            code=AzureCode.BAD_REQUEST_TRAINING_NOT_NEEDED,
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
                iteration=iteration,
                image_id=image_id,
                tag_ids=sorted(str(t) for t in ids),
                regions=regions.get(image_id) if project.is_detection else None,
            )
            for image_id, ids in labels.items()
        ]
    )
    transaction.on_commit(lambda: _enqueue(iteration))
    return iteration


# What the portal's Train and the API's TrainProject answer (503) when the broker is down.
TrainingUnavailable = jobs.QueueUnreachable


def _enqueue(iteration: Iteration) -> None:
    from training.tasks import train_iteration

    # The caller answers on the spot: no Queued iteration that no worker will ever see (it
    # would block every later Train), a clear 503 instead.
    jobs.enqueue(TRAINING, iteration.id, train_iteration, task_id=iteration.task_id, withdraw=True)
