"""Every page of an object-detection project, at a laptop's and a phone's width: axe-core finds
no accessibility violation, nothing is wider than the screen, and the browser reports no error
and opens no dialog. The detector is trained in-process on a few sample photos (the walk in
test_detection_quickstart.py trains through a real worker)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from prediction.services import prediction_detect
from projects import rules
from projects import services as project_services
from projects.models import Resource
from projects.services import ImageUpload
from tests.browser.a11y import assert_accessible, assert_fits
from tests.browser.test_quickstart import sign_in
from tests.factories import ResourceFactory
from tests.training.detection import TEST_PHOTO, add_sample_photos, detection_project
from training import services as training_services
from training.models import Iteration

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {
    "laptop": {"width": 1280, "height": 900},
    "tablet": {"width": 820, "height": 1180},
    "phone": {"width": 390, "height": 844},
}


@pytest.fixture
def detector(alice, resource, monkeypatch):
    """Six forks and six scissors with their boxes, trained (Quick) in this process, published."""
    monkeypatch.setattr(rules, "MIN_IMAGES_PER_TAG_DETECTION", 6)
    project = detection_project(alice, resource)
    add_sample_photos(project, 6)
    iteration = training_services.iteration_train_start(project=project)
    training_services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.status == Iteration.Status.COMPLETED, iteration.error
    prediction = ResourceFactory(
        owner=alice, name="cutlery-prediction", kind=Resource.Kind.PREDICTION
    )
    training_services.iteration_publish(
        iteration=iteration, publish_name="cutlery", prediction_resource=prediction
    )
    # One photo without a box (for Suggested objects) and one stored prediction.
    upload = ImageUpload(name="test_image.jpg", data=TEST_PHOTO.read_bytes())
    assert project_services.images_create(project=project, uploads=[upload])[0].status.ok
    prediction_detect(iteration=iteration, data=TEST_PHOTO.read_bytes(), store=True)
    return project, iteration


def check(page, shot, name: str) -> None:
    for width, size in WIDTHS.items():
        page.set_viewport_size(size)
        shot(page, f"detection-{name}-{width}")
        assert_fits(page)
        assert_accessible(page)
    page.set_viewport_size(WIDTHS["laptop"])


def test_every_detection_page_is_accessible_and_fits(page, shot, detector, browser_errors):
    project, iteration = detector
    sign_in(page)
    page.goto("/projects/new/")
    check(page, shot, "new-project")

    page.goto(f"/projects/{project.id}/images/")
    check(page, shot, "training-images")
    page.get_by_role("button", name="Add images").click()
    expect(page.locator("dialog[open]")).to_be_visible()
    check(page, shot, "add-images")
    page.keyboard.press("Escape")

    image = project.images.order_by("created_at").first()
    page.goto(f"/projects/{project.id}/images/{image.id}/")
    check(page, shot, "image")

    page.goto(f"/projects/{project.id}/performance/{iteration.id}/")
    expect(page.locator("#iteration-status")).to_have_text("Completed")
    check(page, shot, "performance")

    page.goto(f"/projects/{project.id}/predictions/")
    check(page, shot, "predictions")
    page.locator("a[href*='/predictions/']").filter(has=page.locator("img")).first.click()
    check(page, shot, "prediction")

    page.goto(f"/projects/{project.id}/settings/")
    check(page, shot, "settings")

    page.goto(f"/projects/{project.id}/images/suggested/")
    check(page, shot, "suggested")
    untagged = project.images.get(original_name="test_image.jpg")
    page.goto(f"/projects/{project.id}/images/{untagged.id}/?suggested={iteration.id}")
    expect(page.locator("[data-region-editor][data-drafts-url]")).to_have_count(1)
    page.wait_for_load_state("networkidle")  # the drafts, when the model has any
    check(page, shot, "image-with-drafts")

    page.goto(f"/projects/{project.id}/quicktest/")
    check(page, shot, "quick-test")
    page.locator('input[type="file"]').set_input_files(str(TEST_PHOTO))
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.locator("figure.tested, .tested")).to_be_visible()
    check(page, shot, "quick-test-result")
