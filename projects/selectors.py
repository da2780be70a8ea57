"""Reads. Every lookup of a user's object goes through a `*_get_for_user` helper that 404s for
anyone but the owner, so "another user gets 404" holds on every page by construction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower
from django.http import Http404
from django_stubs_ext import WithAnnotations

from projects.models import (
    ArchiveImport,
    AzureImport,
    AzureImportedImage,
    AzureImportedProject,
    Image,
    ImageCount,
    ImageTag,
    Project,
    Region,
    Resource,
    Tag,
)
from projects.rules import (
    MIN_IMAGES_PER_TAG,
    MIN_IMAGES_PER_TAG_DETECTION,
    MIN_TAGS,
    MIN_TAGS_DETECTION,
)

UserLike = AbstractBaseUser | AnonymousUser
Row = TypeVar("Row", bound=Model)


def _uuid_or_404(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise Http404("No such object.") from None


def one_or_404(rows: QuerySet[Row], pk: uuid.UUID | str, missing: str) -> Row:
    """The row of `rows` with this id, `rows` being what the asker may see (their own); a 404
    saying `missing` otherwise, the same for another user's row as for none at all."""
    row = rows.filter(pk=_uuid_or_404(pk)).first()
    if row is None:
        raise Http404(missing)
    return row


def active_images(project: Project) -> QuerySet[Image]:
    """The project's training images (not those kept only for an iteration's sake)."""
    return Image.objects.filter(project=project, removed_at__isnull=True)


def project_get_for_user(user: UserLike, project_id: uuid.UUID | str) -> Project:
    projects = Project.objects.select_related("resource").filter(owner_id=user.pk)
    return one_or_404(projects, project_id, "No such project.")


def tag_get_for_project(project: Project, tag_id: uuid.UUID | str) -> Tag:
    return one_or_404(Tag.objects.filter(project=project), tag_id, "No such tag.")


def image_get_for_project(project: Project, image_id: uuid.UUID | str) -> Image:
    return one_or_404(active_images(project), image_id, "No such image.")


def regions_for_images(image_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Region]]:
    """Each image's regions with their tags, oldest first, in one query (a page of image JSON);
    an image without regions is missing from the dict."""
    found: dict[uuid.UUID, list[Region]] = {}
    for region in Region.objects.filter(image_id__in=list(image_ids)).select_related("tag"):
        found.setdefault(region.image_id, []).append(region)
    return found


def region_count(*, project: Project) -> int:
    """The regions on the project's training images (ExportProject's regionCount)."""
    return Region.objects.filter(image__project=project, image__removed_at__isnull=True).count()


class ProjectSort:
    """The Projects page's orders, by the value its Sort select sends."""

    MODIFIED = "modified"
    NEWEST = "newest"
    NAME = "name"
    CHOICES = ((MODIFIED, "Last modified"), (NEWEST, "Newest"), (NAME, "Name"))
    ORDER: dict[str, tuple[str | Lower, str]] = {
        MODIFIED: ("-modified_at", "id"),
        NEWEST: ("-created_at", "id"),
        NAME: (Lower("name"), "id"),
    }


def project_list(*, user: UserLike, search: str = "", sort: str = "") -> QuerySet[Project]:
    """The user's projects with `image_count` and `cover_id` (the newest live image, for the
    card's picture: a subquery, so one query however many cards), matching `search` in the
    name or description ignoring case, in the `sort` order (ProjectSort; last modified first
    by default)."""
    newest = (
        Image.objects.filter(project=OuterRef("pk"), removed_at__isnull=True)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    projects = Project.objects.filter(owner_id=user.pk)
    search = search.strip()
    if search:
        projects = projects.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return (
        projects.select_related("resource")
        .annotate(
            image_count=Count("images", filter=Q(images__removed_at__isnull=True), distinct=True),
            cover_id=Subquery(newest),
        )
        .order_by(*ProjectSort.ORDER.get(sort, ProjectSort.ORDER[ProjectSort.MODIFIED]))
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
    with_regions: bool = False,
    iteration_id: uuid.UUID | None = None,
) -> QuerySet[Image]:
    """Images newest first. `tag_ids` keeps images carrying any of those tags; `where` is a
    further condition on the image (a metadata `$filter`); `iteration_id` keeps the images
    that iteration trained on (as the API's `iterationId`, though with their tags now);
    `with_regions` fetches the boxes too (a detector's thumbnails draw them), in one more
    query for the page, not one a tile."""
    images = active_images(project)
    if where is not None:
        images = images.filter(where)
    if iteration_id is not None:
        images = images.filter(pk__in=iteration_image_ids(iteration_id))
    # EXISTS, not a join: no DISTINCT over images × tags, so a page or a count costs the same
    # kind of index walk at 20k images as at 1k (bench/scale.py).
    if state == ImageFilter.TAGGED:
        images = images.filter(tagged=True)
    elif state == ImageFilter.UNTAGGED:
        images = images.filter(tagged=False)
    if tag_ids:
        # From the tag's index: as many lookups as the tag has images, not as the project has.
        images = images.filter(pk__in=ImageTag.objects.filter(tag_id__in=tag_ids).values("image"))
    images = images.prefetch_related("tags", *(["regions"] if with_regions else []))
    return images.order_by("-created_at", "id")


def iteration_image_ids(iteration_id: uuid.UUID) -> QuerySet[Image, Any]:
    """The ids of the images an iteration trained on: training's IterationImage rows, read
    through their relation to Image (projects sits below training and does not import it)."""
    return Image.objects.filter(iteration_images__iteration_id=iteration_id).values("id")


def trained_iterations(*, project: Project) -> list[tuple[uuid.UUID, str]]:
    """(id, name) of the project's iterations that have trained, newest first: the Training
    Images page's Iteration filter. "Completed" is training's Iteration.Status.COMPLETED."""
    rows = project.iterations.filter(status="Completed").order_by("-created_at")
    return list(rows.values_list("id", "name"))


def image_neighbours(
    *,
    project: Project,
    image: Image,
    state: str = ImageFilter.ALL,
    tag_ids: list[uuid.UUID] | None = None,
    iteration_id: uuid.UUID | None = None,
) -> tuple[Image | None, Image | None]:
    """The images shown just before and after `image` in image_list's order (newest first),
    under the same filter. Keyset conditions, so a 100,000-image project costs two indexed
    lookups, and `image` itself need not match the filter any more (just tagged from Untagged).
    """
    images = image_list(
        project=project, state=state, tag_ids=tag_ids, iteration_id=iteration_id
    ).prefetch_related(None)
    key = (image.created_at, image.id)
    return (
        images.filter(beyond(key, forward=False)).order_by("created_at", "-id").first(),
        images.filter(beyond(key)).first(),
    )


# --- Keyset positions: newest first is (-created_at, id), oldest first (created_at, id) -------
Key = tuple[datetime, uuid.UUID]


def beyond(
    key: Key, *, newest_first: bool = True, forward: bool = True, inclusive: bool = False
) -> Q:
    """The rows after `key` (`forward`) or before it in a listing's order, with it if
    `inclusive`."""
    at, pk = key
    later = forward != newest_first
    same_time = ("id__gt" if forward else "id__lt") + ("e" if inclusive else "")
    return Q(**{"created_at__gt" if later else "created_at__lt": at}) | Q(
        created_at=at, **{same_time: pk}
    )


def cursor_of(row: Any) -> str:
    """A row's position (its created_at and id), for a link to the page after or before it."""
    return f"{row.created_at.isoformat()}_{row.id}"


def cursor_parse(text: str | None) -> Key | None:
    """The position a cursor names; None for none or a garbled one (the first page)."""
    at, _, pk = (text or "").rpartition("_")
    try:
        return datetime.fromisoformat(at), uuid.UUID(pk)
    except ValueError:
        return None


@dataclass(frozen=True)
class KeysetPage(Generic[Row]):
    items: list[Row]
    previous: str | None  # cursor for the page before it (?before=); None on the first page
    next: str | None  # cursor for the page after it (?after=); None on the last


def keyset_page(
    rows: QuerySet[Row],
    *,
    size: int,
    after: Key | None = None,
    before: Key | None = None,
    newest_first: bool = True,
    keep: Callable[[Row], bool] | None = None,
) -> KeysetPage[Row]:
    """A page of `rows` (ordered by created_at, newest or oldest first, then id) starting after
    `after` or ending before `before`: an index seek whatever the depth, where a page number
    would be an OFFSET over every row before it. Custom Vision's portal has no page numbers
    either. `keep` filters in Python what SQL does not (a stored prediction's probabilities),
    reading on only until the page is full."""
    if before is not None:
        behind = rows.filter(beyond(before, newest_first=newest_first, forward=False))
        found = _first(behind.reverse(), size + 1, keep)
        more_before, found = len(found) > size, found[:size][::-1]
        return KeysetPage(
            found,
            previous=cursor_of(found[0]) if found and more_before else None,
            next=cursor_of(found[-1]) if found else None,
        )
    if after is not None:
        rows = rows.filter(beyond(after, newest_first=newest_first))
    found = _first(rows, size + 1, keep)
    more_after, found = len(found) > size, found[:size]
    return KeysetPage(
        found,
        previous=cursor_of(found[0]) if found and after is not None else None,
        next=cursor_of(found[-1]) if more_after else None,
    )


def _first(rows: QuerySet[Row], count: int, keep: Callable[[Row], bool] | None) -> list[Row]:
    if keep is None:
        return list(rows[:count])
    found: list[Row] = []
    for row in rows.iterator(chunk_size=200):
        if keep(row):
            found.append(row)
            if len(found) == count:
                break
    return found


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
    return images.filter(beyond(start, newest_first=newest, inclusive=True))[:take]


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
    iteration_id: uuid.UUID | None = None,
) -> int:
    """How many images `image_list` would list, by the cheapest route there is."""
    if iteration_id is not None:
        images = image_list(
            project=project, state=state, tag_ids=tag_ids, where=where, iteration_id=iteration_id
        )
        return images.order_by().count()
    if tag_ids and where is None and state != ImageFilter.UNTAGGED:
        # Only live images carry tags (removing an image takes them off), so the tag's own
        # index counts them: as many entries as the tag has images, not as the project has.
        rows = ImageTag.objects.filter(tag__project=project, tag_id__in=tag_ids)
        return (rows if len(tag_ids) == 1 else rows.values("image_id").distinct()).count()
    if not tag_ids and where is None:
        counts = image_counts(project=project)
        by_state = {ImageFilter.TAGGED: counts.tagged, ImageFilter.UNTAGGED: counts.untagged}
        return by_state.get(state, counts.all)  # any other state lists them all
    return image_list(project=project, state=state, tag_ids=tag_ids, where=where).order_by().count()


def image_counts(*, project: Project) -> ImageCounts:
    """The All / Tagged / Untagged counts, read from the project's `ImageCount` row.

    The database's triggers keep that row in the statement that changes the images, so it is
    exact and cannot drift from them, and reading it costs the same at 20,000 images as at 10;
    counting the rows walked an index that grows with the project (bench/scale.py). The price
    is on the writers' side: see `ImageCount`.
    """
    row = ImageCount.objects.filter(project=project).values_list("live", "tagged").first()
    live, tagged = row or (0, 0)  # no row: the project has never had an image
    return ImageCounts(all=live, tagged=tagged, untagged=live - tagged)


def resource_get_for_user(user: UserLike, resource_id: uuid.UUID | str) -> Resource:
    return one_or_404(Resource.objects.filter(owner_id=user.pk), resource_id, "No such resource.")


def image_ids_matching(
    *,
    project: Project,
    state: str = ImageFilter.ALL,
    tag_ids: list[uuid.UUID] | None = None,
    iteration_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Every image the Training Images filter shows, across all pages ("select all matching")."""
    images = image_list(project=project, state=state, tag_ids=tag_ids, iteration_id=iteration_id)
    return list(images.order_by().values_list("id", flat=True))


class _Counted(TypedDict):
    image_count: int


def tag_image_counts(*, project: Project) -> list[tuple[Tag, int]]:
    """Each tag with its number of images, in the order the tag list shows them."""
    tags = cast("QuerySet[WithAnnotations[Tag, _Counted]]", tag_list(project=project))
    return [(t, t.image_count) for t in tags]


# --- Dataset health -------------------------------------------------------------------------
# The rules the Training Images tab checks, in one place. The hard minimum is training's own
# (`projects.rules.MIN_IMAGES_PER_TAG`, what `iteration_train_start` enforces on Multiclass
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
    def negative(self) -> TagCount | None:
        """The Negative tag, when it has images: not a class, so apart from the advice."""
        return next((t for t in self.tags if t.count and t.tag.is_negative), None)

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

    # A detector's minimum (images with a region of the tag) is Azure's 15, and it blocks.
    minimum = MIN_IMAGES_PER_TAG_DETECTION if project.is_detection else MIN_IMAGES_PER_TAG

    def level(tag: Tag, count: int) -> str:
        if count == 0:
            return TagHealth.EMPTY
        if count < minimum:
            return TagHealth.TOO_FEW  # training refuses it, the Negative tag's too
        # The Negative tag is not a class the model is scored on (as in Custom Vision): the
        # advice for a good model's classes is not about it.
        if count < RECOMMENDED_IMAGES_PER_TAG and not tag.is_negative:
            return TagHealth.LOW
        return TagHealth.OK

    counted = (
        [(t, cast("Any", t).image_count) for t in tags]
        if tags is not None
        else tag_image_counts(project=project)
    )
    largest_count = max((n for _, n in counted), default=0) or 1
    counts = [
        TagCount(tag=t, count=n, level=level(t, n), share=round(100 * n / largest_count))
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
        min_images_per_tag=minimum,
        minimum_blocks_training=project.is_multiclass or project.is_detection,
        recommended_images_per_tag=RECOMMENDED_IMAGES_PER_TAG,
        min_tags=MIN_TAGS_DETECTION if project.is_detection else MIN_TAGS,
        max_imbalance=MAX_TAG_IMBALANCE,
        imbalance=imbalance,
    )


def archive_import_active(owner: UserLike) -> ArchiveImport | None:
    """The user's archive import that is queued or running, if any (one at a time)."""
    return ArchiveImport.objects.filter(owner_id=owner.pk, status__in=ArchiveImport.ACTIVE).first()


@dataclass(frozen=True)
class MovedId:
    """One row of an Azure import's old → new id map."""

    kind: str  # "project", "tag" or "image"
    name: str
    source_id: str
    local_id: str

    @property
    def kept(self) -> bool:
        return self.source_id.lower() == self.local_id


def azure_id_map(job: AzureImport) -> Iterator[MovedId]:
    """The ids of the projects an import brought: each project's, its tags' and its images',
    as at the source and here (the same where the source's was free here). Read from the
    links, so a later import of the same projects shows here too."""
    source_ids = [str(p["source_id"]) for p in (job.summary or {}).get("projects", [])]
    links = AzureImportedProject.objects.filter(
        owner_id=job.owner_id, endpoint=job.endpoint, source_project_id__in=source_ids
    ).select_related("project")
    for link in links.order_by("project__name", "pk"):
        yield MovedId("project", link.project.name, link.source_project_id, str(link.project_id))
        names = dict(Tag.objects.filter(project=link.project_id).values_list("id", "name"))
        for source_id, local_id in sorted(link.tag_map.items(), key=lambda pair: pair[0]):
            name = names.get(uuid.UUID(local_id))
            if name is not None:
                yield MovedId("tag", name, source_id, local_id)
        images = (
            AzureImportedImage.objects.filter(imported_project=link, image__isnull=False)
            .order_by("source_image_id")
            .values_list("source_image_id", "image_id")
        )
        for source_id, image_id in images.iterator(chunk_size=2000):
            yield MovedId("image", "", source_id, str(image_id))


@dataclass(frozen=True)
class IdChanges:
    total: int  # ids in the map
    changed: list[MovedId]  # the first `shown` that could not be kept
    changed_count: int


def azure_id_changes(job: AzureImport, *, shown: int = 50) -> IdChanges:
    """How many of an import's ids were kept, and the first of those that were not."""
    total, count = 0, 0
    changed: list[MovedId] = []
    for row in azure_id_map(job):
        total += 1
        if not row.kept:
            count += 1
            if len(changed) < shown:
                changed.append(row)
    return IdChanges(total, changed, count)
