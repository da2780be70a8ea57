"""A stored detection whose boxes were corrected in the portal's region editor, saved into the
project's training images (the prediction page's "Save to training images")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from prediction.services.stored import predictions_to_images
from projects.forms import PortalRegion
from projects.models import Image, Project, Tag
from projects.services.regions import regions_save


def prediction_regions_save(
    *, project: Project, prediction_id: uuid.UUID, entries: Sequence[PortalRegion]
) -> Image:
    """The stored prediction's image into the training images (the ingestion of an upload; a
    photo the project has already is that image) with exactly `entries` as its regions, tags
    typed in the editor created by name (`regions_save`). All or nothing: the prediction
    stays in Predictions when anything is refused. Answers the training image."""
    if not project.is_detection:
        raise ValidationError("Only an object-detection project's predictions have boxes.")
    _check_tags(project, entries)
    with transaction.atomic():
        [result] = predictions_to_images(project=project, entries=[(prediction_id, [])])
        if not result.status.ok or result.image is None:
            raise ValidationError(result.message or "The image could not be added.")
        regions_save(image=result.image, entries=entries)
    return result.image


def _check_tags(project: Project, entries: Sequence[PortalRegion]) -> None:
    """Refuse a tag id the project lacks, or its Negative tag, before any file is written
    (`regions_save` says the same later, after the image is stored)."""
    wanted = {e.tag_id for e in entries if e.tag_id is not None}
    if not wanted:
        return
    usable = Tag.objects.filter(project=project, id__in=wanted).exclude(type=Tag.Type.NEGATIVE)
    if len(set(usable.values_list("id", flat=True))) != len(wanted):
        raise ValidationError("A region's tag is not one of the project's tags for regions.")
