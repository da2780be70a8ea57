"""Regions (projects/services/regions.py): a tagged box on an image of an object-detection
project, the source of that image's tags, counts and filters."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext

from core.codes import AzureCode
from engine.imaging import ImageStatus
from projects import rules, selectors, services
from projects.domains import DOMAINS, GENERAL_DETECTION, OBJECT_DETECTION
from projects.models import Image, ImageTag, Project, Region, Tag
from projects.services import ImageUpload, RegionEntry
from tests import images
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def od(alice, resource) -> Project:
    return ProjectFactory(owner=alice, resource=resource, domain_id=GENERAL_DETECTION.id)


def add(project, n, regions=()):
    """n images of `project`, each with `regions` ([(tag, l, t, w, h)])."""
    uploads = [
        ImageUpload(name=f"{i}.jpg", data=d, regions=[(t.id, *b) for t, *b in regions])
        for i, d in enumerate(images.distinct(n, size=(320, 300 + len(regions))))
    ]
    results = services.images_create(project=project, uploads=uploads)
    assert all(r.status == ImageStatus.OK for r in results), [r.message for r in results]
    return [r.image for r in results]


def tag_names(image) -> set[str]:
    return set(ImageTag.objects.filter(image=image).values_list("tag__name", flat=True))


def assert_tags_follow_regions(project) -> None:
    """ImageTag rows are the (image, tag) pairs with a region, and `tagged` is 'has one'."""
    pairs = set(Region.objects.filter(image__project=project).values_list("image_id", "tag_id"))
    assert set(ImageTag.objects.filter(image__project=project).values_list("image", "tag")) == pairs
    rows = Image.objects.filter(project=project).annotate(
        has=Exists(Region.objects.filter(image=OuterRef("pk")))
    )
    assert [(i.id, i.tagged) for i in rows] == [(i.id, i.has) for i in rows]


def refused(code, call, **kwargs):
    with pytest.raises(ValidationError) as info:
        call(**kwargs)
    assert info.value.code == code, info.value
    return info.value


def test_regions_tag_their_images_and_counts_follow(od):
    fork, knife = services.tags_get_or_create(project=od, names=["fork", "knife"])
    a, b, c = add(od, 3)
    assert selectors.image_counts(project=od).tagged == 0
    batch = services.regions_create(
        project=od,
        entries=[
            RegionEntry(a.id, fork.id, 0.1, 0.1, 0.3, 0.3),
            RegionEntry(a.id, fork.id, 0.5, 0.5, 0.2, 0.2),
            RegionEntry(a.id, knife.id, 0.0, 0.0, 1.0, 1.0),
            RegionEntry(b.id, knife.id, 0.2, 0.3, 0.4, 0.5),
        ],
    )
    assert len(batch.created) == 4 and batch.is_batch_successful
    assert_tags_follow_regions(od)
    assert (tag_names(a), tag_names(b), tag_names(c)) == ({"fork", "knife"}, {"knife"}, set())
    counts = selectors.image_counts(project=od)
    assert (counts.all, counts.tagged, counts.untagged) == (3, 2, 1)
    per_tag = {t.name: n for t, n in selectors.tag_image_counts(project=od)}
    assert per_tag == {"fork": 1, "knife": 2}  # images with a region of the tag, not boxes
    assert selectors.image_count(project=od, state="tagged", tag_ids=[fork.id]) == 1
    found = selectors.regions_for_images([a.id, b.id, c.id])
    assert sorted((r.tag.name, r.left) for r in found[a.id]) == [
        ("fork", 0.1),
        ("fork", 0.5),
        ("knife", 0.0),
    ]
    assert c.id not in found


def test_a_region_already_there_is_duplicated_and_one_past_the_limit_exceeded(od):
    fork, knife = services.tags_get_or_create(project=od, names=["fork", "knife"])
    (a,) = add(od, 1, [(fork, 0.1, 0.1, 0.2, 0.2)])
    first = RegionEntry(a.id, fork.id, 0.1, 0.1, 0.2, 0.2)
    other_tag = RegionEntry(a.id, knife.id, 0.1, 0.1, 0.2, 0.2)
    batch = services.regions_create(project=od, entries=[first, other_tag])
    assert batch.duplicated == [first] and [r.tag for r in batch.created] == [knife]
    assert not batch.is_batch_successful

    step = 1 / 400
    boxes = [(fork, i * step, 0.0, step, 0.5) for i in range(rules.MAX_REGIONS_PER_IMAGE)]
    services.regions_replace(image=a, boxes=boxes)
    extra = RegionEntry(a.id, knife.id, 0.9, 0.9, 0.1, 0.1)
    batch = services.regions_create(project=od, entries=[extra])
    assert batch.exceeded == [extra] and not batch.created
    assert a.regions.count() == rules.MAX_REGIONS_PER_IMAGE
    assert_tags_follow_regions(od)
    assert tag_names(a) == {"fork"}  # knife's region went with the replace


def test_a_bad_batch_is_refused_whole(od, alice, resource):
    fork = services.tag_create(project=od, name="fork")
    negative = services.tag_create(project=od, name="none", type=Tag.Type.NEGATIVE)
    (a,) = add(od, 1)
    other = ProjectFactory(owner=alice, resource=resource, domain_id=GENERAL_DETECTION.id)
    (elsewhere,) = add(other, 1)
    good = RegionEntry(a.id, fork.id, 0.1, 0.1, 0.2, 0.2)
    cases = [
        (AzureCode.BAD_REQUEST_IMAGE_REGIONS, RegionEntry(a.id, fork.id, 0.5, 0.1, 0.6, 0.2)),
        (AzureCode.BAD_REQUEST_IMAGE_REGIONS, RegionEntry(a.id, fork.id, -0.1, 0.1, 0.2, 0.2)),
        (AzureCode.BAD_REQUEST_IMAGE_REGIONS, RegionEntry(a.id, fork.id, 0.1, 0.1, 0.0, 0.2)),
        (AzureCode.BAD_REQUEST_IMAGE_REGIONS, RegionEntry(a.id, fork.id, 0.1, 0.1, 0.2, -0.2)),
        (AzureCode.BAD_REQUEST_IMAGE_REGIONS, RegionEntry(a.id, fork.id, float("nan"), 0, 1, 1)),
        (AzureCode.BAD_REQUEST_IMAGE_REGIONS, RegionEntry(a.id, negative.id, 0.1, 0.1, 0.2, 0.2)),
        (AzureCode.BAD_REQUEST_IMAGE_REGIONS, good),  # the same region twice in one batch
        (AzureCode.BAD_REQUEST_INVALID_IDS, RegionEntry(elsewhere.id, fork.id, 0.1, 0.1, 0.2, 0.2)),
        (AzureCode.BAD_REQUEST_INVALID_IDS, RegionEntry(a.id, uuid.uuid4(), 0, 0, 1, 1)),
    ]
    for code, bad in cases:
        refused(code, services.regions_create, project=od, entries=[good, bad])
    too_many = [RegionEntry(a.id, fork.id, i / 100, 0.0, 0.01, 0.01) for i in range(65)]
    refused(
        AzureCode.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
        services.regions_create,
        project=od,
        entries=too_many,
    )
    assert not Region.objects.exists() and not a.image_tags.exists()


def test_a_box_over_the_edge_by_float_noise_is_clipped_to_it(od):
    fork = services.tag_create(project=od, name="fork")
    (a,) = add(od, 1)
    batch = services.regions_create(
        project=od, entries=[RegionEntry(a.id, fork.id, 0.6, 0.5, 0.4000004, 0.5000009)]
    )
    region = batch.created[0]
    region.refresh_from_db()
    assert region.left + region.width <= 1 and region.top + region.height <= 1
    assert region.width == pytest.approx(0.4) and region.height == pytest.approx(0.5)


def test_regions_belong_to_object_detection_projects(project):
    tag = services.tag_create(project=project, name="Red")
    (image,) = add(project, 1)
    entry = RegionEntry(image.id, tag.id, 0.1, 0.1, 0.2, 0.2)
    code = AzureCode.BAD_REQUEST_OPERATION_NOT_SUPPORTED
    refused(code, services.regions_create, project=project, entries=[entry])
    refused(code, services.regions_delete, project=project, region_ids=[])
    refused(code, services.regions_replace, image=image, boxes=[(tag, 0.1, 0.1, 0.2, 0.2)])


def test_deleting_regions_untags_as_the_last_box_of_a_tag_goes(od):
    fork, knife = services.tags_get_or_create(project=od, names=["fork", "knife"])
    (a,) = add(od, 1, [(fork, 0.1, 0.1, 0.2, 0.2), (fork, 0.5, 0.5, 0.2, 0.2), (knife, 0, 0, 1, 1)])
    f1, f2, k = sorted(a.regions.all(), key=lambda r: (r.tag.name, r.left))
    assert services.regions_delete(project=od, region_ids=[f1.id, k.id]) == 2
    assert tag_names(a) == {"fork"}
    services.regions_delete(project=od, region_ids=[f2.id, uuid.uuid4()])
    a.refresh_from_db()
    assert not a.tagged and tag_names(a) == set()
    assert selectors.image_counts(project=od).untagged == 1
    assert_tags_follow_regions(od)


def test_uploads_carry_regions_and_their_tags_ids_alone_tag_nothing(od):
    fork, knife = services.tags_get_or_create(project=od, names=["fork", "knife"])
    datas = images.distinct(4)
    results = services.images_create(
        project=od,
        tag_ids=[knife.id],  # ignored, as Azure ignores them in a detection project
        uploads=[
            ImageUpload(name="boxed.jpg", data=datas[0], regions=[(fork.id, 0.1, 0.2, 0.3, 0.4)]),
            ImageUpload(name="plain.jpg", data=datas[1]),
            ImageUpload(name="stranger.jpg", data=datas[2], regions=[(uuid.uuid4(), 0, 0, 1, 1)]),
            ImageUpload(name="crowded.jpg", data=datas[3], regions=[(fork.id, 0, 0, 1, 1)] * 301),
        ],
    )
    statuses = [r.status for r in results]
    assert statuses == [
        ImageStatus.OK,
        ImageStatus.OK,
        ImageStatus.ERROR_INVALID_TAG,
        ImageStatus.ERROR_REGION_LIMIT_EXCEED,
    ]
    boxed, plain = results[0].image, results[1].image
    assert tag_names(boxed) == {"fork"} and tag_names(plain) == set()
    assert [(r.left, r.top, r.width, r.height) for r in boxed.regions.all()] == [
        (0.1, 0.2, 0.3, 0.4)
    ]
    assert Image.objects.filter(project=od).count() == 2
    assert_tags_follow_regions(od)

    # Sent again with another box: Azure adds the duplicate's regions to the image there.
    again = services.images_create(
        project=od,
        uploads=[
            ImageUpload(name="again.jpg", data=datas[0], regions=[(knife.id, 0.5, 0.5, 0.1, 0.1)])
        ],
    )
    assert again[0].status == ImageStatus.OK_DUPLICATE and again[0].image.id == boxed.id
    assert tag_names(boxed) == {"fork", "knife"}


def test_a_bad_box_in_an_upload_refuses_the_batch_before_any_image(od):
    fork = services.tag_create(project=od, name="fork")
    datas = images.distinct(2)
    uploads = [
        ImageUpload(name="good.jpg", data=datas[0], regions=[(fork.id, 0.1, 0.1, 0.2, 0.2)]),
        ImageUpload(name="bad.jpg", data=datas[1], regions=[(fork.id, 0.9, 0.1, 0.2, 0.2)]),
    ]
    refused(
        AzureCode.BAD_REQUEST_IMAGE_REGIONS, services.images_create, project=od, uploads=uploads
    )
    assert not Image.objects.filter(project=od).exists()


def test_detection_images_are_tagged_by_regions_only(od):
    fork, knife = services.tags_get_or_create(project=od, names=["fork", "knife"])
    (a,) = add(od, 1, [(fork, 0.1, 0.1, 0.2, 0.2), (knife, 0.3, 0.3, 0.2, 0.2)])
    code = AzureCode.BAD_REQUEST_IMAGE_TAGS
    refused(code, services.images_tags_add, project=od, image_ids=[a.id], tags=[knife])
    refused(code, services.image_tags_set, image=a, tags=[fork])
    refused(code, services.image_tags_create, project=od, pairs=[(a.id, knife.id)])
    # Untagging takes that tag's boxes off the image.
    services.image_tags_delete(project=od, image_ids=[a.id], tag_ids=[fork.id])
    assert [r.tag for r in a.regions.all()] == [knife] and tag_names(a) == {"knife"}
    services.tag_delete(tag=knife)
    a.refresh_from_db()
    assert not a.tagged and not a.regions.exists()


def test_an_image_removed_for_an_iterations_sake_loses_its_regions(od):
    fork = services.tag_create(project=od, name="fork")
    (a,) = add(od, 1, [(fork, 0.1, 0.1, 0.2, 0.2)])
    iteration = od.iterations.create(name="Iteration 1", domain_id=od.domain_id)
    iteration.images.create(image=a, tag_ids=[str(fork.id)], regions=[[0, 0.1, 0.1, 0.2, 0.2]])
    services.images_delete(project=od, image_ids=[a.id])
    a.refresh_from_db()
    assert a.removed_at and not a.tagged and not a.regions.exists()
    assert_tags_follow_regions(od)


def test_a_project_keeps_its_type_through_domain_changes(od, project):
    def update(p, domain):
        return services.project_update(
            project=p,
            name=p.name,
            description="",
            classification_type=Project.ClassificationType.MULTICLASS,
            domain_id=domain.id,
        )

    compact_detection = next(
        d for d in DOMAINS if d.type == OBJECT_DETECTION and d.name == "General (compact)"
    )
    classification_compact = next(d for d in DOMAINS if d.type != OBJECT_DETECTION and d.exportable)
    code = AzureCode.BAD_REQUEST_PROJECT_UNSUPPORTED_DOMAIN_TYPE_CHANGE
    refused(code, update, p=od, domain=classification_compact)
    refused(code, update, p=project, domain=compact_detection)
    # Within its type it changes freely, and "Multiclass" doesn't bind a detector's images.
    fork, knife = services.tags_get_or_create(project=od, names=["fork", "knife"])
    add(od, 1, [(fork, 0.1, 0.1, 0.2, 0.2), (knife, 0.3, 0.3, 0.2, 0.2)])
    assert update(od, compact_detection).domain == compact_detection
    assert od.is_detection and not od.is_multiclass


def test_the_detection_training_minimum_is_azures():
    with pytest.raises(ValidationError) as info:
        rules.detection_training_check({"fork": 15, "knife": 14})
    assert info.value.code == AzureCode.BAD_REQUEST_DETECTION_TRAINING_VALIDATION_FAILED
    assert "Not enough images per tag for training" in info.value.message
    assert "knife (14)" in info.value.message and "fork" not in info.value.message
    with pytest.raises(ValidationError):
        rules.detection_training_check({})
    rules.detection_training_check({"fork": 15})  # one tag is enough for a detector


def test_a_page_of_images_reads_its_regions_in_one_query(od, alice, client):
    """GetImages' regions cost the same few queries for a page of 4 as for a page of 12."""
    fork, knife = services.tags_get_or_create(project=od, names=["fork", "knife"])
    add(od, 12, [(fork, 0.1, 0.1, 0.2, 0.2), (knife, 0.5, 0.5, 0.3, 0.3)])
    key = services.resource_create(owner=alice, name="q", kind="training")[1].key1
    url = f"/customvision/v3.3/training/projects/{od.id}/images"
    counts = []
    for take in (4, 12):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"take": take}, headers={"Training-Key": key})
        page = response.json()
        assert len(page) == take and all(len(i["regions"]) == 2 for i in page)
        assert {t["tagName"] for t in page[0]["tags"]} == {"fork", "knife"}
        counts.append(len(queries))
    assert counts[0] == counts[1]
