"""Stored files that no row refers to: found and removed after a grace period.

Files are written before the row that points at them commits, and deleted only after the
row's deletion commits, so a crash between the two can leave a file without a row (never a
row without its file). This sweep removes such files once they are older than the grace
period: a younger one may belong to an upload whose row is about to commit.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.utils import timezone

from core import storage

logger = logging.getLogger(__name__)

# Every folder of files a row points at, and the file fields that do. The feature cache
# (storage.features_prefix) has no rows: it goes with its project.
ROOTS = tuple(root for root in storage.ROOTS if root != "features")
FILE_FIELDS = {
    "projects.Image": ("file", "thumbnail"),
    "prediction.StoredPrediction": ("file", "thumbnail"),
    "training.Iteration": ("model_file",),
    "training.Export": ("file",),
    "projects.ArchiveImport": ("archive",),
}


@dataclass
class ReconcileReport:
    checked: int = 0
    removed: list[str] = field(default_factory=list)
    too_recent: int = 0


def _referenced() -> set[str]:
    names: set[str] = set()
    for label, fields in FILE_FIELDS.items():
        model = apps.get_model(label)
        for row in model._default_manager.values_list(*fields):
            names.update(str(n) for n in row if n)
    return names


def storage_reconcile(
    *, grace: timedelta = timedelta(hours=1), dry_run: bool = False
) -> ReconcileReport:
    """Delete stored files under ROOTS that no row refers to and that are older than `grace`."""
    report = ReconcileReport()
    referenced = _referenced()
    cutoff = timezone.now() - grace
    for root in ROOTS:
        for name in storage.walk(root):
            report.checked += 1
            if name in referenced:
                continue
            try:
                modified = storage.modified_time(name)
            except (OSError, NotImplementedError):
                continue
            if modified > cutoff:
                report.too_recent += 1
                continue
            if _is_referenced(name):  # asked again just before deleting: a row may be new
                continue
            if not dry_run:
                storage.delete([name])
            report.removed.append(name)
    _forget_features_of_deleted_projects(report, dry_run)
    if report.removed:
        logger.info("Removed %d stored files no row refers to", len(report.removed))
    return report


def _forget_features_of_deleted_projects(report: ReconcileReport, dry_run: bool) -> None:
    from projects.models import Project

    folders = storage.subfolders("features")
    alive = {
        str(pk)
        for pk in Project.objects.filter(pk__in=[f for f in folders if _is_uuid(f)]).values_list(
            "pk", flat=True
        )
    }
    for folder in folders:
        if folder in alive or not _is_uuid(folder):  # a live project's, or not ours
            continue
        for name in storage.walk(storage.features_prefix(folder)):
            report.checked += 1
            if not dry_run:
                storage.delete([name])
            report.removed.append(name)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _is_referenced(name: str) -> bool:
    return any(
        apps.get_model(label)._default_manager.filter(**{field_name: name}).exists()
        for label, fields in FILE_FIELDS.items()
        for field_name in fields
    )
