"""Object detection's operations (regions, region proposals, detect): this server trains
classifiers only, so every project here is a classification project, and each of these answers
as Azure answers an object-detection operation on one — a 400 in its error shape — after the
same not-found checks as any other call, so an SDK caller gets a reason it can read."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from api.auth import PREDICTION, TRAINING
from api.endpoint import api_view
from api.errors import ApiError
from core.codes import AzureCode
from prediction import services as prediction_services
from projects import selectors
from projects.models import Project, Resource


def _not_detection(project: Project) -> ApiError:
    return ApiError(
        400,
        AzureCode.BAD_REQUEST_OPERATION_NOT_SUPPORTED,
        f"Invalid project type for operation: {project.name!r} is a classification project "
        f"({project.classification_type}). Regions, region proposals and detect belong to "
        "object-detection projects, which this server does not train.",
    )


@api_view(["POST", "DELETE"], TRAINING, finds="project")
def image_regions(request: HttpRequest, resource: Resource, project: Project) -> Any:
    """CreateImageRegions and DeleteImageRegions."""
    raise _not_detection(project)


@api_view(["POST"], TRAINING, finds="project")
def region_proposals(
    request: HttpRequest, resource: Resource, project: Project, image_id: uuid.UUID
) -> Any:
    """GetImageRegionProposals."""
    selectors.image_get_for_project(project, image_id)
    raise _not_detection(project)


@api_view(["POST"], PREDICTION)
def detect(
    request: HttpRequest, resource: Resource, project_id: uuid.UUID, publish_name: str
) -> Any:
    """DetectImage and DetectImageUrl, with and without /nostore."""
    iteration = prediction_services.published_iteration_get(
        resource=resource, project_id=project_id, publish_name=publish_name
    )
    raise _not_detection(iteration.project)
