"""The API page: the endpoint, resource ids and SDK snippets a user needs to call this server
from code, and the OpenAPI document laid out for reading."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from api import openapi
from api.urls import ROUTES
from projects import selectors
from projects.domains import OBJECT_DETECTION
from projects.models import Project, Resource
from training.models import Iteration

_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case, as HTTP writes it
    path: str  # the OpenAPI path template, {version} included
    operation_id: str
    query: list[str]


def operations_by_tag(document: dict[str, Any]) -> list[tuple[str, list[Operation]]]:
    """The document's operations grouped by their first tag, groups and operations in the
    document's order (ROUTES' order, which lists Training before Prediction)."""
    groups: dict[str, list[Operation]] = {}
    for path, item in document["paths"].items():
        for method in _METHODS:
            if method not in item:
                continue
            operation = item[method]
            tag = (operation.get("tags") or ["Other"])[0]
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            groups.setdefault(tag, []).append(
                Operation(method.upper(), path, operation["operationId"], query)
            )
    return list(groups.items())


@cache
def _reference() -> list[tuple[str, list[Operation]]]:
    # ROUTES is fixed at import, so the document is built once per process.
    return operations_by_tag(openapi.build(ROUTES))


def _first(resources: list[Resource], kind: str) -> Resource | None:
    return next((r for r in resources if r.kind == kind), None)


def _examples_for(request: HttpRequest) -> tuple[Project | None, bool, Iteration | None]:
    """Whose examples the page shows: ?project= (one of the user's; its type decides, its ids
    and published name fill the snippets), else ?type=ObjectDetection for a detector's."""
    project = None
    if request.GET.get("project"):
        project = selectors.project_get_for_user(request.user, request.GET["project"])
    detection = project.is_detection if project else request.GET.get("type") == OBJECT_DETECTION
    published = (
        Iteration.objects.filter(project=project)
        .exclude(publish_name="")
        .order_by("-published_at")
        .first()
        if project
        else None
    )
    return project, detection, published


@login_required
@require_GET
def api_page(request: HttpRequest) -> HttpResponse:
    resources = list(selectors.resource_list(user=request.user))
    project, detection, published = _examples_for(request)
    return render(
        request,
        "portal/api.html",
        {
            "project": project,
            "detection": detection,
            "publish_name": published.publish_name if published else "",
            # The SDKs take the server's root and add /customvision/… themselves.
            "endpoint": request.build_absolute_uri("/").rstrip("/"),
            "resources": resources,
            "training": _first(resources, Resource.Kind.TRAINING),
            "prediction": _first(resources, Resource.Kind.PREDICTION),
            "groups": _reference(),
        },
    )
