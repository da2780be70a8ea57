"""Custom Vision Training API: quick test, stored predictions, suggested tags, image
performances, project export / import."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from api.errors import ApiError, api_view, json_body
from api.images_views import (
    MAX_TAKE,
    _base,
    query_flag,
    query_ids,
    stored_file_name,
    take_skip,
)
from api.prediction_views import image_data, image_url
from api.shapes import iso, prediction_json, project_json, stored_prediction_json, suggestion_json
from api.training_views import TRAINING, _project, _uuid
from core.http import serve_stored_file
from prediction import selectors as prediction_selectors
from prediction import services as prediction_services
from projects.models import Project, Resource
from projects.selectors import active_images, cursor_parse
from projects.services import transfer
from training import selectors as training_selectors


def _number(value: Any, name: str, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, "BadRequestInvalid", f"{name} is a number.") from None
    if not math.isfinite(number):
        raise ApiError(400, "BadRequestInvalid", f"{name} is a finite number.")
    return number


def _max_count(token: dict[str, Any]) -> int:
    """A query token's page size."""
    return min(max(int(_number(token.get("maxCount"), "maxCount", 50)), 1), MAX_TAKE)


def _token_page(token: dict[str, Any]) -> tuple[int, int]:
    """(skip, count) of a query token whose `continuation` is how many results came before
    (the continuation we hand back is the next page's start)."""
    return max(int(_number(token.get("continuation"), "continuation", 0)), 0), _max_count(token)


# --- Quick test -----------------------------------------------------------------------------


def _quick_test(request: HttpRequest, project: Project, **source: Any) -> Any:
    iteration = prediction_selectors.quick_test_iteration(project, request.GET.get("iterationId"))
    result = prediction_services.prediction_classify(
        iteration=iteration,
        store=query_flag(request, "store", default=True),
        application="Quick Test",
        max_bytes=settings.CV_MAX_IMAGE_BYTES,  # Quick Test takes 6 MB, as Azure's does
        **source,
    )
    return prediction_json(result)


@require_http_methods(["POST"])
@api_view(TRAINING)
def quick_test_image(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)  # before reading the body: 404 comes first
    return _quick_test(request, project, data=image_data(request))


@require_http_methods(["POST"])
@api_view(TRAINING)
def quick_test_url(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    return _quick_test(request, project, url=image_url(request))


# --- Stored predictions ---------------------------------------------------------------------


def _time(value: Any, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(str(value))
    except ValueError:  # well formed but impossible, e.g. month 13
        parsed = None
    if parsed is None:
        raise ApiError(400, "BadRequestInvalid", f"{name} is not an ISO-8601 time.")
    return parsed


@require_http_methods(["POST"])
@api_view(TRAINING)
def predictions_query(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    """QueryPredictions: filters in a token; `continuation` carries where the next page starts."""
    project = _project(resource, project_id)
    token = json_body(request)
    ranges = [
        prediction_selectors.TagRange(
            str(_uuid(t.get("id"), "tags.id")),
            _number(t.get("minThreshold"), "minThreshold", 0.0),
            _number(t.get("maxThreshold"), "maxThreshold", 1.0),
        )
        for t in token.get("tags") or []
        if isinstance(t, dict)
    ]
    iteration_id = token.get("iterationId")
    newest_first = token.get("orderBy") != "Oldest"
    found = prediction_selectors.prediction_list(
        project,
        iteration_id=_uuid(iteration_id, "iterationId") if iteration_id else None,
        application=str(token.get("application") or ""),
        start=_time(token.get("startTime"), "startTime"),
        end=_time(token.get("endTime"), "endTime"),
        newest_first=newest_first,
    )
    # The continuation is the position of the last result handed out: the next page is a
    # seek from there, not a count of everything before it.
    continuation = token.get("continuation")
    after = cursor_parse(str(continuation)) if continuation else None
    if continuation and after is None:
        raise ApiError(400, "BadRequestInvalid", "continuation is not one this server handed out.")
    page = prediction_selectors.prediction_page(
        found,
        ranges,
        size=_max_count(token),
        after=after,
        newest_first=newest_first,
    )
    return {
        "token": {**token, "continuation": page.next},
        "results": [stored_prediction_json(p, _base(request)) for p in page.items],
    }


@require_http_methods(["DELETE"])
@api_view(TRAINING)
def predictions(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    prediction_services.predictions_delete(project=project, ids=query_ids(request, "ids"))
    return None


@require_http_methods(["GET"])
@api_view(TRAINING)
def prediction_file(
    request: HttpRequest,
    resource: Resource,
    project_id: uuid.UUID,
    prediction_id: uuid.UUID,
    size: str,
) -> Any:
    project = _project(resource, project_id)
    return serve_stored_file(stored_file_name(project, "predictions", prediction_id, size))


# The image URIs we hand out, relative to the project: what GetArtifact's `path` names (Azure
# gives such relative paths instead of URIs where a project's storage is private).
_ARTIFACT = re.compile(
    r"^/?(?:projects/[0-9a-f-]{36}/)?(images|predictions)/([0-9a-f-]{36})/"
    r"(original|resized|thumbnail)$",
    re.IGNORECASE,
)


@require_http_methods(["GET"])
@api_view(TRAINING)
def artifact(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    """GetArtifact: an image's or a stored prediction's file by its path relative to the
    project, e.g. images/{imageId}/original (the end of the image's originalImageUri)."""
    project = _project(resource, project_id)
    path = request.GET.get("path") or ""
    match = _ARTIFACT.match(path.strip())
    if match is None:
        raise ApiError(
            400,
            "BadRequestInvalidArtifactUri",
            "path names an artifact of the project: images/{imageId}/original|resized|thumbnail "
            "or predictions/{predictionId}/original|resized|thumbnail.",
        )
    kind, object_id, size = match.groups()
    return serve_stored_file(
        stored_file_name(project, kind.lower(), uuid.UUID(object_id), size.lower())
    )


# --- Suggested tags -------------------------------------------------------------------------


def _iteration(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    iteration_id = _uuid(request.GET.get("iterationId"), "iterationId")
    return project, prediction_selectors.quick_test_iteration(project, iteration_id)


@require_http_methods(["POST"])
@api_view(TRAINING)
def suggest_tags(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    """SuggestTagsAndRegions for the given images."""
    project, iteration = _iteration(request, resource, project_id)
    ids = query_ids(request, "imageIds")
    if len(ids) > 64:
        raise ApiError(400, "BadRequestInvalidIds", "At most 64 image ids.")
    found = {i.id: i for i in active_images(project).filter(id__in=ids)}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ApiError(404, "NotFound", f"Images not in the project: {', '.join(missing)}.")
    suggestions = prediction_services.suggestions_for(
        iteration=iteration, images=[found[i] for i in ids]
    )
    # A StoredSuggestedTagAndRegion holds every field of a SuggestedTagAndRegion, and more.
    return [suggestion_json(s, _base(request)) for s in suggestions]


def _suggestion_filter(request: HttpRequest) -> tuple[list[str], float, dict[str, Any]]:
    body = json_body(request)
    tag_ids = [str(_uuid(t, "tagIds")) for t in body.get("tagIds") or []]
    return tag_ids, _number(body.get("threshold"), "threshold", 0.0), body


@require_http_methods(["POST"])
@api_view(TRAINING)
def suggested_images(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    """QuerySuggestedImages: untagged images with their suggestions, most uncertain first."""
    project, iteration = _iteration(request, resource, project_id)
    tag_ids, threshold, token = _suggestion_filter(request)
    found, _pending = prediction_services.suggested_untagged(
        project=project,
        iteration=iteration,
        tag_ids=tag_ids,
        threshold=threshold,
        most_uncertain_first=token.get("sortBy") != "UncertaintyAscending",
    )
    skip, count = _token_page(token)
    page = found[skip : skip + count]
    more = skip + count < len(found)
    return {
        "token": {**token, "continuation": str(skip + count) if more else None},
        "results": [suggestion_json(s, _base(request)) for s in page],
    }


@require_http_methods(["POST"])
@api_view(TRAINING)
def suggested_count(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project, iteration = _iteration(request, resource, project_id)
    tag_ids, threshold, _token = _suggestion_filter(request)
    return prediction_services.suggested_counts(
        project=project, iteration=iteration, tag_ids=tag_ids, threshold=threshold
    )


# --- Image performances ---------------------------------------------------------------------


def _outcomes(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> list[Any]:
    project = _project(resource, project_id)
    iteration = training_selectors.iteration_get_for_project(project, iteration_id)
    wanted = {str(t) for t in query_ids(request, "tagIds")}
    outcomes = training_selectors.iteration_outcomes(iteration)
    return [o for o in outcomes if not wanted or wanted & o.true_ids]


@require_http_methods(["GET"])
@api_view(TRAINING)
def image_performances(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> Any:
    outcomes = _outcomes(request, resource, project_id, iteration_id)
    if request.GET.get("orderBy") != "Oldest":
        outcomes.reverse()
    base = _base(request)
    results = []
    for outcome in outcomes[take_skip(request)]:
        image = outcome.image
        root = f"{base}/projects/{image.project_id}/images/{image.id}"
        results.append(
            {
                "id": str(image.id),
                "created": iso(image.created_at),
                "width": image.width,
                "height": image.height,
                "imageUri": f"{root}/original",
                "thumbnailUri": f"{root}/thumbnail",
                "tags": [
                    {"tagId": t["id"], "tagName": t["name"], "created": None}
                    for t in outcome.true_tags
                ],
                "regions": [],
                "predictions": [
                    {
                        "probability": p,
                        "tagId": t["id"],
                        "tagName": t["name"],
                        "tagType": t["type"],
                        "boundingBox": None,
                    }
                    for t, p in outcome.scored
                ],
            }
        )
    return results


@require_http_methods(["GET"])
@api_view(TRAINING)
def image_performance_count(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, iteration_id: uuid.UUID
) -> Any:
    return len(_outcomes(request, resource, project_id, iteration_id))


# --- Export / import ------------------------------------------------------------------------


@require_http_methods(["GET"])
@api_view(TRAINING)
def export_project(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    project = _project(resource, project_id)
    images = active_images(project).count()
    return {
        "iterationCount": project.iterations.count(),
        "imageCount": images,
        "tagCount": project.tags.count(),
        "regionCount": 0,
        "estimatedImportTimeInMS": 200 * images,
        "token": transfer.export_token(project),
    }


@require_http_methods(["POST"])
@api_view(TRAINING)
def import_project(request: HttpRequest, resource: Resource) -> Any:
    source = transfer.project_for_token(request.GET.get("token", ""))
    project = transfer.project_copy(
        source=source,
        owner=resource.owner,
        resource=resource,
        name=request.GET.get("name", ""),
    )
    return project_json(project)
