"""Custom Vision Training API: training a project, its iterations, their performance (overall
and image by image) and publishing them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from api.auth import TRAINING
from api.endpoint import api_view
from api.errors import ApiError
from api.parsing import (
    body_text,
    json_body,
    query_ids,
    take_skip,
    training_base,
)
from api.shapes import (
    detection_performance_json,
    image_performance_json,
    iteration_json,
    performance_json,
)
from core.codes import AzureCode
from projects.models import Project, Resource
from training import selectors as training_selectors
from training import services as training_services
from training.models import Iteration


@api_view(["POST"], TRAINING, finds="project")
def train(request: HttpRequest, resource: Resource, project: Project) -> Any:
    q = request.GET
    body = json_body(request)
    if body.get("customBaseModelInfo"):
        # Training on top of another iteration's model is not something our trainer does;
        # saying so beats training from ImageNet and letting the caller think otherwise.
        raise ApiError(
            400,
            AzureCode.BAD_REQUEST_NOT_SUPPORTED,
            "customBaseModelInfo is not supported here: each iteration trains from the "
            "domain's pretrained backbone. Train without it.",
        )
    selected = body.get("selectedTags")
    if selected is not None and not (
        isinstance(selected, list) and all(isinstance(t, str) for t in selected)
    ):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, "selectedTags is a list of tag ids.")
    try:
        budget = float(q.get("reservedBudgetInHours") or 0)
    except ValueError:
        raise ApiError(
            400, AzureCode.BAD_REQUEST_INVALID, "reservedBudgetInHours is a number."
        ) from None
    training_type = (q.get("trainingType") or "Regular").capitalize()
    iteration = training_services.iteration_train_start(
        project=project,
        training_type=training_type,
        reserved_budget_hours=budget,
        force=q.get("forceTrain", "").lower() == "true",
        selected_tag_ids=selected or None,
    )
    return iteration_json(iteration)


@api_view(["GET"], TRAINING, finds="project")
def iterations(request: HttpRequest, resource: Resource, project: Project) -> Any:
    return [iteration_json(i) for i in training_selectors.iteration_list(project=project)]


@api_view(["GET", "PATCH", "DELETE"], TRAINING, finds="iteration")
def iteration(request: HttpRequest, resource: Resource, found: Iteration) -> Any:
    if request.method == "DELETE":
        training_services.iteration_delete(iteration=found)
        return None
    name = body_text(json_body(request), "name") if request.method == "PATCH" else None
    if name:  # UpdateIteration without a name changes nothing
        found = training_services.iteration_rename(iteration=found, name=name)
    return iteration_json(found)


def _fraction(request: HttpRequest, name: str, default: float) -> float:
    try:
        value = float(request.GET.get(name) or default)
    except ValueError:
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"{name} is a number.") from None
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"{name} is between 0 and 1.")
    return value


@api_view(["GET"], TRAINING, finds="iteration")
def performance(request: HttpRequest, resource: Resource, found: Iteration) -> Any:
    """GetIterationPerformance; `overlapThreshold` (IoU) counts for detection iterations."""
    threshold = _fraction(request, "threshold", 0.5)
    overlap = _fraction(request, "overlapThreshold", training_selectors.DEFAULT_OVERLAP)
    if not found.is_completed:
        raise ValidationError(
            "The iteration is not trained.", code=AzureCode.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
        )
    if found.is_detection:
        figures = training_selectors.iteration_detection_performance(found, threshold, overlap)
    else:
        figures = training_selectors.iteration_performance(found, threshold)
    return performance_json(figures)


def _outcomes(request: HttpRequest, iteration: Iteration) -> list[Any]:
    wanted = {str(t) for t in query_ids(request, "tagIds")}
    outcomes: list[Any]
    if iteration.is_detection:
        outcomes = training_selectors.iteration_detection_outcomes(iteration)
    else:
        outcomes = training_selectors.iteration_outcomes(iteration)
    return [o for o in outcomes if not wanted or wanted & o.true_ids]


@api_view(["GET"], TRAINING, finds="iteration")
def image_performances(request: HttpRequest, resource: Resource, found: Iteration) -> Any:
    outcomes = _outcomes(request, found)
    if request.GET.get("orderBy") != "Oldest":
        outcomes.reverse()
    base = training_base(request)
    shape = detection_performance_json if found.is_detection else image_performance_json
    return [shape(o, base) for o in outcomes[take_skip(request)]]


@api_view(["GET"], TRAINING, finds="iteration")
def image_performance_count(request: HttpRequest, resource: Resource, found: Iteration) -> Any:
    return len(_outcomes(request, found))


@api_view(["POST", "DELETE"], TRAINING, finds="iteration")
def publish(request: HttpRequest, resource: Resource, found: Iteration) -> Any:
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
