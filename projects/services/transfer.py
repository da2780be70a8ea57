"""Project export and import: a zip with the images, tags and settings (your data is yours).

The archive is one folder-free zip:

    project.json       {"format", "version", "name", "description", "classificationType",
                        "domainId", "targetExportPlatforms",
                        "tags": [{id, name, description, type}],
                        "images": [{"file", "name", "tagIds", "metadata", "created",
                                    "regions": [{tagId, left, top, width, height}]}]}
    images/<hash>.<ext> the stored image files

The domain says the project's type (Azure's ids: classification or object detection). An
object-detection project's images carry their boxes in `regions` (normalised to the image, as
Azure's), which are their tags on import; archives written before object detection have none
and import as they always did.

The portal downloads it from Settings; the API's ExportProject / ImportProject pass a signed
token that names the project, and import reads the same archive, so both go through one path.
An uploaded archive is read by `projects.archive`, which bounds what it may cost; importing
sends every image through the normal ingestion (its checks, limits and statuses).
"""

from __future__ import annotations

import json
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.exceptions import ValidationError

from core import storage
from core.codes import AzureCode
from engine.imaging import ImageStatus
from projects import archive as archive_reader
from projects.archive import FORMAT, MANIFEST, VERSION, ArchiveError, MemberError, Outline
from projects.models import Project, Region, Resource, Tag
from projects.selectors import active_images
from projects.services.images import ImageUpload, images_create_each
from projects.services.projects import project_create, project_delete
from projects.services.regions import RegionBox, box_checked
from projects.services.tags import tag_create

MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # ~3 times a 100,000-image export's
# Images read from the archive at once, at most: a batch of the largest images would hold
# CV_MAX_IMAGES_PER_BATCH × CV_MAX_IMAGE_BYTES (384 MB) in memory.
BATCH_BYTES = 48 * 1024 * 1024
FAILURES_KEPT = 500  # listed in a report; its failure_count covers them all
TOKEN_SALT = "projects.export"  # noqa: S105 (a signing namespace, not a secret)
TOKEN_MAX_AGE = 7 * 24 * 3600  # seconds an API export token stays valid
INVALID = AzureCode.BAD_REQUEST_INVALID_IMPORT


@dataclass
class ImportReport:
    project: Project
    images_total: int = 0  # entries in the manifest
    images_ok: int = 0  # stored
    images_duplicate: int = 0  # the same content as an image already stored: kept once
    images_failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason), capped
    failure_count: int = 0

    @property
    def images_done(self) -> int:
        return self.images_ok + self.images_duplicate + self.failure_count

    def fail(self, file: str, reason: str) -> None:
        self.failure_count += 1
        if len(self.images_failed) < FAILURES_KEPT:
            self.images_failed.append((file, reason))


def project_export(project: Project) -> IO[bytes]:
    """The project as a zip in a temporary file (rewound), ready to stream."""
    tags = list(Tag.objects.filter(project=project).order_by("name"))
    images = active_images(project).prefetch_related("image_tags", "regions")
    images = images.order_by("created_at")
    detection = project.is_detection
    archive = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller, who closes it)
    entries = []
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        # Images are already compressed (JPEG/PNG): storing them is as small and much faster.
        for image in images.iterator(chunk_size=200):
            name = f"images/{image.content_hash}.{str(image.file.name).rsplit('.', 1)[-1]}"
            with storage.open_file(str(image.file.name)) as src, zf.open(name, "w") as dst:
                while chunk := src.read(1024 * 1024):
                    dst.write(chunk)
            entry = {
                "file": name,
                "name": image.original_name,
                "tagIds": [str(it.tag_id) for it in image.image_tags.all()],
                "metadata": image.metadata,
                "created": image.created_at.isoformat(),
            }
            if detection:
                entry["regions"] = [_region_json(r) for r in image.regions.all()]
            entries.append(entry)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "name": project.name,
            "description": project.description,
            "classificationType": project.classification_type,
            "domainId": str(project.domain_id),
            "targetExportPlatforms": project.target_export_platforms,
            "tags": [
                {"id": str(t.id), "name": t.name, "description": t.description, "type": t.type}
                for t in tags
            ],
            "images": entries,
        }
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1), compress_type=zipfile.ZIP_DEFLATED)
    archive.seek(0)
    return archive


def _region_json(region: Region) -> dict[str, Any]:
    return {
        "tagId": str(region.tag_id),
        "left": region.left,
        "top": region.top,
        "width": region.width,
        "height": region.height,
    }


def export_token(project: Project) -> str:
    return signing.dumps({"project": str(project.id)}, salt=TOKEN_SALT, compress=True)


def project_for_token(token: str) -> Project:
    """The project an export token names. Like Azure's, a token is a capability: whoever holds
    it may import a copy, so it is signed, expires, and dies with the project."""
    try:
        payload = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
        project = Project.objects.filter(
            pk=uuid.UUID(payload["project"]), owner__is_active=True
        ).first()
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        project = None
    if project is None:
        raise ValidationError(
            "The export token is invalid or has expired.",
            code=AzureCode.BAD_REQUEST_INVALID_IMPORT_TOKEN,
        )
    return project


def archive_limits() -> archive_reader.Limits:
    return archive_reader.Limits(
        manifest_bytes=MAX_MANIFEST_BYTES,
        tags=settings.CV_MAX_TAGS_PER_PROJECT,
        images=settings.CV_MAX_IMAGES_PER_PROJECT,
    )


@contextmanager
def _opened(file: IO[bytes]) -> Iterator[zipfile.ZipFile]:
    try:
        zf = archive_reader.open_archive(file, archive_limits())
    except ArchiveError as exc:
        raise ValidationError(str(exc), code=INVALID) from None
    with zf:
        yield zf


def archive_outline(file: IO[bytes]) -> Outline:
    """The archive checked through: its directory, every field of project.json, every image
    entry's member present. Seconds at worst, memory bounded by one entry; ValidationError
    says what is wrong. Nothing is created."""
    with _opened(file) as zf:
        return _outline(zf)


def _outline(zf: zipfile.ZipFile) -> Outline:
    try:
        return archive_reader.outline(zf, archive_limits())
    except ArchiveError as exc:
        raise ValidationError(str(exc), code=INVALID) from None


def project_import(
    *,
    owner: User,
    resource: Resource,
    archive: IO[bytes],
    name: str = "",
    progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """A new project of `owner` from an export archive. A broken archive creates nothing;
    an image that fails ingestion is reported and skipped, the rest go in. `progress` hears
    of the project once it exists and after each batch of images."""
    with _opened(archive) as zf:
        outline = _outline(zf)  # all of it, before the project exists
        project = _project_create(owner, resource, outline, name)
        try:
            return _fill(project, zf, outline, progress)
        except BaseException:
            project_delete(project=project)  # all or nothing for what the archive describes
            raise


def _flat(exc: ValidationError, what: str = "") -> ValidationError:
    """One message for the form's top (a field-keyed error can't go there)."""
    message = " ".join(exc.messages)
    return ValidationError(f"{what}: {message}" if what else message, code=INVALID)


def _project_create(owner: User, resource: Resource, outline: Outline, name: str) -> Project:
    try:
        return project_create(
            owner=owner,
            resource=resource,
            name=name or outline.name or "Imported project",
            description=outline.description,
            classification_type=outline.classification_type,
            domain_id=outline.domain_id,
            target_export_platforms=outline.export_platforms,
        )
    except ValidationError as exc:
        raise _flat(exc) from None


def _fill(
    project: Project,
    zf: zipfile.ZipFile,
    outline: Outline,
    progress: Callable[[ImportReport], None] | None,
) -> ImportReport:
    new_ids: dict[str, str] = {}
    for index, entry in enumerate(outline.tags, start=1):
        try:
            tag = tag_create(
                project=project, name=entry.name, description=entry.description, type=entry.type
            )
        except ValidationError as exc:
            raise _flat(exc, f"tag {index}") from None
        new_ids[entry.id] = str(tag.id)
    report = ImportReport(project, images_total=outline.images)
    if progress is not None:
        progress(report)
    detection = project.is_detection
    try:
        for batch in _batches(archive_reader.image_entries(zf, archive_limits())):
            entries = [
                (
                    _upload(zf, e, _boxes(e, new_ids) if detection else ()),
                    [new_ids[t] for t in e.tag_ids if t in new_ids],
                )
                for e in batch
            ]
            for result in images_create_each(project=project, entries=entries):
                if result.status == ImageStatus.OK:
                    report.images_ok += 1
                elif result.status == ImageStatus.OK_DUPLICATE:
                    report.images_duplicate += 1
                else:
                    report.fail(result.source_name, result.message)
            if progress is not None:
                progress(report)
    except ArchiveError as exc:  # the archive changed under us: it was checked before
        raise ValidationError(str(exc), code=INVALID) from None
    return report


def _batches(
    entries: Iterable[archive_reader.ImageEntry],
) -> Iterator[list[archive_reader.ImageEntry]]:
    """Batches for ingestion, by count and by the bytes they will hold once read."""
    batch: list[archive_reader.ImageEntry] = []
    held = 0
    for entry in entries:
        if batch and (
            len(batch) >= settings.CV_MAX_IMAGES_PER_BATCH or held + entry.size > BATCH_BYTES
        ):
            yield batch
            batch, held = [], 0
        batch.append(entry)
        held += min(entry.size, settings.CV_MAX_IMAGE_BYTES)
    if batch:
        yield batch


def _boxes(entry: archive_reader.ImageEntry, new_ids: dict[str, str]) -> list[RegionBox] | str:
    """An object-detection image's boxes with this project's tag ids, or why the image can't
    go in with them (it then fails alone, rather than arriving without a box)."""
    boxes: list[RegionBox] = []
    for tag_id, *box in entry.regions:
        if tag_id not in new_ids:
            return "A region names a tag the archive does not list."
        try:
            boxes.append((new_ids[tag_id], *box_checked(*box)))
        except ValidationError as exc:
            return " ".join(exc.messages)
    return boxes


def _upload(
    zf: zipfile.ZipFile, entry: archive_reader.ImageEntry, boxes: Sequence[RegionBox] | str
) -> ImageUpload:
    """One manifest entry's image, under the name it was uploaded with, with its metadata
    and its boxes (or the reason they can't be taken)."""
    if isinstance(boxes, str):
        return ImageUpload(name=entry.file, source_error=boxes)
    try:
        data = archive_reader.read_member(zf, entry.file, settings.CV_MAX_IMAGE_BYTES)
    except MemberError as exc:
        return ImageUpload(name=entry.file, source_error=str(exc))
    return ImageUpload(
        name=entry.name or entry.file, data=data, metadata=entry.metadata, regions=boxes
    )


def project_copy(*, source: Project, owner: User, resource: Resource, name: str = "") -> Project:
    """Import through an export archive of `source` (the API's token import)."""
    with project_export(source) as archive:
        return project_import(owner=owner, resource=resource, archive=archive, name=name).project
