"""`Image.tagged`, which the Tagged / Untagged filters and counts read, always says whether the
image carries a tag, whichever way its tags changed."""

from __future__ import annotations

import pytest
from django.db.models import Exists, OuterRef

from projects import selectors, services
from projects.models import Image, ImageTag
from projects.services import ImageUpload
from tests import images

pytestmark = pytest.mark.django_db


def assert_consistent(project) -> None:
    rows = Image.objects.filter(project=project).annotate(
        has=Exists(ImageTag.objects.filter(image=OuterRef("pk")))
    )
    assert [(i.id, i.tagged) for i in rows] == [(i.id, i.has) for i in rows]


def test_tagged_follows_every_way_tags_change(project, alice):
    red, blue = services.tags_get_or_create(project=project, names=["Red", "Blue"])
    datas = images.distinct(4)
    made = services.images_create(
        project=project,
        uploads=[ImageUpload(name=f"{i}.png", data=d) for i, d in enumerate(datas[:2])],
        tag_ids=[red.id],
    )
    plain = services.images_create(
        project=project, uploads=[ImageUpload(name="p.png", data=datas[2])]
    )
    a, b, c = made[0].image, made[1].image, plain[0].image
    assert_consistent(project)
    assert selectors.image_counts(project=project).tagged == 2

    services.image_tags_set(image=a, tags=[])
    assert_consistent(project)
    services.images_tags_add(project=project, image_ids=[a.id, c.id], tags=[blue])
    assert_consistent(project)
    services.images_tags_remove(project=project, image_ids=[a.id, b.id], tags=[blue, red])
    assert_consistent(project)
    assert {i.id for i in selectors.image_list(project=project, state="untagged")} == {a.id, b.id}

    services.tag_delete(tag=blue)  # c loses its only tag
    assert_consistent(project)
    assert selectors.image_counts(project=project).untagged == 3

    services.image_tags_set(image=b, tags=[red])
    services.images_delete(project=project, image_ids=[b.id])
    assert_consistent(project)
    again = services.images_create(
        project=project, uploads=[ImageUpload(name="b.png", data=datas[1])], tag_ids=[red.id]
    )
    assert again[0].image.tagged
    assert_consistent(project)
    counts = selectors.image_counts(project=project)
    assert (counts.all, counts.tagged, counts.untagged) == (3, 1, 2)


def test_counts_by_tag_agree_with_the_listing(project):
    red, blue = services.tags_get_or_create(project=project, names=["Red", "Blue"])
    datas = images.distinct(5)
    made = [
        services.images_create(
            project=project, uploads=[ImageUpload(name=f"{i}.png", data=d)], tag_ids=tags
        )[0].image
        for i, (d, tags) in enumerate(
            zip(datas, [[red.id], [blue.id], [red.id, blue.id], [], [red.id]], strict=True)
        )
    ]
    services.images_delete(project=project, image_ids=[made[4].id])
    for state in ("all", "tagged", "untagged"):
        for tag_ids in ([], [red.id], [blue.id], [red.id, blue.id]):
            listed = selectors.image_list(project=project, state=state, tag_ids=tag_ids)
            counted = selectors.image_count(project=project, state=state, tag_ids=tag_ids)
            assert counted == len(listed), (state, tag_ids)
