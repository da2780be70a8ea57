"""Custom Vision Training API: images (from data, files, URLs and stored predictions), their
lists and counts, metadata, tags and files."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from api.artifacts import stored_file_name
from api.auth import TRAINING
from api.endpoint import api_view
from api.errors import ApiError
from api.parsing import (
    MAX_TAKE,
    body_list,
    image_parts,
    iteration_asked,
    json_body,
    query_flag,
    query_ids,
    region_of,
    take_skip,
    training_base,
    uuid_of,
)
from api.shapes import image_json, iso, region_json
from core.codes import AzureCode
from core.http import serve_stored_file
from prediction import services as prediction_services
from projects import selectors, services
from projects.metadata import metadata_clean, metadata_filter
from projects.models import Image, Project, Resource
from projects.selectors import ImageFilter
from projects.services import ImageCreateResult, ImageUpload, RegionBox
from projects.services.fetching import uploads_from_urls
from training import selectors as training_selectors
from training import services as training_services
from training.models import Iteration

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
            raise ApiError(
                400, AzureCode.BAD_REQUEST_INVALID, "taggingStatus is All, Tagged or Untagged."
            )
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
    images = list(images)
    if iteration is None:
        found = selectors.regions_for_images([i.id for i in images])  # one query a page
        return [
            image_json(
                i, training_base(request), regions=[region_json(r) for r in found.get(i.id, [])]
            )
            for i in images
        ]
    # As the iteration saw them: its tags and regions, by the names they had then.
    names = {t["id"]: t["name"] for t in iteration.tags}
    when = iso(iteration.created_at)
    return [
        image_json(
            i,
            training_base(request),
            tags=[
                {"tagId": t, "tagName": names.get(t, ""), "created": when}
                for t in i.seen_tag_ids  # type: ignore[attr-defined]
            ],
            regions=_seen_regions(iteration, getattr(i, "seen_regions", None) or [], when),
        )
        for i in images
    ]


def _seen_regions(iteration: Iteration, boxes: list[list[Any]], when: str | None) -> list[Any]:
    """An iteration's snapshot of an image's regions ([tag index, left, top, width, height])
    as ImageRegions; a snapshot keeps no region ids."""
    tags = iteration.tags
    return [
        {
            "regionId": None,
            "tagName": tags[index]["name"],
            "created": when,
            "tagId": tags[index]["id"],
            "left": left,
            "top": top,
            "width": width,
            "height": height,
        }
        for index, left, top, width, height in boxes
        if 0 <= index < len(tags)
    ]


def _listed(request: HttpRequest, project: Project, state: str | None = None) -> list[Any]:
    """One page of a GetImages-style list, newest first unless orderBy=Oldest."""
    iteration = iteration_asked(request, project)
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
    shown = _images_json(request, None, [r.image for r in results if r.image is not None])
    by_id = {i["id"]: i for i in shown}
    body = {
        "isBatchSuccessful": ok,
        "images": [
            {
                "sourceUrl": r.source_name,
                "status": r.status.value,
                "image": by_id[str(r.image.id)] if r.image else None,
            }
            for r in results
        ],
    }
    # Azure answers 207 Multi-Status when only part of a batch went in.
    return body, 200 if ok else 207


@dataclass(frozen=True)
class _Batch:
    """A JSON batch body: its entries, the tagIds and metadata shared by all of them."""

    entries: list[dict[str, Any]]
    tag_ids: list[str]
    metadata: dict[str, Any] | None


def _batch(request: HttpRequest, key: str = "images") -> _Batch:
    body = json_body(request)
    if not isinstance(body.get(key) or [], list):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"The body needs a list of {key}.")
    return _Batch(
        entries=[e for e in body.get(key) or [] if isinstance(e, dict)],
        tag_ids=[str(t) for t in body_list(body, "tagIds")],
        metadata=body.get("metadata"),
    )


def _tags(shared: list[str], entry: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(set(shared) | {str(t) for t in body_list(entry, "tagIds")}))


def _regions(entry: dict[str, Any]) -> tuple[RegionBox, ...]:
    """An entry's regions (ImageFileCreateEntry, ImageUrlCreateEntry, ImageIdCreateEntry)."""
    return tuple(region_of(r) for r in body_list(entry, "regions"))


@api_view(["GET", "POST", "DELETE"], TRAINING, finds="project")
def images(request: HttpRequest, resource: Resource, project: Project) -> Any:
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
    uploads = [ImageUpload(name=name, data=data) for name, data in image_parts(request)]
    if not uploads:
        raise ApiError(400, AzureCode.BAD_REQUEST_IMAGE_STREAM, "No image data in the request.")
    results = services.images_create_each(project=project, entries=[(u, tags) for u in uploads])
    return _summary(results, request)


def _contents(entry: dict[str, Any]) -> str:
    contents = entry.get("contents") or ""
    if not isinstance(contents, str):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, "contents is an image in base64.")
    return contents


@api_view(["POST"], TRAINING, finds="project")
def images_files(request: HttpRequest, resource: Resource, project: Project) -> Any:
    batch = _batch(request)
    entries = []
    for entry in batch.entries:
        name = str(entry.get("name") or "image")
        tags, regions = _tags(batch.tag_ids, entry), _regions(entry)
        try:
            data = base64.b64decode(_contents(entry), validate=True)
        except (binascii.Error, ValueError):
            entries.append((ImageUpload(name=name, source_error="contents is not base64."), tags))
            continue
        entries.append((ImageUpload(name=name, data=data, regions=regions), tags))
    results = services.images_create_each(project=project, entries=entries, metadata=batch.metadata)
    return _summary(results, request)


@api_view(["POST"], TRAINING, finds="project")
def images_urls(request: HttpRequest, resource: Resource, project: Project) -> Any:
    batch = _batch(request)
    services.batch_size_check(len(batch.entries))  # before fetching anything
    metadata_clean(batch.metadata)  # likewise
    regions = [_regions(e) for e in batch.entries]  # likewise
    uploads = uploads_from_urls([str(e.get("url") or "") for e in batch.entries])
    entries = [
        (replace(u, regions=r), _tags(batch.tag_ids, e))
        for u, r, e in zip(uploads, regions, batch.entries, strict=True)
    ]
    results = services.images_create_each(
        project=project, entries=entries, source=Image.Source.URL, metadata=batch.metadata
    )
    return _summary(results, request)


@api_view(["POST"], TRAINING, finds="project")
def images_predictions(request: HttpRequest, resource: Resource, project: Project) -> Any:
    batch = _batch(request)
    services.batch_size_check(len(batch.entries))
    entries = [(uuid_of(e.get("id"), "id"), _tags(batch.tag_ids, e)) for e in batch.entries]
    regions = {i: _regions(e) for (i, _), e in zip(entries, batch.entries, strict=True)}
    results = prediction_services.predictions_to_images(
        project=project, entries=entries, metadata=batch.metadata, regions=regions
    )
    return _summary(results, request)


@api_view(["GET"], TRAINING, finds="project")
def images_tagged(request: HttpRequest, resource: Resource, project: Project) -> Any:
    return _listed(request, project, ImageFilter.TAGGED)


@api_view(["GET"], TRAINING, finds="project")
def images_untagged(request: HttpRequest, resource: Resource, project: Project) -> Any:
    return _listed(request, project, ImageFilter.UNTAGGED)


@api_view(["GET"], TRAINING, finds="project")
def images_by_ids(request: HttpRequest, resource: Resource, project: Project) -> Any:
    ids = query_ids(request, "imageIds")
    iteration = iteration_asked(request, project)
    found = _matching(request, project, iteration, ImageFilter.ALL)
    return _images_json(request, iteration, (found.filter(id__in=ids) if ids else found)[:MAX_TAKE])


@api_view(["GET"], TRAINING, finds="project")
def images_count(
    request: HttpRequest, resource: Resource, project: Project, state: str | None = None
) -> Any:
    """GetImageCount (filters as GetImages), GetTaggedImageCount and GetUntaggedImageCount."""
    iteration = iteration_asked(request, project)
    if iteration is not None:
        return _matching(request, project, iteration, state).order_by().count()
    criteria = _criteria(request, state)
    return selectors.image_count(
        project=project, state=criteria.state, tag_ids=criteria.tag_ids, where=criteria.where
    )


@api_view(["POST"], TRAINING, finds="project")
def images_metadata(request: HttpRequest, resource: Resource, project: Project) -> Any:
    """UpdateImageMetadata: merge the body's pairs into each listed image's metadata."""
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


def _pair(entry: Any) -> tuple[uuid.UUID, uuid.UUID]:
    if not isinstance(entry, dict):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, "tags is a list of {imageId, tagId}.")
    return uuid_of(entry.get("imageId"), "imageId"), uuid_of(entry.get("tagId"), "tagId")


@api_view(["POST", "DELETE"], TRAINING, finds="project")
def image_tags(request: HttpRequest, resource: Resource, project: Project) -> Any:
    """CreateImageTags (the body's imageId-tagId pairs) and DeleteImageTags."""
    if request.method == "DELETE":
        services.image_tags_delete(
            project=project,
            tag_ids=query_ids(request, "tagIds"),
            image_ids=query_ids(request, "imageIds"),
        )
        return None
    pairs = [_pair(e) for e in body_list(json_body(request), "tags")]
    result = services.image_tags_create(project=project, pairs=pairs)
    return {
        "created": [{"imageId": str(i), "tagId": str(t)} for i, t in result.created],
        "duplicated": [{"imageId": str(i), "tagId": str(t)} for i, t in result.duplicated],
        "exceeded": [],
    }


@api_view(["GET"], TRAINING, finds="project")
def image_file(
    request: HttpRequest, resource: Resource, project: Project, image_id: uuid.UUID, size: str
) -> Any:
    return serve_stored_file(stored_file_name(project, "images", image_id, size))
