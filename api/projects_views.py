"""Custom Vision Training API: domains, projects, a project's export and import, and its
artifacts (the files behind the image URIs it hands out).

Every operation calls the same services the portal uses.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest

from api.artifacts import artifact_parse, stored_file_name
from api.auth import TRAINING
from api.endpoint import api_view
from api.errors import ApiError
from api.parsing import body_text, json_body, uuid_of
from api.shapes import domain_json, project_json
from core.codes import AzureCode
from core.http import serve_stored_file
from projects import selectors, services
from projects.domains import DOMAINS, DOMAINS_BY_ID, GENERAL
from projects.models import Project, Resource
from projects.selectors import active_images
from projects.services import transfer


def _classification(value: str | None, default: str) -> str:
    if not value:
        return default
    for choice in Project.ClassificationType.values:
        if choice.lower() == value.lower():
            return choice
    raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, f"Unknown classificationType {value!r}.")


def _domain(value: str | None) -> uuid.UUID:
    if not value:
        return GENERAL.id
    domain_id = uuid_of(value, "domainId")
    if domain_id not in DOMAINS_BY_ID:
        raise ApiError(400, AzureCode.BAD_REQUEST_DOMAIN_INVALID, f"Unknown domain {domain_id}.")
    return domain_id


def _words(value: str) -> list[str]:
    return [w.strip() for w in value.split(",") if w.strip()]


def _unsupported_azure_storage(options: dict[str, Any]) -> None:
    """Azure can export models to, and notify through, the caller's Azure Storage; this server
    has no Azure Storage to write to, so asking for it is an error rather than ignored."""
    for name in ("exportModelContainerUri", "notificationQueueUri"):
        if options.get(name):
            raise ApiError(
                400,
                AzureCode.BAD_REQUEST_NOT_SUPPORTED,
                f"{name} needs Azure Storage, which this server does not write to. Leave it "
                "out: exports download from GET .../export and training status is polled.",
            )


@api_view(["GET"], TRAINING)
def domains(request: HttpRequest, resource: Resource) -> Any:
    return [domain_json(d) for d in DOMAINS]


@api_view(["GET"], TRAINING)
def domain(request: HttpRequest, resource: Resource, domain_id: uuid.UUID) -> Any:
    if domain_id not in DOMAINS_BY_ID:
        raise Http404("No such domain.")
    return domain_json(DOMAINS_BY_ID[domain_id])


@api_view(["GET", "POST"], TRAINING)
def projects(request: HttpRequest, resource: Resource) -> Any:
    if request.method == "GET":
        return [project_json(p) for p in selectors.project_list(user=resource.owner)]
    q = request.GET
    if not q.get("name"):
        raise ApiError(400, AzureCode.BAD_REQUEST_PROJECT_NAME, "A project needs a name.")
    _unsupported_azure_storage(json_body(request))
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


@api_view(["GET", "PATCH", "DELETE"], TRAINING, finds="project")
def project(request: HttpRequest, resource: Resource, item: Project) -> Any:
    if request.method == "DELETE":
        services.project_delete(project=item)
        return None
    if request.method == "PATCH":
        body = json_body(request)
        settings = body.get("settings") or {}
        if not isinstance(settings, dict):
            raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, "settings is an object.")
        _unsupported_azure_storage(settings)
        platforms = settings.get("targetExportPlatforms")
        if platforms is not None and not isinstance(platforms, list):
            raise ApiError(400, AzureCode.BAD_REQUEST_INVALID, "targetExportPlatforms is a list.")
        item = services.project_update(
            project=item,
            name=body_text(body, "name") or item.name,
            description=body_text(body, "description", item.description),
            classification_type=_classification(
                body_text(settings, "classificationType"), item.classification_type
            ),
            domain_id=_domain(settings.get("domainId"))
            if settings.get("domainId")
            else item.domain_id,
            target_export_platforms=None if platforms is None else [str(p) for p in platforms],
        )
    return project_json(item)


@api_view(["GET"], TRAINING, finds="project")
def export_project(request: HttpRequest, resource: Resource, project: Project) -> Any:
    images = active_images(project).count()
    return {
        "iterationCount": project.iterations.count(),
        "imageCount": images,
        "tagCount": project.tags.count(),
        "regionCount": selectors.region_count(project=project),
        "estimatedImportTimeInMS": 200 * images,
        "token": transfer.export_token(project),
    }


@api_view(["POST"], TRAINING)
def import_project(request: HttpRequest, resource: Resource) -> Any:
    source = transfer.project_for_token(request.GET.get("token", ""))
    project = transfer.project_copy(
        source=source,
        owner=resource.owner,
        resource=resource,
        name=request.GET.get("name", ""),
    )
    return project_json(project)


@api_view(["GET"], TRAINING, finds="project")
def artifact(request: HttpRequest, resource: Resource, project: Project) -> Any:
    """GetArtifact: an image's or a stored prediction's file by its path relative to the
    project, e.g. images/{imageId}/original (the end of the image's originalImageUri)."""
    kind, object_id, size = artifact_parse(request.GET.get("path") or "")
    return serve_stored_file(stored_file_name(project, kind, object_id, size))
