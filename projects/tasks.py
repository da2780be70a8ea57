"""Celery adapters for projects: call the service."""

from __future__ import annotations

from celery import shared_task

from projects.services.archive_import import archive_import_run, archive_imports_fail_stale
from projects.services.azure_import import azure_import_run, azure_imports_fail_stale
from projects.services.azure_listing import azure_listing_run, azure_listings_sweep
from projects.services.reconcile import storage_reconcile


@shared_task(name="projects.reconcile_storage", ignore_result=True)
def reconcile_storage() -> int:
    return len(storage_reconcile().removed)


@shared_task(
    name="projects.import_azure", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def import_azure(job_id: str) -> None:
    azure_import_run(job_id=job_id)


@shared_task(name="projects.list_azure", ignore_result=True)
def list_azure(listing_id: str) -> None:
    azure_listing_run(listing_id=listing_id)


@shared_task(
    name="projects.import_archive", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def import_archive(job_id: str) -> None:
    archive_import_run(job_id=job_id)


@shared_task(name="projects.sweep_stale_imports", ignore_result=True)
def sweep_stale_imports() -> int:
    return azure_imports_fail_stale() + azure_listings_sweep() + archive_imports_fail_stale()
