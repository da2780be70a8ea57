"""Stored files without a row (a crash between writing and committing) are swept away."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command

from projects import services
from projects.services import ImageUpload
from projects.services.reconcile import storage_reconcile
from tests import images
from tests.conftest import stored_files

pytestmark = pytest.mark.django_db


def orphan(media, name: str, hours_old: float) -> str:
    path = media / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left behind by a crash")
    then = time.time() - hours_old * 3600
    os.utime(path, (then, then))
    return name


def test_old_orphans_go_young_ones_and_referenced_files_stay(project, media_storage):
    kept = services.images_create(
        project=project, uploads=[ImageUpload(name="a.jpg", data=images.solid())]
    )[0].image
    old = orphan(media_storage, f"images/{project.id}/dead.jpg", hours_old=3)
    young = orphan(media_storage, f"images/{project.id}/uploading.jpg", hours_old=0)
    model = orphan(media_storage, f"models/{project.id}/gone.pt", hours_old=3)

    dry = storage_reconcile(dry_run=True)
    assert sorted(dry.removed) == sorted([old, model]) and dry.too_recent == 1
    assert (media_storage / old).exists()

    report = storage_reconcile(grace=timedelta(hours=1))
    assert sorted(report.removed) == sorted([old, model])
    assert not (media_storage / old).exists() and not (media_storage / model).exists()
    assert (media_storage / young).exists()
    assert (media_storage / str(kept.file.name)).exists()
    assert (media_storage / str(kept.thumbnail.name)).exists()


def test_orphans_of_a_deleted_project_are_swept_by_the_command(
    project, media_storage, capsys, django_capture_on_commit_callbacks
):
    services.images_create(
        project=project, uploads=[ImageUpload(name="a.jpg", data=images.solid())]
    )
    left = orphan(media_storage, f"images/{project.id}/crashed.jpg", hours_old=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(project=project)
    assert [p.name for p in stored_files(media_storage)] == ["crashed.jpg"]
    call_command("reconcilestorage", "--grace-minutes", "30")
    assert "Removed " + left in capsys.readouterr().out
    assert stored_files(media_storage) == []


def test_a_deleted_projects_cached_features_go_and_a_live_ones_stay(
    project, resource, alice, media_storage
):
    gone = services.project_create(owner=alice, resource=resource, name="Gone")
    live = orphan(media_storage, f"features/{project.id}/lite0-v4/ab/ab12.pt", hours_old=0)
    dead = orphan(media_storage, f"features/{gone.id}/lite0-v4/cd/cd34.pt", hours_old=0)
    foreign = orphan(media_storage, "features/not-a-project/x.pt", hours_old=3)
    # Deleted, and the process died before the folder's removal after the commit ran.
    services.project_delete(project=gone)
    report = storage_reconcile()
    assert report.removed == [dead]
    assert (media_storage / live).exists() and (media_storage / foreign).exists()
