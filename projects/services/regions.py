"""Regions: tagged boxes on the images of an object-detection project (CreateImageRegions,
DeleteImageRegions, the regions that arrive with images, and imports).

Regions are the source of such an image's tags. Every write here ends in
`image_tags_from_regions`, which makes `ImageTag` (one row per tag with a region) and
`Image.tagged` say what the regions say, in the same transaction: the tag filters, counts
(ImageCount's triggers) and iteration snapshots built for classification then need nothing
of their own.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from core.codes import AzureCode
from projects.models import Image, ImageTag, Project, Region, Tag
from projects.rules import MAX_REGIONS_PER_BATCH, MAX_REGIONS_PER_IMAGE
from projects.selectors import active_images
from projects.services.tags import _clean_name, tag_create

if TYPE_CHECKING:  # forms import services: a runtime import here would be a cycle
    from projects.forms import PortalRegion

# A region as an upload or a caller gives it: (tag id, left, top, width, height).
RegionBox = tuple[uuid.UUID | str, float, float, float, float]
# A region with its tag found: (tag, left, top, width, height).
Box = tuple[Tag, float, float, float, float]

# How far past an edge a box may reach and still count as inside (then clipped to it): what
# float rounding in a labelling tool adds, a thousandth of the image, not a real overhang.
EDGE_SLACK = 1e-3


@dataclass(frozen=True)
class RegionEntry:
    """One region CreateImageRegions asks for."""

    image_id: uuid.UUID
    tag_id: uuid.UUID
    left: float
    top: float
    width: float
    height: float


@dataclass
class RegionBatch:
    """What CreateImageRegions did with each entry, as Azure's ImageRegionCreateSummary:
    `created`, `duplicated` (the image already has that region) and `exceeded` (the image has
    MAX_REGIONS_PER_IMAGE already)."""

    created: list[Region] = field(default_factory=list)
    duplicated: list[RegionEntry] = field(default_factory=list)
    exceeded: list[RegionEntry] = field(default_factory=list)

    @property
    def is_batch_successful(self) -> bool:
        return not self.duplicated and not self.exceeded


def _refused(
    message: str, code: AzureCode = AzureCode.BAD_REQUEST_IMAGE_REGIONS
) -> ValidationError:
    return ValidationError(message, code=code)


def box_checked(
    left: object, top: object, width: object, height: object
) -> tuple[float, float, float, float]:
    """The box as stored: finite numbers, inside the image (normalised, origin top-left) with a
    positive area. A box past the image's edge by at most EDGE_SLACK is clipped to it."""
    try:
        values = [float(v) for v in (left, top, width, height)]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _refused("A region's left, top, width and height are numbers.") from None
    if not all(math.isfinite(v) for v in values):
        raise _refused("A region's left, top, width and height are finite numbers.")
    x, y, w, h = values
    inside = min(x, y) >= -EDGE_SLACK and x + w <= 1 + EDGE_SLACK and y + h <= 1 + EDGE_SLACK
    if not inside:
        raise _refused(
            f"The region ({x:g}, {y:g}, {w:g}, {h:g}) is not inside the image: left and top "
            "are at least 0, left + width and top + height at most 1 (normalised to the image)."
        )
    x, y = max(x, 0.0), max(y, 0.0)
    w, h = min(w, 1 - x), min(h, 1 - y)
    if w <= 0 or h <= 0:
        raise _refused("A region needs a positive width and height.")
    return x, y, w, h


def detection_only(project: Project) -> None:
    """Regions belong to object-detection projects; Azure refuses them elsewhere."""
    if not project.is_detection:
        raise ValidationError(
            f"Invalid project type for operation: {project.name!r} is a classification "
            "project. Regions and region proposals belong to object-detection projects.",
            code=AzureCode.BAD_REQUEST_OPERATION_NOT_SUPPORTED,
        )


def region_tags(project: Project, tag_ids: Iterable[uuid.UUID | str]) -> dict[uuid.UUID, Tag]:
    """The project's tags among `tag_ids`, by id (unknown and malformed ids left out)."""
    wanted = set()
    for tag_id in tag_ids:
        try:
            wanted.add(tag_id if isinstance(tag_id, uuid.UUID) else uuid.UUID(str(tag_id)))
        except ValueError:
            continue
    return {t.id: t for t in Tag.objects.filter(project=project, id__in=wanted)}


def boxes_of(regions: Sequence[RegionBox], tags: Mapping[uuid.UUID, Tag]) -> list[Box]:
    """`regions` with their tags found in `tags`; ValidationError ErrorInvalidTag for a tag not
    there, BadRequestImageRegions for a Negative tag or a bad box."""
    boxes = []
    for tag_id, *box in regions:
        try:
            tag = tags.get(tag_id if isinstance(tag_id, uuid.UUID) else uuid.UUID(str(tag_id)))
        except ValueError:
            tag = None
        if tag is None:
            raise _refused(f"Tag {tag_id} is not in the project.", AzureCode.ERROR_INVALID_TAG)
        if tag.is_negative:
            raise _refused(f"The Negative tag {tag.name!r} can't mark a region.")
        boxes.append((tag, *box_checked(*box)))
    return boxes


def _key(image_id: uuid.UUID, tag_id: uuid.UUID, box: Sequence[float]) -> tuple[object, ...]:
    # Equal to a millionth of the image: what JSON and float8 round trips keep exactly.
    return (image_id, tag_id, *(round(v, 6) for v in box))


def image_tags_from_regions(image_ids: Collection[uuid.UUID]) -> None:
    """Make the images' ImageTag rows (one per tag with a region) and `tagged` (has a region)
    say what their regions say."""
    if not image_ids:
        return
    ids = list(image_ids)
    same = Region.objects.filter(image_id=OuterRef("image_id"), tag_id=OuterRef("tag_id"))
    ImageTag.objects.filter(image_id__in=ids).exclude(Exists(same)).delete()
    pairs = set(Region.objects.filter(image_id__in=ids).values_list("image_id", "tag_id"))
    ImageTag.objects.bulk_create(
        [ImageTag(image_id=i, tag_id=t) for i, t in pairs], ignore_conflicts=True
    )
    Image.objects.filter(pk__in=ids).update(
        tagged=Exists(Region.objects.filter(image=OuterRef("pk")))
    )


def regions_add(*, image: Image, boxes: Sequence[Box]) -> list[Region]:
    """Add `boxes` to the image, but those it has already and those past its
    MAX_REGIONS_PER_IMAGE (an upload's regions, also when the upload is a duplicate: Azure then
    adds them to the image already there). Call inside the transaction that stores the image."""
    have = {
        _key(image.id, t, b)
        for t, *b in Region.objects.filter(image=image).values_list(
            "tag_id", "left", "top", "width", "height"
        )
    }
    room = MAX_REGIONS_PER_IMAGE - len(have)
    new: list[Region] = []
    for tag, *box in boxes:
        key = _key(image.id, tag.id, box)
        if key in have or len(new) >= room:
            continue
        have.add(key)
        new.append(
            Region(image=image, tag=tag, left=box[0], top=box[1], width=box[2], height=box[3])
        )
    Region.objects.bulk_create(new)
    image_tags_from_regions([image.id])
    return new


@transaction.atomic
def regions_create(*, project: Project, entries: Sequence[RegionEntry]) -> RegionBatch:
    """CreateImageRegions: up to MAX_REGIONS_PER_BATCH regions on the project's images, each
    `created`, `duplicated` or `exceeded` as Azure reports them. Any bad entry (an unknown
    image or tag, a Negative tag, a box outside its image, the same region twice in the
    batch) refuses the whole batch before anything is written."""
    detection_only(project)
    if len(entries) > MAX_REGIONS_PER_BATCH:
        raise _refused(
            f"A batch holds at most {MAX_REGIONS_PER_BATCH} regions; this one has {len(entries)}.",
            AzureCode.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
        )
    tags = region_tags(project, {e.tag_id for e in entries})
    unknown = {e.tag_id for e in entries} - set(tags)
    if unknown:
        raise _refused(
            f"Tag {sorted(unknown, key=str)[0]} is not in the project.",
            AzureCode.BAD_REQUEST_INVALID_IDS,
        )
    boxes = boxes_of([(e.tag_id, e.left, e.top, e.width, e.height) for e in entries], tags)
    wanted = {e.image_id for e in entries}
    # Locked, so two batches on one image count its regions one after the other.
    found = set(
        active_images(project)
        .filter(id__in=wanted)
        .select_for_update()
        .values_list("id", flat=True)
    )
    if wanted - found:
        raise _refused(
            f"Image {sorted(wanted - found, key=str)[0]} is not in the project.",
            AzureCode.BAD_REQUEST_INVALID_IDS,
        )
    keys = [_key(e.image_id, e.tag_id, b[1:]) for e, b in zip(entries, boxes, strict=True)]
    if len(set(keys)) < len(keys):
        raise _refused("Duplicate image regions: the batch names the same region twice.")
    return _create_checked(entries, boxes, keys)


def _create_checked(
    entries: Sequence[RegionEntry], boxes: Sequence[Box], keys: Sequence[tuple[object, ...]]
) -> RegionBatch:
    stored = Region.objects.filter(image_id__in={e.image_id for e in entries})
    rows = list(stored.values_list("image_id", "tag_id", "left", "top", "width", "height"))
    have = {_key(i, t, b) for i, t, *b in rows}
    counts = Counter(row[0] for row in rows)
    batch = RegionBatch()
    for entry, (tag, *box), key in zip(entries, boxes, keys, strict=True):
        if key in have:
            batch.duplicated.append(entry)
        elif counts[entry.image_id] >= MAX_REGIONS_PER_IMAGE:
            batch.exceeded.append(entry)
        else:
            counts[entry.image_id] += 1
            left, top, width, height = box
            batch.created.append(
                Region(
                    image_id=entry.image_id, tag=tag, left=left, top=top, width=width, height=height
                )
            )
    Region.objects.bulk_create(batch.created)
    image_tags_from_regions({r.image_id for r in batch.created})
    return batch


@transaction.atomic
def regions_delete(*, project: Project, region_ids: Sequence[uuid.UUID]) -> int:
    """DeleteImageRegions: the project's regions among `region_ids` (others are ignored), up
    to MAX_REGIONS_PER_BATCH a call; returns how many went."""
    detection_only(project)
    if len(region_ids) > MAX_REGIONS_PER_BATCH:
        raise _refused(
            f"At most {MAX_REGIONS_PER_BATCH} regions per call; this one names {len(region_ids)}.",
            AzureCode.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
        )
    regions = Region.objects.filter(image__project=project, id__in=list(region_ids))
    image_ids = set(regions.values_list("image_id", flat=True))
    deleted, _ = regions.delete()
    image_tags_from_regions(image_ids)
    return deleted


@transaction.atomic
def regions_replace(*, image: Image, boxes: Sequence[Box]) -> list[Region]:
    """Make `boxes` exactly the image's regions (imports, the portal's editor); its tags follow.
    Each tag must be one of the image's project's, not its Negative tag."""
    project = image.project
    detection_only(project)
    if len(boxes) > MAX_REGIONS_PER_IMAGE:
        raise _refused(
            f"An image holds at most {MAX_REGIONS_PER_IMAGE} regions; {len(boxes)} were given.",
            AzureCode.ERROR_REGION_LIMIT_EXCEED,
        )
    tags = {t.id: t for t in Tag.objects.filter(project=project, id__in={b[0].id for b in boxes})}
    checked = boxes_of([(tag.id, *box) for tag, *box in boxes], tags)  # type: ignore[misc]
    Region.objects.filter(image=image).delete()
    return regions_add(image=image, boxes=checked)


def _portal_tag(
    project: Project, entry: PortalRegion, by_id: dict[uuid.UUID, Tag], by_name: dict[str, Tag]
) -> Tag:
    """The entry's tag: by id when it names one of the project's, else by name (ignoring
    case), created when the project has none of that name."""
    if entry.tag_id is not None:
        tag = by_id.get(entry.tag_id)
        if tag is None:
            raise _refused(
                f"Tag {entry.tag_id} is not in the project; reload the page.",
                AzureCode.ERROR_INVALID_TAG,
            )
        return tag
    name = _clean_name(entry.tag_name)
    tag = by_name.get(name.casefold())
    if tag is None:
        tag = tag_create(project=project, name=name)
        by_id[tag.id], by_name[name.casefold()] = tag, tag
    return tag


@transaction.atomic
def regions_save(*, image: Image, entries: Sequence[PortalRegion]) -> list[Region]:
    """The portal editor's save: `entries` become exactly the image's regions. Tags typed in
    the editor are created by name; nothing is written when any entry is refused."""
    project = image.project
    detection_only(project)
    # Locked, so two tabs saving one image replace its regions one after the other.
    Image.objects.select_for_update().filter(pk=image.pk).first()
    tags = list(Tag.objects.filter(project=project))
    by_id = {t.id: t for t in tags}
    by_name = {t.name.casefold(): t for t in tags}
    boxes: list[Box] = []
    for entry in entries:
        tag = _portal_tag(project, entry, by_id, by_name)
        if tag.is_negative:
            raise _refused(f"The Negative tag {tag.name!r} can't mark a region.")
        boxes.append((tag, entry.left, entry.top, entry.width, entry.height))
    return regions_replace(image=image, boxes=boxes)
