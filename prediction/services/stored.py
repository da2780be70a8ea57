"""Stored predictions: forgetting them, or moving them into the training images."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from django.db import transaction

from core import storage
from engine.imaging import THUMBNAIL_EDGE, ImageRejected, decode_for_model, thumbnail_of
from prediction.models import StoredPrediction
from projects.models import Image, Project
from projects.services.images import (
    ImageCreateResult,
    ImageUpload,
    images_create_each,
    stored_image_rules,
)
from projects.services.regions import RegionBox


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
    project with their `regions` (by prediction id). Each goes through the same ingestion as
    an upload; one that went in leaves the Predictions list."""
    found = {
        p.id: p
        for p in StoredPrediction.objects.filter(project=project, id__in=[e[0] for e in entries])
    }
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
            upload = ImageUpload(name=str(prediction_id), data=data, regions=boxes)
        uploads.append((upload, tags))
    results = images_create_each(
        project=project, entries=uploads, source=Image.Source.PREDICTION, metadata=metadata
    )
    moved = [uuid.UUID(r.source_name) for r in results if r.status.ok]
    predictions_delete(project=project, ids=moved)
    return results
