"""Object detection's training operations (CreateImageRegions, DeleteImageRegions,
GetImageRegionProposals) and the Prediction API's detect.

Regions and proposals belong to object-detection projects: on a classification project they
answer as Azure answers there, a 400 BadRequestOperationNotSupported in its error shape, after
the same not-found checks as any other call, so an SDK caller gets a reason it can read."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from api.auth import PREDICTION, TRAINING, resource_for_digest
from api.endpoint import api_view
from api.errors import ApiError, unauthorized
from api.parsing import (
    body_list,
    image_data,
    image_url,
    json_body,
    query_ids,
    region_of,
    uuid_of,
)
from api.shapes import iso, prediction_json
from core.codes import AzureCode
from prediction import services as prediction_services
from projects import selectors, services
from projects.models import Project, Region, Resource
from projects.services import RegionEntry
from projects.services import proposals as region_proposer


def _not_detection(project: Project) -> ApiError:
    return ApiError(
        400,
        AzureCode.BAD_REQUEST_OPERATION_NOT_SUPPORTED,
        f"Invalid project type for operation: {project.name!r} is a classification project "
        f"({project.classification_type}). Regions, region proposals and detect belong to "
        "object-detection projects.",
    )


def _entry(value: Any) -> RegionEntry:
    tag_id, left, top, width, height = region_of(value)
    return RegionEntry(uuid_of(value.get("imageId"), "imageId"), tag_id, left, top, width, height)


def _entry_json(entry: RegionEntry) -> dict[str, Any]:
    return {
        "imageId": str(entry.image_id),
        "tagId": str(entry.tag_id),
        "left": entry.left,
        "top": entry.top,
        "width": entry.width,
        "height": entry.height,
    }


def _created_json(region: Region) -> dict[str, Any]:
    return {
        "imageId": str(region.image_id),
        "regionId": str(region.id),
        "tagName": region.tag.name,
        "created": iso(region.created_at),
        "tagId": str(region.tag_id),
        "left": region.left,
        "top": region.top,
        "width": region.width,
        "height": region.height,
    }


@api_view(["POST", "DELETE"], TRAINING, finds="project")
def image_regions(request: HttpRequest, resource: Resource, project: Project) -> Any:
    """CreateImageRegions (the body's {regions: [...]}) and DeleteImageRegions (?regionIds)."""
    if request.method == "DELETE":
        services.regions_delete(project=project, region_ids=query_ids(request, "regionIds"))
        return None
    entries = [_entry(e) for e in body_list(json_body(request), "regions")]
    batch = services.regions_create(project=project, entries=entries)
    return {
        "created": [_created_json(r) for r in batch.created],
        "duplicated": [_entry_json(e) for e in batch.duplicated],
        "exceeded": [_entry_json(e) for e in batch.exceeded],
    }


@api_view(["POST"], TRAINING, finds="project")
def region_proposals(
    request: HttpRequest, resource: Resource, project: Project, image_id: uuid.UUID
) -> Any:
    """GetImageRegionProposals: class-agnostic boxes with confidences, no model needed."""
    image = selectors.image_get_for_project(project, image_id)
    proposals = region_proposer.region_proposals(image=image)
    return {
        "projectId": str(project.id),
        "imageId": str(image.id),
        "proposals": [
            {
                "confidence": confidence,
                "boundingBox": {"left": left, "top": top, "width": width, "height": height},
            }
            for confidence, left, top, width, height in proposals
        ],
    }


@api_view(["POST"], PREDICTION, key_only=True)
def detect(
    request: HttpRequest,
    key_digest: str,
    project_id: uuid.UUID,
    publish_name: str,
    store: bool,
    source: str,
) -> Any:
    """DetectImage and DetectImageUrl, with and without /nostore: as classify's, each
    prediction with its boundingBox."""
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
