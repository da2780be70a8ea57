"""Classifying an image with a completed iteration's model (API, Quick Test), and keeping the
images sent to the prediction endpoint."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from prediction.models import StoredPrediction
from projects.imaging import ImageRejected, ImageRules, PreparedImage, prepare_image
from projects.models import Resource
from projects.services.storage import image_files_saved
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
        predictor = Predictor.from_bytes(handle.read())
    with _lock:
        _cache[key] = predictor
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return predictor


def forget_predictor(iteration_id: uuid.UUID) -> None:
    with _lock:
        for key in [k for k in _cache if k[0] == iteration_id]:
            del _cache[key]


def _prepare(data: bytes) -> PreparedImage:
    """The same checks and normalisation as training images get."""
    try:
        return prepare_image(data, ImageRules(max_bytes=settings.CV_MAX_IMAGE_BYTES))
    except ImageRejected as exc:
        code = {
            "ErrorImageSize": "BadRequestImageSizeBytes",
            "ErrorImageDimensions": "BadRequestImageDimensions",
        }.get(exc.status.value, "BadRequestImageFormat")
        raise ValidationError(exc.message, code=code) from None


def _probabilities(iteration: Iteration, prepared: PreparedImage) -> list[TagProbability]:
    probabilities = predictor_for(iteration).predict(prepared.data)
    results = [
        TagProbability(tag["id"], tag["name"], tag["type"], p)
        for tag, p in zip(iteration.tags, probabilities, strict=True)
    ]
    return sorted(results, key=lambda r: r.probability, reverse=True)


def iteration_predict(*, iteration: Iteration, data: bytes) -> list[TagProbability]:
    """Probabilities per tag, highest first."""
    return _probabilities(iteration, _prepare(data))


def published_iteration_get(
    *, resource: Resource, project_id: uuid.UUID, publish_name: str
) -> Iteration:
    """The iteration published under this name to this prediction resource; 404 otherwise."""
    iteration = Iteration.objects.filter(
        project_id=project_id,
        publish_name=publish_name,
        prediction_resource=resource,
        status=Iteration.Status.COMPLETED,
    ).first()
    if iteration is None:
        raise Http404(
            f"No iteration of this project is published as {publish_name!r} to "
            "this prediction resource."
        )
    return iteration


def prediction_classify(
    *, iteration: Iteration, data: bytes, store: bool, application: str = ""
) -> PredictionResult:
    """Classify an image; unless `store` is false, keep it (and the answer) for the project's
    Predictions, from where it can become a training image."""
    prepared = _prepare(data)
    predictions = _probabilities(iteration, prepared)
    prediction_id, now = uuid.uuid4(), timezone.now()
    if store:
        _store(iteration, prepared, predictions, prediction_id, application)
    return PredictionResult(prediction_id, iteration.project_id, iteration.id, now, predictions)


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
            predictions=[
                {
                    "tagId": p.tag_id,
                    "tagName": p.tag_name,
                    "tagType": p.tag_type,
                    "probability": p.probability,
                }
                for p in predictions
            ],
        )
