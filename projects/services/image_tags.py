"""CreateImageTags and DeleteImageTags: image-tag pairs by id, as the API names them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.http import Http404

from core.codes import AzureCode
from projects.models import ImageTag, Project, Tag
from projects.services.images import images_tags_add, images_tags_remove, tags_by_regions_only

Pair = tuple[uuid.UUID, uuid.UUID]  # (image id, tag id)


@dataclass
class ImageTagsResult:
    created: list[Pair] = field(default_factory=list)
    duplicated: list[Pair] = field(default_factory=list)


def image_tags_create(*, project: Project, pairs: Sequence[Pair]) -> ImageTagsResult:
    """Tag each pair's image with its tag, in order; a pair the project already has is
    `duplicated`. Reads only the images and tags the pairs name, however large the project.

    Like Azure's, the pairs go in one by one: an unknown tag or image stops the call there,
    after the pairs before it went in. An object-detection project refuses them all: its
    images are tagged by their regions."""
    tags_by_regions_only(project)
    tags = {t.id: t for t in Tag.objects.filter(project=project, id__in={p[1] for p in pairs})}
    existing = set(
        ImageTag.objects.filter(
            image__project=project,
            image_id__in={p[0] for p in pairs},
            tag_id__in=list(tags),
        ).values_list("image_id", "tag_id")
    )
    result = ImageTagsResult()
    for image_id, tag_id in pairs:
        if tag_id not in tags:
            raise ValidationError(
                f"Tag {tag_id} is not in the project.", code=AzureCode.BAD_REQUEST_INVALID_IDS
            )
        if (image_id, tag_id) in existing:
            result.duplicated.append((image_id, tag_id))
            continue
        if not images_tags_add(project=project, image_ids=[image_id], tags=[tags[tag_id]]):
            raise Http404(f"Image {image_id} is not in the project.")
        existing.add((image_id, tag_id))
        result.created.append((image_id, tag_id))
    return result


def image_tags_delete(
    *, project: Project, image_ids: Sequence[uuid.UUID], tag_ids: Sequence[uuid.UUID]
) -> int:
    """Untag the listed images of the listed tags (ids not in the project are ignored)."""
    tags = list(Tag.objects.filter(project=project, id__in=list(tag_ids)))
    return images_tags_remove(project=project, tags=tags, image_ids=image_ids)
