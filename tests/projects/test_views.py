"""Portal pages through the test client: the owner's flows, outsiders and anonymous users."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects import services
from projects.models import Image, Project, Resource, Tag
from projects.services import ImageUpload
from tests import images
from tests.factories import ProjectFactory, ResourceFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tagged(project):
    tag = TagFactory(project=project, name="Hemlock")
    [result] = services.images_create(
        project=project, uploads=[ImageUpload(name="h.jpg", data=images.solid())], tag_ids=[tag.id]
    )
    return result.image, tag


def object_urls(project, image, tag):
    p, i, t = project.id, image.id, tag.id
    return {
        "GET": [
            reverse("projects:detail", args=[p]),
            reverse("projects:images", args=[p]),
            reverse("projects:settings", args=[p]),
            reverse("projects:image", args=[p, i]),
            reverse("projects:image_file", args=[p, i]),
            reverse("projects:image_thumbnail", args=[p, i]),
            reverse("projects:tags", args=[p]),
            reverse("projects:tag_edit", args=[p, t]),
        ],
        "POST": [
            reverse("projects:settings", args=[p]),
            reverse("projects:delete", args=[p]),
            reverse("projects:upload", args=[p]),
            reverse("projects:bulk", args=[p]),
            reverse("projects:image", args=[p, i]),
            reverse("projects:tags", args=[p]),
            reverse("projects:tag_edit", args=[p, t]),
            reverse("projects:tag_delete", args=[p, t]),
            reverse("projects:resource_regenerate", args=[project.resource_id, 1]),
        ],
    }


def test_outsider_gets_404_on_every_object_url(bob_client, project, tagged):
    image, tag = tagged
    urls = object_urls(project, image, tag)
    for url in urls["GET"]:
        assert bob_client.get(url).status_code == 404, url
    for url in urls["POST"]:
        assert (
            bob_client.post(
                url, {"action": "delete", "images": [str(image.id)], "name": "x"}
            ).status_code
            == 404
        ), url
    # Nothing changed.
    assert Project.objects.filter(pk=project.pk).exists()
    assert Image.objects.filter(pk=image.pk).exists()
    assert Tag.objects.filter(pk=tag.pk).exists()


def test_a_tag_or_image_of_another_project_is_404(alice_client, project, tagged, alice):
    image, tag = tagged
    other = ProjectFactory(owner=alice, resource=project.resource)
    assert alice_client.get(reverse("projects:image", args=[other.id, image.id])).status_code == 404
    assert (
        alice_client.get(reverse("projects:tag_edit", args=[other.id, tag.id])).status_code == 404
    )


def test_anonymous_users_are_sent_to_sign_in(client, project, tagged):
    image, tag = tagged
    urls = object_urls(project, image, tag)
    for url in [
        *urls["GET"],
        reverse("projects:list"),
        reverse("projects:resources"),
        reverse("projects:create"),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_sign_in_page_and_sign_in(client, alice):
    response = client.get(reverse("login"))
    assert b"Sign in" in response.content
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert client.get(reverse("projects:list")).status_code == 200


def test_csrf_is_enforced(alice, project):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("projects:delete", args=[project.id])).status_code == 403


def test_project_list_shows_only_own_projects(alice_client, project, bob):
    ProjectFactory(owner=bob, name="Bob's secret")
    response = alice_client.get(reverse("projects:list"))
    assert project.name.encode() in response.content
    assert b"Bob&#x27;s secret" not in response.content


def test_new_project_with_a_new_resource(alice_client, alice):
    response = alice_client.post(
        reverse("projects:create"),
        {
            "name": "Trees",
            "description": "Hemlock and cherry",
            "resource": "",
            "new_resource_name": "my-training",
            "classification_type": "Multiclass",
            "domain_id": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31",
        },
    )
    project = Project.objects.get(name="Trees")
    assert response.status_code == 302
    assert response["Location"] == reverse("projects:images", args=[project.id])
    assert project.resource.name == "my-training" and project.resource.owner == alice


def test_new_project_errors_are_shown(alice_client):
    response = alice_client.post(
        reverse("projects:create"),
        {
            "name": "",
            "resource": "",
            "classification_type": "Multiclass",
            "domain_id": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31",
        },
    )
    assert response.status_code == 400
    assert b"Choose a resource or name a new one" in response.content
    assert not Project.objects.exists()


def test_new_project_refuses_another_users_resource(alice_client, bob):
    bobs = ResourceFactory(owner=bob)
    response = alice_client.post(
        reverse("projects:create"),
        {
            "name": "Trees",
            "resource": str(bobs.id),
            "classification_type": "Multiclass",
            "domain_id": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31",
        },
    )
    assert response.status_code == 400
    assert not Project.objects.exists()


def test_upload_with_my_tags_reports_each_failure(alice_client, project):
    good = images.distinct(2)
    files = [
        SimpleUploadedFile("one.jpg", good[0], "image/jpeg"),
        SimpleUploadedFile("fake.jpg", images.HTML, "image/jpeg"),
        SimpleUploadedFile("two.jpg", good[1], "image/jpeg"),
    ]
    response = alice_client.post(
        reverse("projects:upload", args=[project.id]),
        {
            "files": files,
            "tag": ["Hemlock"],
            "tag_input": "",
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "2 of 3 files uploaded" in text
    assert "fake.jpg" in text and "ErrorImageFormat" in text
    tag = Tag.objects.get(project=project)
    assert tag.name == "Hemlock" and tag.images.count() == 2


def test_upload_takes_typed_tags_that_were_not_entered(alice_client, multilabel_project):
    alice_client.post(
        reverse("projects:upload", args=[multilabel_project.id]),
        {
            "files": [SimpleUploadedFile("a.jpg", images.solid(), "image/jpeg")],
            "tag_input": "Tree, Conifer",
        },
    )
    image = Image.objects.get(project=multilabel_project)
    assert sorted(t.name for t in image.tags.all()) == ["Conifer", "Tree"]


def test_upload_over_the_batch_limit_is_refused(alice_client, project, settings):
    settings.CV_MAX_IMAGES_PER_BATCH = 2
    files = [
        SimpleUploadedFile(f"{i}.jpg", d, "image/jpeg") for i, d in enumerate(images.distinct(3))
    ]
    response = alice_client.post(reverse("projects:upload", args=[project.id]), {"files": files})
    assert response.status_code == 400
    assert b"Upload at most 2 files" in response.content
    assert not Image.objects.exists()


def test_images_page_filters_and_counts(alice_client, project, tagged):
    image, tag = tagged
    services.images_create(
        project=project, uploads=[ImageUpload(name="u.jpg", data=images.solid(color=(9, 9, 9)))]
    )
    url = reverse("projects:images", args=[project.id])
    page = alice_client.get(url).content.decode()
    assert re.search(r'data-count="all">2<', page)
    assert re.search(r'data-count="tagged">1<', page)
    assert re.search(r'data-count="untagged">1<', page)
    assert re.search(r'data-tag-count="Hemlock">1<', page)
    untagged = alice_client.get(url, {"state": "untagged"}).context["page"].object_list
    assert [i.original_name for i in untagged] == ["u.jpg"]
    by_tag = alice_client.get(url, {"tag": str(tag.id)}).context["page"].object_list
    assert list(by_tag) == [image]
    # A bad filter value is ignored, not a crash.
    assert alice_client.get(url, {"tag": "nonsense", "state": "x"}).status_code == 200


def test_bulk_tag_untag_delete(alice_client, project, tagged):
    image, _ = tagged
    url = reverse("projects:bulk", args=[project.id])
    alice_client.post(url, {"action": "tag", "images": [str(image.id)], "tag_name": "Cherry"})
    assert [t.name for t in image.tags.all()] == ["Cherry"]  # multiclass: replaced
    alice_client.post(url, {"action": "untag", "images": [str(image.id)], "tag_name": "cherry"})
    assert not image.tags.exists()
    response = alice_client.post(url, {"action": "delete", "images": [str(image.id)]}, follow=True)
    assert b"Deleted 1 image" in response.content
    assert not Image.objects.exists()


def test_bulk_without_selection_says_so(alice_client, project, tagged):
    response = alice_client.post(
        reverse("projects:bulk", args=[project.id]), {"action": "delete"}, follow=True
    )
    assert b"Select at least one image" in response.content
    assert Image.objects.count() == 1


def test_image_detail_sets_tags_and_serves_files(alice_client, project, tagged):
    image, tag = tagged
    other = TagFactory(project=project, name="Cherry")
    url = reverse("projects:image", args=[project.id, image.id])
    assert alice_client.get(url).status_code == 200
    response = alice_client.post(url, {"tags": [str(tag.id), str(other.id)]})
    assert response.status_code == 400  # multiclass: one tag
    alice_client.post(url, {"tags": [str(other.id)]})
    assert list(image.tags.all()) == [other]
    file = alice_client.get(reverse("projects:image_file", args=[project.id, image.id]))
    assert file["Content-Type"] == "image/jpeg"
    assert b"".join(file.streaming_content)[:2] == b"\xff\xd8"
    thumb = alice_client.get(reverse("projects:image_thumbnail", args=[project.id, image.id]))
    assert thumb.status_code == 200


def test_settings_rename_and_change_type_and_domain(alice_client, project):
    url = reverse("projects:settings", args=[project.id])
    assert alice_client.get(url).status_code == 200
    response = alice_client.post(
        url,
        {
            "name": "Renamed",
            "description": "d",
            "resource": str(project.resource_id),
            "classification_type": "Multilabel",
            "domain_id": "b30a91ae-e3c1-4f73-a81e-c270bff27c39",
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.classification_type) == ("Renamed", "Multilabel")
    assert project.get_domain_id_display() == "Retail"


def test_delete_project(alice_client, project):
    response = alice_client.post(reverse("projects:delete", args=[project.id]))
    assert response.status_code == 302
    assert not Project.objects.exists()


def test_tags_page_create_edit_delete(alice_client, project):
    url = reverse("projects:tags", args=[project.id])
    alice_client.post(url, {"name": "Hemlock", "description": "", "type": "Regular"})
    response = alice_client.post(url, {"name": "hemlock", "description": "", "type": "Regular"})
    assert response.status_code == 400 and b"already has a tag" in response.content
    tag = Tag.objects.get(project=project)
    alice_client.post(
        reverse("projects:tag_edit", args=[project.id, tag.id]),
        {"name": "Western Hemlock", "description": "tree", "type": "Regular"},
    )
    tag.refresh_from_db()
    assert tag.name == "Western Hemlock"
    alice_client.post(reverse("projects:tag_delete", args=[project.id, tag.id]))
    assert not Tag.objects.exists()


def test_resources_page_shows_keys_once(alice_client, alice):
    url = reverse("projects:resources")
    response = alice_client.post(url, {"name": "predict", "kind": "prediction"})
    resource = Resource.objects.get(name="predict")
    key = response.context["keys"]["key1"]
    assert key.encode() in response.content
    assert key.encode() not in alice_client.get(url).content  # never again
    response = alice_client.post(reverse("projects:resource_regenerate", args=[resource.id, 2]))
    assert response.context["keys"]["key2"].encode() in response.content


def test_upload_answers_json_for_the_batching_dialog(alice_client, project):
    response = alice_client.post(
        reverse("projects:upload", args=[project.id]),
        {
            "files": [
                SimpleUploadedFile("a.jpg", images.solid(), "image/jpeg"),
                SimpleUploadedFile("b.jpg", b"nope", "image/jpeg"),
            ],
            "tag": ["Tree"],
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "errors": [],
        "results": [
            {"name": "a.jpg", "status": "OK", "message": ""},
            {
                "name": "b.jpg",
                "status": "ErrorImageFormat",
                "message": "Not a supported image: use JPEG, PNG, BMP or GIF.",
            },
        ],
    }
