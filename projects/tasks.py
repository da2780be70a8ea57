"""Celery adapters for projects: call the service."""

from __future__ import annotations

from celery import shared_task

from projects.services.reconcile import storage_reconcile


@shared_task(name="projects.reconcile_storage", ignore_result=True)
def reconcile_storage() -> int:
    return len(storage_reconcile().removed)
