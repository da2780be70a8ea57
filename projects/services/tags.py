from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.codes import AzureCode
from core.text import description_checked
from projects.models import Project, Tag

MAX_TAG_NAME = 256


def _clean_name(name: str) -> str:
    # Collapse runs of white space: "Japanese  Cherry" and "Japanese Cherry" are one tag.
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError({"name": "A tag needs a name."})
    if "\x00" in cleaned:
        raise ValidationError({"name": "A tag name can't contain a NUL character."})
    if len(cleaned) > MAX_TAG_NAME:
        raise ValidationError({"name": f"Tag names are at most {MAX_TAG_NAME} characters."})
    return cleaned


def _check_unique(project: Project, name: str, *, exclude: Tag | None = None) -> None:
    clash = Tag.objects.filter(project=project, name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    existing = clash.first()
    if existing is not None:
        # Name the tag that is there ("Hemlock"), not what was typed ("HEMLOCK"): the clash is
        # case-insensitive, so the two can differ.
        message = f"The project already has a tag named {existing.name!r}."
        raise ValidationError(
            {"name": ValidationError(message, code=AzureCode.BAD_REQUEST_TAG_NAME_NOT_UNIQUE)}
        )


def _check_negative(project: Project, type_: str, *, exclude: Tag | None = None) -> None:
    if type_ not in Tag.Type.values:
        raise ValidationError({"type": "A tag is Regular or Negative."})
    if type_ == Tag.Type.NEGATIVE:
        others = Tag.objects.filter(project=project, type=Tag.Type.NEGATIVE)
        if exclude is not None:
            others = others.exclude(pk=exclude.pk)
        if others.exists():
            raise ValidationError({"type": "The project already has its Negative tag."})


def tag_create(
    *,
    project: Project,
    name: str,
    description: str = "",
    type: str = Tag.Type.REGULAR,
    id: uuid.UUID | None = None,
) -> Tag:
    """A new tag; `id` is for imports that keep the source's (the caller checked it is free)."""
    name = _clean_name(name)
    _check_unique(project, name)
    _check_negative(project, type)
    if Tag.objects.filter(project=project).count() >= settings.CV_MAX_TAGS_PER_PROJECT:
        raise ValidationError(
            f"The project has reached its limit of {settings.CV_MAX_TAGS_PER_PROJECT} tags."
        )
    try:
        with transaction.atomic():
            return Tag.objects.create(
                id=id or uuid.uuid4(),
                project=project,
                name=name,
                description=description_checked(description),
                type=type,
            )
    except IntegrityError:  # lost a race with an identical create
        raise ValidationError({"name": f"The project already has a tag named {name!r}."}) from None


def tags_get_or_create(*, project: Project, names: Sequence[str]) -> list[Tag]:
    """The project's tags with these names (matched ignoring case), creating missing ones.

    This is the portal's "My Tags" field: typing a new name creates the tag.
    """
    wanted: dict[str, str] = {}
    for raw in names:
        name = _clean_name(raw)
        wanted.setdefault(name.casefold(), name)
    existing = {t.name.casefold(): t for t in Tag.objects.filter(project=project)}
    tags = []
    for key, name in wanted.items():
        tag = existing.get(key)
        if tag is None:
            tag = tag_create(project=project, name=name)
            existing[key] = tag
        tags.append(tag)
    return tags


def tags_with_typed(
    *, project: Project, chosen: Sequence[Tag], typed: str, one_only: bool
) -> list[Tag]:
    """The tags ticked on an image's form plus the one typed in its New tag box (found ignoring
    case, or created). A Multiclass image has one tag: the typed one then replaces the tick."""
    if not typed.strip():
        return list(chosen)
    [tag] = tags_get_or_create(project=project, names=[typed])
    if one_only:
        return [tag]
    return [*(t for t in chosen if t.pk != tag.pk), tag]


def tag_update(*, tag: Tag, name: str, description: str, type: str) -> Tag:
    name = _clean_name(name)
    _check_unique(tag.project, name, exclude=tag)
    _check_negative(tag.project, type, exclude=tag)
    if type != tag.type and tag.images.exists():
        # Changing the kind of a tag in use would silently break the exclusivity rules on its
        # images (Negative stands alone; Multiclass allows one regular tag).
        raise ValidationError({"type": "Untag its images before changing the tag's type."})
    tag.name, tag.description, tag.type = name, description_checked(description), type
    tag.save(update_fields=["name", "description", "type"])
    return tag


def tag_delete(*, tag: Tag) -> None:
    """Delete the tag; its images stay, without it."""
    from projects.services.images import images_tagged_refresh

    with transaction.atomic():
        image_ids = list(tag.image_tags.values_list("image_id", flat=True))
        tag.delete()
        images_tagged_refresh(image_ids)
