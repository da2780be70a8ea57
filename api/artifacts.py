"""The stored files behind the image URIs the API hands out: an image's or a stored
prediction's original, resized and thumbnail."""

from __future__ import annotations

import re
import uuid

from api.errors import ApiError
from core.codes import AzureCode
from prediction import selectors as prediction_selectors
from prediction import services as prediction_services
from projects import selectors
from projects.models import Project

# The image URIs we hand out, relative to the project: what GetArtifact's `path` names (Azure
# gives such relative paths instead of URIs where a project's storage is private).
_ARTIFACT = re.compile(
    r"^/?(?:projects/[0-9a-f-]{36}/)?(images|predictions)/([0-9a-f-]{36})/"
    r"(original|resized|thumbnail)$",
    re.IGNORECASE,
)


def artifact_parse(path: str) -> tuple[str, uuid.UUID, str]:
    """(kind, id, size) of a GetArtifact `path`."""
    match = _ARTIFACT.match(path.strip())
    if match is None:
        raise ApiError(
            400,
            AzureCode.BAD_REQUEST_INVALID_ARTIFACT_URI,
            "path names an artifact of the project: images/{imageId}/original|resized|thumbnail "
            "or predictions/{predictionId}/original|resized|thumbnail.",
        )
    kind, object_id, size = match.groups()
    return kind.lower(), uuid.UUID(object_id), size.lower()


def stored_file_name(project: Project, kind: str, object_id: uuid.UUID, size: str) -> str:
    """The stored file behind an image's or a stored prediction's original / resized /
    thumbnail URI (resized is the original: it is what training and prediction read)."""
    if kind == "images":
        image = selectors.image_get_for_project(project, object_id)
        return str(image.thumbnail.name if size == "thumbnail" else image.file.name)
    stored = prediction_selectors.prediction_get_for_project(project, object_id)
    if size == "thumbnail":
        return prediction_services.prediction_thumbnail_name(stored)
    return str(stored.file.name)
