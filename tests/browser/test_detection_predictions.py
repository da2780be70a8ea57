"""Quick Test and Predictions of a detector in Chromium: the fork's box drawn where it is on the
photo, the Probability threshold slider showing the weaker boxes, and a kept prediction's boxes
corrected in the editor and saved into the training images. The detector is a stand-in that
always finds the same boxes (tests/prediction/detecting.py): no training."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects.models import Image
from tests.browser.test_quickstart import sign_in
from tests.prediction.detecting import FOUND, detector_with_stand_in
from tests.training.detection import TEST_PHOTO

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FITS = "document.documentElement.scrollWidth <= innerWidth"
# What sticks out sideways, when something does.
WIDE = (
    "() => [...document.querySelectorAll('body *')]"
    ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
    ".map(e => e.tagName + '#' + e.id + '.' + e.getAttribute('class')).slice(0, 12)"
)


def box_on_photo(page, scope: str, index: int) -> list[float]:
    """The drawn box's left, top, width and height as fractions of the photo on screen."""
    page.wait_for_function(
        "s => { const i = document.querySelector(s + ' .boxed img');"
        " return i.complete && i.naturalWidth; }",
        arg=scope,
    )
    return page.evaluate(
        """([scope, index]) => {
            const img = document.querySelector(scope + ' .boxed img').getBoundingClientRect();
            const rects = document.querySelectorAll(scope + ' g.box rect');
            const r = rects[index].getBoundingClientRect();
            return [(r.left - img.left) / img.width, (r.top - img.top) / img.height,
                    r.width / img.width, r.height / img.height];
        }""",
        [scope, index],
    )


def test_quick_test_draws_the_boxes_then_a_prediction_is_corrected_into_training(
    page, shot, live_server, alice, resource, monkeypatch
):
    iteration = detector_with_stand_in(alice, resource, monkeypatch)
    project = iteration.project
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append("dialog " + d.message))
    sign_in(page)
    page.goto(f"/projects/{project.id}/quicktest/")
    page.locator("#id_image").set_input_files(str(TEST_PHOTO))
    page.get_by_role("button", name="Test").click()

    boxes = page.locator("#quick-test-boxes g.box")
    expect(boxes).to_have_count(3)
    expect(boxes.nth(0)).to_be_visible()
    expect(boxes.nth(0)).to_contain_text("fork 92%")
    assert box_on_photo(page, "#quick-test-boxes", 0) == pytest.approx(FOUND[0][2:], abs=0.012)
    expect(boxes.nth(1)).to_be_hidden()
    rows = page.locator("#quick-test-predictions tbody tr")
    expect(rows.nth(1)).to_be_hidden()
    # Lowered to 30 %, the scissors at 31 % shows, in the photo and the table; 4 % stays hidden.
    page.get_by_label("Probability threshold").fill("30")
    expect(boxes.nth(1)).to_be_visible()
    expect(boxes.nth(1)).to_contain_text("scissors 31%")
    expect(rows.nth(1)).to_be_visible()
    expect(boxes.nth(2)).to_be_hidden()
    expect(page.locator("[data-box-count]")).to_have_text("2")
    shot(page, "detection-quick-test")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(FITS), page.evaluate(WIDE)
    assert box_on_photo(page, "#quick-test-boxes", 0) == pytest.approx(FOUND[0][2:], abs=0.012)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Predictions", exact=True).first.click()
    expect(page.locator("#prediction-grid g.box:not([hidden])")).to_have_count(1)
    page.locator("#prediction-grid a").first.click()
    # The editor starts with the fork's box; saving adds the photo to the training images.
    expect(page.locator(".region-editor .re-regions li")).to_have_count(1)
    shot(page, "detection-prediction")
    page.get_by_role("button", name="Save to training images").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.id}/images/[0-9a-f-]+/"))
    image = Image.objects.get(project=project, source=Image.Source.PREDICTION)
    [region] = image.regions.all()
    assert (region.tag.name, region.left, region.top) == (
        "fork",
        pytest.approx(0.10),
        pytest.approx(0.24),
    )
    assert errors == []
