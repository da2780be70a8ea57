"""Our objects as Custom Vision's JSON (camelCase, ISO-8601 times, GUID strings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projects.domains import Domain
from projects.models import Project, Tag

EXPORT_PLATFORMS = ["CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino"]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def domain_json(domain: Domain) -> dict[str, Any]:
    return {
        "id": str(domain.id),
        "name": domain.name,
        "type": domain.type,
        "exportable": domain.exportable,
        "enabled": domain.enabled,
        "exportablePlatforms": EXPORT_PLATFORMS if domain.exportable else [],
        "modelInformation": {"description": domain.description},
    }


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "name": project.name,
        "description": project.description,
        "settings": {
            "domainId": str(project.domain_id),
            "classificationType": project.classification_type,
            "targetExportPlatforms": [],
            "useNegativeSet": True,
            "imageProcessingSettings": {"augmentationMethods": {}},
        },
        "created": iso(project.created_at),
        "lastModified": iso(project.modified_at),
        "thumbnailUri": None,
        "drModeEnabled": False,
        "status": "Succeeded",
    }


def tag_json(tag: Tag, image_count: int | None = None) -> dict[str, Any]:
    count = image_count if image_count is not None else getattr(tag, "image_count", None)
    if count is None:
        count = tag.image_tags.count()
    return {
        "id": str(tag.id),
        "name": tag.name,
        "description": tag.description,
        "type": tag.type,
        "imageCount": count,
    }
