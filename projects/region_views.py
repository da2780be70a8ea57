"""The region editor's JSON endpoints on an object-detection image: save its regions, and
the proposals it offers as suggestions. The page itself is `views.image_detail`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.http import AuthedRequest
from projects import selectors
from projects.forms import portal_regions
from projects.models import Image, Project, Region, Tag
from projects.services.proposals import region_proposals
from projects.services.regions import regions_save


def _refusal(exc: ValidationError | str) -> JsonResponse:
    message = exc if isinstance(exc, str) else " ".join(exc.messages)
    return JsonResponse({"error": message}, status=400)


def regions_json(regions: Iterable[Region]) -> list[dict[str, Any]]:
    """Regions as every editor URL answers them: full float precision, so what the editor
    drew is what it reads back."""
    return [
        {
            "id": str(r.id),
            "tag_id": str(r.tag_id),
            "tag_name": r.tag.name,
            "left": r.left,
            "top": r.top,
            "width": r.width,
            "height": r.height,
        }
        for r in regions
    ]


def tags_json(tags: Iterable[Tag]) -> list[dict[str, str]]:
    """The tags a region may take (Negative left out), for the editor's My Tags list."""
    return [{"id": str(t.id), "name": t.name} for t in tags if not t.is_negative]


def editor_context(project: Project, image: Image) -> dict[str, Any]:
    """What the image page's region editor starts from: the image's regions, My Tags, and
    its URLs."""
    args = [project.id, image.id]
    return {
        "regions": regions_json(selectors.regions_for_images([image.id]).get(image.id, [])),
        "tags": tags_json(selectors.tag_list(project=project)),
        "save_url": reverse("projects:image_regions", args=args),
        "proposals_url": reverse("projects:image_proposals", args=args),
        "image_url": reverse("projects:image_file", args=args),
    }


def editor_body(body: bytes) -> Any:
    """The decoded `regions` list of an editor's POST body; ValidationError when it is not
    the JSON the protocol says."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValidationError('The body is not JSON: send {"regions": [...]}.') from None
    if not isinstance(data, dict) or "regions" not in data:
        raise ValidationError('Send {"regions": [...]}: an object with a regions list.')
    return data["regions"]


@login_required
@require_POST
def image_regions(
    request: AuthedRequest, project_id: uuid.UUID, image_id: uuid.UUID
) -> JsonResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    image = selectors.image_get_for_project(project, image_id)
    try:
        entries = portal_regions(editor_body(request.body))
        regions = regions_save(image=image, entries=entries)
    except ValidationError as exc:
        return _refusal(exc)
    return JsonResponse(
        {
            "regions": regions_json(regions),
            "tags": tags_json(selectors.tag_list(project=project)),
        }
    )


@login_required
@require_GET
def image_proposals(
    request: AuthedRequest, project_id: uuid.UUID, image_id: uuid.UUID
) -> JsonResponse:
    project = selectors.project_get_for_user(request.user, project_id)
    image = selectors.image_get_for_project(project, image_id)
    try:
        found = region_proposals(image=image)
    except ValidationError as exc:
        return _refusal(exc)
    keys = ("confidence", "left", "top", "width", "height")
    return JsonResponse({"proposals": [dict(zip(keys, p, strict=True)) for p in found]})
