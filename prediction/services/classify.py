"""Classifying an image with a completed iteration's model (Prediction API, Quick Test), and
keeping it for the Predictions tab when asked."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from PIL import Image as PILImage

from core.codes import AzureCode
from engine.boxes import Detection
from engine.imaging import (
    ImageRejected,
    PreparedImage,
    decode_for_model,
    prepare_image,
    thumbnail_of,
)
from prediction.services.keeping import Pending, keep
from prediction.services.predictors import detector_for, predictor_for
from projects.models import Resource
from projects.services.fetching import url_image
from projects.services.images import (
    image_rules,
)
from projects.services.resources import key_matches
from training.models import Iteration


@dataclass(frozen=True)
class TagProbability:
    tag_id: str
    tag_name: str
    tag_type: str
    probability: float
    # Object detection: where, as Azure's boundingBox {left, top, width, height}.
    bounding_box: dict[str, float] | None = None


@dataclass(frozen=True)
class PredictionResult:
    id: uuid.UUID
    project_id: uuid.UUID
    iteration_id: uuid.UUID
    created: datetime
    predictions: list[TagProbability]
    thumbnail: bytes = b""  # JPEG, for showing the image back (Quick Test); not in the API


def _rejected(exc: ImageRejected) -> ValidationError:
    code = {
        AzureCode.ERROR_IMAGE_SIZE: AzureCode.BAD_REQUEST_IMAGE_SIZE_BYTES,
        AzureCode.ERROR_IMAGE_DIMENSIONS: AzureCode.BAD_REQUEST_IMAGE_DIMENSIONS,
    }.get(AzureCode(exc.status), AzureCode.BAD_REQUEST_IMAGE_FORMAT)
    return ValidationError(exc.message, code=code)


def _prepare(data: bytes, max_bytes: int, side: int | None = None) -> PreparedImage:
    """The same checks and normalisation as training images get, for an image that is kept.
    Its thumbnail is made when somebody first looks (`prediction_thumbnail_name`)."""
    try:
        return prepare_image(data, image_rules(max_bytes), model_side=side, thumbnail=False)
    except ImageRejected as exc:
        raise _rejected(exc) from None


def _decode(data: bytes, max_bytes: int, side: int) -> PILImage.Image:
    """The same checks, and only the decoding the model needs, for an image that is not kept."""
    try:
        return decode_for_model(data, image_rules(max_bytes), side)
    except ImageRejected as exc:
        raise _rejected(exc) from None


def ranked(iteration: Iteration, probabilities: list[float]) -> list[TagProbability]:
    results = [
        TagProbability(tag["id"], tag["name"], tag["type"], p)
        for tag, p in zip(iteration.tags, probabilities, strict=True)
    ]
    return sorted(results, key=lambda r: r.probability, reverse=True)


def located(iteration: Iteration, detections: list[Detection]) -> list[TagProbability]:
    """A detector's boxes as tagged predictions, most probable first."""
    tags = iteration.tags
    found = []
    for tag_index, probability, left, top, width, height in detections:
        tag = tags[tag_index]
        box = {"left": left, "top": top, "width": width, "height": height}
        found.append(TagProbability(tag["id"], tag["name"], tag["type"], probability, box))
    return sorted(found, key=lambda r: r.probability, reverse=True)


def iteration_predict(*, iteration: Iteration, data: bytes) -> list[TagProbability]:
    """Probabilities per tag, highest first."""
    predictor = predictor_for(iteration)
    image = _decode(data, settings.CV_MAX_IMAGE_BYTES, predictor.image_size)
    return ranked(iteration, predictor.predict_image(image))


def _published(project_id: uuid.UUID, publish_name: str) -> QuerySet[Iteration]:
    return (
        Iteration.objects.filter(
            project_id=project_id, publish_name=publish_name, status=Iteration.Status.COMPLETED
        )
        # Every prediction reads this row: not the figures' JSON, which prediction never needs,
        # and no ORDER BY (a publish name is unique in its project).
        .defer("metrics", "details", "traceback")
        .order_by()
    )


def published_iteration_get(
    *, resource: Resource, project_id: uuid.UUID, publish_name: str
) -> Iteration:
    """The iteration published under this name to this prediction resource; 404 otherwise."""
    found = _published(project_id, publish_name).filter(prediction_resource=resource)[:1]
    iteration = next(iter(found), None)
    if iteration is None:
        raise Http404(
            f"No iteration of this project is published as {publish_name!r} to "
            "this prediction resource."
        )
    return iteration


def published_iteration_for_key(
    *, key_digest: str, project_id: uuid.UUID, publish_name: str
) -> Iteration | None:
    """The iteration published under this name to the prediction resource whose key hashes to
    `key_digest`, found in one query with the key check; None when there is no such iteration
    (`published_iteration_get` on the key's resource then says whether the key or the name is
    wrong).

    Every prediction makes this query. Its SQL is compiled once per process: the ORM spends
    0.33 ms building the same statement again per request, the database 0.02 ms answering it.
    """
    sql, params = _for_key_sql(connection.vendor)
    project = Iteration._meta.get_field("project").target_field
    given = {
        _SENTINEL_PROJECT: project.get_db_prep_value(project_id, connection),
        _SENTINEL_NAME: publish_name,
        _SENTINEL_DIGEST: key_digest,
    }
    bound = [given.get(p, p) if isinstance(p, str) else p for p in params]
    return next(iter(Iteration.objects.raw(sql, bound)), None)


# What classifying with an iteration reads of it (`predictor_for`, `ranked`, the answer).
PREDICTION_FIELDS = ("id", "project_id", "status", "model_file", "tags", "domain_id")
_SENTINEL_UUID = uuid.UUID("5e471e1e-0000-4000-8000-000000000000")
_SENTINEL_PROJECT = _SENTINEL_UUID.hex
_SENTINEL_NAME = "\x00publish-name\x00"
_SENTINEL_DIGEST = "\x00key-digest\x00"


@functools.cache
def _for_key_sql(vendor: str) -> tuple[str, tuple[Any, ...]]:
    """The lookup's SQL and parameters, with sentinels where the request's values go."""
    template = (
        _published(_SENTINEL_UUID, _SENTINEL_NAME)
        .filter(
            key_matches(_SENTINEL_DIGEST, "prediction_resource__"),
            prediction_resource__kind=Resource.Kind.PREDICTION,
            # A deactivated user's keys stop at once (api.auth checks the same).
            prediction_resource__owner__is_active=True,
        )
        # Only what a prediction reads: each column is a converter and an attribute per row.
        .only(*PREDICTION_FIELDS)[:1]
    )
    sql, params = template.query.sql_with_params()
    project = Iteration._meta.get_field("project").target_field
    prepared_sentinel = project.get_db_prep_value(_SENTINEL_UUID, connection)
    # Every database's UUID parameter, found by the one the template was compiled with.
    params = tuple(_SENTINEL_PROJECT if p == prepared_sentinel else p for p in params)
    expected = {_SENTINEL_PROJECT, _SENTINEL_NAME, _SENTINEL_DIGEST}
    assert expected <= {p for p in params if isinstance(p, str)}, params
    return sql, params


def prediction_classify(
    *,
    iteration: Iteration,
    data: bytes | None = None,
    url: str = "",
    store: bool,
    application: str = "",
    max_bytes: int | None = None,
    preview: bool = False,
    keep_now: bool = False,
) -> PredictionResult:
    """Classify an image (its bytes, or the image at `url`); unless `store` is false, keep it
    (and the answer) for the project's Predictions, from where it can become a training image.
    `preview` asks for a thumbnail of an image that is not kept (Quick Test shows it back).
    A kept image is written behind the answer (`keeping`) unless `keep_now`: Quick Test's
    person may open the Predictions tab the next moment, and waits for one image anyway.

    The prediction endpoint takes images up to 4 MB as Azure's does; Quick Test up to 6 MB.
    """
    predictor = predictor_for(iteration)
    return _answer(
        iteration,
        Source(data, url, max_bytes),
        predictor.image_size,
        lambda image: ranked(iteration, predictor.predict_image(image)),
        Keeping(store, application, preview, keep_now),
    )


def prediction_detect(
    *,
    iteration: Iteration,
    data: bytes | None = None,
    url: str = "",
    store: bool,
    application: str = "",
    max_bytes: int | None = None,
    preview: bool = False,
    keep_now: bool = False,
) -> PredictionResult:
    """Detect objects in an image with an object-detection iteration: as `prediction_classify`
    (same checks, keeping and journal), each prediction a tag, a probability and its box
    (normalised to the upright image), most probable first."""
    detector = detector_for(iteration)
    return _answer(
        iteration,
        Source(data, url, max_bytes),
        detector.image_size,
        lambda image: located(iteration, detector.detect_image(image)),
        Keeping(store, application, preview, keep_now),
    )


@dataclass(frozen=True)
class Source:
    data: bytes | None
    url: str
    max_bytes: int | None


@dataclass(frozen=True)
class Keeping:
    store: bool
    application: str
    preview: bool
    keep_now: bool


def _answer(
    iteration: Iteration,
    source: Source,
    side: int,
    model: Callable[[PILImage.Image], list[TagProbability]],
    keeping: Keeping,
) -> PredictionResult:
    limit = source.max_bytes or settings.CV_MAX_PREDICTION_IMAGE_BYTES
    data = source.data if source.data is not None else url_image(source.url, max_bytes=limit)
    prediction_id, now = uuid.uuid4(), timezone.now()
    # Decoded once either way. A kept image is also checked, normalised, thumbnailed and
    # hashed for storage; one that is not (`/nostore`) gets only what the model reads.
    if keeping.store:
        prepared = _prepare(data, limit, side)
        assert prepared.decoded is not None
        predictions = model(prepared.decoded)
        _store(
            iteration,
            prepared,
            predictions,
            prediction_id,
            keeping.application,
            now,
            keeping.keep_now,
        )
        thumbnail = thumbnail_of(prepared.decoded) if keeping.preview else b""
    else:
        image = _decode(data, limit, side)
        predictions = model(image)
        thumbnail = thumbnail_of(image) if keeping.preview else b""
    return PredictionResult(
        prediction_id, iteration.project_id, iteration.id, now, predictions, thumbnail
    )


def _store(
    iteration: Iteration,
    prepared: PreparedImage,
    predictions: list[TagProbability],
    prediction_id: uuid.UUID,
    application: str,
    created_at: datetime,
    keep_now: bool,
) -> None:
    keep(
        Pending(
            id=prediction_id,
            project_id=iteration.project_id,
            iteration_id=iteration.id,
            data=prepared.data,
            extension=prepared.extension,
            content_hash=prepared.content_hash,
            width=prepared.width,
            height=prepared.height,
            application=application,
            predictions=[prediction_entry_json(p) for p in predictions],
            created_at=created_at,
        ),
        now=keep_now,
    )


def prediction_entry_json(p: TagProbability) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "tagId": p.tag_id,
        "tagName": p.tag_name,
        "tagType": p.tag_type,
        "probability": p.probability,
    }
    if p.bounding_box is not None:  # a detection's box, kept for QueryPredictions
        entry["boundingBox"] = p.bounding_box
    return entry
