"""The life cycle every import job shares (an Azure account's, a project archive's): queued
on commit, claimed with an atomic UPDATE so a redelivered message never runs it twice, a
heartbeat while it runs, finished once, and failed by a sweep when its worker died. Each kind
says only what differs (what makes it claimable, what to forget when it ends)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from projects.models import ImportJob

logger = logging.getLogger(__name__)

Status = ImportJob.Status
JobId = uuid.UUID | str


def job_enqueue(job: ImportJob, send: Callable[[str], object]) -> bool:
    """Hand the job to the broker (call it on commit). A broker that can't be reached fails
    the job with a message the job page shows, instead of leaving it Queued forever."""
    try:
        send(str(job.pk))
    except Exception:  # the broker's words stay in the log
        logger.exception("Could not queue %s %s", type(job).__name__, job.pk)
        job_finish(type(job), job.pk, Status.FAILED, error="The job queue can't be reached.")
        return False
    return True


def job_claim(model: type[ImportJob], job_id: JobId, ready: Q | None = None) -> bool:
    """Queued (or whatever else `ready` allows) → Running, for one worker only."""
    now = timezone.now()
    claimable = Q(status=Status.QUEUED) if ready is None else ready
    claimed = (
        model._default_manager.filter(pk=job_id)
        .filter(claimable)
        .update(status=Status.RUNNING, started_at=now, heartbeat_at=now)
    )
    return claimed == 1


def job_beat(model: type[ImportJob], job_id: JobId, **fields: Any) -> None:
    """Progress, and the sign of life the stale sweep looks for."""
    model._default_manager.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


def job_finish(
    model: type[ImportJob],
    job_id: JobId,
    status: str,
    *,
    error: str = "",
    only_if: Q | None = None,
    **fields: Any,
) -> bool:
    """Completed or Failed, once: a job already finished (by the sweep, say) stays as it is,
    and so does one that no longer matches `only_if`. Whether this call finished it."""
    return bool(
        model._default_manager.filter(pk=job_id, status__in=ImportJob.ACTIVE)
        .filter(only_if or Q())
        .update(
            status=status,
            error=error,
            finished_at=timezone.now(),
            phase="Completed" if status == Status.COMPLETED else "Failed",
            **fields,
        )
    )


def stale(after: timedelta) -> Q:
    """Running, and the worker has not reported for `after`: it died (a heartbeat comes at
    least every batch of images)."""
    return Q(status=Status.RUNNING, heartbeat_at__lt=timezone.now() - after)
