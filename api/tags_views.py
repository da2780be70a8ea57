"""Custom Vision Training API: a project's tags, now or as an iteration saw them."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest

from api.auth import TRAINING
from api.endpoint import api_view
from api.errors import ApiError
from api.parsing import body_text, iteration_asked, json_body
from api.shapes import tag_json
from core.codes import AzureCode
from projects import selectors, services
from projects.models import Project, Resource
from training import selectors as training_selectors


@api_view(["GET", "POST"], TRAINING, finds="project")
def tags(request: HttpRequest, resource: Resource, project: Project) -> Any:
    if request.method == "GET":
        iteration = iteration_asked(request, project)
        if iteration is not None:
            return [tag_json(t) for t in training_selectors.iteration_tag_list(iteration)]
        return [tag_json(t) for t in selectors.tag_list(project=project)]
    q = request.GET
    tag_type = q.get("type") or "Regular"
    if tag_type not in ("Regular", "Negative"):
        raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, "Tag type is Regular or Negative.")
    tag = services.tag_create(
        project=project, name=q.get("name", ""), description=q.get("description", ""), type=tag_type
    )
    return tag_json(tag, 0)


@api_view(["GET", "PATCH", "DELETE"], TRAINING, finds="project")
def tag(request: HttpRequest, resource: Resource, project: Project, tag_id: uuid.UUID) -> Any:
    iteration = iteration_asked(request, project) if request.method == "GET" else None
    if iteration is not None:
        for seen in training_selectors.iteration_tag_list(iteration):
            if seen.id == str(tag_id):
                return tag_json(seen)
        raise Http404("The iteration has no such tag.")
    found = selectors.tag_get_for_project(project, tag_id)
    if request.method == "DELETE":
        services.tag_delete(tag=found)
        return None
    if request.method == "PATCH":
        body = json_body(request)
        found = services.tag_update(
            tag=found,
            name=body_text(body, "name") or found.name,
            description=body_text(body, "description", found.description),
            type=body_text(body, "type") or found.type,
        )
    return tag_json(found)
