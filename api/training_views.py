"""Custom Vision Training API (v3.0 – v3.4-preview): domains, projects, tags.

Every operation calls the same services the portal uses.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest
from django.views.decorators.http import require_http_methods

from api.errors import ApiError, api_view, json_body
from api.shapes import domain_json, project_json, tag_json
from projects import selectors, services
from projects.domains import DOMAINS, DOMAINS_BY_ID, GENERAL
from projects.models import Project, Resource
from training import selectors as training_selectors
from training.models import Iteration

TRAINING = Resource.Kind.TRAINING


def _uuid(value: str | None, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ApiError(400, "BadRequestInvalidIds", f"{name} is not a valid id.") from None


def _project(resource: Resource, project_id: uuid.UUID) -> Project:
    # The key's owner is the user: the same ownership helper as the portal's pages.
    return selectors.project_get_for_user(resource.owner, project_id)


def _classification(value: str | None, default: str) -> str:
    if not value:
        return default
    for choice in Project.ClassificationType.values:
        if choice.lower() == value.lower():
            return choice
    raise ApiError(400, "BadRequestInvalid", f"Unknown classificationType {value!r}.")


def _domain(value: str | None) -> uuid.UUID:
    if not value:
        return GENERAL.id
    domain_id = _uuid(value, "domainId")
    if domain_id not in DOMAINS_BY_ID:
        raise ApiError(400, "BadRequestDomainInvalid", f"Unknown domain {domain_id}.")
    return domain_id


def _iteration(request: HttpRequest, project: Project) -> Iteration | None:
    """The `iterationId` a read asks about: tags and images as that iteration saw them."""
    value = request.GET.get("iterationId")
    if not value:
        return None
    return training_selectors.iteration_get_for_project(project, _uuid(value, "iterationId"))


@require_http_methods(["GET"])
@api_view(TRAINING)
def domains(request: HttpRequest, resource: Resource) -> Any:
    return [domain_json(d) for d in DOMAINS]


@require_http_methods(["GET"])
@api_view(TRAINING)
def domain(request: HttpRequest, resource: Resource, domain_id: uuid.UUID) -> Any:
    if domain_id not in DOMAINS_BY_ID:
        raise Http404("No such domain.")
    return domain_json(DOMAINS_BY_ID[domain_id])


@require_http_methods(["GET", "POST"])
@api_view(TRAINING)
def projects(request: HttpRequest, resource: Resource) -> Any:
    if request.method == "GET":
        return [project_json(p) for p in selectors.project_list(user=resource.owner)]
    q = request.GET
    if not q.get("name"):
        raise ApiError(400, "BadRequestProjectName", "A project needs a name.")
    unsupported_azure_storage(json_body(request))
    project = services.project_create(
        owner=resource.owner,
        resource=resource,
        name=q["name"],
        description=q.get("description", ""),
        classification_type=_classification(
            q.get("classificationType"), Project.ClassificationType.MULTICLASS
        ),
        domain_id=_domain(q.get("domainId")),
        target_export_platforms=_words(",".join(q.getlist("targetExportPlatforms"))),
    )
    return project_json(project)


def _words(value: str) -> list[str]:
    return [w.strip() for w in value.split(",") if w.strip()]


def unsupported_azure_storage(options: dict[str, Any]) -> None:
    """Azure can export models to, and notify through, the caller's Azure Storage; this server
    has no Azure Storage to write to, so asking for it is an error rather than ignored."""
    for name in ("exportModelContainerUri", "notificationQueueUri"):
        if options.get(name):
            raise ApiError(
                400,
                "BadRequestNotSupported",
                f"{name} needs Azure Storage, which this server does not write to. Leave it "
                "out: exports download from GET .../export and training status is polled.",
            )


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_view(TRAINING)
def project(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    item = _project(resource, project_id)
    if request.method == "DELETE":
        services.project_delete(project=item)
        return None
    if request.method == "PATCH":
        body = json_body(request)
        settings = body.get("settings") or {}
        if not isinstance(settings, dict):
            raise ApiError(400, "BadRequestInvalid", "settings is an object.")
        unsupported_azure_storage(settings)
        platforms = settings.get("targetExportPlatforms")
        if platforms is not None and not isinstance(platforms, list):
            raise ApiError(400, "BadRequestInvalid", "targetExportPlatforms is a list.")
        item = services.project_update(
            project=item,
            name=body.get("name") or item.name,
            description=body.get("description", item.description) or "",
            classification_type=_classification(
                settings.get("classificationType"), item.classification_type
            ),
            domain_id=_domain(settings.get("domainId"))
            if settings.get("domainId")
            else item.domain_id,
            target_export_platforms=None if platforms is None else [str(p) for p in platforms],
        )
    return project_json(item)


@require_http_methods(["GET", "POST"])
@api_view(TRAINING)
def tags(request: HttpRequest, resource: Resource, project_id: uuid.UUID) -> Any:
    item = _project(resource, project_id)
    if request.method == "GET":
        iteration = _iteration(request, item)
        if iteration is not None:
            return [tag_json(t) for t in training_selectors.iteration_tag_list(iteration)]
        return [tag_json(t) for t in selectors.tag_list(project=item)]
    q = request.GET
    tag_type = q.get("type") or "Regular"
    if tag_type not in ("Regular", "Negative"):
        raise ApiError(400, "BadRequestInvalid", "Tag type is Regular or Negative.")
    tag = services.tag_create(
        project=item, name=q.get("name", ""), description=q.get("description", ""), type=tag_type
    )
    return tag_json(tag, 0)


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_view(TRAINING)
def tag(request: HttpRequest, resource: Resource, project_id: uuid.UUID, tag_id: uuid.UUID) -> Any:
    item = _project(resource, project_id)
    iteration = _iteration(request, item) if request.method == "GET" else None
    if iteration is not None:
        for seen in training_selectors.iteration_tag_list(iteration):
            if seen.id == str(tag_id):
                return tag_json(seen)
        raise Http404("The iteration has no such tag.")
    found = selectors.tag_get_for_project(item, tag_id)
    if request.method == "DELETE":
        services.tag_delete(tag=found)
        return None
    if request.method == "PATCH":
        body = json_body(request)
        found = services.tag_update(
            tag=found,
            name=body.get("name") or found.name,
            description=body.get("description", found.description) or "",
            type=body.get("type") or found.type,
        )
    return tag_json(found)
