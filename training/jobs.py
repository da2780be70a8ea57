"""Training's and exports' jobs, as the one job life cycle (`core.jobs`) sees them. Azure's
status names stay as they are: an iteration is Queued, then Training; an export is Exporting
from the moment it is asked for until it is Done."""

from __future__ import annotations

from core.jobs import JobKind, limit
from training.models import Export, Iteration

TRAINING = JobKind(
    model=Iteration,
    running=Iteration.Status.TRAINING,
    queue="training",
    stale=limit(
        "The worker training this iteration stopped responding (no heartbeat for {seconds} s): "
        "it crashed or was killed. Train again.",
        "CV_HEARTBEAT_TIMEOUT_SECONDS",
    ),
    # A Queued iteration would block every later Train of its project. But trainings run one
    # at a time: while a worker trains, a queue may just be long.
    lost=limit(
        "No worker took this training in {minutes} minutes: its job was lost or no training "
        "worker is running. Train again.",
        "CV_QUEUED_TIMEOUT_SECONDS",
    ),
    lost_only_when_idle=True,
    finished_field=None,  # trained_at is Completed's only
)

# An export takes seconds and has no heartbeat: one unfinished CV_EXPORT_TIMEOUT_SECONDS
# after it was asked for (or started) lost its worker, or none runs.
_UNFINISHED = limit(
    "No worker finished the export in time: it crashed or none is running. Export again.",
    "CV_EXPORT_TIMEOUT_SECONDS",
)

EXPORT = JobKind(
    model=Export,
    queued=Export.Status.EXPORTING,
    running=Export.Status.EXPORTING,
    completed=Export.Status.DONE,
    queue="export",
    stale=_UNFINISHED,
    lost=_UNFINISHED,
    beat_field=None,
    phase_field=None,
)
