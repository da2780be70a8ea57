"""The portal's pages for an object-detection project (its own pages are issue 25): what
exists today opens, keeps the project's type, and refuses tagging without a region."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects import services
from projects.domains import DOMAINS, GENERAL_DETECTION, OBJECT_DETECTION
from projects.models import Project
from projects.services import ImageUpload
from tests import images
from tests.factories import ProjectFactory

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
    assert "Products on Shelves" in page and GENERAL_DETECTION.description in page
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
