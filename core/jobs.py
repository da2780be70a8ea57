"""The one life cycle of a background job, whatever its kind (a training, an export, an
import, an Azure listing, and next a detection training).

A job is a row in PostgreSQL, not only a Celery message: it is queued on commit, claimed with
an atomic UPDATE (compare-and-set) so a redelivered message never runs it twice, kept alive by
a heartbeat while it runs, finished once, and failed with a reason by a sweep when its worker
died or no worker ever took it. Each kind (`JobKind`) says only what differs: its model, its
status names (Azure's names on iterations and exports stay as they are), which columns it has,
its timeouts (settings, read when used) and its words for the user.

A broker that can't be reached follows one rule: no job is left waiting that no worker will
ever see. The job ends Failed, saying so, on the row its page shows; or, where the caller
answers on the spot (TrainProject answers Azure's 503), the row is withdrawn and
`QueueUnreachable` raised.

core imports no app: kinds are declared by the apps (`training.jobs`, `projects.services.jobs`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import DatabaseError, connections, models
from django.db.models import Q, QuerySet
from django.utils import timezone

logger = logging.getLogger(__name__)

JobId = uuid.UUID | str

# A few quick tries, then a clear answer: a request must not hang while the broker is down.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


def after(*setting_names: str) -> Callable[[], timedelta]:
    """A timeout from settings (seconds, added up), read when it is used so that an
    operator's (or a test's) value applies."""
    return lambda: timedelta(seconds=sum(getattr(settings, name) for name in setting_names))


@dataclass(frozen=True)
class Limit:
    """How long the sweep lets a job be (a timeout from settings), and what it then tells the
    user: the words may say "{seconds}" or "{minutes}" of it."""

    error: str
    after: Callable[[], timedelta]

    def reason(self) -> str:
        seconds = int(self.after().total_seconds())
        return self.error.format(seconds=seconds, minutes=seconds // 60)


def limit(error: str, *setting_names: str) -> Limit:
    return Limit(error, after(*setting_names))


@dataclass(frozen=True, kw_only=True)
class JobKind:
    """What one kind of job calls things; the life cycle itself is the same for all.

    `queued` and `running` may be one status (an Export is Exporting from the moment it is
    asked for): a job then counts as running once its `started_at` is set. A kind without a
    heartbeat column (`beat_field=None`) is judged by when it started. `failed_forgets` are
    the fields a failed job clears (a stored key, a stored archive's name), whoever failed it:
    the sweep, a broker that was down, or its worker."""

    model: type[models.Model]
    queued: str = "Queued"
    running: str = "Running"
    completed: str = "Completed"
    failed: str = "Failed"
    queue: str = "job"  # "The {queue} queue can't be reached"
    stale: Limit  # running with no sign of life
    lost: Limit | None = None  # waiting for a worker; None = as long as it takes
    # A long queue is not a lost message while some job of this kind shows a sign of life.
    lost_only_when_idle: bool = False
    # A running job this quiet is taken over when its message comes back (resumable kinds).
    reclaim_after: Callable[[], timedelta] | None = None
    beat_field: str | None = "heartbeat_at"
    finished_field: str | None = "finished_at"
    phase_field: str | None = "phase"
    failed_forgets: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.__name__

    @property
    def objects(self) -> QuerySet[Any]:
        return self.model._default_manager.all()

    @property
    def life_field(self) -> str:
        """The column that says when the job last showed a sign of life."""
        return self.beat_field or "started_at"

    def waiting(self) -> Q:
        if self.queued == self.running:
            return Q(status=self.queued, started_at__isnull=True)
        return Q(status=self.queued)

    def working(self) -> Q:
        if self.queued == self.running:
            return Q(status=self.running, started_at__isnull=False)
        return Q(status=self.running)

    def active(self) -> Q:
        return Q(status__in=(self.queued, self.running))

    def quiet_since(self, moment: datetime) -> Q:
        """Running, with no sign of life since `moment`."""
        return self.working() & Q(**{f"{self.life_field}__lt": moment})


class QueueUnreachable(Exception):
    """The job broker could not take the job, and the job was withdrawn: nothing is queued."""


class Task(Protocol):
    """A Celery task, as far as enqueueing needs one."""

    def apply_async(self, *args: Any, **kwargs: Any) -> Any: ...


def enqueue(
    kind: JobKind,
    job_id: JobId,
    task: Task,
    *,
    task_id: str | None = None,
    withdraw: bool = False,
) -> bool:
    """Hand the job to the broker (call it on commit); whether it was queued.

    A broker that can't be reached (after a few quick tries) fails the job with a message its
    page shows; with `withdraw`, for a caller that answers on the spot, the job is deleted
    and QueueUnreachable raised instead. Either way no job waits for ever."""
    try:
        task.apply_async(
            args=(str(job_id),), task_id=task_id, retry=True, retry_policy=PUBLISH_RETRY
        )
    except Exception as exc:  # kombu's OperationalError, a refused socket, a DNS failure…
        logger.exception("Could not queue %s %s", kind.name, job_id)
        advice = "Try again in a minute; if it persists, check that the broker (Redis) is running."
        if withdraw:
            kind.objects.filter(kind.waiting(), pk=job_id).delete()
            raise QueueUnreachable(
                f"The {kind.queue} queue can't be reached right now, so nothing was queued. "
                + advice
            ) from exc
        error = f"The {kind.queue} queue can't be reached right now. {advice}"
        finish(kind, job_id, kind.failed, error=error)
        return False
    return True


def claim(kind: JobKind, job_id: JobId, *, only_if: Q | None = None, **fields: Any) -> bool:
    """Waiting → running, for one worker only (an atomic compare-and-set); whether this call
    took it. A kind that resumes also takes over a running job gone quiet for its
    `reclaim_after` (its worker died and the message came back)."""
    now = timezone.now()
    ready = kind.waiting()
    if kind.reclaim_after is not None:
        ready |= kind.quiet_since(now - kind.reclaim_after())
    stamps = {"status": kind.running, "started_at": now}
    if kind.beat_field:
        stamps[kind.beat_field] = now
    claimed = (
        kind.objects.filter(pk=job_id)
        .filter(ready)
        .filter(only_if or Q())
        .update(**stamps, **fields)
    )
    return claimed == 1


def beat(kind: JobKind, job_id: JobId, **fields: Any) -> bool:
    """Progress, and the sign of life the sweep looks for. False when the job is no longer
    running (cancelled, or failed by the sweep): its worker should stop."""
    running = kind.objects.filter(kind.working(), pk=job_id)
    stamps = {kind.beat_field: timezone.now()} if kind.beat_field else {}
    if not stamps and not fields:
        return running.exists()  # nothing to write: only whether it should go on
    return bool(running.update(**stamps, **fields))


def finish(
    kind: JobKind,
    job_id: JobId,
    status: str,
    *,
    error: str = "",
    only_if: Q | None = None,
    **fields: Any,
) -> bool:
    """Completed or Failed, once: a job already ended (by the sweep, say) stays as it is, and
    so does one that no longer matches `only_if`. Whether this call ended it."""
    stamps: dict[str, Any] = {"status": status, "error": error}
    if status == kind.failed:
        stamps |= kind.failed_forgets
    if kind.finished_field:
        stamps[kind.finished_field] = timezone.now()
    if kind.phase_field:
        stamps[kind.phase_field] = "Completed" if status == kind.completed else "Failed"
    return bool(
        kind.objects.filter(kind.active(), pk=job_id)
        .filter(only_if or Q())
        .update(**(stamps | fields))
    )


def _overdue(kind: JobKind) -> list[tuple[Q, str]]:
    """Which jobs the sweep fails now, each with its reason."""
    now = timezone.now()
    quiet_since = now - kind.stale.after()
    found = [(kind.quiet_since(quiet_since), kind.stale.reason())]
    if kind.lost is not None:
        alive = Q(**{f"{kind.life_field}__gte": quiet_since})
        if not (kind.lost_only_when_idle and kind.objects.filter(alive).exists()):
            lost = kind.waiting() & Q(created_at__lt=now - kind.lost.after())
            found.append((lost, kind.lost.reason()))
    return found


def overdue(kind: JobKind) -> Q:
    """Jobs the sweep would fail now (running and quiet too long, or never taken)."""
    found = Q(pk__in=[])
    for still, _reason in _overdue(kind):
        found |= still
    return found


def sweep(
    kind: JobKind,
    *,
    among: QuerySet[Any] | None = None,
    cleanup: Callable[[Any], None] | None = None,
) -> int:
    """Fail, with a reason, the jobs whose worker died (no sign of life for the kind's
    `stale` limit) and those no worker took (waiting past its `lost` limit); `cleanup` then
    removes what each had begun. How many were failed. This is what beat runs."""
    failed = 0
    rows = kind.objects if among is None else among
    for still, reason in _overdue(kind):
        for job in rows.filter(still):
            # Compare-and-set again: the job may have moved on since it was read.
            if finish(kind, job.pk, kind.failed, error=reason, only_if=still):
                failed += 1
                if cleanup is not None:
                    cleanup(job)
    return failed


@contextlib.contextmanager
def heartbeat(kind: JobKind, job_id: JobId, *, every: float) -> Iterator[None]:
    """Keeps the job's heartbeat fresh while a long step runs without reporting progress."""
    beater = _Heartbeat(kind, job_id, every)
    beater.start()
    try:
        yield
    finally:
        beater.stopped.set()
        beater.join(timeout=5)


class _Heartbeat(threading.Thread):
    def __init__(self, kind: JobKind, job_id: JobId, every: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.kind, self.job_id, self.every = kind, job_id, every
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    beat(self.kind, self.job_id)
                except DatabaseError:
                    # A busy database (SQLite's writer lock) costs one beat, not all of them.
                    logger.warning("Heartbeat of %s skipped", self.job_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's own: they are per thread
