"""Issue 26's labelling gaps on the server side (the browser side: tests/browser/
test_labelling_gaps.py): Delete image is a POST for the owner only, the Iteration filter lists
what the API's iterationId lists, project cards cost one query, search and sort work without
JS, and a typed tag joins the ticked ones."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects import selectors, services
from projects.models import Project
from projects.services import ImageUpload
from tests import images
from tests.factories import ProjectFactory
from training import selectors as training_selectors
from training.models import Iteration, IterationImage

pytestmark = pytest.mark.django_db


def _photos(project: Project, n: int) -> list:
    uploads = [ImageUpload(name=f"p{i}.jpg", data=d) for i, d in enumerate(images.distinct(n))]
    services.images_create(project=project, uploads=uploads)
    return list(selectors.image_list(project=project))


def test_delete_image_is_an_owners_post_then_the_next_image(alice_client, bob_client, project):
    newest, oldest = _photos(project, 2)
    url = reverse("projects:image_delete", args=[project.id, newest.id])
    assert alice_client.get(url).status_code == 405
    assert bob_client.post(url).status_code == 404
    back = reverse("projects:images", args=[project.id]) + "?state=all"
    response = alice_client.post(url, {"next": back})
    assert response.status_code == 302 and str(oldest.id) in response["Location"]
    last = alice_client.post(reverse("projects:image_delete", args=[project.id, oldest.id]))
    assert last["Location"] == reverse("projects:images", args=[project.id])
    assert not selectors.active_images(project).exists()


def test_the_iteration_filter_lists_what_the_api_lists(alice_client, project):
    shown = _photos(project, 3)
    iteration = Iteration.objects.create(
        project=project,
        name="Iteration 1",
        domain_id=project.domain_id,
        classification_type=project.classification_type,
        fingerprint="x",
        status=Iteration.Status.COMPLETED,
    )
    for image in shown[1:]:
        IterationImage.objects.create(iteration=iteration, image=image)
    api = training_selectors.iteration_image_list(
        iteration=iteration, state="all", tag_ids=None, where=None
    )
    url = reverse("projects:images", args=[project.id])
    page = alice_client.get(url, {"iteration": str(iteration.id)})
    assert [i.id for i in page.context["page"].items] == [i.id for i in api]
    assert page.context["matching"] == 2
    # "Every image the filter matches" re-applies the iteration too.
    bulk = alice_client.post(
        reverse("projects:bulk", args=[project.id]),
        {
            "action": "tag",
            "tag_name": "Old",
            "scope": "matching",
            "filter_state": "all",
            "filter_iteration": str(iteration.id),
            "expected": 2,
        },
    )
    assert bulk.status_code == 302
    assert selectors.image_count(project=project, state="tagged") == 2


def test_project_cards_search_and_sort_without_js(
    alice_client, alice, project, resource, django_assert_num_queries
):
    newest = _photos(project, 2)[0]
    ProjectFactory(owner=alice, resource=resource, name="Alpha", description="Tree photos")
    ProjectFactory(owner=alice, resource=resource, name="Zulu")
    with django_assert_num_queries(1):  # every card's picture in the same query
        cards = list(selectors.project_list(user=alice))
    assert {p.name: p.cover_id for p in cards}[project.name] == newest.id
    page = alice_client.get(reverse("projects:list"), {"q": "TREE", "sort": "name"})
    assert [p.name for p in page.context["projects"]] == ["Alpha"]
    page = alice_client.get(reverse("projects:list"), {"sort": "name"})
    assert [p.name for p in page.context["projects"]] == sorted(
        [project.name, "Alpha", "Zulu"], key=str.lower
    )
    nothing = alice_client.get(reverse("projects:list"), {"q": "nothing like it"})
    assert "No project matches" in nothing.content.decode()


def test_a_typed_tag_joins_the_ticked_ones(alice_client, multilabel_project):
    [image] = _photos(multilabel_project, 1)
    [alder] = services.tags_get_or_create(project=multilabel_project, names=["Alder"])
    url = reverse("projects:image", args=[multilabel_project.id, image.id])
    response = alice_client.post(url, {"tags": [str(alder.id)], "new_tag": "  new  Birch "})
    assert response.status_code == 302 and response["Location"].startswith(url)
    assert sorted(image.tags.values_list("name", flat=True)) == ["Alder", "new Birch"]
    # The same name in another case is the same tag, not a second one.
    alice_client.post(url, {"new_tag": "NEW BIRCH"})
    assert list(image.tags.values_list("name", flat=True)) == ["new Birch"]
    assert multilabel_project.tags.count() == 2
