"""The one job life cycle (`core.jobs`), through every kind of job there is: the claim is a
compare-and-set, the heartbeat keeps a job alive, the sweep fails the dead and the lost with
a reason, and a broker that is down leaves no job waiting for ever. Real PostgreSQL, and for
the broker a real client meeting a real refused connection."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.db import connection, connections
from django.utils import timezone

from core import jobs
from core.jobs import JobKind
from projects.models import ArchiveImport, AzureImport, AzureListing
from projects.services.jobs import ARCHIVE_IMPORT, AZURE_IMPORT, AZURE_LISTING
from projects.tasks import import_archive, import_azure, list_azure
from training.jobs import EXPORT, TRAINING
from training.models import Export, Iteration
from training.tasks import export_iteration, train_iteration

pytestmark = pytest.mark.django_db

KINDS = [TRAINING, EXPORT, AZURE_IMPORT, ARCHIVE_IMPORT, AZURE_LISTING]
TASKS = {
    "Iteration": train_iteration,
    "Export": export_iteration,
    "AzureImport": import_azure,
    "ArchiveImport": import_archive,
    "AzureListing": list_azure,
}


def _iteration(project: Any, status: str = "Queued") -> Iteration:
    return Iteration.objects.create(
        project=project,
        name="Iteration 1",
        status=status,
        domain_id=project.domain_id,
        classification_type=project.classification_type,
    )


MAKERS = {
    "Iteration": lambda alice, project: _iteration(project),
    "Export": lambda alice, project: Export.objects.create(
        iteration=_iteration(project, "Completed"), platform="ONNX"
    ),
    "AzureImport": lambda alice, project: AzureImport.objects.create(
        owner=alice, endpoint="https://a.example", key_encrypted="sealed"
    ),
    "ArchiveImport": lambda alice, project: ArchiveImport.objects.create(
        owner=alice, project_name="Archived", archive="imports/a.zip"
    ),
    "AzureListing": lambda alice, project: AzureListing.objects.create(
        owner=alice, endpoint="https://a.example", key_encrypted="sealed"
    ),
}


def _name(kind: JobKind) -> str:
    return kind.name


@pytest.fixture(params=KINDS, ids=_name)
def kind(request: Any) -> JobKind:
    return request.param


def kinds_that(has: Any) -> Any:
    """Only the kinds a test is about (a kind without a heartbeat column has nothing to beat)."""
    return pytest.mark.parametrize("kind", [k for k in KINDS if has(k)], ids=_name)


@pytest.fixture
def job(kind, alice, project):
    return MAKERS[kind.name](alice, project)


def row(kind: JobKind, job: Any) -> Any:
    return kind.objects.get(pk=job.pk)


def silent_for(kind: JobKind, job: Any, quiet: timedelta) -> None:
    """The job's last sign of life (its heartbeat, or its start) was `quiet` ago."""
    kind.objects.filter(pk=job.pk).update(**{kind.life_field: timezone.now() - quiet})


def assert_forgotten(kind: JobKind, job: Any) -> None:
    failed = row(kind, job)
    for name, value in kind.failed_forgets.items():
        assert getattr(failed, name) == value  # the key or the stored archive's name


def test_a_job_is_claimed_once(kind, job):
    assert row(kind, job).status == kind.queued
    assert jobs.claim(kind, job.pk)
    claimed = row(kind, job)
    assert claimed.status == kind.running and claimed.started_at is not None
    assert not jobs.claim(kind, job.pk)  # a redelivered message loses


@pytest.mark.django_db(transaction=True)
def test_of_workers_racing_for_a_job_one_wins(kind, alice, project):
    job = MAKERS[kind.name](alice, project)
    start = threading.Barrier(4)
    won: list[bool] = []

    def worker() -> None:
        try:
            start.wait()
            won.append(jobs.claim(kind, job.pk))
        finally:
            connections.close_all()  # this thread's

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(won) == [False, False, False, True]
    assert connection.vendor == "postgresql"


def test_the_heartbeat_keeps_a_running_job_alive(kind, job):
    assert jobs.claim(kind, job.pk)
    silent_for(kind, job, timedelta(seconds=30))
    assert jobs.beat(kind, job.pk)
    if kind.beat_field:
        beaten = getattr(row(kind, job), kind.beat_field)
        assert timezone.now() - beaten < timedelta(seconds=5)
    assert jobs.sweep(kind) == 0
    assert jobs.finish(kind, job.pk, kind.completed)
    assert not jobs.beat(kind, job.pk)  # ended: its worker should stop


@pytest.mark.django_db(transaction=True)  # the beating thread sees only what is committed
@kinds_that(lambda kind: kind.beat_field)  # the others are judged by when they started
def test_the_heartbeat_thread_beats_while_a_long_step_runs(kind, alice, project):
    job = MAKERS[kind.name](alice, project)
    assert jobs.claim(kind, job.pk)
    silent_for(kind, job, timedelta(hours=1))
    with jobs.heartbeat(kind, job.pk, every=0.05):
        deadline = timezone.now() + timedelta(seconds=10)
        while getattr(row(kind, job), kind.beat_field) < timezone.now() - timedelta(minutes=1):
            assert timezone.now() < deadline, "no beat came"
    assert jobs.sweep(kind) == 0


def test_the_sweep_fails_a_job_whose_worker_died(kind, job):
    assert jobs.claim(kind, job.pk)
    silent_for(kind, job, kind.stale.after() - timedelta(seconds=30))
    assert jobs.sweep(kind) == 0  # quiet, not yet dead
    silent_for(kind, job, kind.stale.after() + timedelta(seconds=30))
    assert jobs.sweep(kind) == 1
    failed = row(kind, job)
    assert failed.status == kind.failed
    assert failed.error == kind.stale.reason() and "{" not in failed.error
    assert_forgotten(kind, job)
    assert jobs.sweep(kind) == 0  # once
    assert not jobs.claim(kind, job.pk)  # and never revived


@kinds_that(lambda kind: kind.lost is not None)  # the others wait as long as it takes
def test_the_sweep_fails_a_job_no_worker_took(kind, job):
    waited = kind.lost.after()
    kind.objects.filter(pk=job.pk).update(created_at=timezone.now() - waited / 2)
    assert jobs.sweep(kind) == 0
    kind.objects.filter(pk=job.pk).update(created_at=timezone.now() - waited * 2)
    assert jobs.sweep(kind) == 1
    failed = row(kind, job)
    assert failed.status == kind.failed
    assert failed.error == kind.lost.reason() and "{" not in failed.error
    assert_forgotten(kind, job)


def test_a_job_ends_once(kind, job):
    assert jobs.claim(kind, job.pk)
    assert jobs.finish(kind, job.pk, kind.completed)
    assert not jobs.finish(kind, job.pk, kind.failed, error="late")
    ended = row(kind, job)
    assert ended.status == kind.completed and ended.error == ""
    if kind.finished_field:
        assert getattr(ended, kind.finished_field) is not None
    if kind.phase_field:
        assert getattr(ended, kind.phase_field) == "Completed"


class Unreachable:
    """The kind's real task, published through a port nothing listens on."""

    def __init__(self, task: Any) -> None:
        self.task = task

    def apply_async(self, *args: Any, **options: Any) -> Any:
        with current_app.connection_for_write("redis://127.0.0.1:1/0") as refused:
            return self.task.apply_async(*args, connection=refused, **options)


class Recorded:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def apply_async(self, *args: Any, **options: Any) -> None:
        self.sent.append(options)


def test_a_queued_job_waits_for_its_worker(kind, job):
    task = Recorded()
    assert jobs.enqueue(kind, job.pk, task, task_id="t-1")
    assert [(s["args"], s["task_id"], s["retry"]) for s in task.sent] == [
        ((str(job.pk),), "t-1", True)
    ]
    assert row(kind, job).status == kind.queued


def test_a_broker_that_is_down_fails_the_job_saying_so(kind, job):
    assert not jobs.enqueue(kind, job.pk, Unreachable(TASKS[kind.name]))
    failed = row(kind, job)
    assert failed.status == kind.failed
    assert failed.error.startswith(f"The {kind.queue} queue can't be reached")
    assert_forgotten(kind, job)


def test_a_broker_that_is_down_withdraws_the_job_when_the_caller_answers_now(kind, job):
    with pytest.raises(jobs.QueueUnreachable, match="nothing was queued"):
        jobs.enqueue(kind, job.pk, Unreachable(TASKS[kind.name]), withdraw=True)
    assert not kind.objects.filter(pk=job.pk).exists()


def test_each_kind_keeps_its_own_status_names():
    # Azure's names on iterations and exports, as its SDKs read them.
    assert (TRAINING.queued, TRAINING.running, TRAINING.completed, TRAINING.failed) == (
        "Queued",
        "Training",
        "Completed",
        "Failed",
    )
    assert (EXPORT.queued, EXPORT.running, EXPORT.completed, EXPORT.failed) == (
        "Exporting",
        "Exporting",
        "Done",
        "Failed",
    )
    for kind in (AZURE_IMPORT, ARCHIVE_IMPORT, AZURE_LISTING):
        assert {kind.queued, kind.running, kind.completed, kind.failed} <= set(
            kind.model.Status.values  # type: ignore[attr-defined]
        )
