from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from projects import services
from projects.domains import DOMAINS_BY_ID, domain_get
from projects.models import Image, Project, Resource, Tag
from projects.services import ImageUpload
from projects.services.resources import key_hash
from tests import images
from tests.conftest import stored_files
from tests.factories import ResourceFactory, TagFactory

pytestmark = pytest.mark.django_db


def add_images(project, n, tags=()):
    uploads = [ImageUpload(name=f"{i}.jpg", data=d) for i, d in enumerate(images.distinct(n))]
    results = services.images_create(project=project, uploads=uploads, tag_ids=[t.id for t in tags])
    return [r.image for r in results]


# --- Resources ------------------------------------------------------------------------------


def test_resource_keys_are_returned_once_and_stored_hashed(alice):
    resource, keys = services.resource_create(owner=alice, name="cv-train", kind="training")
    assert len(keys.key1) == 32 and keys.key1 != keys.key2
    assert resource.key1_hash == key_hash(keys.key1)
    assert resource.key2_hash == key_hash(keys.key2)
    stored = Resource.objects.filter(pk=resource.pk).values().get()
    assert keys.key1 not in str(stored) and keys.key2 not in str(stored)


def test_regenerating_a_key_replaces_only_that_key(alice):
    resource, keys = services.resource_create(owner=alice, name="cv", kind="prediction")
    new = services.resource_regenerate_key(resource=resource, which=2)
    resource.refresh_from_db()
    assert resource.key1_hash == key_hash(keys.key1)
    assert resource.key2_hash == key_hash(new) != key_hash(keys.key2)


def test_resource_names_are_unique_per_owner(alice, bob):
    services.resource_create(owner=alice, name="cv", kind="training")
    with pytest.raises(ValidationError):
        services.resource_create(owner=alice, name="CV", kind="training")
    services.resource_create(owner=bob, name="cv", kind="training")


def test_resource_with_projects_cannot_be_deleted(project):
    with pytest.raises(ValidationError):
        services.resource_delete(resource=project.resource)


# --- Projects -------------------------------------------------------------------------------


def test_project_create_needs_own_training_resource(alice, bob):
    bobs = ResourceFactory(owner=bob)
    with pytest.raises(ValidationError) as info:
        services.project_create(owner=alice, resource=bobs, name="Trees")
    assert "resource" in info.value.error_dict
    prediction = ResourceFactory(owner=alice, kind=Resource.Kind.PREDICTION)
    with pytest.raises(ValidationError):
        services.project_create(owner=alice, resource=prediction, name="Trees")


def test_project_create_with_domain_and_type(alice, resource):
    food = domain_get("c151d5b5-dd07-472a-acc8-15d29dea8518")
    project = services.project_create(
        owner=alice,
        resource=resource,
        name=" Trees ",
        description="Two kinds",
        classification_type="Multilabel",
        domain_id=food.id,
    )
    assert project.name == "Trees"
    assert project.get_domain_id_display() == "Food"


def test_domains_match_azure():
    assert len(DOMAINS_BY_ID) == 17
    by_type = {
        kind: {d.name for d in DOMAINS_BY_ID.values() if d.type == kind and d.exportable}
        for kind in ("Classification", "ObjectDetection")
    }
    assert by_type == {
        "Classification": {
            "General (compact)",
            "General (compact) [S1]",
            "Food (compact)",
            "Landmarks (compact)",
            "Retail (compact)",
        },
        "ObjectDetection": {"General (compact)", "General (compact) [S1]"},
    }
    assert domain_get("ee85a74c-405e-4adc-bb47-ffa8ca0c9f31").name == "General"
    # Azure's object-detection ids, as its "Select a domain" page lists them.
    detection = {
        "da2e3a8a-40a5-4171-82f4-58522f70fbc1": "General",
        "9c616dff-2e7d-ea11-af59-1866da359ce6": "General [A1]",
        "1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4": "Logo",
        "3780a898-81c3-4516-81ae-3a139614e1f3": "Products on Shelves",
        "a27d5ca5-bb19-49d8-a70a-fec086c47f5b": "General (compact)",
        "7ec2ac80-887b-48a6-8df9-8b1357765430": "General (compact) [S1]",
    }
    for id_, name in detection.items():
        assert (domain_get(id_).name, domain_get(id_).type) == (name, "ObjectDetection")


def test_switching_to_multiclass_is_refused_while_images_have_two_tags(multilabel_project):
    a, b = TagFactory(project=multilabel_project), TagFactory(project=multilabel_project)
    add_images(multilabel_project, 1, tags=[a, b])
    p = multilabel_project
    with pytest.raises(ValidationError) as info:
        services.project_update(
            project=p,
            name=p.name,
            description="",
            classification_type="Multiclass",
            domain_id=p.domain_id,
        )
    assert "1 image" in str(info.value)
    p.refresh_from_db()
    assert p.classification_type == "Multilabel"


def test_project_delete_removes_rows_and_files(
    project, media_storage, django_capture_on_commit_callbacks
):
    add_images(project, 2)
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(project=project)
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Image.objects.exists()
    assert stored_files(media_storage) == []


# --- Tags -----------------------------------------------------------------------------------


def test_tag_names_are_unique_ignoring_case(project):
    services.tag_create(project=project, name="Hemlock")
    with pytest.raises(ValidationError):
        services.tag_create(project=project, name="  hemlock ")


def test_one_negative_tag_per_project(project):
    services.tag_create(project=project, name="Negative", type="Negative")
    with pytest.raises(ValidationError):
        services.tag_create(project=project, name="Nothing", type="Negative")


def test_tag_limit(project, settings):
    settings.CV_MAX_TAGS_PER_PROJECT = 1
    services.tag_create(project=project, name="a")
    with pytest.raises(ValidationError):
        services.tag_create(project=project, name="b")


def test_tags_get_or_create_matches_existing_ignoring_case(project):
    hemlock = services.tag_create(project=project, name="Hemlock")
    tags = services.tags_get_or_create(
        project=project, names=["hemlock", "Japanese  Cherry", "japanese cherry"]
    )
    assert tags[0] == hemlock
    assert [t.name for t in tags] == ["Hemlock", "Japanese Cherry"]
    assert Tag.objects.filter(project=project).count() == 2


def test_tag_type_cannot_change_while_in_use(project):
    tag = services.tag_create(project=project, name="a")
    add_images(project, 1, tags=[tag])
    with pytest.raises(ValidationError):
        services.tag_update(tag=tag, name="a", description="", type="Negative")


def test_deleting_a_tag_keeps_its_images(project):
    tag = services.tag_create(project=project, name="a")
    add_images(project, 2, tags=[tag])
    services.tag_delete(tag=tag)
    assert Image.objects.filter(project=project).count() == 2


# --- Tagging existing images ----------------------------------------------------------------


def test_multiclass_tag_as_replaces_the_previous_tag(project):
    a, b = TagFactory(project=project), TagFactory(project=project)
    [image] = add_images(project, 1, tags=[a])
    with pytest.raises(ValidationError):
        services.images_tags_add(project=project, image_ids=[image.id], tags=[b])
    changed = services.images_tags_add(
        project=project, image_ids=[image.id], tags=[b], replace_conflicting=True
    )
    assert changed == 1
    assert list(image.tags.all()) == [b]


def test_negative_displaces_regular_and_back(multilabel_project):
    p = multilabel_project
    a, b = TagFactory(project=p), TagFactory(project=p)
    negative = TagFactory(project=p, type="Negative")
    [image] = add_images(p, 1, tags=[a, b])
    services.images_tags_add(
        project=p, image_ids=[image.id], tags=[negative], replace_conflicting=True
    )
    assert list(image.tags.all()) == [negative]
    services.images_tags_add(project=p, image_ids=[image.id], tags=[a], replace_conflicting=True)
    assert list(image.tags.all()) == [a]


def test_image_tags_set_enforces_rules(project):
    a, b = TagFactory(project=project), TagFactory(project=project)
    [image] = add_images(project, 1)
    with pytest.raises(ValidationError):
        services.image_tags_set(image=image, tags=[a, b])
    services.image_tags_set(image=image, tags=[b])
    assert list(image.tags.all()) == [b]
    services.image_tags_set(image=image, tags=[])
    assert not image.tags.exists()


def test_untag_and_delete_many(project, media_storage, django_capture_on_commit_callbacks):
    tag = TagFactory(project=project)
    imgs = add_images(project, 3, tags=[tag])
    removed = services.images_tags_remove(project=project, image_ids=[imgs[0].id], tags=[tag])
    assert removed == 1
    with django_capture_on_commit_callbacks(execute=True):
        deleted = services.images_delete(project=project, image_ids=[i.id for i in imgs[:2]])
    assert deleted == 2
    assert Image.objects.count() == 1
    assert len(stored_files(media_storage)) == 2


def test_bulk_operations_ignore_other_projects_images(project, alice, resource):
    other = Project.objects.create(owner=alice, resource=resource, name="Other")
    [foreign] = add_images(other, 1)
    assert services.images_delete(project=project, image_ids=[foreign.id]) == 0
    assert Image.objects.filter(pk=foreign.pk).exists()
