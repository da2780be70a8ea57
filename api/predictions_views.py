"""Custom Vision Training API: Quick Test and the stored predictions (query, delete, files)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from api.artifacts import stored_file_name
from api.auth import TRAINING
from api.endpoint import api_view
from api.errors import ApiError
from api.parsing import (
    body_list,
    image_data,
    image_url,
    json_body,
    number_of,
    query_flag,
    query_ids,
    time_of,
    token_size,
    training_base,
    uuid_of,
)
from api.shapes import prediction_json, stored_prediction_json
from core.codes import AzureCode
from core.http import serve_stored_file
from prediction import selectors as prediction_selectors
from prediction import services as prediction_services
from projects.models import Project, Resource
from projects.selectors import cursor_parse


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


@api_view(["POST"], TRAINING, finds="project")
def quick_test_image(request: HttpRequest, resource: Resource, project: Project) -> Any:
    return _quick_test(request, project, data=image_data(request))


@api_view(["POST"], TRAINING, finds="project")
def quick_test_url(request: HttpRequest, resource: Resource, project: Project) -> Any:
    return _quick_test(request, project, url=image_url(request))


@api_view(["POST"], TRAINING, finds="project")
def predictions_query(request: HttpRequest, resource: Resource, project: Project) -> Any:
    """QueryPredictions: filters in a token; `continuation` carries where the next page starts."""
    token = json_body(request)
    ranges = [
        prediction_selectors.TagRange(
            str(uuid_of(t.get("id"), "tags.id")),
            number_of(t.get("minThreshold"), "minThreshold", 0.0),
            number_of(t.get("maxThreshold"), "maxThreshold", 1.0),
        )
        for t in body_list(token, "tags")
        if isinstance(t, dict)
    ]
    iteration_id = token.get("iterationId")
    newest_first = token.get("orderBy") != "Oldest"
    found = prediction_selectors.prediction_list(
        project,
        iteration_id=uuid_of(iteration_id, "iterationId") if iteration_id else None,
        application=str(token.get("application") or ""),
        start=time_of(token.get("startTime"), "startTime"),
        end=time_of(token.get("endTime"), "endTime"),
        newest_first=newest_first,
    )
    # The continuation is the position of the last result handed out: the next page is a
    # seek from there, not a count of everything before it.
    continuation = token.get("continuation")
    after = cursor_parse(str(continuation)) if continuation else None
    if continuation and after is None:
        raise ApiError(
            400, AzureCode.BAD_REQUEST_INVALID, "continuation is not one this server handed out."
        )
    page = prediction_selectors.prediction_page(
        found,
        ranges,
        size=token_size(token),
        after=after,
        newest_first=newest_first,
    )
    return {
        "token": {**token, "continuation": page.next},
        "results": [stored_prediction_json(p, training_base(request)) for p in page.items],
    }


@api_view(["DELETE"], TRAINING, finds="project")
def predictions(request: HttpRequest, resource: Resource, project: Project) -> Any:
    prediction_services.predictions_delete(project=project, ids=query_ids(request, "ids"))
    return None


@api_view(["GET"], TRAINING, finds="project")
def prediction_file(
    request: HttpRequest, resource: Resource, project: Project, prediction_id: uuid.UUID, size: str
) -> Any:
    return serve_stored_file(stored_file_name(project, "predictions", prediction_id, size))
