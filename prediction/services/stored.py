"""Stored predictions: forgetting them, or moving them into the training images."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core import storage
from engine.imaging import THUMBNAIL_EDGE, ImageRejected, decode_for_model, thumbnail_of
from prediction.models import StoredPrediction
from projects.models import Image, Project, Tag
from projects.services.images import (
    ImageCreateResult,
    ImageUpload,
    images_create_each,
    stored_image_rules,
)
from projects.services.regions import RegionBox, box_checked

# A stored detection's boxes that become regions when it is moved into the training images
# without regions of its own: those the model was at least this sure of (the threshold the
# Suggested view filters at), so that moving it keeps what it found, not its 64 guesses.
KEPT_PROBABILITY = 0.5


def predictions_delete(*, project: Project, ids: Sequence[uuid.UUID]) -> int:
    """Forget stored predictions (and their image files)."""
    with transaction.atomic():
        found = list(StoredPrediction.objects.filter(project=project, id__in=ids))
        StoredPrediction.objects.filter(pk__in=[p.pk for p in found]).delete()
        storage.delete_on_commit(str(n) for p in found for n in (p.file.name, p.thumbnail.name))
    return len(found)


def prediction_thumbnail_name(stored: StoredPrediction) -> str:
    """The stored name of a kept prediction's thumbnail, made on first sight.

    The prediction endpoint does not make it: a thumbnail costs a resize, an encode and a file
    write per request (about 2 ms of 22), and most kept predictions are never looked at.
    """
    if stored.thumbnail.name:
        return str(stored.thumbnail.name)
    thumbnail = _thumbnail(storage.read(str(stored.file.name)))
    if not thumbnail:
        return ""
    base = storage.prediction_base(stored.project_id, stored.id)
    name = storage.save(storage.thumbnail_key(base), thumbnail)
    # Two first looks at once each make one; the row keeps the first and the other is dropped.
    if StoredPrediction.objects.filter(pk=stored.pk, thumbnail="").update(thumbnail=name):
        stored.thumbnail.name = name
        return name
    storage.delete([name])
    stored.refresh_from_db(fields=["thumbnail"])
    return str(stored.thumbnail.name)


def _thumbnail(data: bytes) -> bytes:
    """A stored image's thumbnail, decoded within the process's decoding budget; nothing for
    one that today's limits refuse (it was kept under larger ones)."""
    try:
        return thumbnail_of(decode_for_model(data, stored_image_rules(), THUMBNAIL_EDGE))
    except ImageRejected:
        return b""


def predictions_to_images(
    *,
    project: Project,
    entries: Sequence[tuple[uuid.UUID, Sequence[uuid.UUID | str]]],
    metadata: Mapping[str, str] | None = None,
    regions: Mapping[uuid.UUID, Sequence[RegionBox]] | None = None,
) -> list[ImageCreateResult]:
    """Move stored predictions into the training images with the tags given (the portal's
    "Save and close", the API's CreateImagesFromPredictions), and in an object-detection
    project with their `regions` (by prediction id): those given, or else the boxes the model
    found (`kept_boxes`). Each goes through the same ingestion as an upload; one that went in
    leaves the Predictions list."""
    found = {
        p.id: p
        for p in StoredPrediction.objects.filter(project=project, id__in=[e[0] for e in entries])
    }
    live = region_tags(project) if project.is_detection else set()
    uploads = []
    for prediction_id, tags in entries:
        stored = found.get(prediction_id)
        if stored is None:
            upload = ImageUpload(
                name=str(prediction_id), source_error="No such stored prediction in the project."
            )
        else:
            data = storage.read(str(stored.file.name))
            boxes = (regions or {}).get(prediction_id, ())
            if not boxes and project.is_detection:
                boxes = kept_boxes(stored.predictions, tag_ids=tags, live=live)
            upload = ImageUpload(name=str(prediction_id), data=data, regions=boxes)
        uploads.append((upload, tags))
    results = images_create_each(
        project=project, entries=uploads, source=Image.Source.PREDICTION, metadata=metadata
    )
    moved = [uuid.UUID(r.source_name) for r in results if r.status.ok]
    predictions_delete(project=project, ids=moved)
    return results


def region_tags(project: Project) -> set[str]:
    """The tags a box may have now: the project's, but its Negative one."""
    tags = Tag.objects.filter(project=project).exclude(type=Tag.Type.NEGATIVE)
    return {str(t) for t in tags.values_list("id", flat=True)}


def kept_boxes(
    predictions: Sequence[dict[str, Any]],
    *,
    tag_ids: Sequence[uuid.UUID | str] = (),
    live: set[str],
) -> tuple[RegionBox, ...]:
    """The boxes of a detection (a stored prediction's, a suggestion's) that become regions
    when it is confirmed: those the model gave at least KEPT_PROBABILITY, of `tag_ids` when
    some are named (an entry's tags pick which of the model's boxes to confirm), of tags the
    project still has (`live`), and of a shape a region can have (a box squeezed to nothing
    at an edge is left out)."""
    wanted = {str(t) for t in tag_ids}
    boxes: list[RegionBox] = []
    for prediction in predictions:
        box, tag_id = prediction.get("boundingBox"), str(prediction.get("tagId"))
        if not box or prediction.get("probability", 0.0) < KEPT_PROBABILITY:
            continue
        if tag_id not in live or (wanted and tag_id not in wanted):
            continue
        try:
            checked = box_checked(box["left"], box["top"], box["width"], box["height"])
        except (ValidationError, KeyError, TypeError):
            continue
        boxes.append((tag_id, *checked))
    return tuple(boxes)
