"""The one path every image takes into a project (portal upload now; API and URLs later).

Each file in a batch succeeds or fails alone, with a status named as Custom Vision names it.
A failed file leaves no stored file and no row behind.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from core import storage
from core.codes import AzureCode
from engine.imaging import ImageRejected, ImageRules, ImageStatus, PreparedImage, prepare_image
from projects.metadata import MAX_PAIRS, metadata_clean
from projects.models import Image, ImageTag, Project, Region, Tag
from projects.rules import MAX_REGIONS_PER_IMAGE
from projects.selectors import active_images
from projects.services import regions
from projects.services.regions import Box, RegionBox

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageUpload:
    """One image to add: an open file, bytes in hand, or a source that already failed."""

    name: str
    file: IO[bytes] | None = None
    data: bytes | None = None
    source_error: str | None = None  # e.g. a URL that could not be fetched
    metadata: Mapping[str, str] | None = None  # this image's own, over the batch's
    # Its regions in an object-detection project, which are then its tags (see `images_create`).
    regions: Sequence[RegionBox] = ()
    # The new image's id when it must be this one (an import keeping the source's; the caller
    # checked it is free). A duplicate of an image already here keeps that image's.
    id: uuid.UUID | None = None


@dataclass(frozen=True)
class ImageCreateResult:
    source_name: str
    status: ImageStatus
    message: str = ""
    image: Image | None = None


class _Rejected(Exception):
    def __init__(self, status: ImageStatus, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def image_rules(max_bytes: int | None = None) -> ImageRules:
    """Custom Vision's image rules with this server's limits (file size: training's unless
    given, e.g. the prediction endpoint's)."""
    return ImageRules(
        max_bytes=max_bytes or settings.CV_MAX_IMAGE_BYTES,
        max_decoded_bytes=settings.CV_MAX_DECODED_BYTES,
    )


def stored_image_rules() -> ImageRules:
    """For decoding an image this server stored: it passed `image_rules` on the way in, but a
    re-encoded one may be larger than the upload was. Only the decoding limit still applies."""
    return ImageRules(max_bytes=2**62, max_decoded_bytes=settings.CV_MAX_DECODED_BYTES)


def tag_set_problem(project: Project, tags: Sequence[Tag]) -> tuple[ImageStatus, str] | None:
    """Why this set of tags cannot be on one image of the project, or None if it can."""
    if len(tags) > settings.CV_MAX_TAGS_PER_BATCH:
        return (
            ImageStatus.ERROR_TAG_LIMIT_EXCEED,
            f"At most {settings.CV_MAX_TAGS_PER_BATCH} tags per image.",
        )
    if any(t.project_id != project.id for t in tags):
        return ImageStatus.ERROR_INVALID_TAG, "A tag does not belong to this project."
    negative = [t for t in tags if t.is_negative]
    regular = [t for t in tags if not t.is_negative]
    if negative and regular:
        return (
            ImageStatus.ERROR_NEGATIVE_AND_REGULAR_TAG,
            f"The Negative tag {negative[0].name!r} cannot be combined with other tags.",
        )
    if project.is_multiclass and len(regular) > 1:
        return (
            ImageStatus.ERROR_TAG_LIMIT_EXCEED,
            "A Multiclass project allows one tag per image; switch the project to "
            "Multilabel to give an image several tags.",
        )
    return None


def _resolve_tags(project: Project, tag_ids: Iterable[uuid.UUID | str]) -> list[Tag]:
    try:
        wanted = {uuid.UUID(str(t)) for t in tag_ids}
    except ValueError:
        raise _Rejected(ImageStatus.ERROR_INVALID_TAG, "A tag id is not a valid id.") from None
    tags = list(Tag.objects.filter(project=project, id__in=wanted))
    if len(tags) != len(wanted):
        raise _Rejected(ImageStatus.ERROR_INVALID_TAG, "A tag does not exist in this project.")
    problem = tag_set_problem(project, tags)
    if problem:
        raise _Rejected(*problem)
    return tags


def batch_size_check(count: int) -> None:
    """Refuse a whole batch over the limit (as Azure does) rather than take part of it."""
    if count > settings.CV_MAX_IMAGES_PER_BATCH:
        raise ValidationError(
            f"A batch holds at most {settings.CV_MAX_IMAGES_PER_BATCH} images; "
            f"this one has {count}.",
            code=AzureCode.BAD_REQUEST_IMAGE_BATCH,
        )


def images_create(
    *,
    project: Project,
    uploads: Sequence[ImageUpload],
    tag_ids: Iterable[uuid.UUID | str] = (),
    source: str = Image.Source.UPLOAD,
    metadata: Mapping[str, str] | None = None,
) -> list[ImageCreateResult]:
    """Add a batch of images with the same tags (and metadata, checked by `metadata_clean`);
    one result per upload, in order.

    In an object-detection project an image's tags are its regions' (`ImageUpload.regions`):
    `tag_ids` are ignored, as Azure ignores them there, so an image without regions goes in
    untagged. A region with a bad box refuses the whole batch (BadRequestImageRegions) before
    any image goes in."""
    batch_size_check(len(uploads))
    metadata = metadata_clean(metadata)
    detection = project.is_detection
    if detection:
        tag_ids = ()
        for box in (b for u in uploads for b in u.regions):
            regions.box_checked(*box[1:])
        found = regions.region_tags(project, {b[0] for u in uploads for b in u.regions})
    try:
        tags, tag_error = _resolve_tags(project, tag_ids), None
    except _Rejected as exc:
        tags, tag_error = [], exc
    count = active_images(project).count()
    results = []
    for upload in uploads:
        if tag_error is not None:
            result = ImageCreateResult(upload.name, tag_error.status, tag_error.message)
        elif detection:
            result = _create_detection_one(project, upload, found, source, count, metadata)
        else:
            result = _create_one(project, upload, tags, source, count, metadata)
        if result.status == ImageStatus.OK:
            count += 1
        results.append(result)
    return results


def images_create_each(
    *,
    project: Project,
    entries: Sequence[tuple[ImageUpload, Sequence[uuid.UUID | str]]],
    source: str = Image.Source.UPLOAD,
    metadata: Mapping[str, str] | None = None,
) -> list[ImageCreateResult]:
    """A batch where each image has tags of its own (the API's entries): images_create per
    distinct tag set, results back in the order given."""
    batch_size_check(len(entries))
    metadata = metadata_clean(metadata)  # before any image goes in
    results: list[ImageCreateResult | None] = [None] * len(entries)
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, (_upload, tags) in enumerate(entries):
        groups.setdefault(tuple(sorted({str(t) for t in tags})), []).append(index)
    for tags, indices in groups.items():
        created = images_create(
            project=project,
            tag_ids=list(tags),
            uploads=[entries[i][0] for i in indices],
            source=source,
            metadata=metadata,
        )
        for index, result in zip(indices, created, strict=True):
            results[index] = result
    return [r for r in results if r is not None]


def _create_detection_one(
    project: Project,
    upload: ImageUpload,
    tags: Mapping[uuid.UUID, Tag],
    source: str,
    count: int,
    metadata: dict[str, str],
) -> ImageCreateResult:
    """An image of an object-detection project, with its regions (checked here, each upload
    alone: a tag not in the project fails this image only, as a tag id does in `tag_ids`)."""
    if len(upload.regions) > MAX_REGIONS_PER_IMAGE:
        return ImageCreateResult(
            upload.name,
            ImageStatus.ERROR_REGION_LIMIT_EXCEED,
            f"An image holds at most {MAX_REGIONS_PER_IMAGE} regions; {len(upload.regions)} "
            "were given.",
        )
    try:
        boxes = regions.boxes_of(upload.regions, tags)
    except ValidationError as exc:
        return ImageCreateResult(upload.name, ImageStatus.ERROR_INVALID_TAG, " ".join(exc.messages))
    return _create_one(project, upload, [], source, count, metadata, boxes)


def _create_one(
    project: Project,
    upload: ImageUpload,
    tags: list[Tag],
    source: str,
    count: int,
    metadata: dict[str, str],
    boxes: Sequence[Box] = (),
) -> ImageCreateResult:
    try:
        data = _read(upload)
        if upload.metadata:
            metadata = _own_metadata(metadata, upload.metadata)
    except _Rejected as exc:
        return ImageCreateResult(upload.name, exc.status, exc.message)
    # Duplicates are found by content before any decoding: the same pixel-heavy file sent many
    # times costs one decode, not one each.
    content_hash = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, content_hash=content_hash).first()
    if existing is not None and existing.removed_at is None:
        if boxes:  # Azure adds a duplicate's regions to the image already there
            with transaction.atomic():
                regions.regions_add(image=existing, boxes=boxes)
        return _duplicate(upload, existing)
    if count >= settings.CV_MAX_IMAGES_PER_PROJECT:
        return ImageCreateResult(
            upload.name,
            ImageStatus.ERROR_LIMIT_EXCEED,
            f"The project has reached its limit of {settings.CV_MAX_IMAGES_PER_PROJECT} images.",
        )
    if existing is not None:  # removed earlier but kept for an iteration: bring it back
        with transaction.atomic():
            # It lost its tags when it was removed: the ones given now are all it has.
            Image.objects.filter(pk=existing.pk).update(
                removed_at=None, metadata=metadata, tagged=bool(tags)
            )
            ImageTag.objects.bulk_create([ImageTag(image=existing, tag=t) for t in tags])
            if boxes:
                regions.regions_add(image=existing, boxes=boxes)
        existing.removed_at, existing.metadata = None, metadata
        existing.tagged = bool(tags or boxes)
        return ImageCreateResult(upload.name, ImageStatus.OK, "", existing)
    try:
        prepared = prepare_image(data, image_rules())
    except ImageRejected as exc:
        return ImageCreateResult(upload.name, exc.status, exc.message)
    except Exception:
        logger.exception("Unexpected failure reading image %s", upload.name)
        return ImageCreateResult(upload.name, ImageStatus.ERROR_UNKNOWN, "Unexpected error.")
    return _store(project, upload, prepared, (tags, boxes), source, metadata)


def _own_metadata(batch: dict[str, str], own: Mapping[str, str]) -> dict[str, str]:
    try:
        return metadata_clean({**batch, **own})
    except ValidationError as exc:
        raise _Rejected(ImageStatus.ERROR_SOURCE, " ".join(exc.messages)) from None


def _duplicate(upload: ImageUpload, existing: Image) -> ImageCreateResult:
    return ImageCreateResult(
        upload.name,
        ImageStatus.OK_DUPLICATE,
        "The same image is already in the project.",
        existing,
    )


def _read(upload: ImageUpload) -> bytes:
    limit = settings.CV_MAX_IMAGE_BYTES
    if upload.source_error:
        raise _Rejected(ImageStatus.ERROR_SOURCE, upload.source_error)
    if upload.data is not None:
        return upload.data
    if upload.file is None:
        raise _Rejected(ImageStatus.ERROR_SOURCE, "No image data was given.")
    try:
        # Read one byte past the limit: enough to know it is too big without reading it all.
        data = upload.file.read(limit + 1)
    except OSError as exc:
        raise _Rejected(ImageStatus.ERROR_SOURCE, f"The file could not be read: {exc}") from None
    if len(data) > limit:
        raise _Rejected(
            ImageStatus.ERROR_IMAGE_SIZE,
            f"The file is larger than the {limit / 1048576:.0f} MB limit.",
        )
    return data


def _store(
    project: Project,
    upload: ImageUpload,
    prepared: PreparedImage,
    labels: tuple[list[Tag], Sequence[Box]],
    source: str,
    metadata: dict[str, str],
) -> ImageCreateResult:
    tags, boxes = labels
    files = storage.image_files(
        storage.image_base(project.id, prepared.content_hash),
        prepared.extension,
        prepared.data,
        prepared.thumbnail,
    )
    try:
        with storage.saved(files) as (file_name, thumbnail_name), transaction.atomic():
            image = Image.objects.create(
                id=upload.id or uuid.uuid4(),
                project=project,
                file=file_name,
                thumbnail=thumbnail_name,
                content_hash=prepared.content_hash,
                width=prepared.width,
                height=prepared.height,
                format=prepared.source_format,
                byte_size=prepared.source_bytes,
                source=source,
                original_name=upload.name[:255],
                metadata=metadata,
                tagged=bool(tags),
            )
            ImageTag.objects.bulk_create([ImageTag(image=image, tag=tag) for tag in tags])
            if boxes:
                regions.regions_add(image=image, boxes=boxes)
                image.tagged = True
    except IntegrityError:
        # The same content arrived concurrently and the other upload won.
        existing = Image.objects.filter(project=project, content_hash=prepared.content_hash).first()
        if existing is not None:
            return _duplicate(upload, existing)
        logger.exception("Integrity error storing image %s", upload.name)
        return ImageCreateResult(upload.name, ImageStatus.ERROR_UNKNOWN, "Could not save.")
    except Exception:
        logger.exception("Could not store image %s", upload.name)
        return ImageCreateResult(
            upload.name, ImageStatus.ERROR_UNKNOWN, "The image could not be stored."
        )
    return ImageCreateResult(upload.name, ImageStatus.OK, "", image)


# --- Tagging existing images ----------------------------------------------------------------


def tags_by_regions_only(project: Project) -> None:
    """An object-detection image's tags are its regions': Azure refuses tagging one directly."""
    if project.is_detection:
        raise ValidationError(
            "An object-detection image is tagged by its regions: add a region of the tag "
            "(CreateImageRegions) instead of tagging the image.",
            code=AzureCode.BAD_REQUEST_IMAGE_TAGS,
        )


def image_tags_set(*, image: Image, tags: Sequence[Tag]) -> None:
    """Make `tags` exactly the image's tags."""
    tags_by_regions_only(image.project)
    problem = tag_set_problem(image.project, tags)
    if problem:
        raise ValidationError(problem[1], code=AzureCode(problem[0]))
    with transaction.atomic():
        ImageTag.objects.filter(image=image).exclude(tag__in=tags).delete()
        ImageTag.objects.bulk_create(
            [ImageTag(image=image, tag=t) for t in tags], ignore_conflicts=True
        )
        Image.objects.filter(pk=image.pk).update(tagged=bool(tags))
        image.tagged = bool(tags)


def images_tagged_refresh(image_ids: Iterable[uuid.UUID | str]) -> None:
    """Recompute `Image.tagged` from the ImageTag rows, after tags left these images."""
    Image.objects.filter(pk__in=list(image_ids)).update(
        tagged=Exists(ImageTag.objects.filter(image=OuterRef("pk")))
    )


def _merge(project: Project, current: list[Tag], added: list[Tag]) -> list[Tag]:
    """`current` plus `added`, dropping the current tags that the rules say `added` replaces."""
    keep = list(current)
    if any(t.is_negative for t in added):
        keep = []
    elif added:
        keep = [t for t in keep if not t.is_negative]
        if project.is_multiclass:
            keep = []
    return keep + [t for t in added if t not in keep]


@transaction.atomic
def images_tags_add(
    *,
    project: Project,
    image_ids: Iterable[uuid.UUID | str],
    tags: Sequence[Tag],
    replace_conflicting: bool = False,
) -> int:
    """Add tags to many images; returns how many images changed.

    With `replace_conflicting` (the portal's "tag as"), a tag that may not stand beside an
    image's current one replaces it: a Multiclass image gets its tag swapped, and Negative and
    regular tags displace each other. Without it, any such conflict refuses the whole call.
    """
    tags_by_regions_only(project)
    problem = tag_set_problem(project, tags)
    if problem:
        raise ValidationError(problem[1], code=AzureCode(problem[0]))
    images = list(active_images(project).filter(id__in=list(image_ids)).prefetch_related("tags"))
    changed = 0
    for image in images:
        current = list(image.tags.all())
        if replace_conflicting:
            target = _merge(project, current, list(tags))
        else:
            target = current + [t for t in tags if t not in current]
            problem = tag_set_problem(project, target)
            if problem:
                raise ValidationError(f"{image}: {problem[1]}", code=AzureCode(problem[0]))
        if set(target) != set(current):
            image_tags_set(image=image, tags=target)
            changed += 1
    return changed


def images_tags_remove(
    *, project: Project, image_ids: Iterable[uuid.UUID | str], tags: Sequence[Tag]
) -> int:
    ids = list(image_ids)
    with transaction.atomic():
        # Untagging an object-detection image takes that tag's boxes off it.
        Region.objects.filter(image__project=project, image_id__in=ids, tag__in=tags).delete()
        deleted, _ = ImageTag.objects.filter(
            image__project=project, image_id__in=ids, tag__in=tags
        ).delete()
        images_tagged_refresh(ids)
    return deleted


@transaction.atomic
def images_delete(*, project: Project, image_ids: Iterable[uuid.UUID | str]) -> int:
    """Remove images from the project.

    An image that a trained iteration still references leaves the project (and loses its
    tags) but keeps its row and file until that iteration is deleted; the others go now.
    (`training.services.images_delete_everywhere` takes them out of the iterations first.)
    """
    images = active_images(project).filter(id__in=list(image_ids))
    kept = set(images.filter(iteration_images__isnull=False).values_list("id", flat=True))
    ImageTag.objects.filter(image_id__in=kept).delete()
    Region.objects.filter(image_id__in=kept).delete()  # as its tags: the iteration has its own
    Image.objects.filter(id__in=kept).update(removed_at=timezone.now(), tagged=False)
    gone = images.exclude(id__in=kept)
    deleted = len(kept) + _delete_rows_and_files(gone)
    return deleted


MAX_METADATA_IMAGES = 256  # per UpdateImageMetadata call, as the SDK's imageIds allows


@dataclass(frozen=True)
class MetadataResult:
    image_id: str
    status: str  # Azure's ImageMetadataUpdateStatus: OK, ErrorImageNotFound, ErrorLimitExceed
    metadata: dict[str, str] | None


@transaction.atomic
def images_metadata_update(
    *, project: Project, image_ids: Sequence[uuid.UUID], metadata: Mapping[str, str]
) -> list[MetadataResult]:
    """Merge `metadata` into each image's (a key given again takes the new value); an image
    that would pass MAX_PAIRS keeps what it had and says ErrorLimitExceed."""
    if len(image_ids) > MAX_METADATA_IMAGES:
        raise ValidationError(
            f"At most {MAX_METADATA_IMAGES} images per call.",
            code=AzureCode.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
        )
    added = metadata_clean(metadata)
    found = {i.id: i for i in active_images(project).filter(id__in=image_ids).select_for_update()}
    results = []
    for image_id in image_ids:
        image = found.get(image_id)
        if image is None:
            results.append(MetadataResult(str(image_id), AzureCode.ERROR_IMAGE_NOT_FOUND, None))
            continue
        merged = {**image.metadata, **added}
        if len(merged) > MAX_PAIRS:
            results.append(
                MetadataResult(str(image_id), AzureCode.ERROR_LIMIT_EXCEED, image.metadata)
            )
            continue
        if merged != image.metadata:
            image.metadata = merged
            image.save(update_fields=["metadata"])
        results.append(MetadataResult(str(image_id), "OK", merged))
    return results


def images_purge_removed(*, project: Project) -> int:
    """Delete removed images that no iteration references any more."""
    orphans = Image.objects.filter(
        project=project, removed_at__isnull=False, iteration_images__isnull=True
    )
    return _delete_rows_and_files(orphans)


def _delete_rows_and_files(images: QuerySet[Image]) -> int:
    rows = list(images.values_list("pk", "file", "thumbnail"))
    Image.objects.filter(pk__in=[row[0] for row in rows]).delete()
    storage.delete_on_commit([name for row in rows for name in row[1:]])
    return len(rows)
