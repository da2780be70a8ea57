"""`ImageCount`, which the database's triggers keep, always equals a count of the image rows:
whatever changed them, on PostgreSQL and on SQLite, and not when the change rolls back."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from subprocess import PIPE, STDOUT

import pytest
from django.db import connection

from projects import selectors, services
from projects.models import Image, ImageCount
from projects.services import ImageUpload
from tests import images
from tests.factories import ProjectFactory
from tests.projects.image_count_mix import (
    ROOT,
    add_images,
    assert_counts_match,
    assert_rollback_keeps_counts,
    exercise,
)

pytestmark = pytest.mark.django_db


def test_counts_follow_every_way_images_change(project):
    other = ProjectFactory(owner=project.owner, resource=project.resource)
    exercise(project, other)
    counts = ImageCount.objects.get(project=project)
    assert counts.live > counts.tagged > 0, counts


def test_uploads_and_removal_through_the_services(project):
    assert selectors.image_counts(project=project).all == 0  # no row yet
    red = services.tags_get_or_create(project=project, names=["Red"])[0]
    datas = images.distinct(3)
    made = services.images_create(
        project=project,
        uploads=[ImageUpload(name=f"{i}.png", data=d) for i, d in enumerate(datas[:2])],
        tag_ids=[red.id],
    )
    services.images_create(project=project, uploads=[ImageUpload(name="p.png", data=datas[2])])
    counts = selectors.image_counts(project=project)
    assert (counts.all, counts.tagged, counts.untagged) == (3, 2, 1)
    assert selectors.image_count(project=project, state="tagged") == 2
    assert selectors.image_count(project=project, state="untagged") == 1
    services.images_delete(project=project, image_ids=[made[0].image.id])
    services.tag_delete(tag=red)
    counts = selectors.image_counts(project=project)
    assert (counts.all, counts.tagged, counts.untagged) == (2, 0, 2)
    assert_counts_match(project)


def test_a_rolled_back_change_leaves_the_counts(project):
    add_images(project, random.Random(5), 10)
    assert_rollback_keeps_counts(project)


def test_deleting_a_project_takes_its_count(project):
    add_images(project, random.Random(6), 10)
    assert ImageCount.objects.filter(project=project).exists()
    services.project_delete(project=project)
    assert not ImageCount.objects.exists()
    assert not Image.objects.exists()
    connection.check_constraints()  # the deferred foreign keys hold, as at commit


def test_sqlite_triggers_and_backfill(tmp_path):
    """`make run`'s default database, in a process of its own: the same changes, a rollback,
    and the migration undone and done again (the backfill counts what is there)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "CV_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    command = [sys.executable, "-m", "tests.projects.image_count_mix"]
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=PIPE, stderr=STDOUT, timeout=300)
    output = done.stdout.decode()
    assert done.returncode == 0, output
    assert output.split() == ["vendor", "sqlite", "ok"]
