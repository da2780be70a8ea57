"""Moving an Azure Custom Vision account here: projects, tags and images, through Azure's own
Training API (`projects.azure.client`).

A job (`AzureImport`) runs in a Celery worker, or in the `importazure` command's own process
with `--inline`. It is resumable and idempotent: each source project is linked to the local
project it went into (`AzureImportedProject`), each source image to the fact that it came
across (`AzureImportedImage`), and ingestion itself refuses a second copy of the same content.
Running it again continues where it stopped. One image that fails is listed with its reason;
the job goes on.

What comes across: name, description, classification type, domain (Azure's GUIDs are this
server's), tags with type and description, every tagged and untagged image at its original
resolution with its tags and metadata. Iterations can't be copied (their models stay in
Azure): their names and dates are listed in the summary.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.urlfetch import Network, parse_networks
from projects.azure import secrets
from projects.azure.client import AzureTrainingSource, SourceError, SourceImage, chunks
from projects.domains import DOMAINS_BY_ID, GENERAL
from projects.models import (
    AzureImport,
    AzureImportedImage,
    AzureImportedProject,
    Image,
    Project,
    Resource,
    Tag,
)
from projects.services import jobs
from projects.services.images import ImageUpload, images_create_each
from projects.services.projects import project_create
from projects.services.resources import default_resource_name, resources_create_both
from projects.services.tags import tag_create

logger = logging.getLogger(__name__)

CHUNK = 32  # images downloaded and ingested together: bounds memory to 32 originals
PARALLEL_DOWNLOADS = 8
FAILURES_KEPT = 500  # listed in the summary; the count covers them all
STALE_AFTER = timedelta(minutes=10)  # a Running job with no heartbeat for this long died
RECLAIM_AFTER = timedelta(minutes=2)  # a redelivered job this quiet is taken over


# --- Starting ------------------------------------------------------------------------------


def source_for(endpoint: str, key: str) -> AzureTrainingSource:
    """A client for the account. The endpoint's own host is allowed for this job even when it
    is a private or loopback address (an instance on the same network, or a second local
    one): the user named it. Every other address keeps the SSRF rules."""
    if not key.strip():
        raise ValidationError("Give the Azure resource's training key.")
    try:
        source = AzureTrainingSource(
            endpoint,
            key.strip(),
            allow=parse_networks(settings.CV_URL_FETCH_ALLOW) + _host_networks(endpoint),
            timeout=float(settings.CV_URL_FETCH_TIMEOUT_SECONDS) * 3,
            max_image_bytes=settings.CV_MAX_IMAGE_BYTES,
        )
    except SourceError as exc:
        raise ValidationError(exc.message) from None
    return source


def _host_networks(endpoint: str) -> list[Network]:
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("The endpoint must be a URL such as https://….cognitiveservices…")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise ValidationError(f"The endpoint's host {parts.hostname!r} can't be found.") from None
    return parse_networks(sorted({str(info[4][0]) for info in infos}))


def azure_projects_list(*, endpoint: str, key: str) -> list[dict[str, Any]]:
    """The account's projects with their image counts (the Import page's list)."""
    source = source_for(endpoint, key)
    try:
        found = []
        for project in source.projects():
            tagged, untagged = source.image_counts(str(project["id"]))
            found.append(_project_preview(project, tagged, untagged))
        return found
    except SourceError as exc:
        raise ValidationError(exc.message) from None


def _project_preview(project: dict[str, Any], tagged: int, untagged: int) -> dict[str, Any]:
    settings_ = project.get("settings") or {}
    return {
        "id": str(project["id"]),
        "name": str(project.get("name", "")),
        "classification_type": settings_.get("classificationType") or "Multiclass",
        "domain": _domain(settings_.get("domainId")).name,
        "tagged": tagged,
        "untagged": untagged,
    }


def azure_import_start(
    *, owner: User, endpoint: str, key: str, project_ids: Sequence[str] = ()
) -> AzureImport:
    """Queue an import of the account's projects (all of them when `project_ids` is empty)."""
    job = azure_import_create(owner=owner, endpoint=endpoint, key=key, project_ids=project_ids)
    transaction.on_commit(lambda: _enqueue(job))
    return job


def azure_import_create(
    *, owner: User, endpoint: str, key: str, project_ids: Sequence[str] = ()
) -> AzureImport:
    """The job, not queued: `azure_import_start` queues it, `importazure --inline` runs it."""
    source_for(endpoint, key)  # the endpoint and key are checked for shape first
    return AzureImport.objects.create(
        owner=owner,
        endpoint=endpoint.strip().rstrip("/"),
        key_encrypted=secrets.encrypt(key.strip()),
        project_ids=[str(p) for p in project_ids],
        phase="Waiting for a worker",
    )


def _enqueue(job: AzureImport) -> None:
    from projects.tasks import import_azure

    jobs.job_enqueue(job, import_azure.delay)


# --- Running -------------------------------------------------------------------------------


class _Run:
    """One job's state while it runs: progress written to its row, failures collected."""

    def __init__(self, job: AzureImport, source: AzureTrainingSource) -> None:
        self.job, self.source = job, source
        self.done = 0
        self.failures: list[dict[str, str]] = []
        self.failure_count = 0
        self.projects: list[dict[str, Any]] = []

    def progress(self, phase: str) -> None:
        jobs.job_beat(AzureImport, self.job.pk, phase=phase[:300], images_done=self.done)

    def fail_image(self, project: str, image_id: str, reason: str) -> None:
        self.failure_count += 1
        if len(self.failures) < FAILURES_KEPT:
            self.failures.append({"project": project, "image": image_id, "reason": reason})

    def summary(self) -> dict[str, Any]:
        return {
            "projects": self.projects,
            "failures": self.failures,
            "failure_count": self.failure_count,
        }


def azure_import_run(
    *, job_id: uuid.UUID | str, on_progress: Callable[[AzureImport], None] | None = None
) -> AzureImport:
    """Run a queued job to its end (Completed or Failed, never left Running by an error)."""
    quiet = timezone.now() - RECLAIM_AFTER
    # Queued, or Running with a worker that stopped reporting: a worker killed mid-import, whose
    # message came back when a worker started again. Continuing is safe: nothing is copied twice.
    ready = (
        Q(status=AzureImport.Status.QUEUED)
        | Q(status=AzureImport.Status.RUNNING, heartbeat_at__lt=quiet)
    ) & ~Q(key_encrypted="")
    claimed = jobs.job_claim(AzureImport, job_id, ready)
    job = AzureImport.objects.get(pk=job_id)
    if not claimed:
        return job  # finished, or another worker has it
    run: _Run | None = None
    try:
        source = source_for(job.endpoint, secrets.decrypt(job.key_encrypted))
        run = _Run(job, source)
        _run(run, on_progress)
    except (SourceError, ValidationError, ValueError) as exc:
        message = exc.message if isinstance(exc, SourceError) else "; ".join(_messages(exc))
        _finish(job.id, AzureImport.Status.FAILED, error=message, run=run)
    except Exception as exc:
        logger.exception("Azure import %s failed", job.id)
        _finish(job.id, AzureImport.Status.FAILED, error=f"Unexpected error: {exc}", run=run)
    else:
        _finish(job.id, AzureImport.Status.COMPLETED, run=run)
    return AzureImport.objects.get(pk=job_id)


def _messages(exc: Exception) -> list[str]:
    return list(exc.messages) if isinstance(exc, ValidationError) else [str(exc)]


def _finish(job_id: uuid.UUID, status: str, *, error: str = "", run: _Run | None = None) -> None:
    # The key is needed no longer: forget it (a resumed run is a new job, with the key).
    fields: dict[str, Any] = {"key_encrypted": ""}
    if run is not None:
        fields |= {"summary": run.summary(), "images_done": run.done}
    jobs.job_finish(AzureImport, job_id, status, error=error, **fields)


def _run(run: _Run, on_progress: Callable[[AzureImport], None] | None) -> None:
    source, job = run.source, run.job
    run.progress("Reading the account's projects")
    projects = source.projects()
    wanted = set(job.project_ids)
    if wanted:
        missing = wanted - {str(p["id"]) for p in projects}
        if missing:
            raise ValidationError(f"The account has no project with id {sorted(missing)[0]}.")
        projects = [p for p in projects if str(p["id"]) in wanted]
    plan = []
    for project in projects:
        tagged, untagged = source.image_counts(str(project["id"]))
        plan.append((project, tagged, untagged))
    AzureImport.objects.filter(pk=job.pk).update(images_total=sum(t + u for _p, t, u in plan))

    def report(phase: str) -> None:
        run.progress(phase)
        if on_progress is not None:
            on_progress(AzureImport.objects.get(pk=job.pk))

    for project, tagged, untagged in plan:
        _import_project(run, project, tagged, untagged, report)


def _domain(domain_id: Any) -> Any:
    try:
        domain = DOMAINS_BY_ID.get(uuid.UUID(str(domain_id)))
    except ValueError:
        domain = None
    return domain if domain is not None and domain.type == "Classification" else GENERAL


def _local_project(run: _Run, source_project: dict[str, Any]) -> AzureImportedProject:
    job = run.job
    link = AzureImportedProject.objects.filter(
        owner=job.owner, endpoint=job.endpoint, source_project_id=str(source_project["id"])
    ).first()
    if link is not None:
        return link
    settings_ = source_project.get("settings") or {}
    classification = settings_.get("classificationType") or "Multiclass"
    if classification not in Project.ClassificationType.values:
        classification = Project.ClassificationType.MULTICLASS
    with transaction.atomic():
        project = project_create(
            owner=job.owner,
            resource=_training_resource(job.owner),
            name=str(source_project.get("name") or "Imported project")[:200],
            description=str(source_project.get("description") or ""),
            classification_type=classification,
            domain_id=_domain(settings_.get("domainId")).id,
        )
        return AzureImportedProject.objects.create(
            owner=job.owner,
            endpoint=job.endpoint,
            source_project_id=str(source_project["id"]),
            project=project,
        )


def _training_resource(owner: User) -> Resource:
    found = Resource.objects.filter(owner=owner, kind=Resource.Kind.TRAINING).order_by("name")
    if found.exists():
        return found[0]
    # Keys are not shown here; Resources regenerates one when the user wants the API.
    return resources_create_both(owner=owner, name=default_resource_name(owner))[0][0]


def _tags(link: AzureImportedProject, source_tags: list[dict[str, Any]]) -> dict[str, str]:
    """Source tag id → local tag id, creating what is missing (matched by name)."""
    project = link.project
    existing = {t.name.lower(): t for t in Tag.objects.filter(project=project)}
    negative = next((t for t in existing.values() if t.type == Tag.Type.NEGATIVE), None)
    mapping: dict[str, str] = dict(link.tag_map)
    for item in source_tags:
        name = str(item.get("name") or "").strip()
        type_ = Tag.Type.NEGATIVE if item.get("type") == "Negative" else Tag.Type.REGULAR
        tag = existing.get(name.lower())
        if tag is None and type_ == Tag.Type.NEGATIVE and negative is not None:
            tag = negative
        if tag is None:
            tag = tag_create(
                project=project,
                name=name,
                description=str(item.get("description") or ""),
                type=type_,
            )
            existing[tag.name.lower()] = tag
        mapping[str(item["id"])] = str(tag.id)
    AzureImportedProject.objects.filter(pk=link.pk).update(tag_map=mapping)
    return mapping


def _import_project(
    run: _Run,
    source_project: dict[str, Any],
    tagged: int,
    untagged: int,
    report: Callable[[str], None],
) -> None:
    source, name = run.source, str(source_project.get("name", ""))
    source_id = str(source_project["id"])
    report(f"{name}: project and tags")
    link = _local_project(run, source_project)
    mapping = _tags(link, source.tags(source_id))
    counts = {"imported": 0, "already_here": 0, "failed": 0}
    for is_tagged in (True, False):
        for page in source.images(source_id, tagged=is_tagged):
            seen = set(
                AzureImportedImage.objects.filter(
                    imported_project=link, source_image_id__in=[i.id for i in page]
                ).values_list("source_image_id", flat=True)
            )
            counts["already_here"] += len(seen)
            run.done += len(seen)
            for chunk in chunks([i for i in page if i.id not in seen], CHUNK):
                _import_chunk(run, link, name, chunk, mapping, counts)
                report(f"{name}: images ({run.done:,} of {run.job.images_total or '?'})")
    run.projects.append(
        {
            "source_id": source_id,
            "name": name,
            "project_id": str(link.project_id),
            "source_images": {"tagged": tagged, "untagged": untagged},
            **counts,
            "iterations": [
                {
                    "name": str(i.get("name", "")),
                    "status": str(i.get("status", "")),
                    "trained": i.get("trainedAt"),
                    "published_as": i.get("publishName"),
                }
                for i in _iterations(source, source_id)
            ],
        }
    )


def _iterations(source: AzureTrainingSource, project_id: str) -> list[dict[str, Any]]:
    try:
        return source.iterations(project_id)
    except SourceError:
        return []  # a summary line, not a reason to fail the import


def _download(source: AzureTrainingSource, image: SourceImage) -> ImageUpload:
    name = f"{image.id}.jpg"
    if not image.uri:
        return ImageUpload(name=name, source_error="The source gave no link to the image.")
    try:
        return ImageUpload(name=name, data=source.image_bytes(image.uri), metadata=image.metadata)
    except SourceError as exc:
        return ImageUpload(name=name, source_error=exc.message)


def _import_chunk(
    run: _Run,
    link: AzureImportedProject,
    project_name: str,
    chunk: list[SourceImage],
    mapping: dict[str, str],
    counts: dict[str, int],
) -> None:
    with ThreadPoolExecutor(max_workers=PARALLEL_DOWNLOADS) as pool:
        uploads = list(pool.map(lambda i: _download(run.source, i), chunk))
    entries = [
        (upload, [mapping[t] for t in image.tag_ids if t in mapping])
        for upload, image in zip(uploads, chunk, strict=True)
    ]
    results = images_create_each(project=link.project, entries=entries, source=Image.Source.AZURE)
    brought = []
    for image, result in zip(chunk, results, strict=True):
        if result.status.ok:
            brought.append(AzureImportedImage(imported_project=link, source_image_id=image.id))
            counts["imported" if result.status == "OK" else "already_here"] += 1
        else:
            counts["failed"] += 1
            run.fail_image(project_name, image.id, f"{result.status.value}: {result.message}")
    AzureImportedImage.objects.bulk_create(brought, ignore_conflicts=True)
    run.done += len(chunk)


def azure_imports_fail_stale() -> int:
    """Running jobs whose worker stopped reporting: Failed, with the way to go on."""
    return AzureImport.objects.filter(jobs.stale(STALE_AFTER)).update(
        status=AzureImport.Status.FAILED,
        key_encrypted="",
        finished_at=timezone.now(),
        phase="Failed",
        error="The worker running the import stopped. Start it again: it continues where it "
        "stopped.",
    )
