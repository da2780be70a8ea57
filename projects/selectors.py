"""Reads. Every lookup of a user's object goes through a `*_get_for_user` helper that 404s for
anyone but the owner, so "another user gets 404" holds on every page by construction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower
from django.http import Http404
from django_stubs_ext import WithAnnotations

from projects.models import Image, ImageTag, Project, Resource, Tag
from training.rules import MIN_IMAGES_PER_TAG, MIN_TAGS

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
    """The project's tags with `image_count`, as Custom Vision's Tag.imageCount, by name."""
    # Explicit order: Django drops Meta.ordering from GROUP BY queries, and the number keys
    # on the Training Images page follow this order, so it must not change between requests.
    # A count per tag from the (tag, image) index, not a GROUP BY over the tag's columns
    # joined to every ImageTag row: 1.9 ms against 14 ms at 20,000 images (bench/scale.py).
    per_tag = (
        ImageTag.objects.filter(tag=OuterRef("pk"))
        .order_by()
        .values("tag")
        .annotate(n=Count("*"))
        .values("n")
    )
    return (
        Tag.objects.filter(project=project)
        .annotate(image_count=Coalesce(Subquery(per_tag), 0))
        .order_by(Lower("name"), "id")
    )


class ImageFilter:
    ALL = "all"
    TAGGED = "tagged"
    UNTAGGED = "untagged"
    CHOICES = (ALL, TAGGED, UNTAGGED)


def image_list(
    *,
    project: Project,
    state: str = ImageFilter.ALL,
    tag_ids: list[uuid.UUID] | None = None,
    where: Q | None = None,
) -> QuerySet[Image]:
    """Images newest first. `tag_ids` keeps images carrying any of those tags; `where` is a
    further condition on the image (a metadata `$filter`)."""
    images = active_images(project)
    if where is not None:
        images = images.filter(where)
    # EXISTS, not a join: no DISTINCT over images × tags, so a page or a count costs the same
    # kind of index walk at 20k images as at 1k (bench/scale.py).
    if state == ImageFilter.TAGGED:
        images = images.filter(tagged=True)
    elif state == ImageFilter.UNTAGGED:
        images = images.filter(tagged=False)
    if tag_ids:
        # From the tag's index: as many lookups as the tag has images, not as the project has.
        images = images.filter(pk__in=ImageTag.objects.filter(tag_id__in=tag_ids).values("image"))
    return images.prefetch_related("tags").order_by("-created_at", "id")


def image_neighbours(
    *,
    project: Project,
    image: Image,
    state: str = ImageFilter.ALL,
    tag_ids: list[uuid.UUID] | None = None,
) -> tuple[Image | None, Image | None]:
    """The images shown just before and after `image` in image_list's order (newest first),
    under the same filter. Keyset conditions, so a 100,000-image project costs two indexed
    lookups, and `image` itself need not match the filter any more (just tagged from Untagged).
    """
    images = image_list(project=project, state=state, tag_ids=tag_ids).prefetch_related(None)
    key = (image.created_at, image.id)
    return (
        images.filter(newer_than(key)).order_by("created_at", "-id").first(),
        images.filter(older_than(key)).first(),
    )


# --- Keyset positions in image_list's order (newest first: created_at desc, then id) ---------
Key = tuple[datetime, uuid.UUID]


def older_than(key: Key, *, inclusive: bool = False) -> Q:
    """The images after `key` in newest-first order (with it, if `inclusive`)."""
    at, pk = key
    return Q(created_at__lt=at) | Q(created_at=at, **{"id__gte" if inclusive else "id__gt": pk})


def newer_than(key: Key) -> Q:
    """The images before `key` in newest-first order."""
    at, pk = key
    return Q(created_at__gt=at) | Q(created_at=at, id__lt=pk)


def cursor_of(image: Image) -> str:
    """An image's position in image_list's order, for a link to the page after or before it."""
    return f"{image.created_at.isoformat()}_{image.id}"


def cursor_parse(text: str | None) -> Key | None:
    """The position a cursor names; None for none or a garbled one (the first page)."""
    at, _, pk = (text or "").rpartition("_")
    try:
        return datetime.fromisoformat(at), uuid.UUID(pk)
    except ValueError:
        return None


@dataclass(frozen=True)
class ImagePage:
    images: list[Image]
    newer: str | None  # cursor for the page of newer images; None on the first page
    older: str | None  # cursor for the page of older images; None on the last


def image_keyset_page(
    images: QuerySet[Image], *, size: int, after: Key | None = None, before: Key | None = None
) -> ImagePage:
    """A page of `images` (image_list's order) starting after `after` or ending before
    `before`: an index seek whatever the depth, where a page number would be an OFFSET over
    every image before it. Custom Vision's portal has no page numbers either."""
    if before is not None:
        rows = list(images.filter(newer_than(before)).order_by("created_at", "-id")[: size + 1])
        more_newer, rows = len(rows) > size, rows[:size][::-1]
        return ImagePage(
            rows,
            newer=cursor_of(rows[0]) if rows and more_newer else None,
            older=cursor_of(rows[-1]) if rows else None,
        )
    if after is not None:
        images = images.filter(older_than(after))
    rows = list(images[: size + 1])
    more_older, rows = len(rows) > size, rows[:size]
    return ImagePage(
        rows,
        newer=cursor_of(rows[0]) if rows and after is not None else None,
        older=cursor_of(rows[-1]) if more_older else None,
    )


def image_page(images: QuerySet[Image], *, skip: int, take: int, newest: bool = True) -> Any:
    """`take` images `skip` deep into `images`, newest (or oldest) first: Azure's skip/take.

    A deep page finds the key of its first image with OFFSET over (created_at, id) alone,
    which the listing indexes cover, so the rows skipped are never read from the table; the
    page itself is then read from that key like any first page (bench/scale.py).
    """
    order = ("-created_at", "id") if newest else ("created_at", "id")
    images = images.order_by(*order)
    if skip == 0:
        return images[:take]
    start = next(iter(images.values_list("created_at", "id")[skip : skip + 1]), None)
    if start is None:
        return images.none()
    at, pk = start
    if newest:
        return images.filter(older_than((at, pk), inclusive=True))[:take]
    return images.filter(Q(created_at__gt=at) | Q(created_at=at, id__gte=pk))[:take]


@dataclass(frozen=True)
class ImageCounts:
    all: int
    tagged: int
    untagged: int


def image_count(
    *,
    project: Project,
    state: str = ImageFilter.ALL,
    tag_ids: list[uuid.UUID] | None = None,
    where: Q | None = None,
) -> int:
    """How many images `image_list` would list, by the cheapest route there is."""
    if tag_ids and where is None and state != ImageFilter.UNTAGGED:
        # Only live images carry tags (removing an image takes them off), so the tag's own
        # index counts them: as many entries as the tag has images, not as the project has.
        rows = ImageTag.objects.filter(tag__project=project, tag_id__in=tag_ids)
        return (rows if len(tag_ids) == 1 else rows.values("image_id").distinct()).count()
    return image_list(project=project, state=state, tag_ids=tag_ids, where=where).order_by().count()


def image_counts(*, project: Project) -> ImageCounts:
    images = active_images(project)
    total, untagged = images.count(), images.filter(tagged=False).count()
    return ImageCounts(all=total, tagged=total - untagged, untagged=untagged)


def resource_get_for_user(user: UserLike, resource_id: uuid.UUID | str) -> Resource:
    resource = Resource.objects.filter(pk=_uuid_or_404(resource_id), owner_id=user.pk).first()
    if resource is None:
        raise Http404("No such resource.")
    return resource


def image_ids_matching(
    *, project: Project, state: str = ImageFilter.ALL, tag_ids: list[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Every image the Training Images filter shows, across all pages ("select all matching")."""
    images = image_list(project=project, state=state, tag_ids=tag_ids)
    return list(images.order_by().values_list("id", flat=True))


class _Counted(TypedDict):
    image_count: int


def tag_image_counts(*, project: Project) -> list[tuple[Tag, int]]:
    """Each tag with its number of images, in the order the tag list shows them."""
    tags = cast("QuerySet[WithAnnotations[Tag, _Counted]]", tag_list(project=project))
    return [(t, t.image_count) for t in tags]


# --- Dataset health -------------------------------------------------------------------------
# The rules the Training Images tab checks, in one place. The hard minimum is training's own
# (`training.rules.MIN_IMAGES_PER_TAG`, what `iteration_train_start` enforces on Multiclass
# projects), so the panel and the Train button never disagree. Training lets Multilabel tags
# through with fewer; the panel still flags them, as Custom Vision's minimum, not a refusal.

# Custom Vision's guidance: at least 30 images per tag for a good classifier.
RECOMMENDED_IMAGES_PER_TAG = 30
# Custom Vision's guidance: "keep at least a 1:2 ratio between the tag with the fewest images
# and the tag with the most". Exactly 2× is still within it; more than 2× earns the warning.
MAX_TAG_IMBALANCE = 2


class TagHealth:
    """How a tag stands, worst first."""

    TOO_FEW = "too-few"  # below training's minimum
    LOW = "low"  # trainable, but below the recommended count
    OK = "ok"
    EMPTY = "empty"  # no images: training leaves the tag out


@dataclass(frozen=True)
class TagCount:
    tag: Tag
    count: int
    level: str
    share: int  # the bar's width: percent of the largest tag's count


@dataclass(frozen=True)
class Imbalance:
    largest: TagCount
    smallest: TagCount

    @property
    def ratio(self) -> float:
        return self.largest.count / self.smallest.count


@dataclass(frozen=True)
class DatasetHealth:
    tags: list[TagCount]
    min_images_per_tag: int
    minimum_blocks_training: bool
    recommended_images_per_tag: int
    min_tags: int
    max_imbalance: int
    imbalance: Imbalance | None

    @property
    def too_few(self) -> list[TagCount]:
        return [t for t in self.tags if t.level == TagHealth.TOO_FEW]

    @property
    def low(self) -> list[TagCount]:
        return [t for t in self.tags if t.level == TagHealth.LOW]

    @property
    def trained_tag_count(self) -> int:
        return sum(1 for t in self.tags if t.count and not t.tag.is_negative)

    @property
    def needs_more_tags(self) -> bool:
        return self.trained_tag_count < self.min_tags

    @property
    def warning_count(self) -> int:
        return (
            len(self.too_few)
            + len(self.low)
            + (1 if self.imbalance else 0)
            + (1 if self.needs_more_tags else 0)
        )


def dataset_health(*, project: Project, tags: list[Tag] | None = None) -> DatasetHealth:
    """Images per tag and what Custom Vision would warn about before training. `tags`, when
    the caller has them, are `tag_list`'s (with their counts): not counted twice."""

    def level(count: int) -> str:
        if count == 0:
            return TagHealth.EMPTY
        if count < MIN_IMAGES_PER_TAG:
            return TagHealth.TOO_FEW
        if count < RECOMMENDED_IMAGES_PER_TAG:
            return TagHealth.LOW
        return TagHealth.OK

    counted = (
        [(t, cast("Any", t).image_count) for t in tags]
        if tags is not None
        else tag_image_counts(project=project)
    )
    largest_count = max((n for _, n in counted), default=0) or 1
    counts = [
        TagCount(tag=t, count=n, level=level(n), share=round(100 * n / largest_count))
        for t, n in counted
    ]
    # Balance is between the classes the model learns; the Negative tag is "none of these".
    classes = sorted(
        (c for c in counts if c.count and not c.tag.is_negative), key=lambda c: c.count
    )
    imbalance = None
    if len(classes) >= 2 and classes[-1].count > MAX_TAG_IMBALANCE * classes[0].count:
        imbalance = Imbalance(largest=classes[-1], smallest=classes[0])
    return DatasetHealth(
        tags=counts,
        min_images_per_tag=MIN_IMAGES_PER_TAG,
        minimum_blocks_training=project.is_multiclass,
        recommended_images_per_tag=RECOMMENDED_IMAGES_PER_TAG,
        min_tags=MIN_TAGS,
        max_imbalance=MAX_TAG_IMBALANCE,
        imbalance=imbalance,
    )
