"""Project export and import: a zip with the images, tags and settings (your data is yours).

The archive is one folder-free zip:

    project.json       {"format", "version", "name", "description", "classificationType",
                        "domainId", "targetExportPlatforms",
                        "tags": [{id, name, description, type}],
                        "images": [{"file", "name", "tagIds", "metadata", "created"}]}
    images/<hash>.<ext> the stored image files

The portal downloads it from Settings; the API's ExportProject / ImportProject pass a signed
token that names the project, and import reads the same archive, so both go through one path.
Importing sends every image through the normal ingestion (its checks, limits and statuses).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.exceptions import ValidationError

from portal import storage
from projects.domains import DOMAINS_BY_ID, EXPORT_PLATFORMS
from projects.imaging import ImageStatus
from projects.models import Project, Resource, Tag
from projects.selectors import active_images
from projects.services.images import ImageUpload, images_create_each
from projects.services.projects import project_create, project_delete
from projects.services.tags import tag_create

FORMAT = "custom-vision-project"
VERSION = 1
MANIFEST = "project.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
TOKEN_SALT = "projects.export"  # noqa: S105 (a signing namespace, not a secret)
TOKEN_MAX_AGE = 7 * 24 * 3600  # seconds an API export token stays valid


@dataclass
class ImportReport:
    project: Project
    images_ok: int = 0  # stored
    images_duplicate: int = 0  # the same content as an image already stored: kept once
    images_failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def project_export(project: Project) -> IO[bytes]:
    """The project as a zip in a temporary file (rewound), ready to stream."""
    tags = list(Tag.objects.filter(project=project).order_by("name"))
    images = active_images(project).prefetch_related("image_tags").order_by("created_at")
    archive = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller, who closes it)
    entries = []
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        # Images are already compressed (JPEG/PNG): storing them is as small and much faster.
        for image in images.iterator(chunk_size=200):
            name = f"images/{image.content_hash}.{str(image.file.name).rsplit('.', 1)[-1]}"
            with storage.open_file(str(image.file.name)) as src, zf.open(name, "w") as dst:
                while chunk := src.read(1024 * 1024):
                    dst.write(chunk)
            entries.append(
                {
                    "file": name,
                    "name": image.original_name,
                    "tagIds": [str(it.tag_id) for it in image.image_tags.all()],
                    "metadata": image.metadata,
                    "created": image.created_at.isoformat(),
                }
            )
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
            "The export token is invalid or has expired.", code="BadRequestInvalidImportToken"
        )
    return project


def _manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    def bad(why: str) -> ValidationError:
        return ValidationError(f"Not a project export: {why}", code="BadRequestInvalidImport")

    try:
        info = zf.getinfo(MANIFEST)
    except KeyError:
        raise bad(f"{MANIFEST} is missing.") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise bad(f"{MANIFEST} is too large.")
    try:
        manifest = json.loads(zf.read(info))
    except ValueError:
        raise bad(f"{MANIFEST} is not JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad("unknown format.")
    if manifest.get("version") != VERSION:
        raise bad(f"version {manifest.get('version')!r} is not supported.")
    if not isinstance(manifest.get("tags"), list) or not isinstance(manifest.get("images"), list):
        raise bad("tags or images are missing.")
    return manifest


def _upload(zf: zipfile.ZipFile, entry: dict[str, Any]) -> ImageUpload:
    """One manifest entry's image, under the name it was uploaded with, with its metadata."""
    read = _read_member(zf, entry.get("file"))
    own_name = entry.get("name")
    metadata = entry.get("metadata")
    return dataclasses.replace(
        read,
        name=own_name if isinstance(own_name, str) and own_name else read.name,
        metadata=metadata if isinstance(metadata, dict) else None,
    )


def _read_member(zf: zipfile.ZipFile, name: Any) -> ImageUpload:
    label = str(name)
    try:
        info = zf.getinfo(label)
    except KeyError:
        return ImageUpload(name=label, source_error="The file is missing from the archive.")
    # The header's size is checked before reading and the read is capped: a zip bomb stops here.
    limit = settings.CV_MAX_IMAGE_BYTES
    if info.file_size > limit:
        return ImageUpload(name=label, source_error="The file is larger than the image limit.")
    try:
        with zf.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
        # A bad CRC, an encrypted or oddly compressed member: this image fails, not the import.
        return ImageUpload(
            name=label, source_error=f"The file can't be read from the archive: {exc}"
        )
    except zlib.error as exc:
        return ImageUpload(name=label, source_error=f"The file is corrupt in the archive: {exc}")
    if len(data) > limit:
        return ImageUpload(name=label, source_error="The file is larger than the image limit.")
    return ImageUpload(name=label, data=data)


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def project_import(
    *, owner: User, resource: Resource, archive: IO[bytes], name: str = ""
) -> ImportReport:
    """A new project of `owner` from an export archive. A broken archive creates nothing;
    an image that fails ingestion is reported and skipped, the rest go in."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise ValidationError(
            "The file is not a zip archive.", code="BadRequestInvalidImport"
        ) from None
    with zf:
        manifest = _manifest(zf)
        try:
            domain_id = uuid.UUID(str(manifest.get("domainId")))
        except ValueError:
            domain_id = uuid.UUID(int=0)
        if domain_id not in DOMAINS_BY_ID:
            domain_id = next(iter(DOMAINS_BY_ID))
        platforms = manifest.get("targetExportPlatforms")
        # Kept where the domain can use them; an archive's odd value is not worth failing for.
        if not DOMAINS_BY_ID[domain_id].exportable or not isinstance(platforms, list):
            platforms = []
        platforms = [p for p in platforms if p in EXPORT_PLATFORMS]
        project = project_create(
            owner=owner,
            resource=resource,
            name=name or str(manifest.get("name") or "Imported project"),
            description=str(manifest.get("description") or ""),
            classification_type=str(manifest.get("classificationType")),
            domain_id=domain_id,
            target_export_platforms=platforms,
        )
        try:
            return _fill(project, zf, manifest)
        except BaseException:
            project_delete(project=project)  # all or nothing for what the archive describes
            raise


def _fill(project: Project, zf: zipfile.ZipFile, manifest: dict[str, Any]) -> ImportReport:
    new_ids: dict[str, str] = {}
    for entry in manifest["tags"]:
        if not isinstance(entry, dict):
            continue
        tag = tag_create(
            project=project,
            name=str(entry.get("name", "")),
            description=str(entry.get("description") or ""),
            type=str(entry.get("type") or Tag.Type.REGULAR),
        )
        new_ids[str(entry.get("id"))] = str(tag.id)
    report = ImportReport(project)
    images = [e for e in manifest["images"] if isinstance(e, dict)]
    for batch in _batches(images, settings.CV_MAX_IMAGES_PER_BATCH):
        entries = [
            (
                _upload(zf, e),
                [new_ids[t] for t in e.get("tagIds") or [] if t in new_ids],
            )
            for e in batch
        ]
        for result in images_create_each(project=project, entries=entries):
            if result.status == ImageStatus.OK:
                report.images_ok += 1
            elif result.status == ImageStatus.OK_DUPLICATE:
                report.images_duplicate += 1
            else:
                report.images_failed.append((result.source_name, result.message))
    return report


def project_copy(*, source: Project, owner: User, resource: Resource, name: str = "") -> Project:
    """Import through an export archive of `source` (the API's token import)."""
    with project_export(source) as archive:
        return project_import(owner=owner, resource=resource, archive=archive, name=name).project
