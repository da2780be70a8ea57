"""The portal's pages for an object-detection project (its own pages are issue 25): what
exists today opens, keeps the project's type, and refuses tagging without a region."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from prediction.models import Suggestion
from projects import services
from projects.domains import DOMAINS, GENERAL_DETECTION, OBJECT_DETECTION
from projects.models import Image, Project
from projects.services import ImageUpload
from tests import images
from tests.factories import ProjectFactory
from training.models import Iteration

pytestmark = pytest.mark.django_db


@pytest.fixture
def od(alice, resource):
    return ProjectFactory(owner=alice, resource=resource, domain_id=GENERAL_DETECTION.id)


def test_settings_offer_the_domains_of_the_projects_type(alice_client, od):
    url = reverse("projects:settings", args=[od.id])
    page = alice_client.get(url).content.decode()
    assert "Products on Shelves" in page and "Landmarks" not in page
    compact = next(d for d in DOMAINS if d.type == OBJECT_DETECTION and d.exportable)
    form = {
        "name": od.name,
        "description": "",
        "resource": str(od.resource_id),
        "classification_type": "Multiclass",
        "domain_id": str(compact.id),
    }
    assert alice_client.post(url, form).status_code == 302
    od.refresh_from_db()
    assert od.domain == compact
    classifier = next(d for d in DOMAINS if d.type != OBJECT_DETECTION)
    response = alice_client.post(url, {**form, "domain_id": str(classifier.id)})
    assert response.status_code == 400
    od.refresh_from_db()
    assert od.domain == compact


def test_training_images_show_a_detectors_minimum_and_tagging_needs_a_region(alice_client, od):
    fork = services.tag_create(project=od, name="fork")
    (result,) = services.images_create(
        project=od,
        uploads=[
            ImageUpload(name="f.jpg", data=images.solid(), regions=[(fork.id, 0.1, 0.1, 0.5, 0.5)])
        ],
    )
    page = alice_client.get(reverse("projects:images", args=[od.id])).content.decode()
    assert "Each tag needs at least 15 images." in page
    assert "training needs at least 1 tag with images" not in page  # fork has one
    image_url = reverse("projects:image", args=[od.id, result.image.id])
    response = alice_client.post(image_url, {"tags": [str(fork.id)]})
    assert response.status_code == 400
    assert "tagged by its regions" in response.content.decode()
    assert result.image.regions.count() == 1


def test_new_project_offers_object_detection_and_checks_the_domain_fits(alice_client, resource):
    url = reverse("projects:create")
    page = alice_client.get(url).content.decode()
    for words in ("Project Types", "Object Detection", "Classification Types", "Domains"):
        assert words in page
    assert "Products on Shelves" in page and html.escape(GENERAL_DETECTION.description) in page
    form = {"name": "Cutlery", "resource": str(resource.id), "project_type": "ObjectDetection"}
    classifier = next(d for d in DOMAINS if d.type != OBJECT_DETECTION)
    refused = alice_client.post(url, {**form, "domain_id": str(classifier.id)})
    assert refused.status_code == 400
    assert "choose one of the Object Detection domains" in refused.content.decode()
    done = alice_client.post(url, {**form, "domain_id": str(GENERAL_DETECTION.id)})
    project = Project.objects.get(name="Cutlery")
    assert done.status_code == 302 and project.is_detection
    header = alice_client.get(done.url).content.decode()
    assert '<span class="badge">Object Detection</span>' in header
    listed = alice_client.get(reverse("projects:list")).content.decode()
    assert "Object Detection · General" in listed


_colours = iter(range(1, 250))


def _jpeg() -> bytes:
    n = next(_colours)
    return images.solid(color=(n, 255 - n, (n * 7) % 256))


def _photo(project, name, *boxes):
    upload = ImageUpload(name=name, data=_jpeg(), regions=list(boxes))
    (result,) = services.images_create(project=project, uploads=[upload])
    return result.image


def test_training_images_draw_boxes_and_filter_by_the_tags_of_regions(
    alice_client, od, django_assert_max_num_queries
):
    fork, spoon = (services.tag_create(project=od, name=n) for n in ("fork", "spoon"))
    both = _photo(od, "both.jpg", (fork.id, 0.1, 0.2, 0.3, 0.4), (spoon.id, 0.5, 0.5, 0.25, 0.25))
    only_fork = _photo(od, "fork.jpg", (fork.id, 0.2, 0.2, 0.2, 0.2))
    bare = _photo(od, "bare.jpg")
    for n in range(6):
        _photo(od, f"more{n}.jpg", (spoon.id, 0.1, 0.1, 0.1, 0.1))
    url = reverse("projects:images", args=[od.id])
    with django_assert_max_num_queries(10):  # regions prefetched: no query per tile
        page = alice_client.get(url).content.decode()
    assert page.count('<g class="box">') == 9
    assert 'x="10.0000%" y="20.0000%" width="30.0000%" height="40.0000%"' in page
    assert 'data-tag-count="fork">2<' in page and 'data-tag-count="spoon">7<' in page
    assert 'data-count="tagged">8<' in page and 'data-count="untagged">1<' in page

    def shown(**query):
        html = alice_client.get(url, query).content.decode()
        return {i for i in (both, only_fork, bare) if f'data-image-id="{i.id}"' in html}

    assert shown(tag=str(fork.id)) == {both, only_fork}
    assert shown(state="untagged") == {bare}
    # Drawing the first box tags the image; deleting the last one untags it again.
    services.regions_replace(image=bare, boxes=[(fork, 0.3, 0.3, 0.3, 0.3)])
    services.regions_replace(image=only_fork, boxes=[])
    assert shown(tag=str(fork.id)) == {both, bare}
    assert shown(state="untagged") == {only_fork}


def test_a_detectors_upload_and_bulk_actions_leave_tags_to_the_boxes(alice_client, od):
    fork = services.tag_create(project=od, name="fork")
    image = _photo(od, "f.jpg", (fork.id, 0.1, 0.1, 0.5, 0.5))
    page = alice_client.get(reverse("projects:images", args=[od.id])).content.decode()
    assert "My Tags" not in page and "come from the boxes you draw" in page
    assert "Tag as" not in page and "Remove tag" not in page and "Delete images" in page
    upload = reverse("projects:upload", args=[od.id])
    added = alice_client.post(
        upload, {"files": [SimpleUploadedFile("new.jpg", _jpeg(), "image/jpeg")]}
    )
    assert added.status_code == 200 and od.images.count() == 2
    tagged = alice_client.post(
        upload, {"files": [SimpleUploadedFile("t.jpg", _jpeg(), "image/jpeg")], "tag": ["fork"]}
    )
    assert tagged.status_code == 400 and od.images.count() == 2
    bulk = reverse("projects:bulk", args=[od.id])
    refused = alice_client.post(
        bulk,
        {"action": "untag", "images": [str(image.id)], "tag_name": "fork"},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 400 and "boxes drawn" in refused.json()["errors"][0]
    assert image.regions.count() == 1
    deleted = alice_client.post(bulk, {"action": "delete", "images": [str(image.id)]})
    assert deleted.status_code == 302 and od.images.count() == 1


def _suggesting(od, tag, **boxes_by_image):
    """A trained detection iteration (no model needed: its suggestions are stored already)."""
    iteration = Iteration.objects.create(
        project=od,
        name="Iteration 1",
        domain_id=od.domain_id,
        fingerprint="x",
        status=Iteration.Status.COMPLETED,
        trained_at=timezone.now(),
        tags=[{"id": str(tag.id), "name": tag.name, "type": "Regular"}],
    )
    for image, (uncertainty, found) in boxes_by_image.items():
        predictions = [
            {
                "tagId": str(tag.id),
                "tagName": tag.name,
                "probability": p,
                "boundingBox": dict(zip(("left", "top", "width", "height"), box, strict=True)),
            }
            for p, box in found
        ]
        Suggestion.objects.create(
            iteration=iteration,
            image=Image.objects.get(original_name=f"{image}.jpg", project=od),
            predictions=predictions,
            uncertainty=uncertainty,
            top_tag_id=tag.id,
            top_probability=found[0][0] if found else 0.0,
        )
    return iteration


def test_suggested_objects_draw_drafts_and_accept_or_discard_them(alice_client, od):
    fork = services.tag_create(project=od, name="fork")
    sure, unsure, nothing = (_photo(od, f"{n}.jpg") for n in ("sure", "unsure", "nothing"))
    iteration = _suggesting(
        od,
        fork,
        sure=(0.2, [(0.9, (0.1, 0.2, 0.3, 0.4))]),
        unsure=(0.9, [(0.55, (0.5, 0.5, 0.2, 0.2)), (0.1, (0.0, 0.0, 0.5, 0.5))]),
        nothing=(1.0, []),
    )
    url = reverse("prediction:suggested", args=[od.id])
    page = alice_client.get(url).content.decode()
    assert "Suggested objects for untagged images" in page
    order = [page.index(f'data-image-id="{i.id}"') for i in (nothing, unsure, sure)]
    assert order == sorted(order)  # most uncertain first
    assert page.count('class="box box-draft"') == 2  # the 10 % guess is no draft
    assert 'x="10.0000%" y="20.0000%" width="30.0000%" height="40.0000%"' in page
    correct = reverse("projects:image", args=[od.id, sure.id]) + f"?suggested={iteration.id}"
    assert correct in page

    drafts = alice_client.get(reverse("prediction:image_suggestion", args=[od.id, unsure.id]))
    assert drafts.json() == {
        "drafts": [
            {"tag_id": str(fork.id), "tag_name": "fork", "probability": 0.55}
            | {"left": 0.5, "top": 0.5, "width": 0.2, "height": 0.2}
        ]
    }

    assert alice_client.post(url, {"one": f"accept:{sure.id}"}).status_code == 302
    region = sure.regions.get()
    assert (region.tag, region.left, region.top, region.width, region.height) == (
        fork,
        *(0.1, 0.2, 0.3, 0.4),
    )
    alice_client.post(url, {"action": "discard", "image": [str(unsure.id), str(nothing.id)]})
    assert not unsure.regions.exists()
    page = alice_client.get(url).content.decode()
    assert "data-image-id=" not in page and "No untagged images with suggested objects" in page


def _code(page: str, language: str) -> str:
    match = re.search(rf'<code id="snippet-{language}">(.*?)</code>', page, re.S)
    assert match, f"no {language} snippet"
    return html.unescape(match.group(1))


def test_the_api_page_and_export_dialog_speak_detect_for_a_detector(alice_client, od, tmp_path):
    fork = services.tag_create(project=od, name="fork")
    iteration = _suggesting(od, fork)
    Iteration.objects.filter(pk=iteration.pk).update(
        publish_name="detectModel", published_at=timezone.now()
    )
    page = alice_client.get(reverse("api_page"), {"project": str(od.id)}).content.decode()
    python, javascript, curl = (_code(page, x) for x in ("python", "javascript", "curl"))
    assert f'project_id = "{od.id}"' in python
    assert "predictor.detect_image(project_id, publish_iteration_name, test_data)" in python
    assert 'domain.type == "ObjectDetection"' in python and "Region(" in python
    compile(python, "snippet.py", "exec")  # as pasted, it parses
    assert "await predictor.detectImage(projectId, publishIterationName, testFile)" in javascript
    if node := shutil.which("node"):
        (tmp_path / "snippet.js").write_text(javascript)
        subprocess.run([node, "--check", str(tmp_path / "snippet.js")], check=True)
    assert f"/prediction/{od.id}/detect/iterations/detectModel/image" in curl
    assert "classify" not in python + javascript + curl
    # A classifier's page is as it was; ?type= shows a detector's without a project.
    classic = alice_client.get(reverse("api_page")).content.decode()
    assert "classify_image" in _code(classic, "python") and "detect_image" not in classic
    typed = alice_client.get(reverse("api_page"), {"type": "ObjectDetection"}).content.decode()
    assert "detect_image(project_id" in _code(typed, "python")

    performance = reverse("training:performance", args=[od.id, iteration.id])
    page = alice_client.get(performance).content.decode()
    assert "An exported detector answers boxes" in page and "object_detection sample" in page
    assert f"/Prediction/{od.id}/detect/iterations/detectModel/image" in page


def test_correct_opens_the_editor_with_the_iterations_drafts(alice_client, od):
    fork = services.tag_create(project=od, name="fork")
    image = _photo(od, "sure.jpg")
    iteration = _suggesting(od, fork, sure=(0.2, [(0.9, (0.1, 0.2, 0.3, 0.4))]))
    url = reverse("projects:image", args=[od.id, image.id])
    drafts = reverse("prediction:image_suggestion", args=[od.id, image.id])
    page = alice_client.get(url, {"suggested": str(iteration.id)}).content.decode()
    assert f'data-drafts-url="{drafts}?iteration={iteration.id}"' in page
    assert "data-drafts-url" not in alice_client.get(url).content.decode()
    answer = alice_client.get(drafts, {"iteration": str(iteration.id)}).json()
    assert [d["tag_name"] for d in answer["drafts"]] == ["fork"]
