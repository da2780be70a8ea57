"""Custom Vision Training API: suggested tags for untagged images (Smart Labeler)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from api.auth import TRAINING
from api.endpoint import api_view
from api.errors import ApiError
from api.parsing import (
    body_list,
    json_body,
    number_of,
    query_ids,
    token_size,
    training_base,
    uuid_of,
)
from api.shapes import suggestion_json
from core.codes import AzureCode
from prediction import selectors as prediction_selectors
from prediction import services as prediction_services
from projects.models import Project, Resource
from projects.selectors import active_images
from training.models import Iteration


def _iteration(request: HttpRequest, project: Project) -> Iteration:
    """The trained iteration that suggests (`iterationId`, required)."""
    iteration_id = uuid_of(request.GET.get("iterationId"), "iterationId")
    return prediction_selectors.quick_test_iteration(project, iteration_id)


@api_view(["POST"], TRAINING, finds="project")
def suggest_tags(request: HttpRequest, resource: Resource, project: Project) -> Any:
    """SuggestTagsAndRegions for the given images."""
    iteration = _iteration(request, project)
    ids = query_ids(request, "imageIds")
    if len(ids) > 64:
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID_IDS, "At most 64 image ids.")
    found = {i.id: i for i in active_images(project).filter(id__in=ids)}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ApiError(
            404, AzureCode.NOT_FOUND, f"Images not in the project: {', '.join(missing)}."
        )
    suggestions = prediction_services.suggestions_for(
        iteration=iteration, images=[found[i] for i in ids]
    )
    # A StoredSuggestedTagAndRegion holds every field of a SuggestedTagAndRegion, and more.
    return [suggestion_json(s, training_base(request)) for s in suggestions]


def _suggestion_filter(request: HttpRequest) -> tuple[list[str], float, dict[str, Any]]:
    body = json_body(request)
    tag_ids = [str(uuid_of(t, "tagIds")) for t in body_list(body, "tagIds")]
    return tag_ids, number_of(body.get("threshold"), "threshold", 0.0), body


@api_view(["POST"], TRAINING, finds="project")
def suggested_images(request: HttpRequest, resource: Resource, project: Project) -> Any:
    """QuerySuggestedImages: untagged images with their suggestions, most uncertain first."""
    iteration = _iteration(request, project)
    tag_ids, threshold, token = _suggestion_filter(request)
    found, _pending = prediction_services.suggested_untagged(
        project=project,
        iteration=iteration,
        tag_ids=tag_ids,
        threshold=threshold,
        most_uncertain_first=token.get("sortBy") != "UncertaintyAscending",
    )
    # The continuation we hand back is how many results came before the next page.
    skip = max(int(number_of(token.get("continuation"), "continuation", 0)), 0)
    count = token_size(token)
    page = found[skip : skip + count]
    more = skip + count < len(found)
    return {
        "token": {**token, "continuation": str(skip + count) if more else None},
        "results": [suggestion_json(s, training_base(request)) for s in page],
    }


@api_view(["POST"], TRAINING, finds="project")
def suggested_count(request: HttpRequest, resource: Resource, project: Project) -> Any:
    iteration = _iteration(request, project)
    tag_ids, threshold, _token = _suggestion_filter(request)
    return prediction_services.suggested_counts(
        project=project, iteration=iteration, tag_ids=tag_ids, threshold=threshold
    )
