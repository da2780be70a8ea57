"""Archive import jobs: queued on commit, run once, one per user at a time, failed with a
message when the broker or the worker is gone, and never leaving half a project behind."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import jobs
from projects import services
from projects.models import ArchiveImport, Image, Project
from projects.services import archive_import, transfer
from projects.services.jobs import ARCHIVE_IMPORT
from projects.services.transfer import ImportReport
from projects.tasks import import_archive
from tests import archives
from tests.conftest import stored_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_batches(settings):
    settings.CV_MAX_IMAGES_PER_BATCH = 2  # so that a five-image archive becomes a job


@pytest.fixture
def queued(monkeypatch):
    """What import_archive was sent (no broker in these tests)."""
    sent: list[str] = []
    monkeypatch.setattr(import_archive, "apply_async", lambda args, **_: sent.append(*args))
    return sent


def start(alice, resource, data: bytes, name: str = "Job"):
    return archive_import.archive_import_start(
        owner=alice, resource=resource, archive=io.BytesIO(data), name=name
    )


def archives_in(location):
    return [p for p in stored_files(location) if "imports" in p.parts]


def test_a_job_is_queued_on_commit_and_runs_to_the_end(
    alice, resource, small_batches, queued, media_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = start(alice, resource, archives.with_images(5))
    assert isinstance(job, ArchiveImport)
    assert queued == [str(job.id)]
    assert (job.status, job.images_total, job.project_name) == ("Queued", 5, "Job")
    assert len(archives_in(media_storage)) == 1  # where a worker on any host finds it
    done = archive_import.archive_import_run(job_id=job.id)
    assert (done.status, done.phase, done.images_done, done.percent) == (
        "Completed",
        "Completed",
        5,
        100,
    )
    project = Project.objects.get(name="Job")
    assert done.project == project
    assert done.summary == {
        "project_id": str(project.id),
        "imported": 5,
        "duplicates": 0,
        "failure_count": 0,
        "failures": [],
    }
    assert [t.name for t in project.tags.all()] == ["Blue"]
    assert Image.objects.filter(project=project, tagged=True).count() == 5
    assert done.archive == "" and archives_in(media_storage) == []
    # A message delivered twice runs once.
    assert archive_import.archive_import_run(job_id=job.id).status == "Completed"
    assert Image.objects.filter(project=project).count() == 5


def test_progress_is_reported_batch_by_batch(alice, resource, small_batches, queued, monkeypatch):
    beats: list[tuple[int, int]] = []
    real = jobs.beat

    def recording(kind, job_id, **fields):
        if "images_done" in fields:
            beats.append((fields["images_done"], fields["images_total"]))
        return real(kind, job_id, **fields)

    monkeypatch.setattr(jobs, "beat", recording)
    job = start(alice, resource, archives.with_images(5))
    archive_import.archive_import_run(job_id=job.id)
    assert beats == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_a_small_archive_is_imported_at_once(alice, resource, queued):
    report = start(alice, resource, archives.with_images(3), name="Now")
    assert isinstance(report, ImportReport)
    assert report.images_ok == 3 and report.project.name == "Now"
    assert not ArchiveImport.objects.exists() and queued == []


def test_one_archive_import_per_user_at_a_time(alice, bob, resource, small_batches, queued):
    first = start(alice, resource, archives.with_images(5))
    with pytest.raises(ValidationError, match="already importing an archive"):
        start(alice, resource, archives.with_images(5))
    with pytest.raises(ValidationError, match="already importing an archive"):
        start(alice, resource, archives.with_images(1))  # not even a small one, inline
    # Two requests at once both pass the first check: the database refuses the second.
    with pytest.raises(IntegrityError), transaction.atomic():
        ArchiveImport.objects.create(owner=alice, project_name="Race")
    bob_resource = services.resources_create_both(owner=bob, name="bobs")[0][0]
    assert isinstance(start(bob, bob_resource, archives.with_images(5)), ArchiveImport)
    archive_import.archive_import_run(job_id=first.id)
    assert isinstance(start(alice, resource, archives.with_images(5)), ArchiveImport)


def test_a_broker_that_is_down_fails_the_job_with_a_message(
    alice, resource, small_batches, monkeypatch, media_storage, django_capture_on_commit_callbacks
):
    def down(*args, **options):
        raise ConnectionRefusedError("Connection refused")

    monkeypatch.setattr(import_archive, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        job = start(alice, resource, archives.with_images(5))
    job.refresh_from_db()
    assert job.status == "Failed" and job.phase == "Failed"
    assert job.error.startswith("The job queue can't be reached")
    assert job.archive == "" and archives_in(media_storage) == []
    monkeypatch.setattr(import_archive, "apply_async", lambda *args, **options: None)
    assert isinstance(start(alice, resource, archives.with_images(5)), ArchiveImport)


def test_a_job_that_fails_midway_keeps_nothing(
    alice, resource, small_batches, queued, monkeypatch, media_storage
):
    job = start(alice, resource, archives.with_images(5))
    real = transfer.images_create_each
    calls = []

    def breaks_on_the_second_batch(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(transfer, "images_create_each", breaks_on_the_second_batch)
    done = archive_import.archive_import_run(job_id=job.id)
    assert done.status == "Failed"
    assert "nothing of it was kept" in done.error and "disk full" not in done.error
    assert not Project.objects.exists() and not Image.objects.exists()
    assert archives_in(media_storage) == [] and done.archive == ""


def test_a_deleted_resource_fails_the_job(alice, resource, small_batches, queued):
    job = start(alice, resource, archives.with_images(5))
    ArchiveImport.objects.filter(pk=job.pk).update(resource=None)
    done = archive_import.archive_import_run(job_id=job.id)
    assert (done.status, done.error) == (
        "Failed",
        "The training resource chosen for the import was deleted.",
    )


def test_the_sweep_fails_a_dead_workers_job_and_removes_its_half_project(
    alice, resource, small_batches, queued, settings, media_storage
):
    dead = start(alice, resource, archives.with_images(5), name="Dead")
    assert jobs.claim(ARCHIVE_IMPORT, dead.id)  # a worker took it, began, then died
    begun = services.project_create(owner=alice, resource=resource, name="Dead")
    long_ago = timezone.now() - timedelta(minutes=11)
    ArchiveImport.objects.filter(pk=dead.pk).update(project=begun, heartbeat_at=long_ago)
    assert archive_import.archive_imports_fail_stale() == 1
    dead.refresh_from_db()
    assert dead.status == "Failed" and "stopped" in dead.error
    assert not Project.objects.filter(pk=begun.pk).exists()
    assert dead.archive == "" and archives_in(media_storage) == []
    assert archive_import.archive_imports_fail_stale() == 0


def test_the_sweep_leaves_a_live_job_and_fails_one_no_worker_took(
    alice, bob, resource, small_batches, queued, settings
):
    live = start(alice, resource, archives.with_images(5))
    assert jobs.claim(ARCHIVE_IMPORT, live.id)
    bob_resource = services.resources_create_both(owner=bob, name="bobs")[0][0]
    lost = start(bob, bob_resource, archives.with_images(5))
    assert archive_import.archive_imports_fail_stale() == 0
    hours_ago = timezone.now() - timedelta(seconds=settings.CV_QUEUED_TIMEOUT_SECONDS + 60)
    ArchiveImport.objects.filter(pk=lost.pk).update(created_at=hours_ago)
    assert archive_import.archive_imports_fail_stale() == 1
    live.refresh_from_db()
    lost.refresh_from_db()
    assert live.status == "Running"
    assert lost.status == "Failed" and "No worker took the import" in lost.error


def test_the_beat_sweep_covers_both_kinds_of_import(alice, resource, small_batches, queued):
    from projects.tasks import sweep_stale_imports

    job = start(alice, resource, archives.with_images(5))
    jobs.claim(ARCHIVE_IMPORT, job.id)
    ArchiveImport.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert sweep_stale_imports() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_imports_a_large_archive(alice, resource, small_batches, start_worker):
    start_worker("archive-importer")
    job = start(alice, resource, archives.with_images(5), name="By a worker")
    deadline = time.monotonic() + 120
    while job.status in ("Queued", "Running"):
        assert time.monotonic() < deadline, (job.status, job.phase)
        time.sleep(0.5)
        job.refresh_from_db()
    assert job.status == "Completed", job.error
    assert Project.objects.get(name="By a worker").images.count() == 5


def test_reconcile_keeps_a_waiting_archive_and_removes_a_lost_one(
    alice, resource, small_batches, queued, media_storage
):
    from core import storage
    from projects.services.reconcile import storage_reconcile

    job = start(alice, resource, archives.with_images(5))
    lost = storage.save(storage.import_archive_key("lost"), b"PK")  # its row never committed
    report = storage_reconcile(grace=timedelta(0))
    assert report.removed == [lost]
    assert [p.name for p in archives_in(media_storage)] == [f"{job.id}.zip"]
