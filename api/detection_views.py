"""Object detection's operations (regions, region proposals, detect).

Regions and proposals are the data helper's; the Prediction API's Detect* live here. A
detection answers as Azure's ImagePrediction, each prediction with its `boundingBox`."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from api.auth import PREDICTION, TRAINING, resource_for_digest
from api.endpoint import api_view
from api.errors import ApiError, unauthorized
from api.parsing import image_data, image_url
from api.shapes import prediction_json
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


@api_view(["POST"], PREDICTION, key_only=True)
def detect(
    request: HttpRequest,
    key_digest: str,
    project_id: uuid.UUID,
    publish_name: str,
    store: bool,
    source: str,
) -> Any:
    """DetectImage and DetectImageUrl, with and without /nostore."""
    iteration = prediction_services.published_iteration_for_key(
        key_digest=key_digest, project_id=project_id, publish_name=publish_name
    )
    if iteration is None:  # a wrong key (401) or a wrong name for a right key (404)?
        resource = resource_for_digest(key_digest, PREDICTION)
        if resource is None:
            raise unauthorized(PREDICTION)
        iteration = prediction_services.published_iteration_get(
            resource=resource, project_id=project_id, publish_name=publish_name
        )
    image = {"data": image_data(request)} if source == "image" else {"url": image_url(request)}
    result = prediction_services.prediction_detect(
        iteration=iteration,
        store=store,
        application=request.GET.get("application", ""),
        **image,
    )
    return prediction_json(result)
