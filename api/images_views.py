"""Custom Vision Training API: images, image tags, training and iterations."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from django.views.decorators.http import require_http_methods

from api import multipart
from api.errors import ApiError, api_view, json_body
from api.multipart import boundary_of
from api.shapes import export_json, image_json, iso, iteration_json, performance_json
from api.training_views import TRAINING, _iteration, _project, _uuid
from core.http import serve_stored_file
from prediction import selectors as prediction_selectors
from prediction import services as prediction_services
from projects import selectors, services
from projects.metadata import metadata_clean, metadata_filter
from projects.models import Image, ImageTag, Project, Resource, Tag
from projects.selectors import ImageFilter
from projects.services import ImageCreateResult, ImageUpload
from projects.services.fetching import uploads_from_urls
from training import exporting
from training import selectors as training_selectors
from training import services as training_services
from training.models import Export, Iteration

MAX_TAKE = 256


def _base(request: HttpRequest) -> str:
    # The route word is in any case (/Training/ in Microsoft's REST quickstart).
    match = re.match(r"^/customvision/[^/]+/training", request.path, re.IGNORECASE)
    return request.build_absolute_uri(match.group(0) if match else "/customvision/v3.3/training")


def _ids(value: str | None, name: str) -> list[uuid.UUID]:
    text = (value or "").strip()
    if text.startswith("[") and text.endswith("]"):  # a JSON array, as some REST callers send
        text = text[1:-1]
    return [_uuid(part.strip().strip("\"'"), name) for part in text.split(",") if part.strip()]


def query_ids(request: HttpRequest, name: str) -> list[uuid.UUID]:
    """Ids from the query string: comma-separated (the SDKs) or the parameter repeated."""
    return _ids(",".join(request.GET.getlist(name)), name)


def query_flag(request: HttpRequest, name: str, default: bool = False) -> bool:
    """A boolean query parameter as the SDKs send it ("true" / "false"); absent: `default`."""
    value = request.GET.get(name, "")
    return default if value == "" else value.lower() == "true"


_STATES = {"all": ImageFilter.ALL, "tagged": ImageFilter.TAGGED, "untagged": ImageFilter.UNTAGGED}


@dataclass(frozen=True)
class _Criteria:
    state: str
    tag_ids: list[uuid.UUID]
    where: Q | None


def _criteria(request: HttpRequest, state: str | None) -> _Criteria:
    """What a list or count asks for: `tagIds` (any of them), `taggingStatus` (unless the
    route fixes `state`), `$filter` on metadata."""
    if state is None:
        status = request.GET.get("taggingStatus") or "All"
        if status.lower() not in _STATES:
            raise ApiError(400, "BadRequestInvalid", "taggingStatus is All, Tagged or Untagged.")
        state = _STATES[status.lower()]
    expression = request.GET.get("$filter")
    where = metadata_filter(expression) if expression else None
    return _Criteria(state, query_ids(request, "tagIds"), where)


def _matching(
    request: HttpRequest, project: Project, iteration: Iteration | None, state: str | None = None
) -> QuerySet[Image]:
    """The images a list or count asks for (`_criteria`), as `iteration` saw them if given."""
    criteria = _criteria(request, state)
    state, tag_ids, where = criteria.state, criteria.tag_ids, criteria.where
    if iteration is not None:
        return training_selectors.iteration_image_list(
            iteration=iteration, state=state, tag_ids=tag_ids, where=where
        )
    images = selectors.image_list(project=project, state=state, tag_ids=tag_ids, where=where)
    return images.prefetch_related("image_tags__tag")


def _images_json(
    request: HttpRequest, iteration: Iteration | None, images: Iterable[Image]
) -> list[Any]:
    if iteration is None:
        return [image_json(i, _base(request)) for i in images]
    # As the iteration saw them: its tags, by the names they had then.
    names = {t["id"]: t["name"] for t in iteration.tags}
    when = iso(iteration.created_at)
    return [
        image_json(
            i,
            _base(request),
            tags=[
                {"tagId": t, "tagName": names.get(t, ""), "created": when}
                for t in i.seen_tag_ids  # type: ignore[attr-defined]
            ],
        )
        for i in images
    ]


MAX_SKIP = 2**31 - 1  # what a database OFFSET takes everywhere


def take_skip(request: HttpRequest) -> slice:
    """The page the `take` and `skip` query parameters ask for (take at most MAX_TAKE):
    slice(skip, skip + take)."""
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


def _listed(request: HttpRequest, project: Project, state: str | None = None) -> list[Any]:
    """One page of a GetImages-style list, newest first unless orderBy=Oldest."""
    iteration = _iteration(request, project)
    order = request.GET.get("orderBy", "Newest")
    page = take_skip(request)
    images = selectors.image_page(
        _matching(request, project, iteration, state),
        skip=page.start,
        take=page.stop - page.start,
        newest=order != "Oldest",
    )
    return _images_json(request, iteration, images)


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
    """The images of a CreateImagesFromData request, byte for byte (`api.multipart`)."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise ApiError(413, "BadRequestImageBatch", "The request is too large.") from None
    content_type = request.headers.get("Content-Type", "")
    # Microsoft's REST quickstart sends the raw image with "Content-Type: multipart/form-data"
    # and no boundary: without a boundary there are no parts, so the body is the image.
    boundary = boundary_of(content_type) if content_type.lower().startswith("multipart/") else None
    if boundary is None:
        return [("image", body)] if body else []
    try:
        return multipart.parts(body, boundary)
    except multipart.MultipartError as exc:
        raise ApiError(400, "BadRequestImageStream", str(exc)) from None


@dataclass(frozen=True)
class _Batch:
    """A JSON batch body: its entries, the tagIds and metadata shared by all of them."""

    entries: list[dict[str, Any]]
    tag_ids: list[str]
    metadata: dict[str, Any] | None


def _batch(request: HttpRequest, key: str = "images") -> _Batch:
    body = json_body(request)
    if not isinstance(body.get(key) or [], list):
        raise ApiError(400, "BadRequestInvalid", f"The body needs a list of {key}.")
    return _Batch(
        entries=[e for e in body.get(key) or [] if isinstance(e, dict)],
        tag_ids=[str(t) for t in body.get("tagIds") or []],
        metadata=body.get("metadata"),
    )


def _tags(shared: list[str], entry: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(set(shared) | {str(t) for t in entry.get("tagIds") or []}))


@require_http_methods(["GET", "POST", "DELETE"])
@api_view(TRAINING)
def images(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    if request.method == "GET":
        return _listed(request, project)
    if request.method == "DELETE":
        if query_flag(request, "allImages"):
            ids: Iterable[uuid.UUID] = selectors.active_images(project).values_list("id", flat=True)
        else:
            ids = query_ids(request, "imageIds")
        delete = (
            training_services.images_delete_everywhere
            if query_flag(request, "allIterations")
            else services.images_delete
        )
        delete(project=project, image_ids=list(ids))
        return None
    # CreateImagesFromData: multipart parts, or the raw image as the body.
    tags = tuple(str(t) for t in query_ids(request, "tagIds"))
    uploads = [ImageUpload(name=name, data=data) for name, data in _image_parts(request)]
    if not uploads:
        raise ApiError(400, "BadRequestImageStream", "No image data in the request.")
    results = services.images_create_each(project=project, entries=[(u, tags) for u in uploads])
    return _summary(results, request)


@require_http_methods(["POST"])
@api_view(TRAINING)
def images_files(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    batch = _batch(request)
    entries = []
    for entry in batch.entries:
        name = str(entry.get("name") or "image")
        tags = _tags(batch.tag_ids, entry)
        try:
            data = base64.b64decode(entry.get("contents") or "", validate=True)
        except (binascii.Error, ValueError):
            entries.append((ImageUpload(name=name, source_error="contents is not base64."), tags))
            continue
        entries.append((ImageUpload(name=name, data=data), tags))
    results = services.images_create_each(project=project, entries=entries, metadata=batch.metadata)
    return _summary(results, request)


@require_http_methods(["POST"])
@api_view(TRAINING)
def images_urls(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    batch = _batch(request)
    services.batch_size_check(len(batch.entries))  # before fetching anything
    metadata_clean(batch.metadata)  # likewise
    uploads = uploads_from_urls([str(e.get("url") or "") for e in batch.entries])
    entries = [(u, _tags(batch.tag_ids, e)) for u, e in zip(uploads, batch.entries, strict=True)]
    results = services.images_create_each(
        project=project, entries=entries, source=Image.Source.URL, metadata=batch.metadata
    )
    return _summary(results, request)


@require_http_methods(["POST"])
@api_view(TRAINING)
def images_predictions(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    batch = _batch(request)
    services.batch_size_check(len(batch.entries))
    entries = [(_uuid(e.get("id"), "id"), _tags(batch.tag_ids, e)) for e in batch.entries]
    results = prediction_services.predictions_to_images(
        project=project, entries=entries, metadata=batch.metadata
    )
    return _summary(results, request)


@require_http_methods(["GET"])
@api_view(TRAINING)
def images_tagged(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    return _listed(request, project, ImageFilter.TAGGED)


@require_http_methods(["GET"])
@api_view(TRAINING)
def images_untagged(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    return _listed(request, project, ImageFilter.UNTAGGED)


@require_http_methods(["GET"])
@api_view(TRAINING)
def images_by_ids(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    ids = query_ids(request, "imageIds")
    iteration = _iteration(request, project)
    found = _matching(request, project, iteration, ImageFilter.ALL)
    return _images_json(request, iteration, (found.filter(id__in=ids) if ids else found)[:MAX_TAKE])


@require_http_methods(["GET"])
@api_view(TRAINING)
def images_count(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, state: str | None = None
) -> Any:
    """GetImageCount (filters as GetImages), GetTaggedImageCount and GetUntaggedImageCount."""
    project = _project(resource, project_id)
    iteration = _iteration(request, project)
    if iteration is not None:
        return _matching(request, project, iteration, state).order_by().count()
    criteria = _criteria(request, state)
    return selectors.image_count(
        project=project, state=criteria.state, tag_ids=criteria.tag_ids, where=criteria.where
    )


@require_http_methods(["POST"])
@api_view(TRAINING)
def images_metadata(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    """UpdateImageMetadata: merge the body's pairs into each listed image's metadata."""
    project = _project(resource, project_id)
    results = services.images_metadata_update(
        project=project,
        image_ids=query_ids(request, "imageIds"),
        metadata=json_body(request, keys_as_sent=True),
    )
    return {
        "isBatchSuccessful": all(r.status == "OK" for r in results),
        "images": [
            {"imageId": r.image_id, "status": r.status, "metadata": r.metadata} for r in results
        ],
    }


@require_http_methods(["POST", "DELETE"])
@api_view(TRAINING)
def image_tags(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    if request.method == "DELETE":
        tags = list(Tag.objects.filter(project=project, id__in=query_ids(request, "tagIds")))
        services.images_tags_remove(
            project=project, tags=tags, image_ids=query_ids(request, "imageIds")
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
    return serve_stored_file(
        stored_file_name(_project(resource, project_id), "images", image_id, size)
    )


def stored_file_name(project: Project, kind: str, object_id: uuid.UUID, size: str) -> str:
    """The stored file behind an image's or a stored prediction's original / resized /
    thumbnail URI (resized is the original: it is what training and prediction read)."""
    if kind == "images":
        image = selectors.image_get_for_project(project, object_id)
        return str(image.thumbnail.name if size == "thumbnail" else image.file.name)
    stored = prediction_selectors.prediction_get_for_project(project, object_id)
    if size == "thumbnail":
        return prediction_services.prediction_thumbnail_name(stored)
    return str(stored.file.name)


# --- Training and iterations ----------------------------------------------------------------


@require_http_methods(["POST"])
@api_view(TRAINING)
def train(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    q = request.GET
    body = json_body(request)
    if body.get("customBaseModelInfo"):
        # Training on top of another iteration's model is not something our trainer does;
        # saying so beats training from ImageNet and letting the caller think otherwise.
        raise ApiError(
            400,
            "BadRequestNotSupported",
            "customBaseModelInfo is not supported here: each iteration trains from the "
            "domain's pretrained backbone. Train without it.",
        )
    selected = body.get("selectedTags")
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


@require_http_methods(["GET", "POST"])
@api_view(TRAINING)
def exports(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> Any:
    """GetExports, and ExportIteration (`platform`, `flavor` in the query, as Azure's)."""
    project = _project(resource, project_id)
    found = training_selectors.iteration_get_for_project(project, iteration_id)
    if request.method == "POST":
        export = exporting.export_start(
            iteration=found,
            platform=request.GET.get("platform", ""),
            flavor=request.GET.get("flavor", ""),
        )
        return _export_json(request, export)
    return [_export_json(request, e) for e in exporting.export_list(iteration=found)]


def _export_json(request: HttpRequest, export: Export) -> dict[str, Any]:
    done = export.status == Export.Status.DONE
    uri = request.build_absolute_uri(exporting.download_path(export)) if done else None
    return export_json(export, uri)
