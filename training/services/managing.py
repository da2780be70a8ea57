"""Cancelling, renaming and deleting iterations, and ending those no worker will finish."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from core import jobs, storage
from core.codes import AzureCode
from core.text import TextRule
from projects.models import Image, Project
from projects.services import images_delete, images_purge_removed
from training.jobs import TRAINING
from training.models import Iteration, IterationImage
from training.signals import iteration_deleted

ITERATION_NAME = TextRule(
    what="An iteration name",
    max_length=Iteration._meta.get_field("name").max_length or 200,
    code=AzureCode.BAD_REQUEST_ITERATION_NAME,
    required=True,
    one_line=True,
)


@transaction.atomic
def images_delete_everywhere(*, project: Project, image_ids: Iterable[uuid.UUID | str]) -> int:
    """Azure's DeleteImages with allIterations: the images leave every iteration too, so they
    go now, row and file; the iterations keep the figures they computed when they trained."""
    ids = list(image_ids)
    IterationImage.objects.filter(iteration__project=project, image_id__in=ids).delete()
    return images_delete(project=project, image_ids=ids)


def iteration_cancel(*, iteration: Iteration) -> None:
    Iteration.objects.filter(pk=iteration.pk, status=Iteration.Status.QUEUED).update(
        status=Iteration.Status.CANCELLED, phase="Cancelled"
    )
    # A running training sees the change at its next progress report and stops.
    Iteration.objects.filter(pk=iteration.pk, status=Iteration.Status.TRAINING).update(
        status=Iteration.Status.CANCELLED, phase="Cancelling"
    )


def iteration_rename(*, iteration: Iteration, name: str) -> Iteration:
    iteration.name = ITERATION_NAME.checked(name)
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
            "Unpublish the iteration before deleting it.",
            code=AzureCode.BAD_REQUEST_ITERATION_IS_PUBLISHED,
        )
    if iteration.status == Iteration.Status.TRAINING:
        raise ValidationError(
            "Cancel the training before deleting the iteration.",
            code=AzureCode.BAD_REQUEST_ITERATION_IS_NOT_TRAINED,
        )
    project = iteration.project
    if iteration.model_file:
        storage.delete_on_commit([str(iteration.model_file.name)])
    storage.delete_on_commit([n for n in iteration.exports.values_list("file", flat=True) if n])
    iteration_id = iteration.id
    iteration.delete()
    transaction.on_commit(
        lambda: iteration_deleted.send(sender=Iteration, iteration_id=iteration_id)
    )
    return images_purge_removed(project=project)


def iterations_fail_stale() -> int:
    """End iterations no worker will finish, with a reason; returns how many.

    Training whose worker stopped heart-beating: the worker crashed or was killed. Queued for
    longer than CV_QUEUED_TIMEOUT_SECONDS while no worker has shown any sign of life for a
    heartbeat timeout: the message was lost (a broker restarted without its data) or no
    worker runs, and a Queued iteration would block every later Train of its project.
    """
    return jobs.sweep(TRAINING)


def removed_images_kept(iteration: Iteration) -> int:
    """How many images deleting this iteration would delete for good."""
    return (
        Image.objects.filter(iteration_images__iteration=iteration, removed_at__isnull=False)
        .exclude(iteration_images__iteration__in=Iteration.objects.exclude(pk=iteration.pk))
        .count()
    )
