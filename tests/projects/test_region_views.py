"""The region editor's JSON URLs: saving an image's regions (tags created by name, all or
nothing) and its proposals, for the image's owner only."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from projects import services
from projects.domains import GENERAL_DETECTION
from projects.models import Region, Tag
from projects.services import ImageUpload
from tests import images
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def od(alice, resource):
    return ProjectFactory(owner=alice, resource=resource, domain_id=GENERAL_DETECTION.id)


@pytest.fixture
def photo(od):
    (result,) = services.images_create(
        project=od, uploads=[ImageUpload(name="p.jpg", data=images.solid())]
    )
    return result.image


def _post(client: Client, image, regions, **extra):
    url = reverse("projects:image_regions", args=[image.project_id, image.id])
    body = regions if isinstance(regions, str) else json.dumps({"regions": regions})
    return client.post(url, body, content_type="application/json", **extra)


def test_save_creates_tags_by_name_and_keeps_full_precision(alice_client, od, photo):
    fork = services.tag_create(project=od, name="fork")
    box = {"left": 0.1234567890123, "top": 0.2, "width": 1 / 3, "height": 0.4}
    response = _post(
        alice_client,
        photo,
        [
            {"tag_id": str(fork.id), "tag_name": "fork", **box},
            {
                "tag_id": None,
                "tag_name": "Spoon",
                "left": 0.5,
                "top": 0.5,
                "width": 0.2,
                "height": 0.25,
            },
            {"tag_id": None, "tag_name": "FORK", "left": 0, "top": 0, "width": 1, "height": 1},
        ],
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert {t["name"] for t in data["tags"]} == {"fork", "Spoon"}
    assert [r["tag_name"] for r in data["regions"]] == ["fork", "Spoon", "fork"]
    stored = Region.objects.get(image=photo, tag=fork, top=0.2)
    assert (stored.left, stored.width) == (box["left"], box["width"])  # exact, not rounded
    photo.refresh_from_db()
    assert photo.tagged
    # Saving again replaces: the editor sends the whole image each time.
    assert _post(alice_client, photo, []).status_code == 200
    assert not Region.objects.filter(image=photo).exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ('{"boxes": []}', "regions"),
        ([{"tag_name": "a", "left": 0.5, "top": 0.5, "width": 0.6, "height": 0.1}], "not inside"),
        ([{"tag_name": "a", "left": -0.2, "top": 0, "width": 0.1, "height": 0.1}], "not inside"),
        ([{"tag_name": "a", "left": "x", "top": 0, "width": 0.1, "height": 0.1}], "number"),
        ([{"tag_name": "", "left": 0, "top": 0, "width": 0.1, "height": 0.1}], "needs a tag"),
        ([{"tag_id": "nope", "left": 0, "top": 0, "width": 0.1, "height": 0.1}], "not a tag id"),
    ],
)
def test_bad_saves_are_refused_with_a_message_and_change_nothing(
    alice_client, od, photo, body, message
):
    fork = services.tag_create(project=od, name="fork")
    services.regions_replace(image=photo, boxes=[(fork, 0.1, 0.1, 0.2, 0.2)])
    good = {"tag_name": "brand new", "left": 0.1, "top": 0.1, "width": 0.1, "height": 0.1}
    sent = body if isinstance(body, str) else [good, *body]
    response = _post(alice_client, photo, sent)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert list(Region.objects.filter(image=photo).values_list("tag__name", flat=True)) == ["fork"]
    assert not Tag.objects.filter(project=od, name="brand new").exists()  # atomic


def test_another_users_image_is_not_found(bob_client, photo):
    box = {"tag_name": "x", "left": 0, "top": 0, "width": 0.5, "height": 0.5}
    assert _post(bob_client, photo, [box]).status_code == 404
    url = reverse("projects:image_proposals", args=[photo.project_id, photo.id])
    assert bob_client.get(url).status_code == 404
    assert not Region.objects.exists()


def test_a_save_without_the_csrf_token_is_refused(alice, photo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    box = {"tag_name": "x", "left": 0, "top": 0, "width": 0.5, "height": 0.5}
    assert _post(client, photo, [box]).status_code == 403
    assert not Region.objects.exists()
    page = client.get(reverse("projects:image", args=[photo.project_id, photo.id]))
    token = page.cookies["csrftoken"].value
    assert _post(client, photo, [box], HTTP_X_CSRFTOKEN=token).status_code == 200
    assert Region.objects.filter(image=photo).count() == 1


def test_proposals_answer_boxes_inside_the_image(alice_client, photo):
    url = reverse("projects:image_proposals", args=[photo.project_id, photo.id])
    proposals = alice_client.get(url).json()["proposals"]
    for p in proposals:
        assert 0 <= p["left"] <= p["left"] + p["width"] <= 1 + 1e-6
        assert 0 <= p["confidence"] <= 1


def test_a_classification_images_save_is_refused(alice_client, project):
    (result,) = services.images_create(
        project=project, uploads=[ImageUpload(name="c.jpg", data=images.solid())]
    )
    box = {"tag_name": "x", "left": 0, "top": 0, "width": 0.5, "height": 0.5}
    response = _post(alice_client, result.image, [box])
    assert response.status_code == 400
    assert "object-detection" in response.json()["error"]


def test_a_detection_images_page_is_the_editor_with_its_regions(alice_client, od, photo, project):
    fork = services.tag_create(project=od, name="fork")
    services.regions_replace(image=photo, boxes=[(fork, 0.1234567890123, 0.2, 1 / 3, 0.4)])
    response = alice_client.get(reverse("projects:image", args=[od.id, photo.id]))
    page = response.content.decode()
    assert "data-region-editor" in page and "region_editor.js" in page
    assert reverse("projects:image_regions", args=[od.id, photo.id]) in page
    assert reverse("projects:image_proposals", args=[od.id, photo.id]) in page
    regions = response.context["regions"]
    assert [(r["tag_name"], r["left"], r["width"]) for r in regions] == [
        ("fork", 0.1234567890123, 1 / 3)
    ]
    assert '"left": 0.1234567890123' in page  # full precision reaches the script
    (other,) = services.images_create(
        project=project, uploads=[ImageUpload(name="c.jpg", data=images.solid())]
    )
    classification = alice_client.get(reverse("projects:image", args=[project.id, other.image.id]))
    assert "data-region-editor" not in classification.content.decode()
    assert "Save tags" in classification.content.decode()


def test_the_editor_partial_without_autosave_has_the_pages_save_button():
    """As the prediction page includes it: an explicit button, no image pager."""
    from django.template.loader import render_to_string

    html = render_to_string(
        "projects/_region_editor.html",
        {
            "image_url": "/photo.jpg",
            "regions": [
                {
                    "tag_id": None,
                    "tag_name": "fork",
                    "left": 0.5,
                    "top": 0.25,
                    "width": 0.125,
                    "height": 0.5,
                    "probability": 0.9,
                }
            ],
            "tags": [],
            "save_url": "/save/",
            "autosave": False,
            "save_label": "Save to training images",
        },
    )
    assert 'data-autosave="false"' in html
    assert ">Save to training images</button>" in html
    assert "Next image" not in html
    assert '"left": 0.5' in html and "data-proposals-url" not in html


def test_a_negative_tag_or_another_projects_tag_marks_no_region(alice_client, od, photo, alice):
    negative = services.tag_create(project=od, name="Nothing", type=Tag.Type.NEGATIVE)
    elsewhere = ProjectFactory(owner=alice, resource=od.resource, domain_id=GENERAL_DETECTION.id)
    theirs = services.tag_create(project=elsewhere, name="fork")
    box = {"left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2}
    for entry, message in [
        ({"tag_id": str(negative.id), "tag_name": "Nothing"}, "Negative"),
        ({"tag_id": None, "tag_name": "nothing"}, "Negative"),  # by name, any case
        ({"tag_id": str(theirs.id), "tag_name": "fork"}, "not in the project"),
    ]:
        response = _post(alice_client, photo, [{**entry, **box}])
        assert response.status_code == 400
        assert message in response.json()["error"]
    assert not Region.objects.exists()
    assert not Tag.objects.filter(project=od, name="fork").exists()
