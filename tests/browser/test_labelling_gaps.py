"""Issue 26's labelling gaps in Chromium, by keyboard where a user would use it: a skip link,
the Iteration filter, upload previews, a New tag typed in image and prediction detail, ← / →
between images (not while typing; the region editor's arrows nudge a selected region), Delete
image with an in-page confirmation, and Projects' pictures, search and sort. axe finds nothing
on each changed page; no console error, page error or browser dialog."""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core import storage
from prediction.models import StoredPrediction
from projects import selectors, services
from projects.models import Image, Tag
from projects.services import ImageUpload
from tests import images
from tests.browser.a11y import assert_accessible, assert_fits
from tests.browser.test_quickstart import sign_in
from tests.factories import ProjectFactory
from tests.training.detection import add_sample_photos, detection_project
from training.models import Iteration, IterationImage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trees(alice, resource):
    """A Multiclass project "Trees": four photos, the two oldest tagged Alder, an iteration
    trained on those two, and a stored prediction. Returns (project, images newest first)."""
    project = ProjectFactory(owner=alice, resource=resource, name="Trees", description="Park")
    results = services.images_create(
        project=project,
        uploads=[
            ImageUpload(name=f"tree-{i}.jpg", data=d) for i, d in enumerate(images.distinct(4))
        ],
    )
    alder = services.tags_get_or_create(project=project, names=["Alder"])[0]
    shown = list(selectors.image_list(project=project))
    services.images_tags_add(project=project, image_ids=[i.id for i in shown[2:]], tags=[alder])
    iteration = Iteration.objects.create(
        project=project,
        name="Iteration 1",
        domain_id=project.domain_id,
        classification_type=project.classification_type,
        fingerprint="x",
        status=Iteration.Status.COMPLETED,
        trained_at=timezone.now(),
        tags=[{"id": str(alder.id), "name": "Alder", "type": "Regular"}],
    )
    for image in shown[2:]:
        IterationImage.objects.create(iteration=iteration, image=image, tag_ids=[str(alder.id)])
    prediction_id = uuid.uuid4()
    name = storage.save(
        f"{storage.prediction_base(project.id, prediction_id)}.jpg", images.solid(color=(9, 99, 9))
    )
    StoredPrediction.objects.create(
        id=prediction_id,
        project=project,
        iteration=iteration,
        file=name,
        content_hash="f" * 64,
        width=300,
        height=300,
        predictions=[
            {"tagId": str(alder.id), "tagName": "Alder", "tagType": "Regular", "probability": 0.2}
        ],
    )
    assert all(r.status.ok for r in results)
    return project, shown


def _path(page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url).split("?")[0]


def _image_path(project, image) -> str:
    return f"/projects/{project.id}/images/{image.id}/"


def test_skip_link_iteration_filter_and_upload_previews(
    page, browser_errors, shot, trees, tmp_path
):
    project, shown = trees
    sign_in(page)
    page.goto(f"/projects/{project.id}/images/")
    # The skip link is the first Tab stop, shows when focused and lands in <main>.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "content"
    # Iteration filter, by keyboard: the images that iteration trained on.
    select = page.get_by_label("Iteration")
    expect(select.locator("option")).to_have_text(["All images", "Iteration 1"])
    select.focus()
    page.keyboard.press("ArrowDown")
    expect(page).to_have_url(re.compile(r"iteration="))
    tiles = page.locator(".image-grid .thumb")
    expect(tiles).to_have_count(2)
    assert [tiles.nth(i).get_attribute("data-image-id") for i in range(2)] == [
        str(i.id) for i in shown[2:]
    ]
    assert_accessible(page)
    page.set_viewport_size({"width": 390, "height": 800})  # a phone: the dialog too
    assert_fits(page)
    # Upload previews: thumbnails from object URLs (CSP allows blob:), the first 24 only.
    files = []
    for i, data in enumerate(images.distinct(26)):
        files.append(tmp_path / f"new-{i:02}.jpg")
        files[-1].write_bytes(data)
    page.get_by_role("button", name="Add images").click()
    page.locator("#id_files").set_input_files([str(f) for f in files])
    previews = page.locator("#upload-previews img")
    expect(previews).to_have_count(24)
    expect(page.locator("#upload-previews")).to_contain_text("and 2 more")
    assert previews.first.get_attribute("src").startswith("blob:")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#upload-previews img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    shot(page, "labelling-gaps-upload-previews")
    assert_accessible(page, "#add-images")
    assert_fits(page)


def test_new_tag_arrow_keys_and_delete_in_image_detail(page, browser_errors, shot, trees):
    project, shown = trees
    sign_in(page)
    page.goto(_image_path(project, shown[0]))
    # A new tag typed, then Enter: created, the image's tag, and the page stays on the image.
    page.get_by_label("New tag").fill("Cedar")
    page.get_by_label("New tag").press("Enter")
    expect(page.get_by_label("Cedar")).to_be_checked()
    assert _path(page) == _image_path(project, shown[0])
    assert list(shown[0].tags.values_list("name", flat=True)) == ["Cedar"]
    # ← / → move between images, not while typing in a field.
    page.locator("h1").first.click()
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(re.compile(str(shown[1].id)))
    page.wait_for_load_state()
    page.get_by_label("New tag").click()
    page.keyboard.type("x")
    page.keyboard.press("ArrowLeft")
    assert _path(page) == _image_path(project, shown[1])
    page.get_by_label("New tag").fill("")
    page.locator("h1").first.click()
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(re.compile(str(shown[0].id)))
    # An unsaved tick is not thrown away by an arrow: it is saved, then the next image opens.
    page.get_by_label("Alder").check()
    page.locator("h1").first.click()  # off the radio buttons, whose arrows move the choice
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(re.compile(str(shown[1].id)))
    assert list(shown[0].tags.values_list("name", flat=True)) == ["Alder"]
    page.wait_for_load_state()  # the page's script listens from DOMContentLoaded on
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(re.compile(str(shown[0].id)))
    page.wait_for_load_state()
    # Delete image by keyboard: an in-page confirmation (Escape cancels), then the next image.
    delete = page.get_by_role("button", name="Delete image")
    delete.focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Delete", exact=True)
    expect(confirm).to_be_focused()
    shot(page, "labelling-gaps-image-detail")
    assert_accessible(page)
    for width in (820, 390):  # a tablet, a phone
        page.set_viewport_size({"width": width, "height": 900})
        assert_fits(page)
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(delete).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(str(shown[1].id)))
    expect(page.get_by_role("status").first).to_contain_text("Deleted tree-")
    assert not selectors.active_images(project).filter(id=shown[0].id).exists()


def test_new_tag_in_prediction_detail(page, browser_errors, trees):
    project, _ = trees
    stored = StoredPrediction.objects.get(project=project)
    sign_in(page)
    page.goto(f"/projects/{project.id}/predictions/{stored.id}/")
    assert_accessible(page)
    page.get_by_label("New tag").fill("Maple")
    page.get_by_label("New tag").press("Enter")
    expect(page.get_by_text("moved into the training images")).to_be_visible()
    maple = Tag.objects.get(project=project, name="Maple")
    assert Image.objects.filter(project=project, tags=maple).count() == 1


def test_arrow_keys_beside_the_region_editor_and_delete(
    page, browser_errors, shot, alice, resource
):
    project = detection_project(alice, resource)
    add_sample_photos(project, 1)
    first, second = selectors.image_list(project=project)
    region = first.regions.get()
    sign_in(page)
    page.goto(_image_path(project, first))
    expect(page.locator("[data-region-editor]")).to_have_attribute("data-proposals", "ready")
    page.keyboard.press("Tab")  # from the page's start: the skip link, not the regions
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.locator(".re-stage").focus()
    # A selected region: → nudges it (and it saves), the page stays.
    page.keyboard.press("n")
    page.keyboard.press("ArrowRight")
    expect(page.locator(".re-status")).to_have_text("Saved")
    assert _path(page) == _image_path(project, first)
    assert first.regions.get().left > region.left
    # None selected: → is the next image, ← the previous.
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(re.compile(str(second.id)))
    expect(page.locator("[data-region-editor]")).to_have_attribute("data-proposals", "ready")
    page.locator(".re-stage").focus()
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(re.compile(str(first.id)))
    page.get_by_role("button", name="Delete image").click()
    shot(page, "labelling-gaps-detection-delete")
    assert_accessible(page)
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page).to_have_url(re.compile(str(second.id)))
    assert list(selectors.image_list(project=project)) == [second]


def test_project_cards_search_and_sort(page, browser_errors, shot, trees, alice):
    project, shown = trees
    ProjectFactory(owner=alice, resource=project.resource, name="Woods", description="trees too")
    ProjectFactory(owner=alice, resource=project.resource, name="Animals")
    sign_in(page)
    page.goto("/projects/")
    cards = page.locator(".project-card")
    trees_card = cards.filter(has_text="Trees")
    cover = trees_card.locator("img.project-cover")
    expect(cover).to_have_attribute("src", re.compile(f"{shown[0].id}/thumbnail/"))
    expect(cover).to_have_js_property("complete", True)
    assert cover.evaluate("i => i.naturalWidth") > 0
    expect(cards.filter(has_text="Animals").locator(".placeholder")).to_have_text("No images yet")
    assert_accessible(page)
    # Search by keyboard (name or description, any case), then sort by name.
    page.get_by_label("Search projects").fill("TREES")
    page.get_by_label("Search projects").press("Enter")
    expect(cards.locator("h2")).to_have_text(["Woods", "Trees"])  # last modified first
    page.get_by_label("Sort by").focus()  # a sort chosen by keyboard applies at once
    page.keyboard.press("End")
    expect(cards.locator("h2")).to_have_text(["Trees", "Woods"])
    assert "q=TREES" in page.url and "sort=name" in page.url
    shot(page, "labelling-gaps-projects")
    page.set_viewport_size({"width": 390, "height": 800})
    assert_fits(page)
    assert_accessible(page)
