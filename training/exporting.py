"""Exports of trained iterations (Azure's ExportIteration and GetExports): the writes, and the
signed links that download them.

An export is built by a Celery job on the light queue (`training.tasks.export_iteration`) from
the iteration's model bundle (`engine.export`); the file stays until the iteration is
deleted or the same platform and flavor are exported again. Links to it are signed and expire,
like the SAS links Azure hands out, so a download needs no key.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from core import jobs, storage
from core.codes import AzureCode
from engine import bundle as bundle_format
from engine import export as engine
from training.jobs import EXPORT
from training.models import Export, Iteration

logger = logging.getLogger(__name__)

_SALT = "customvision.export-download"


# The Export dialog's words for a detector's packages, where a classifier's would mislead:
# Microsoft's sample scripts for exported detectors differ by domain, and the container
# answers Detect's boxes. Keyed by (platform, flavor) as the dialog's choices.
DETECTION_EXPORT_HELP = {
    ("ONNX", ""): "ONNX Runtime on any OS; Microsoft's object_detection sample "
    "(object_detection_s1 for General (compact) [S1]) prints its boxes.",
    ("ONNX", "OnnxFloat16"): "Half the size, for GPUs and NPUs; the same boxes.",
    ("DockerFile", "Linux"): "A container serving /image and /url, answering boxes as Detect.",
    ("DockerFile", "ARM"): "The same container built on ARM boards.",
}


def export_help(platform: str, flavor: str, help_text: str, *, detection: bool) -> str:
    """What the Export dialog says under a package: a detector's own words where it has some."""
    return DETECTION_EXPORT_HELP.get((platform, flavor), help_text) if detection else help_text


def export_start(*, iteration: Iteration, platform: str, flavor: str = "") -> Export:
    """Queue an export of a trained iteration; answers at once with status Exporting."""
    platform, flavor = _canonical(platform, flavor)
    if not iteration.is_completed or not iteration.model_file:
        raise ValidationError(
            "Only a trained iteration can be exported: wait for its training to complete.",
            code=AzureCode.BAD_REQUEST_EXPORT_WHILE_TRAINING,
        )
    try:
        engine.check(platform, flavor)
    except engine.UnsupportedExport as exc:
        raise ValidationError(
            str(exc), code=AzureCode.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM
        ) from None
    with transaction.atomic():
        export, created = Export.objects.select_for_update().get_or_create(
            iteration=iteration, platform=platform, flavor=flavor
        )
        if not created:
            overdue = Export.objects.filter(jobs.overdue(EXPORT), pk=export.pk).exists()
            if export.status == Export.Status.EXPORTING and not overdue:
                raise ValidationError(
                    f"An export to {platform} is already in progress.",
                    code=AzureCode.BAD_REQUEST_EXPORT_ALREADY_IN_PROGRESS,
                )
            export.status, export.error = Export.Status.EXPORTING, ""
            export.created_at, export.started_at, export.finished_at = timezone.now(), None, None
            export.save()
        transaction.on_commit(lambda: _enqueue(export))
    return export


def _canonical(platform: str, flavor: str) -> tuple[str, str]:
    """Azure's names, whatever case the client sent ("onnx", "onnxfloat16")."""
    platforms = {p.lower(): p for p in (*engine.AZURE_PLATFORMS, *engine.FLAVORS)}
    platform = platforms.get((platform or "").strip().lower(), (platform or "").strip())
    if not platform:
        raise ValidationError(
            "Say which platform to export to.", code=AzureCode.BAD_REQUEST_INVALID
        )
    flavors = {f.lower(): f for f in engine.FLAVORS.get(platform, {})}
    flavor = (flavor or "").strip()
    return platform, flavors.get(flavor.lower(), flavor)


def _enqueue(export: Export) -> None:
    from training.tasks import export_iteration

    jobs.enqueue(EXPORT, export.id, export_iteration)


def export_run(*, export_id: uuid.UUID | str) -> None:
    """Build the export's file (in a worker). Whatever goes wrong leaves it Failed, with why."""
    if not jobs.claim(EXPORT, export_id):
        return  # deleted, finished, or a duplicate delivery of a job a worker has
    export = Export.objects.select_related("iteration").get(pk=export_id)
    old_file = export.file.name if export.file else ""
    try:
        model = bundle_format.ModelBundle.from_bytes(
            storage.read(str(export.iteration.model_file.name))
        )
        data = engine.package(model, export.platform, export.flavor)
        name = storage.save(
            storage.export_key(
                export.iteration.project_id, export.iteration_id, export.platform, export.flavor
            ),
            data,
        )
    except Exception as exc:
        logger.exception("Export %s failed", export.id)
        jobs.finish(EXPORT, export.pk, Export.Status.FAILED, error=str(exc)[:2000])
        return
    with transaction.atomic():
        updated = jobs.finish(
            EXPORT,
            export.pk,
            Export.Status.DONE,
            file=name,
            size=len(data),
            format_version=bundle_format.VERSION,
        )
        if old_file and old_file != name:
            storage.delete_on_commit([old_file])
    if not updated:  # the iteration went meanwhile
        storage.delete([name])


def exports_fail_stale() -> int:
    """Exports no worker finished in CV_EXPORT_TIMEOUT_SECONDS: a worker died, or none runs."""
    return jobs.sweep(EXPORT)


def export_list(*, iteration: Iteration) -> QuerySet[Export]:
    exports_fail_stale()
    return Export.objects.filter(iteration=iteration).order_by("platform", "flavor")


# --- Download links -----------------------------------------------------------------------------


def download_path(export: Export) -> str:
    """A signed path to the export's file, good for CV_EXPORT_LINK_SECONDS."""
    token = signing.TimestampSigner(salt=_SALT).sign(str(export.id))
    return reverse("export_download", args=[token, download_name(export)])


def download_name(export: Export) -> str:
    flavor = f"-{export.flavor}" if export.flavor else ""
    return f"{export.iteration.name}-{export.platform}{flavor}.zip".replace(" ", "_")


def export_for_link(token: str) -> Export:
    """The finished export a link names; ValidationError when it is forged or has expired."""
    try:
        export_id = signing.TimestampSigner(salt=_SALT).unsign(
            token, max_age=settings.CV_EXPORT_LINK_SECONDS
        )
    except signing.SignatureExpired:
        raise ValidationError(
            "This download link has expired: get the export again for a new one.",
            code="expired",
        ) from None
    except signing.BadSignature:
        raise ValidationError("This download link is not valid.", code="invalid") from None
    export = (
        Export.objects.select_related("iteration")
        .filter(pk=export_id, status=Export.Status.DONE)
        .first()
    )
    if export is None or not export.file:
        raise ValidationError("The export is gone: export the iteration again.", code="gone")
    return export
