"""Reads. Every lookup of a user's object goes through a `*_get_for_user` helper that 404s for
anyone but the owner, so "another user gets 404" holds on every page by construction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from projects.models import Image, Project, Resource, Tag

UserLike = AbstractBaseUser | AnonymousUser


def _uuid_or_404(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise Http404("No such object.") from None


def active_images(project: Project) -> QuerySet[Image]:
    """The project's training images (not those kept only for an iteration's sake)."""
    return Image.objects.filter(project=project, removed_at__isnull=True)


def project_get_for_user(user: UserLike, project_id: uuid.UUID | str) -> Project:
    project = (
        Project.objects.select_related("resource")
        .filter(pk=_uuid_or_404(project_id), owner_id=user.pk)
        .first()
    )
    if project is None:
        raise Http404("No such project.")
    return project


def tag_get_for_project(project: Project, tag_id: uuid.UUID | str) -> Tag:
    tag = Tag.objects.filter(pk=_uuid_or_404(tag_id), project=project).first()
    if tag is None:
        raise Http404("No such tag.")
    return tag


def image_get_for_project(project: Project, image_id: uuid.UUID | str) -> Image:
    image = active_images(project).filter(pk=_uuid_or_404(image_id)).first()
    if image is None:
        raise Http404("No such image.")
    return image


def project_list(*, user: UserLike) -> QuerySet[Project]:
    return (
        Project.objects.filter(owner_id=user.pk)
        .select_related("resource")
        .annotate(
            image_count=Count("images", filter=Q(images__removed_at__isnull=True), distinct=True)
        )
    )


def resource_list(*, user: UserLike, kind: str | None = None) -> QuerySet[Resource]:
    resources = Resource.objects.filter(owner_id=user.pk)
    return resources.filter(kind=kind) if kind else resources


def tag_list(*, project: Project) -> QuerySet[Tag]:
    """The project's tags with `image_count`, as Custom Vision's Tag.imageCount."""
    return Tag.objects.filter(project=project).annotate(image_count=Count("image_tags"))


class ImageFilter:
    ALL = "all"
    TAGGED = "tagged"
    UNTAGGED = "untagged"
    CHOICES = (ALL, TAGGED, UNTAGGED)


def image_list(
    *, project: Project, state: str = ImageFilter.ALL, tag_ids: list[uuid.UUID] | None = None
) -> QuerySet[Image]:
    """Images newest first. `tag_ids` keeps images carrying any of those tags."""
    images = active_images(project)
    if state == ImageFilter.TAGGED:
        images = images.filter(Q(image_tags__isnull=False))
    elif state == ImageFilter.UNTAGGED:
        images = images.filter(image_tags__isnull=True)
    if tag_ids:
        images = images.filter(image_tags__tag_id__in=tag_ids)
    return images.distinct().prefetch_related("tags").order_by("-created_at", "id")


@dataclass(frozen=True)
class ImageCounts:
    all: int
    tagged: int
    untagged: int


def image_counts(*, project: Project) -> ImageCounts:
    counts = active_images(project).aggregate(
        all=Count("id", distinct=True),
        untagged=Count("id", filter=Q(image_tags__isnull=True), distinct=True),
    )
    return ImageCounts(
        all=counts["all"], tagged=counts["all"] - counts["untagged"], untagged=counts["untagged"]
    )


def resource_get_for_user(user: UserLike, resource_id: uuid.UUID | str) -> Resource:
    resource = Resource.objects.filter(pk=_uuid_or_404(resource_id), owner_id=user.pk).first()
    if resource is None:
        raise Http404("No such resource.")
    return resource
