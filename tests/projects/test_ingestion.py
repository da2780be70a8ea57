"""images_create: each file of a batch succeeds or fails alone, and failures leave nothing."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError

from engine.imaging import ImageStatus
from projects import services
from projects.models import Image, Project
from projects.services import ImageUpload
from tests import images
from tests.conftest import stored_files
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db


def upload(name: str, data: bytes) -> ImageUpload:
    return ImageUpload(name=name, file=io.BytesIO(data))


def test_mixed_batch_bad_files_fail_alone_with_their_reason(project, media_storage):
    tag = TagFactory(project=project, name="Hemlock")
    good = images.distinct(3)
    batch = [
        upload("good-1.jpg", good[0]),
        upload("page.jpg", images.HTML),
        upload("good-2.png", images.solid(fmt="PNG", color=(1, 2, 3))),
        upload("huge.png", images.noise_png((1500, 1500))),
        upload("half.jpg", images.truncated_jpeg()),
        upload("bomb.png", images.png_header_only(50_000, 50_000)),
        upload("strip.png", images.solid((3000, 100), fmt="PNG")),
        upload("again.jpg", good[0]),
        upload("good-3.jpg", good[1]),
        ImageUpload(name="gone.jpg", source_error="Could not download."),
    ]
    results = services.images_create(project=project, uploads=batch, tag_ids=[tag.id])

    assert [(r.source_name, r.status) for r in results] == [
        ("good-1.jpg", ImageStatus.OK),
        ("page.jpg", ImageStatus.ERROR_IMAGE_FORMAT),
        ("good-2.png", ImageStatus.OK),
        ("huge.png", ImageStatus.ERROR_IMAGE_SIZE),
        ("half.jpg", ImageStatus.ERROR_IMAGE_FORMAT),
        ("bomb.png", ImageStatus.ERROR_IMAGE_DIMENSIONS),
        ("strip.png", ImageStatus.ERROR_IMAGE_DIMENSIONS),
        ("again.jpg", ImageStatus.OK_DUPLICATE),
        ("good-3.jpg", ImageStatus.OK),
        ("gone.jpg", ImageStatus.ERROR_SOURCE),
    ]
    assert all(r.message for r in results if not r.status.ok)
    assert results[7].image == results[0].image  # the duplicate points at the stored image
    assert Image.objects.filter(project=project).count() == 3
    assert all(list(i.tags.all()) == [tag] for i in Image.objects.filter(project=project))
    # Two files (image + thumbnail) per stored image, nothing for the failures.
    assert len(stored_files(media_storage)) == 6


def test_image_row_records_what_was_stored(project):
    [result] = services.images_create(
        project=project, uploads=[upload("small.bmp", images.solid((100, 50), fmt="BMP"))]
    )
    image = result.image
    assert result.status == ImageStatus.OK
    assert (image.width, image.height, image.format) == (512, 256, "BMP")
    assert image.original_name == "small.bmp"
    assert image.source == Image.Source.UPLOAD
    assert image.file.name.endswith(".png")
    assert image.byte_size > 0 and len(image.content_hash) == 64


def test_project_image_limit_gives_error_limit_exceed(project, settings):
    settings.CV_MAX_IMAGES_PER_PROJECT = 2
    data = images.distinct(3)
    results = services.images_create(
        project=project, uploads=[upload(f"{i}.jpg", d) for i, d in enumerate(data)]
    )
    assert [r.status for r in results] == [
        ImageStatus.OK,
        ImageStatus.OK,
        ImageStatus.ERROR_LIMIT_EXCEED,
    ]


def test_batch_over_64_is_refused_whole(project):
    with pytest.raises(ValidationError) as info:
        services.images_create(
            project=project, uploads=[upload(f"{i}.jpg", b"x") for i in range(65)]
        )
    assert info.value.code == "BadRequestImageBatch"
    assert not Image.objects.exists()


def test_unknown_tag_is_error_invalid_tag(project):
    other = TagFactory()  # a tag of another project
    [result] = services.images_create(
        project=project, uploads=[upload("a.jpg", images.solid())], tag_ids=[other.id]
    )
    assert result.status == ImageStatus.ERROR_INVALID_TAG
    [result] = services.images_create(
        project=project, uploads=[upload("a.jpg", images.solid())], tag_ids=["not-a-uuid"]
    )
    assert result.status == ImageStatus.ERROR_INVALID_TAG
    assert not Image.objects.exists()


def test_negative_with_regular_tag_is_refused(multilabel_project):
    regular = TagFactory(project=multilabel_project)
    negative = TagFactory(project=multilabel_project, type="Negative")
    [result] = services.images_create(
        project=multilabel_project,
        uploads=[upload("a.jpg", images.solid())],
        tag_ids=[regular.id, negative.id],
    )
    assert result.status == ImageStatus.ERROR_NEGATIVE_AND_REGULAR_TAG


def test_multiclass_allows_one_regular_tag(project, multilabel_project):
    a, b = TagFactory(project=project), TagFactory(project=project)
    [result] = services.images_create(
        project=project, uploads=[upload("a.jpg", images.solid())], tag_ids=[a.id, b.id]
    )
    assert result.status == ImageStatus.ERROR_TAG_LIMIT_EXCEED
    c, d = TagFactory(project=multilabel_project), TagFactory(project=multilabel_project)
    [result] = services.images_create(
        project=multilabel_project,
        uploads=[upload("a.jpg", images.solid())],
        tag_ids=[c.id, d.id],
    )
    assert result.status == ImageStatus.OK
    assert set(result.image.tags.all()) == {c, d}


def test_more_than_20_tags_is_error_tag_limit_exceed(multilabel_project):
    tags = [TagFactory(project=multilabel_project) for _ in range(21)]
    [result] = services.images_create(
        project=multilabel_project,
        uploads=[upload("a.jpg", images.solid())],
        tag_ids=[t.id for t in tags],
    )
    assert result.status == ImageStatus.ERROR_TAG_LIMIT_EXCEED


def test_failure_while_saving_leaves_no_orphan_file(project, media_storage, monkeypatch):
    def broken_create(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Image.objects, "create", broken_create)
    [result] = services.images_create(project=project, uploads=[upload("a.jpg", images.solid())])
    assert result.status == ImageStatus.ERROR_UNKNOWN
    assert stored_files(media_storage) == []


def test_same_content_in_two_projects_is_not_a_duplicate(project, alice, resource):
    other = Project.objects.create(owner=alice, resource=resource, name="Other")
    data = images.solid()
    for p in (project, other):
        [result] = services.images_create(project=p, uploads=[upload("a.jpg", data)])
        assert result.status == ImageStatus.OK
