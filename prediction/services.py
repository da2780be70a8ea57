"""Classifying an image with a completed iteration's model (API, Quick Test), and keeping the
images sent to the prediction endpoint."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from PIL import Image as PILImage

from portal import threads
from prediction.models import StoredPrediction, Suggestion
from projects.imaging import (
    ImageRejected,
    PreparedImage,
    decode_for_model,
    prepare_image,
    thumbnail_of,
)
from projects.models import Image, Project, Resource, Tag
from projects.selectors import active_images
from projects.services.fetching import url_image
from projects.services.images import (
    ImageCreateResult,
    ImageUpload,
    image_rules,
    images_create_each,
    images_tags_add,
)
from projects.services.storage import delete_files_on_commit, image_files_saved
from training.engine.predict import Predictor
from training.models import Iteration

_CACHE_SIZE = 4  # models held per process; a lite0 model is ~15 MB of weights
_cache: OrderedDict[tuple[uuid.UUID, str], Predictor] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class TagProbability:
    tag_id: str
    tag_name: str
    tag_type: str
    probability: float


@dataclass(frozen=True)
class PredictionResult:
    id: uuid.UUID
    project_id: uuid.UUID
    iteration_id: uuid.UUID
    created: datetime
    predictions: list[TagProbability]
    thumbnail: bytes = b""  # JPEG, for showing the image back (Quick Test); not in the API


def predictor_for(iteration: Iteration) -> Predictor:
    """The iteration's model, loaded once per process (keyed by its file, so a retrained or
    deleted iteration is never served from a stale copy)."""
    if not iteration.is_completed or not iteration.model_file:
        raise ValidationError(
            "The iteration is not trained.", code="BadRequestIterationIsNotTrained"
        )
    key = (iteration.id, str(iteration.model_file.name))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    with default_storage.open(key[1], "rb") as handle:
        predictor = Predictor.from_bytes(handle.read(), threads=threads.current(threads.WEB))
    with _lock:
        _cache[key] = predictor
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return predictor


def forget_predictor(iteration_id: uuid.UUID) -> None:
    with _lock:
        for key in [k for k in _cache if k[0] == iteration_id]:
            del _cache[key]


def _rejected(exc: ImageRejected) -> ValidationError:
    code = {
        "ErrorImageSize": "BadRequestImageSizeBytes",
        "ErrorImageDimensions": "BadRequestImageDimensions",
    }.get(exc.status.value, "BadRequestImageFormat")
    return ValidationError(exc.message, code=code)


def _prepare(data: bytes, max_bytes: int, side: int | None = None) -> PreparedImage:
    """The same checks and normalisation as training images get, for an image that is kept."""
    try:
        return prepare_image(data, image_rules(max_bytes), model_side=side)
    except ImageRejected as exc:
        raise _rejected(exc) from None


def _decode(data: bytes, max_bytes: int, side: int) -> PILImage.Image:
    """The same checks, and only the decoding the model needs, for an image that is not kept."""
    try:
        return decode_for_model(data, image_rules(max_bytes), side)
    except ImageRejected as exc:
        raise _rejected(exc) from None


def _ranked(iteration: Iteration, probabilities: list[float]) -> list[TagProbability]:
    results = [
        TagProbability(tag["id"], tag["name"], tag["type"], p)
        for tag, p in zip(iteration.tags, probabilities, strict=True)
    ]
    return sorted(results, key=lambda r: r.probability, reverse=True)


def iteration_predict(*, iteration: Iteration, data: bytes) -> list[TagProbability]:
    """Probabilities per tag, highest first."""
    predictor = predictor_for(iteration)
    image = _decode(data, settings.CV_MAX_IMAGE_BYTES, predictor.image_size)
    return _ranked(iteration, predictor.predict_image(image))


def published_iteration_get(
    *, resource: Resource, project_id: uuid.UUID, publish_name: str
) -> Iteration:
    """The iteration published under this name to this prediction resource; 404 otherwise."""
    found = (
        Iteration.objects.filter(
            project_id=project_id,
            publish_name=publish_name,
            prediction_resource=resource,
            status=Iteration.Status.COMPLETED,
        )
        # Every prediction reads this row: not the figures' JSON, which prediction never needs,
        # and no ORDER BY (a publish name is unique in its project).
        .defer("metrics", "details", "traceback")
        .order_by()[:1]
    )
    iteration = next(iter(found), None)
    if iteration is None:
        raise Http404(
            f"No iteration of this project is published as {publish_name!r} to "
            "this prediction resource."
        )
    return iteration


def prediction_classify(
    *,
    iteration: Iteration,
    data: bytes | None = None,
    url: str = "",
    store: bool,
    application: str = "",
    max_bytes: int | None = None,
    preview: bool = False,
) -> PredictionResult:
    """Classify an image (its bytes, or the image at `url`); unless `store` is false, keep it
    (and the answer) for the project's Predictions, from where it can become a training image.
    `preview` asks for a thumbnail of an image that is not kept (Quick Test shows it back).

    The prediction endpoint takes images up to 4 MB as Azure's does; Quick Test up to 6 MB.
    """
    limit = max_bytes or settings.CV_MAX_PREDICTION_IMAGE_BYTES
    if data is None:
        data = url_image(url, max_bytes=limit)
    predictor = predictor_for(iteration)
    prediction_id, now = uuid.uuid4(), timezone.now()
    # Decoded once either way. A kept image is also checked, normalised, thumbnailed and
    # hashed for storage; one that is not (`/nostore`) gets only what the model reads.
    if store:
        prepared = _prepare(data, limit, predictor.image_size)
        assert prepared.decoded is not None
        predictions = _ranked(iteration, predictor.predict_image(prepared.decoded))
        _store(iteration, prepared, predictions, prediction_id, application)
        thumbnail = prepared.thumbnail
    else:
        image = _decode(data, limit, predictor.image_size)
        predictions = _ranked(iteration, predictor.predict_image(image))
        thumbnail = thumbnail_of(image) if preview else b""
    return PredictionResult(
        prediction_id, iteration.project_id, iteration.id, now, predictions, thumbnail
    )


def _store(
    iteration: Iteration,
    prepared: PreparedImage,
    predictions: list[TagProbability],
    prediction_id: uuid.UUID,
    application: str,
) -> None:
    base = f"predictions/{iteration.project_id}/{prediction_id}"
    with image_files_saved(base, prepared) as (file_name, thumbnail_name), transaction.atomic():
        StoredPrediction.objects.create(
            id=prediction_id,
            project_id=iteration.project_id,
            iteration=iteration,
            file=file_name,
            thumbnail=thumbnail_name,
            content_hash=prepared.content_hash,
            width=prepared.width,
            height=prepared.height,
            application=application[:200],
            predictions=[_prediction_json(p) for p in predictions],
        )


def predictions_delete(*, project: Project, ids: Sequence[uuid.UUID]) -> int:
    """Forget stored predictions (and their image files)."""
    with transaction.atomic():
        found = list(StoredPrediction.objects.filter(project=project, id__in=ids))
        StoredPrediction.objects.filter(pk__in=[p.pk for p in found]).delete()
        delete_files_on_commit(str(n) for p in found for n in (p.file.name, p.thumbnail.name))
    return len(found)


def predictions_to_images(
    *,
    project: Project,
    entries: Sequence[tuple[uuid.UUID, Sequence[uuid.UUID | str]]],
    metadata: Mapping[str, str] | None = None,
) -> list[ImageCreateResult]:
    """Move stored predictions into the training images with the tags given (the portal's
    "Save and close", the API's CreateImagesFromPredictions). Each goes through the same
    ingestion as an upload; one that went in leaves the Predictions list."""
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
            with default_storage.open(str(stored.file.name), "rb") as handle:
                upload = ImageUpload(name=str(prediction_id), data=handle.read())
        uploads.append((upload, tags))
    results = images_create_each(
        project=project, entries=uploads, source=Image.Source.PREDICTION, metadata=metadata
    )
    moved = [uuid.UUID(r.source_name) for r in results if r.status.ok]
    predictions_delete(project=project, ids=moved)
    return results


def _uncertainty(iteration: Iteration, predictions: list[TagProbability]) -> float:
    """How unsure the model is: multiclass, 1 − the margin between its two best tags;
    multilabel, the tag whose probability is nearest 50 %."""
    probabilities = [p.probability for p in predictions]  # best first
    if not probabilities:
        return 1.0
    if iteration.classification_type == Project.ClassificationType.MULTICLASS:
        second = probabilities[1] if len(probabilities) > 1 else 0.0
        return round(1.0 - (probabilities[0] - second), 6)
    return round(max(1.0 - abs(2.0 * p - 1.0) for p in probabilities), 6)


def suggestions_for(
    *, iteration: Iteration, images: Sequence[Image], limit: int | None = None
) -> list[Suggestion]:
    """The iteration's suggestion for each image, computing (and keeping) the missing ones:
    all of them, or at most `limit` in this call (the rest are left out until a later call, so
    one request never runs the model over thousands of images)."""
    have = {s.image_id: s for s in Suggestion.objects.filter(iteration=iteration, image__in=images)}
    budget = limit
    for image in images:
        if image.id in have:
            continue
        if budget is not None:
            if budget <= 0:
                continue
            budget -= 1
        with default_storage.open(str(image.file.name), "rb") as handle:
            data = handle.read()
        predictions = _ranked(iteration, predictor_for(iteration).predict(data))
        have[image.id], _ = Suggestion.objects.get_or_create(
            iteration=iteration,
            image=image,
            defaults={
                "predictions": [_prediction_json(p) for p in predictions],
                "uncertainty": _uncertainty(iteration, predictions),
                "top_tag_id": predictions[0].tag_id,
                "top_probability": predictions[0].probability,
            },
        )
    return [have[i.id] for i in images if i.id in have]


def _prediction_json(p: TagProbability) -> dict[str, Any]:
    return {
        "tagId": p.tag_id,
        "tagName": p.tag_name,
        "tagType": p.tag_type,
        "probability": p.probability,
    }


def _probability(suggestion: Suggestion, tag_id: str) -> float:
    return next((p["probability"] for p in suggestion.predictions if p["tagId"] == tag_id), 0.0)


def suggested_untagged(
    *,
    project: Project,
    iteration: Iteration,
    tag_ids: Sequence[str] = (),
    threshold: float = 0.0,
    most_uncertain_first: bool = True,
) -> tuple[list[Suggestion], int]:
    """Untagged images with what the iteration suggests, sorted by uncertainty (with `tag_ids`,
    only those suggesting one of them at `threshold` or above), and how many untagged images
    are still to be scored by a later call."""
    untagged = _untagged(project)
    found = suggestions_for(
        iteration=iteration, images=untagged, limit=settings.CV_SUGGESTIONS_PER_REQUEST
    )
    pending = len(untagged) - len(found)
    if tag_ids:
        found = [s for s in found if any(_probability(s, t) >= threshold for t in tag_ids)]
    return sorted(found, key=lambda s: s.uncertainty, reverse=most_uncertain_first), pending


def _untagged(project: Project) -> list[Image]:
    return list(active_images(project).filter(image_tags__isnull=True).order_by("created_at"))


def suggested_counts(
    *, project: Project, iteration: Iteration, tag_ids: Sequence[str], threshold: float
) -> dict[str, int]:
    """Per tag, how many untagged images the iteration suggests it for at `threshold`."""
    found, _pending = suggested_untagged(project=project, iteration=iteration)
    return {t: sum(1 for s in found if _probability(s, t) >= threshold) for t in tag_ids}


def suggestions_confirm(*, project: Project, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> int:
    """Tag each (image, suggested tag) pair: the Untagged view's "Confirm". Returns how many
    images were tagged; one call per tag, through the usual tagging rules."""
    by_tag: dict[uuid.UUID, list[uuid.UUID]] = {}
    for image_id, tag_id in pairs:
        by_tag.setdefault(tag_id, []).append(image_id)
    tags = {t.id: t for t in Tag.objects.filter(project=project, id__in=by_tag)}
    if len(tags) != len(by_tag):
        raise ValidationError("A suggested tag is not in this project.")
    changed = 0
    with transaction.atomic():
        for tag_id, image_ids in by_tag.items():
            changed += images_tags_add(project=project, image_ids=image_ids, tags=[tags[tag_id]])
    return changed
