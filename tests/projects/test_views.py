"""Portal pages through the test client: the owner's flows, outsiders and anonymous users."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects import selectors, services, views
from projects.models import Image, ImageTag, Project, Resource, Tag
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
        SimpleUploadedFile("empty.jpg", b"", "image/jpeg"),
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
    assert "2 of 4 files uploaded" in text
    assert "fake.jpg" in text and "ErrorImageFormat" in text
    # An empty file fails alone, by name, as it does through the API.
    assert "empty.jpg" in text and "ErrorSource" in text
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
    untagged = alice_client.get(url, {"state": "untagged"}).context["page"].items
    assert [i.original_name for i in untagged] == ["u.jpg"]
    by_tag = alice_client.get(url, {"tag": str(tag.id)}).context["page"].items
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


def test_a_multiclass_image_offers_one_tag_and_a_multilabel_image_many(
    alice_client, project, tagged, multilabel_project
):
    image, _tag = tagged
    page = alice_client.get(reverse("projects:image", args=[project.id, image.id])).content
    assert b'type="radio"' in page and b'type="checkbox"' not in page
    assert b"No tag" in page and b"checked" in page
    # "No tag" clears it.
    alice_client.post(reverse("projects:image", args=[project.id, image.id]), {"tags": ""})
    assert list(image.tags.all()) == []
    [result] = services.images_create(
        project=multilabel_project, uploads=[ImageUpload(name="m.jpg", data=images.solid())]
    )
    both = [TagFactory(project=multilabel_project, name=n) for n in ("A", "B")]
    url = reverse("projects:image", args=[multilabel_project.id, result.image.id])
    assert b'type="checkbox"' in alice_client.get(url).content
    alice_client.post(url, {"tags": [str(t.id) for t in both]})
    assert set(result.image.tags.all()) == set(both)


def test_image_detail_steps_through_the_filtered_list_and_saves_then_moves_on(
    alice_client, project
):
    tag = TagFactory(project=project, name="Hemlock")
    created = services.images_create(
        project=project,
        uploads=[
            ImageUpload(name=f"{n}.jpg", data=data) for n, data in enumerate(images.distinct(4))
        ],
    )
    # Newest first, as the Training Images page shows them; one of them tagged, so the
    # Untagged filter skips it.
    newest_first = sorted(
        (r.image for r in created), key=lambda i: (-i.created_at.timestamp(), str(i.id))
    )
    services.images_tags_add(project=project, image_ids=[newest_first[1].id], tags=[tag])
    untagged = [i for n, i in enumerate(newest_first) if n != 1]
    came_from = reverse("projects:images", args=[project.id]) + "?state=untagged"

    def links(image):
        url = reverse("projects:image", args=[project.id, image.id])
        response = alice_client.get(url, {"next": came_from})
        return response.context["previous_url"], response.context["next_url"]

    first_previous, first_next = links(untagged[0])
    assert first_previous is None and str(untagged[1].id) in first_next
    assert "state%3Duntagged" in first_next  # the filter travels along
    middle_previous, middle_next = links(untagged[1])
    assert str(untagged[0].id) in middle_previous and str(untagged[2].id) in middle_next
    assert links(untagged[2])[1] is None
    # "Save and next": tags this one (it leaves the Untagged filter) and opens the next.
    url = reverse("projects:image", args=[project.id, untagged[0].id])
    saved = alice_client.post(url, {"tags": str(tag.id), "next": came_from, "then": "next"})
    assert saved.status_code == 302 and str(untagged[1].id) in saved["Location"]
    assert list(untagged[0].tags.all()) == [tag]


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(document.domain)",
        "https://elsewhere.example/",
        "//elsewhere.example/",
        "/\\elsewhere.example/",
        "http://testserver.elsewhere.example/",
    ],
)
def test_image_detail_never_links_or_redirects_off_site(alice_client, project, tagged, target):
    image, tag = tagged
    url = reverse("projects:image", args=[project.id, image.id])
    images_url = reverse("projects:images", args=[project.id])
    page = alice_client.get(url, {"next": target}).content.decode()
    assert "elsewhere" not in page and "javascript:" not in page
    saved = alice_client.post(url, {"tags": [str(tag.id)], "next": target})
    assert saved.status_code == 302 and saved["Location"] == images_url
    bulk = alice_client.post(
        reverse("projects:bulk", args=[project.id]),
        {"action": "untag", "images": [str(image.id)], "tag_name": tag.name, "next": target},
    )
    assert bulk["Location"] == images_url


def test_image_detail_goes_back_to_the_page_it_came_from(alice_client, project, tagged):
    image, tag = tagged
    url = reverse("projects:image", args=[project.id, image.id])
    came_from = reverse("projects:images", args=[project.id]) + "?state=tagged&page=1"
    page = alice_client.get(url, {"next": came_from}).content.decode()
    assert 'href="/projects/' in page and "state=tagged&amp;page=1" in page
    saved = alice_client.post(url, {"tags": [str(tag.id)], "next": came_from})
    assert saved["Location"] == came_from


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
    key = response.context["new_keys"][0]["key1"]
    assert key.encode() in response.content and b"Copy" in response.content
    assert key.encode() not in alice_client.get(url).content  # never again
    response = alice_client.post(reverse("projects:resource_regenerate", args=[resource.id, 2]))
    assert response.context["new_keys"][0]["key2"].encode() in response.content


def test_both_makes_a_training_resource_and_its_prediction_twin(alice_client, alice):
    page = alice_client.get(reverse("projects:resources")).content.decode()
    assert 'value="alice-vision"' in page  # a name is suggested
    response = alice_client.post(reverse("projects:resources"), {"name": "trees", "kind": "both"})
    shown = response.context["new_keys"]
    assert [(s["name"], s["kind"]) for s in shown] == [
        ("trees", "Training"),
        ("trees-Prediction", "Prediction"),
    ]
    assert {r.name: r.kind for r in Resource.objects.filter(owner=alice)} == {
        "trees": "training",
        "trees-Prediction": "prediction",
    }
    for s in shown:
        assert s["key1"] in response.content.decode()


def test_a_first_project_needs_only_a_name_and_shows_its_keys_once(alice_client, alice):
    form = alice_client.get(reverse("projects:create")).content.decode()
    assert 'value="alice-vision"' in form
    response = alice_client.post(
        reverse("projects:create"),
        {
            "name": "Trees",
            "resource": "",
            "new_resource_name": "alice-vision",
            "classification_type": "Multiclass",
            "domain_id": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31",
        },
        follow=True,
    )
    page = response.content.decode()
    shown = response.context["new_keys"]
    assert [s["kind"] for s in shown] == ["Training", "Prediction"]
    assert shown[0]["key1"] in page and shown[1]["key1"] in page
    assert "Your new keys" in page
    assert shown[0]["key1"] not in alice_client.get(response.redirect_chain[-1][0]).content.decode()


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


# --- Select all matching, keyboard shortcuts, dataset health --------------------------------


def add_images(project, n, *tags):
    """n rows straight into the database: the page only counts and lists them, and hundreds of
    real uploads would make these tests slow. Tests that need files upload them."""
    rows = Image.objects.bulk_create(
        [
            Image(
                project=project,
                file=f"images/{project.id}/{i}.jpg",
                thumbnail=f"images/{project.id}/{i}-thumb.jpg",
                content_hash=uuid.uuid4().hex,
                width=300,
                height=300,
                format="JPEG",
                byte_size=1000,
                original_name=f"{i}.jpg",
                tagged=bool(tags),  # as the services keep it
            )
            for i in range(n)
        ]
    )
    ImageTag.objects.bulk_create([ImageTag(image=i, tag=t) for i in rows for t in tags])
    return rows


def snapshot(*projects):
    """Every image of the projects, with its tags: what a refused action must leave as it was."""
    return {
        (str(i.id), i.removed_at, tuple(sorted(t.name for t in i.tags.all())))
        for i in Image.objects.filter(project__in=projects).prefetch_related("tags")
    }


@pytest.fixture
def sorted_out(project, bob):
    """Alice: 3 Hemlock, 2 Cherry, 2 untagged. Bob: a project of his own, also with Hemlock."""
    hemlock = TagFactory(project=project, name="Hemlock")
    cherry = TagFactory(project=project, name="Cherry")
    bobs = ProjectFactory(owner=bob)
    return {
        "hemlock": hemlock,
        "cherry": cherry,
        "hemlocks": add_images(project, 3, hemlock),
        "cherries": add_images(project, 2, cherry),
        "untagged": add_images(project, 2),
        "bobs": bobs,
        "bobs_images": add_images(bobs, 2, TagFactory(project=bobs, name="Hemlock")),
    }


def matching(action, expected, tag_name="", state="all", tags=(), **extra):
    return {
        "action": action,
        "tag_name": tag_name,
        "scope": "matching",
        "filter_state": state,
        "filter_tag": [str(t.id) for t in tags],
        "expected": expected,
        **extra,
    }


def tag_names(images_):
    return {str(i.id): sorted(t.name for t in i.tags.all()) for i in images_}


def test_select_all_matching_is_offered_across_pages(
    alice_client, project, sorted_out, monkeypatch
):
    monkeypatch.setattr(views, "IMAGES_PER_PAGE", 2)
    url = reverse("projects:images", args=[project.id])
    page = alice_client.get(url, {"tag": str(sorted_out["hemlock"].id)}).content.decode()
    assert page.count('class="thumb"') == 2
    assert ">Select all 3 matching</button>" in page
    assert '<input type="hidden" name="expected" value="3">' in page
    assert f'name="filter_tag" value="{sorted_out["hemlock"].id}"' in page
    # Everything on one page: "Select all on this page" says it all.
    monkeypatch.setattr(views, "IMAGES_PER_PAGE", 60)
    assert b"matching</button>" not in alice_client.get(url).content


def test_pages_go_older_and_newer_by_position_not_number(
    alice_client, project, sorted_out, monkeypatch
):
    monkeypatch.setattr(views, "IMAGES_PER_PAGE", 3)
    url = reverse("projects:images", args=[project.id])
    newest_first = list(selectors.image_list(project=project))
    assert len(newest_first) == 7

    def shown(response):
        html = response.content.decode()
        ids = [str(i.id) for i in newest_first if f"/images/{i.id}/" in html]
        links = dict(re.findall(r'href="\?([^"]*)" rel="(prev|next)"', html))
        return ids, {rel: query.replace("&amp;", "&") for query, rel in links.items()}

    first, links = shown(alice_client.get(url))
    assert first == [str(i.id) for i in newest_first[:3]] and set(links) == {"next"}
    second, links = shown(alice_client.get(f"{url}?{links['next']}"))
    assert second == [str(i.id) for i in newest_first[3:6]] and set(links) == {"prev", "next"}
    back, _ = shown(alice_client.get(f"{url}?{links['prev']}"))
    assert back == first
    last, links = shown(alice_client.get(f"{url}?{links['next']}"))
    assert last == [str(newest_first[6].id)] and set(links) == {"prev"}
    assert ">7 images<" in alice_client.get(url).content.decode()
    # A garbled position is the first page, not an error.
    assert shown(alice_client.get(url, {"after": "yesterday_x"}))[0] == first
    # The filter stays in the links.
    tagged_page = alice_client.get(url, {"state": "tagged"}).content.decode()
    assert "state=tagged&amp;after=" in tagged_page


def test_select_all_matching_untags_exactly_the_filtered_images(alice_client, project, sorted_out):
    hemlock, cherry = sorted_out["hemlock"], sorted_out["cherry"]
    others = sorted_out["cherries"] + sorted_out["untagged"]
    before = tag_names(others), snapshot(sorted_out["bobs"])
    response = alice_client.post(
        reverse("projects:bulk", args=[project.id]),
        # A ticked box of an image deleted meanwhile rides along; the filter decides.
        matching("untag", 3, "Hemlock", tags=[hemlock], images=[str(uuid.uuid4())]),
        follow=True,
    )
    assert "Removed &#x27;Hemlock&#x27; from 3 images." in response.content.decode()
    assert not ImageTag.objects.filter(tag=hemlock).exists()
    assert (tag_names(others), snapshot(sorted_out["bobs"])) == before
    assert cherry.images.count() == 2


def test_select_all_matching_tags_the_untagged_and_deletes_a_tag(alice_client, project, sorted_out):
    url = reverse("projects:bulk", args=[project.id])
    bobs_before = snapshot(sorted_out["bobs"])
    alice_client.post(url, matching("tag", 2, "Oak", state="untagged"))
    assert all(n == ["Oak"] for n in tag_names(sorted_out["untagged"]).values())
    assert all(n == ["Hemlock"] for n in tag_names(sorted_out["hemlocks"]).values())

    response = alice_client.post(
        url, matching("delete", 2, tags=[sorted_out["cherry"]]), follow=True
    )
    assert b"Deleted 2 images." in response.content
    assert not Image.objects.filter(id__in=[i.id for i in sorted_out["cherries"]]).exists()
    assert Image.objects.filter(project=project).count() == 5
    assert snapshot(sorted_out["bobs"]) == bobs_before


def test_select_all_matching_in_another_users_project_is_404(bob_client, project, sorted_out):
    before = snapshot(project, sorted_out["bobs"])
    response = bob_client.post(
        reverse("projects:bulk", args=[project.id]), matching("delete", 3, tags=[])
    )
    assert response.status_code == 404
    assert snapshot(project, sorted_out["bobs"]) == before


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("someone else's tag", "The filter names a tag that no longer exists"),
        ("not a tag id", "The filter names a tag that no longer exists"),
        ("bad state", "Unknown filter &#x27;bogus&#x27;: use all, tagged or untagged."),
        ("no count", "Say how many images the filter matched"),
        ("count changed", "The filter now matches 3 images, not the 2 you selected"),
        ("no tag name", "Name the tag."),
        ("bad action", "Select a valid choice. paint is not one of the available choices."),
    ],
)
def test_select_all_matching_refuses_bad_input_and_changes_nothing(
    alice_client, project, sorted_out, case, error
):
    hemlock = sorted_out["hemlock"]
    bobs_tag = sorted_out["bobs"].tags.get()
    data = {
        "someone else's tag": matching("delete", 2, tags=[bobs_tag]),
        "not a tag id": {**matching("delete", 7), "filter_tag": ["nonsense"]},
        "bad state": matching("delete", 7, state="bogus"),
        "no count": {**matching("delete", 0, tags=[hemlock]), "expected": ""},
        "count changed": matching("delete", 2, tags=[hemlock]),
        "no tag name": matching("tag", 3, "  ", tags=[hemlock]),
        "bad action": matching("paint", 3, "Hemlock", tags=[hemlock]),
    }[case]
    before = snapshot(project, sorted_out["bobs"])
    url = reverse("projects:bulk", args=[project.id])
    response = alice_client.post(url, data, follow=True)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert snapshot(project, sorted_out["bobs"]) == before
    # The keyboard shortcuts get the same refusal as JSON.
    response = alice_client.post(url, data, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert any(e.startswith(error.replace("&#x27;", "'")[:30]) for e in response.json()["errors"])
    assert snapshot(project, sorted_out["bobs"]) == before


def test_a_stale_filter_does_not_block_the_ticked_images(alice_client, project, sorted_out):
    image = sorted_out["untagged"][0]
    response = alice_client.post(
        reverse("projects:bulk", args=[project.id]),
        {"action": "tag", "tag_name": "Oak", "images": [str(image.id)], "filter_tag": ["gone"]},
        follow=True,
    )
    assert b"Tagged 1 image &#x27;Oak&#x27;." in response.content
    assert [t.name for t in image.tags.all()] == ["Oak"]


def test_a_refused_tag_as_creates_no_tag(alice_client, project, sorted_out):
    """Tag as a new name, but the count check fails: the new tag is not left behind."""
    alice_client.post(
        reverse("projects:bulk", args=[project.id]),
        matching("tag", 99, "Brand new", tags=[sorted_out["hemlock"]]),
    )
    assert not Tag.objects.filter(project=project, name="Brand new").exists()


def test_shortcuts_get_the_new_tags_and_counts_as_json(alice_client, project, sorted_out):
    first, second = sorted_out["untagged"]
    response = alice_client.post(
        reverse("projects:bulk", args=[project.id]),
        {
            "action": "tag",
            "tag_name": "Cherry",
            "images": [str(first.id), str(second.id)],
            "filter_state": "untagged",  # the page's filter: it matched 2, now none
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Tagged 2 images 'Cherry'."
    assert body["matching"] == 0
    assert body["images"] == {str(first.id): ["Cherry"], str(second.id): ["Cherry"]}
    assert body["counts"] == {"all": 7, "tagged": 7, "untagged": 0}
    assert body["tag_counts"] == {"Cherry": 4, "Hemlock": 3}
    assert 'id="dataset-health"' in body["health_html"]

    response = alice_client.post(
        reverse("projects:bulk", args=[project.id]),
        {"action": "untag", "tag_name": "Cherry", "images": [str(first.id)]},
        headers={"Accept": "application/json"},
    )
    assert response.json()["images"] == {str(first.id): []}


def test_images_page_numbers_its_tags_for_the_shortcuts(alice_client, project, sorted_out):
    page = alice_client.get(reverse("projects:images", args=[project.id])).content.decode()
    # Tags are listed by name: Cherry is 1, Hemlock is 2.
    assert re.search(r"Cherry</span>\s*<kbd[^>]*>1</kbd>", page)
    assert re.search(r"Hemlock</span>\s*<kbd[^>]*>2</kbd>", page)
    assert '<script id="shortcut-tags" type="application/json">["Cherry", "Hemlock"]' in page
    assert "Keyboard shortcuts" in page


def test_images_page_groups_big_numbers(alice_client, project):
    add_images(project, 1234, TagFactory(project=project, name="Many"))
    page = alice_client.get(reverse("projects:images", args=[project.id])).content.decode()
    assert re.search(r'data-count="all">1,234<', page)
    assert re.search(r'data-tag-count="Many">1,234<', page)
    assert "Select all 1,234 matching" in page
    assert ">1,234 images<" in page


def health_notes(client, project):
    page = client.get(reverse("projects:images", args=[project.id])).content.decode()
    return set(re.findall(r'data-health="([a-z-]+)"', page)), page


def test_health_warnings_come_and_go_at_the_thresholds(alice_client, project):
    from training.services import MIN_IMAGES_PER_TAG

    assert MIN_IMAGES_PER_TAG == 5  # the figures below assume Custom Vision's minimum
    assert selectors.RECOMMENDED_IMAGES_PER_TAG == 30 and selectors.MAX_TAG_IMBALANCE == 2
    a = TagFactory(project=project, name="Alder")
    b = TagFactory(project=project, name="Birch")

    add_images(project, 4, a)
    notes, page = health_notes(alice_client, project)
    assert notes == {"min-tags", "too-few"}  # Birch has no images, so it is not trained
    assert "this project has 1." in page and "Alder (4)" in page
    assert "Too few to train:" in page and "Each tag needs at least 5 images." in page

    add_images(project, 4, b)
    notes, page = health_notes(alice_client, project)
    assert notes == {"too-few"}
    assert "Alder (4)" in page and "Birch (4)" in page

    add_images(project, 1, a)  # Alder 5: trainable, still short of 30
    notes, page = health_notes(alice_client, project)
    assert notes == {"too-few", "low"}
    assert re.search(r'data-health="too-few".*Birch \(4\)', page, re.S)
    assert re.search(r'data-health="low".*Alder \(5\)', page, re.S)

    add_images(project, 24, a)  # Alder 29
    add_images(project, 1, b)  # Birch 5
    assert health_notes(alice_client, project)[0] == {"low", "imbalance"}

    add_images(project, 1, a)  # Alder 30: recommended count reached
    add_images(project, 10, b)  # Birch 15: Alder is exactly 2× Birch, within 1:2
    notes, page = health_notes(alice_client, project)
    assert notes == {"low"}
    assert "Birch (15)" in page and "Alder (" not in page

    add_images(project, 15, b)  # Birch 30
    assert health_notes(alice_client, project)[0] == {"ok"}

    add_images(project, 31, b)  # Birch 61 > 2 × 30
    notes, page = health_notes(alice_client, project)
    assert notes == {"imbalance"}
    assert "Birch has 61 images, 2.0× the 30 of Alder" in page


def test_health_on_multilabel_flags_small_tags_without_claiming_training_refuses(
    alice_client, multilabel_project
):
    add_images(multilabel_project, 3, TagFactory(project=multilabel_project, name="Alder"))
    add_images(multilabel_project, 40, TagFactory(project=multilabel_project, name="Birch"))
    notes, page = health_notes(alice_client, multilabel_project)
    assert "too-few" in notes
    assert "Too few images:" in page and "Custom Vision asks for at least 5 per tag." in page
    assert "Too few to train" not in page


def test_health_leaves_the_negative_tag_out_of_the_balance(alice_client, project):
    a = TagFactory(project=project, name="Alder")
    b = TagFactory(project=project, name="Birch")
    negative = TagFactory(project=project, name="Negative", type=Tag.Type.NEGATIVE)
    add_images(project, 30, a)
    add_images(project, 30, b)
    add_images(project, 100, negative)
    assert health_notes(alice_client, project)[0] == {"ok", "negative"}


def test_health_panel_is_the_owners_only(bob_client, project):
    TagFactory(project=project, name="Alder")
    assert bob_client.get(reverse("projects:images", args=[project.id])).status_code == 404


def test_settings_show_the_endpoint_resources_and_how_to_get_a_key(alice_client, alice, project):
    prediction, _keys = services.resource_create(owner=alice, name="p", kind="prediction")
    page = alice_client.get(reverse("projects:settings", args=[project.id])).content.decode()
    assert '<code id="endpoint">http://testserver</code>' in page
    assert str(project.resource.id) in page and str(prediction.id) in page
    assert "Training-Key" in page and "Regenerate Key 2" in page
