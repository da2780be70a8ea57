"""Custom Vision Training API: images, image tags, training and iterations."""

from __future__ import annotations

import base64
import binascii
import email.policy
import uuid
from collections.abc import Iterable
from email.parser import BytesParser
from typing import Any

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.views.decorators.http import require_http_methods

from api.errors import ApiError, api_view, json_body
from api.shapes import image_json, iteration_json, performance_json
from api.training_views import TRAINING, _project, _uuid
from prediction import services as prediction_services
from projects import selectors, services
from projects.models import Image, ImageTag, Project, Resource, Tag
from projects.services import ImageCreateResult, ImageUpload
from projects.services.fetching import uploads_from_urls
from projects.views import _serve
from training import selectors as training_selectors
from training import services as training_services

MAX_TAKE = 256


def _base(request: HttpRequest) -> str:
    path = request.path
    return request.build_absolute_uri(path[: path.index("/training/") + len("/training")])


def _ids(value: str | None, name: str) -> list[uuid.UUID]:
    return [_uuid(part, name) for part in (value or "").split(",") if part.strip()]


def _images(project: Project) -> QuerySet[Image]:
    return selectors.active_images(project).prefetch_related("image_tags__tag")


def _with_tags(images: QuerySet[Image], tag_ids: list[uuid.UUID]) -> QuerySet[Image]:
    return images.filter(image_tags__tag_id__in=tag_ids).distinct() if tag_ids else images


def _filtered(request: HttpRequest, project: Project) -> QuerySet[Image]:
    """GetImages' and GetImageCount's filters: `tagIds` (any of them) and `taggingStatus`."""
    found = _with_tags(_images(project), _ids(request.GET.get("tagIds"), "tagIds"))
    status = request.GET.get("taggingStatus", "All")
    if status == "Tagged":
        found = found.filter(image_tags__isnull=False).distinct()
    elif status == "Untagged":
        found = found.filter(image_tags__isnull=True)
    return found


MAX_SKIP = 2**31 - 1  # what a database OFFSET takes everywhere


def take_skip(request: HttpRequest) -> slice:
    """The page the `take` and `skip` query parameters ask for (take at most MAX_TAKE)."""
    try:
        take = int(request.GET.get("take", 50))
        skip = int(request.GET.get("skip", 0))
    except ValueError:
        raise ApiError(400, "BadRequestInvalid", "take and skip are numbers.") from None
    if not 0 <= take <= MAX_TAKE or not 0 <= skip <= MAX_SKIP:
        raise ApiError(
            400,
            "BadRequestInvalid",
            f"take is between 0 and {MAX_TAKE}, skip between 0 and {MAX_SKIP}.",
        )
    return slice(skip, skip + take)


def _page(request: HttpRequest, images: QuerySet[Image]) -> list[Image]:
    order = request.GET.get("orderBy", "Newest")
    images = images.order_by("created_at" if order == "Oldest" else "-created_at", "id")
    return list(images[take_skip(request)])


def _summary(results: list[ImageCreateResult], request: HttpRequest) -> tuple[Any, int]:
    ok = all(r.status.ok for r in results)
    body = {
        "isBatchSuccessful": ok,
        "images": [
            {
                "sourceUrl": r.source_name,
                "status": r.status.value,
                "image": image_json(r.image, _base(request)) if r.image else None,
            }
            for r in results
        ],
    }
    # Azure answers 207 Multi-Status when only part of a batch went in.
    return body, 200 if ok else 207


def _image_parts(request: HttpRequest) -> list[tuple[str, bytes]]:
    """The images of a CreateImagesFromData request, byte for byte.

    The Azure SDK sends image bytes as multipart parts *without* a filename, which Django's
    form parser would decode as text; so the raw body is parsed here instead.
    """
    try:
        body = request.body
    except RequestDataTooBig:
        raise ApiError(413, "BadRequestImageBatch", "The request is too large.") from None
    content_type = request.headers.get("Content-Type", "")
    if not content_type.lower().startswith("multipart/"):
        return [("image", body)] if body else []
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    parts = []
    for index, part in enumerate(message.iter_parts(), start=1):
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            parts.append((part.get_filename() or f"image {index}", data))
    return parts


def _create(
    project: Project,
    entries: list[tuple[ImageUpload, tuple[str, ...]]],
    source: str = Image.Source.UPLOAD,
) -> list[ImageCreateResult]:
    return services.images_create_each(project=project, entries=entries, source=source)


def _entries(body: Any, key: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The batch's entries and its shared tagIds, from a JSON body."""
    if not isinstance(body, dict) or not isinstance(body.get(key) or [], list):
        raise ApiError(400, "BadRequestInvalid", f"The body needs a list of {key}.")
    entries = [e for e in body.get(key) or [] if isinstance(e, dict)]
    return entries, [str(t) for t in body.get("tagIds") or []]


def _tags(shared: list[str], entry: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(set(shared) | {str(t) for t in entry.get("tagIds") or []}))


@require_http_methods(["GET", "POST", "DELETE"])
@api_view(TRAINING)
def images(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    if request.method == "GET":
        return [image_json(i, _base(request)) for i in _page(request, _filtered(request, project))]
    if request.method == "DELETE":
        if request.GET.get("allImages", "").lower() == "true":
            ids: Iterable[uuid.UUID] = selectors.active_images(project).values_list("id", flat=True)
        else:
            ids = _ids(request.GET.get("imageIds"), "imageIds")
        services.images_delete(project=project, image_ids=list(ids))
        return None
    # CreateImagesFromData: multipart parts, or the raw image as the body.
    tags = tuple(str(t) for t in _ids(request.GET.get("tagIds"), "tagIds"))
    uploads = [ImageUpload(name=name, data=data) for name, data in _image_parts(request)]
    if not uploads:
        raise ApiError(400, "BadRequestImageStream", "No image data in the request.")
    return _summary(_create(project, [(u, tags) for u in uploads]), request)


@require_http_methods(["POST"])
@api_view(TRAINING)
def images_files(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    images, shared = _entries(json_body(request), "images")
    entries = []
    for entry in images:
        name = str(entry.get("name") or "image")
        tags = _tags(shared, entry)
        try:
            data = base64.b64decode(entry.get("contents") or "", validate=True)
        except (binascii.Error, ValueError):
            entries.append((ImageUpload(name=name, source_error="contents is not base64."), tags))
            continue
        entries.append((ImageUpload(name=name, data=data), tags))
    return _summary(_create(project, entries), request)


@require_http_methods(["POST"])
@api_view(TRAINING)
def images_urls(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    images, shared = _entries(json_body(request), "images")
    services.batch_size_check(len(images))  # before fetching anything
    uploads = uploads_from_urls([str(e.get("url") or "") for e in images])
    entries = [(u, _tags(shared, e)) for u, e in zip(uploads, images, strict=True)]
    return _summary(_create(project, entries, Image.Source.URL), request)


@require_http_methods(["POST"])
@api_view(TRAINING)
def images_predictions(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    images, shared = _entries(json_body(request), "images")
    services.batch_size_check(len(images))
    entries = [(_uuid(e.get("id"), "id"), _tags(shared, e)) for e in images]
    results = prediction_services.predictions_to_images(project=project, entries=entries)
    return _summary(results, request)


@require_http_methods(["GET"])
@api_view(TRAINING)
def images_tagged(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    found = _images(project).filter(image_tags__isnull=False).distinct()
    found = _with_tags(found, _ids(request.GET.get("tagIds"), "tagIds"))
    return [image_json(i, _base(request)) for i in _page(request, found)]


@require_http_methods(["GET"])
@api_view(TRAINING)
def images_untagged(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    found = _images(project).filter(image_tags__isnull=True)
    return [image_json(i, _base(request)) for i in _page(request, found)]


@require_http_methods(["GET"])
@api_view(TRAINING)
def images_by_ids(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    ids = _ids(request.GET.get("imageIds"), "imageIds")
    found = _images(project).filter(id__in=ids) if ids else _images(project)
    return [image_json(i, _base(request)) for i in found[:MAX_TAKE]]


def _count(images: QuerySet[Image]) -> int:
    return images.values("id").distinct().count()


@require_http_methods(["GET"])
@api_view(TRAINING)
def images_count(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, state: str = "all"
) -> Any:
    project = _project(resource, project_id)
    found = selectors.active_images(project)
    if state == "all":  # GetImageCount takes GetImages' filters
        found = _filtered(request, project)
    elif state == "tagged":
        found = _with_tags(
            found.filter(image_tags__isnull=False), _ids(request.GET.get("tagIds"), "tagIds")
        )
    elif state == "untagged":
        found = found.filter(image_tags__isnull=True)
    return _count(found)


@require_http_methods(["POST", "DELETE"])
@api_view(TRAINING)
def image_tags(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    if request.method == "DELETE":
        tags = list(
            Tag.objects.filter(project=project, id__in=_ids(request.GET.get("tagIds"), "tagIds"))
        )
        services.images_tags_remove(
            project=project, tags=tags, image_ids=_ids(request.GET.get("imageIds"), "imageIds")
        )
        return None
    pairs = [
        (_uuid(e.get("imageId"), "imageId"), _uuid(e.get("tagId"), "tagId"))
        for e in json_body(request).get("tags") or []
    ]
    existing = set(
        ImageTag.objects.filter(image__project=project).values_list("image_id", "tag_id")
    )
    by_id = {t.id: t for t in Tag.objects.filter(project=project, id__in={p[1] for p in pairs})}
    created, duplicated = [], []
    for image_id, tag_id in pairs:
        entry = {"imageId": str(image_id), "tagId": str(tag_id)}
        if tag_id not in by_id:
            raise ApiError(400, "BadRequestInvalidIds", f"Tag {tag_id} is not in the project.")
        if (image_id, tag_id) in existing:
            duplicated.append(entry)
            continue
        if not services.images_tags_add(
            project=project, image_ids=[image_id], tags=[by_id[tag_id]]
        ):
            raise Http404(f"Image {image_id} is not in the project.")
        existing.add((image_id, tag_id))
        created.append(entry)
    return {"created": created, "duplicated": duplicated, "exceeded": []}


@require_http_methods(["GET"])
@api_view(TRAINING)
def image_file(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, image_id: uuid.UUID, size: str
) -> Any:
    image = selectors.image_get_for_project(_project(resource, project_id), image_id)
    return _serve(image.thumbnail.name if size == "thumbnail" else image.file.name)


# --- Training and iterations ----------------------------------------------------------------


@require_http_methods(["POST"])
@api_view(TRAINING)
def train(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    q = request.GET
    selected = json_body(request).get("selectedTags") if request.body else None
    if selected is not None and not (
        isinstance(selected, list) and all(isinstance(t, str) for t in selected)
    ):
        raise ApiError(400, "BadRequestInvalid", "selectedTags is a list of tag ids.")
    try:
        budget = float(q.get("reservedBudgetInHours") or 0)
    except ValueError:
        raise ApiError(400, "BadRequestInvalid", "reservedBudgetInHours is a number.") from None
    training_type = (q.get("trainingType") or "Regular").capitalize()
    iteration = training_services.iteration_train_start(
        project=project,
        training_type=training_type,
        reserved_budget_hours=budget,
        force=q.get("forceTrain", "").lower() == "true",
        selected_tag_ids=selected or None,
    )
    return iteration_json(iteration)


@require_http_methods(["GET"])
@api_view(TRAINING)
def iterations(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    return [iteration_json(i) for i in training_selectors.iteration_list(project=project)]


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_view(TRAINING)
def iteration(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> Any:
    project = _project(resource, project_id)
    found = training_selectors.iteration_get_for_project(project, iteration_id)
    if request.method == "DELETE":
        training_services.iteration_delete(iteration=found)
        return None
    if request.method == "PATCH":
        name = json_body(request).get("name")
        if name:
            found = training_services.iteration_rename(iteration=found, name=name)
    return iteration_json(found)


@require_http_methods(["GET"])
@api_view(TRAINING)
def performance(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> Any:
    project = _project(resource, project_id)
    found = training_selectors.iteration_get_for_project(project, iteration_id)
    try:
        threshold = float(request.GET.get("threshold") or 0.5)
    except ValueError:
        raise ApiError(400, "BadRequestInvalid", "threshold is a number.") from None
    if not 0.0 <= threshold <= 1.0:  # NaN fails this too
        raise ApiError(400, "BadRequestInvalid", "threshold is between 0 and 1.")
    if not found.is_completed:
        raise ValidationError(
            "The iteration is not trained.", code="BadRequestIterationIsNotTrained"
        )
    return performance_json(training_selectors.iteration_performance(found, threshold))


@require_http_methods(["POST", "DELETE"])
@api_view(TRAINING)
def publish(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> Any:
    project = _project(resource, project_id)
    found = training_selectors.iteration_get_for_project(project, iteration_id)
    if request.method == "DELETE":
        training_services.iteration_unpublish(iteration=found)
        return None
    target = training_services.prediction_resource_for(
        owner=resource.owner, prediction_id=request.GET.get("predictionId", "")
    )
    training_services.iteration_publish(
        iteration=found,
        publish_name=request.GET.get("publishName", ""),
        prediction_resource=target,
        overwrite=request.GET.get("overwrite", "").lower() == "true",
    )
    return True
