"""Projects → Import project, for archives too large to import inside a request.

The request checks the archive through first (`transfer.archive_outline`: its directory,
every field of project.json, every image's member present; seconds at worst, memory bounded
by one entry). An archive no larger than one upload batch (CV_MAX_IMAGES_PER_BATCH images,
INLINE_MAX_BYTES) is imported there and then, as an upload batch is. A larger one is stored
(`storage.import_archive_key`, so a worker on another host can read it) and becomes a job
(`ArchiveImport`) on the "imports" queue, with a page whose progress bar polls it.

A worker imports it through the same service as the request (`transfer.project_import`) and
deletes the stored archive when the job ends. A user runs one archive import at a time (a
partial unique index, so two requests at once can't both start one). A job is not resumed:
if its worker dies the sweep fails it and deletes the project it had begun, so importing the
archive again gives one whole project rather than two halves.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core import jobs, storage
from core.codes import AzureCode
from projects import selectors
from projects.archive import Outline
from projects.models import ArchiveImport, Project, Resource
from projects.services import transfer
from projects.services.jobs import ARCHIVE_IMPORT
from projects.services.projects import project_delete
from projects.services.transfer import ImportReport

logger = logging.getLogger(__name__)

Status = ArchiveImport.Status
WAITING = "Waiting for a worker"
INLINE_MAX_BYTES = 64 * 1024 * 1024
COPY_CHUNK = 1024 * 1024
BEAT_EVERY_BYTES = 64 * 1024 * 1024  # while the archive is copied out of storage


# --- Starting (the request) -----------------------------------------------------------------


def archive_import_start(
    *, owner: User, resource: Resource, archive: IO[bytes], name: str = ""
) -> ImportReport | ArchiveImport:
    """Import `archive` now if it is small (the report), else queue a job (the job). A
    broken archive raises ValidationError before anything is created, and so does a second
    import while the user's first is queued or running."""
    if selectors.archive_import_active(owner) is not None:
        raise _already_running()
    outline = transfer.archive_outline(archive)
    if (
        outline.images <= settings.CV_MAX_IMAGES_PER_BATCH
        and outline.image_bytes <= INLINE_MAX_BYTES
    ):
        return transfer.project_import(owner=owner, resource=resource, archive=archive, name=name)
    job = archive_import_create(
        owner=owner, resource=resource, archive=archive, name=name, outline=outline
    )
    transaction.on_commit(lambda: _enqueue(job))
    return job


def archive_import_create(
    *, owner: User, resource: Resource, archive: IO[bytes], name: str, outline: Outline
) -> ArchiveImport:
    """The job with its archive stored, not queued (`archive_import_start` queues it)."""
    if resource.owner_id != owner.pk or resource.kind != Resource.Kind.TRAINING:
        raise ValidationError("Choose one of your training resources.")
    try:
        # The archive is stored before the row commits: a failure leaves at worst a file
        # without a row, which projects.reconcile removes, never a job without its archive.
        with transaction.atomic():
            job = ArchiveImport.objects.create(
                owner=owner,
                resource=resource,
                name=name,
                project_name=name or outline.name or "Imported project",
                images_total=outline.images,
                phase=WAITING,
            )
            job.archive = storage.save_file(storage.import_archive_key(job.id), archive)
            job.save(update_fields=["archive"])
    except IntegrityError:  # another request started one a moment ago
        raise _already_running() from None
    return job


def _already_running() -> ValidationError:
    return ValidationError(
        "You are already importing an archive: wait until it has finished (Projects → Import "
        "project shows it) before starting another.",
        code=AzureCode.IMPORT_ALREADY_RUNNING,
    )


def _enqueue(job: ArchiveImport) -> None:
    from projects.tasks import import_archive

    if not jobs.enqueue(ARCHIVE_IMPORT, job.pk, import_archive):
        storage.delete([job.archive])


# --- Running (the worker) -------------------------------------------------------------------


def archive_import_run(*, job_id: uuid.UUID | str) -> ArchiveImport | None:
    """Run a queued job to its end: Completed, or Failed with nothing of it kept."""
    if not jobs.claim(ARCHIVE_IMPORT, job_id):
        # Finished, another worker has it, or gone with its user: nothing to do.
        return ArchiveImport.objects.filter(pk=job_id).first()
    job = ArchiveImport.objects.select_related("owner", "resource").get(pk=job_id)
    report: ImportReport | None = None
    try:
        if job.resource is None:
            raise ValidationError("The training resource chosen for the import was deleted.")
        with _local_copy(job) as file:
            jobs.beat(ARCHIVE_IMPORT, job.pk, phase="Checking the archive")
            report = transfer.project_import(
                owner=job.owner,
                resource=job.resource,
                archive=file,
                name=job.name,
                progress=lambda r: _progress(job, r),
            )
    except ValidationError as exc:
        _end(job, Status.FAILED, error=" ".join(exc.messages))
    except Exception:
        logger.exception("Archive import %s failed", job.pk)
        _end(
            job,
            Status.FAILED,
            error="The import stopped on an unexpected error and nothing of it was kept. "
            "Import the archive again; if it stops again, the server's log says why.",
        )
    else:
        _end(job, Status.COMPLETED, report=report)
    return ArchiveImport.objects.filter(pk=job_id).first()


@contextmanager
def _local_copy(job: ArchiveImport) -> Iterator[IO[bytes]]:
    """The stored archive in a local temporary file: zipfile seeks all over it, which a
    bucket's object does slowly if at all."""
    try:
        source = storage.open_file(job.archive)
    except OSError:
        raise ValidationError(
            "The uploaded archive is not in storage. Do the web server and the workers share "
            "it (CV_STORAGE)?"
        ) from None
    with source, tempfile.TemporaryFile() as local:
        copied = 0
        while chunk := source.read(COPY_CHUNK):
            local.write(chunk)
            copied += len(chunk)
            if copied % BEAT_EVERY_BYTES < len(chunk):
                jobs.beat(ARCHIVE_IMPORT, job.pk, phase="Reading the archive")
        local.seek(0)
        yield local


def _progress(job: ArchiveImport, report: ImportReport) -> None:
    jobs.beat(
        ARCHIVE_IMPORT,
        job.pk,
        phase=f"Importing images: {report.images_done:,} of {report.images_total:,}",
        images_done=report.images_done,
        images_total=report.images_total,
        project=report.project,
    )


def _end(
    job: ArchiveImport, status: str, *, error: str = "", report: ImportReport | None = None
) -> None:
    fields: dict[str, Any] = {"archive": ""}
    if report is not None:
        fields |= {"summary": _summary(report), "images_done": report.images_done}
    jobs.finish(ARCHIVE_IMPORT, job.pk, status, error=error, **fields)
    storage.delete([job.archive])


def _summary(report: ImportReport) -> dict[str, Any]:
    return {
        "project_id": str(report.project.id),
        "imported": report.images_ok,
        "duplicates": report.images_duplicate,
        "failure_count": report.failure_count,
        "failures": [{"file": f, "reason": r} for f, r in report.images_failed],
    }


# --- Sweeping (beat) ------------------------------------------------------------------------


def archive_imports_fail_stale() -> int:
    """Fail the jobs whose worker died (and delete what they had begun), and the jobs that no
    worker took in CV_QUEUED_TIMEOUT_SECONDS (their message was lost): either way the user
    can import again. How many were failed."""
    return jobs.sweep(ARCHIVE_IMPORT, cleanup=_remove_begun)


def _remove_begun(job: ArchiveImport) -> None:
    with transaction.atomic():
        begun = Project.objects.filter(pk=job.project_id).first() if job.project_id else None
        if begun is not None:
            project_delete(project=begun)
    storage.delete([job.archive])
