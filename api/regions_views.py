"""Custom Vision Training API: an object-detection project's regions (CreateImageRegions,
DeleteImageRegions) and region proposals (GetImageRegionProposals).

On a classification project they answer as Azure answers there, a 400
BadRequestOperationNotSupported in its error shape (the services say so), after the same
not-found checks as any other call."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from api.auth import TRAINING
from api.endpoint import api_view
from api.parsing import body_list, json_body, query_ids, region_of, uuid_of
from api.shapes import region_json
from projects import selectors, services
from projects.models import Project, Region, Resource
from projects.services import RegionEntry
from projects.services import proposals as region_proposer


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
    return {"imageId": str(region.image_id), **region_json(region)}


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
