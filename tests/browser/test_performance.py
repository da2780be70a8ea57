"""The Performance tab in a real browser, on the sample photos trained by a real worker:
numbers, the threshold slider, a confusion-matrix cell, publish, Quick Test of the sample's
test photo, moving that stored prediction into training, unpublish and delete."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engine.metrics import at_threshold
from projects import services as project_services
from projects.models import Resource
from tests.browser.test_quickstart import sign_in
from tests.factories import ResourceFactory
from training import services
from training.models import Iteration
from training.templatetags.training_format import percent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}


def expect_numbers(page, metrics, threshold: float) -> None:
    numbers = at_threshold(metrics, threshold)
    expect(page.locator("#threshold-value")).to_have_text(f"{round(threshold * 100)}%")
    expect(page.locator("#overall-precision")).to_have_text(
        percent(numbers["overall"]["precision"])
    )
    expect(page.locator("#overall-recall")).to_have_text(percent(numbers["overall"]["recall"]))
    rows = page.locator("#tag-performance tbody tr")
    for i, tag in enumerate(numbers["tags"]):
        expect(rows.nth(i).locator(".tag-precision")).to_have_text(percent(tag["precision"]))
        expect(rows.nth(i).locator(".tag-recall")).to_have_text(percent(tag["recall"]))


def at_phone_width(page, shot, name: str) -> None:
    """Screenshot at phone width, where nothing of this page's own content may stick out
    sideways (the project header is shared; wide tables scroll inside their own box)."""
    page.set_viewport_size(PHONE)
    wide = page.evaluate(
        "() => [...document.querySelectorAll('.workspace, .workspace *, .images-page *')]"
        ".filter(e => !e.closest('.table-scroll *'))"
        ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
        ".map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
    )
    assert wide == []
    shot(page, name)
    page.set_viewport_size(LAPTOP)


@pytest.mark.worker
def test_performance_tab(page, shot, live_server, alice, sample_project, start_worker, sample_dir):
    ResourceFactory(owner=alice, name="trees-prediction", kind=Resource.Kind.PREDICTION)
    start_worker("performance-trainer")
    iteration = services.iteration_train_start(project=sample_project)
    sign_in(page)
    page.goto(f"/projects/{sample_project.id}/performance/")
    # The page follows the training and reloads itself when it is done.
    expect(page.locator("#iteration-status")).to_have_text("Completed", timeout=180_000)
    expect(page).to_have_title(re.compile(r"^Iteration 1 · Performance · "))
    iteration.refresh_from_db()
    metrics = iteration.metrics
    _opens_at_50_percent(page, shot, metrics)
    _move_the_slider_by_keyboard(page, shot, metrics)
    _open_a_confusion_matrix_cell(page, shot, iteration)
    _publish_through_the_dialog(page, shot, live_server, sample_project)
    _quick_test_then_save_into_training(page, shot, sample_dir, sample_project, iteration)
    _unpublish_then_delete(page, sample_project, iteration)


def _opens_at_50_percent(page, shot, metrics):
    """Opens at 50 %, with the stored numbers; AP as stored."""
    expect(page.locator("#threshold")).to_have_value("50")
    expect_numbers(page, metrics, 0.5)
    expect(page.locator("#overall-ap")).to_have_text(
        percent(metrics["overall"]["average_precision"])
    )
    expect(page.locator("#tag-performance")).to_contain_text("Japanese Cherry")
    expect(page.locator(".curves svg polyline")).to_have_count(2)
    expect(page.locator("#iteration-weights")).to_contain_text("efficientnet-lite0")
    shot(page, "20-performance")
    at_phone_width(page, shot, "20-performance-phone")


def _move_the_slider_by_keyboard(page, shot, metrics):
    """At 0 % every tag is predicted for every image, so precision halves (two tags) and
    recall is complete; the numbers change without a request."""
    slider = page.locator("#threshold")
    slider.focus()
    slider.press("Home")
    expect_numbers(page, metrics, 0.0)
    expect(page.locator("#overall-precision")).to_have_text("50.0%")
    expect(page.locator("#overall-recall")).to_have_text("100.0%")
    shot(page, "21-performance-threshold")
    for _ in range(5):
        slider.press("ArrowRight")
    expect_numbers(page, metrics, 0.05)
    page.reload()
    expect_numbers(page, metrics, 0.5)


def _open_a_confusion_matrix_cell(page, shot, iteration):
    """From the out-of-fold probabilities: open Hemlock → Hemlock."""
    matrix = page.locator("#confusion-matrix")
    expect(matrix.locator("tbody th")).to_have_text(["Hemlock", "Japanese Cherry"])
    names = [tag["name"] for tag in iteration.tags]
    index = names.index("Hemlock")
    count = sum(
        1
        for row in iteration.images.all()
        if row.tag_ids == [iteration.tags[index]["id"]]
        and max(range(len(names)), key=lambda i: row.probabilities[i]) == index
    )
    assert count > 0
    hemlock = matrix.get_by_role("link", name=f"{count} images tagged Hemlock, predicted Hemlock")
    expect(hemlock).to_have_text(str(count))
    hemlock.click()
    expect(page.get_by_role("heading", name="Tagged Hemlock, predicted Hemlock")).to_be_visible()
    thumbs = page.locator(".outcome img")
    expect(thumbs).to_have_count(count)
    thumbs.first.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.outcome img')].every(i => i.naturalWidth > 0)"
    )
    shot(page, "22-confusion-cell")
    at_phone_width(page, shot, "23-confusion-cell-phone")
    page.get_by_role("link", name=re.compile("Iteration 1 performance")).click()


def _publish_through_the_dialog(page, shot, live_server, sample_project):
    """The Prediction URL panel appears."""
    page.get_by_role("button", name="Publish", exact=True).click()
    dialog = page.locator("dialog#publish-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Model name")).to_have_value("Iteration1")
    dialog.get_by_label("Model name").fill("treeModel")
    dialog.get_by_label("Prediction resource", exact=True).select_option(label="trees-prediction")
    shot(page, "24-publish-dialog")
    dialog.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Published Iteration 1 as 'treeModel'.")).to_be_visible()
    panel = page.locator("#prediction-url")
    endpoint = (
        f"{live_server.url}/customvision/v3.0/Prediction/{sample_project.id}"
        "/classify/iterations/treeModel"
    )
    expect(panel.locator("#url-image")).to_have_text(f"{endpoint}/image")
    expect(panel.locator("#url-url")).to_have_text(f"{endpoint}/url")
    expect(panel).to_contain_text("Prediction-Key")
    expect(panel).to_contain_text("application/octet-stream")
    expect(panel.locator("#curl-image")).to_contain_text(f'curl -X POST "{endpoint}/image"')
    copy = panel.locator('button[data-copy="curl-image"]')
    copy.click()
    # Copied where the clipboard API is allowed, else the text is selected for Ctrl+C.
    expect(copy).to_have_text(re.compile("^(Copied|Selected)$"))
    expect(page.locator("#copy-status")).to_have_text(re.compile("^(Copied|Selected)"))
    expect(page.locator(".iteration-list .status-published")).to_have_text("Published")
    expect(page.get_by_role("button", name="Delete")).to_be_disabled()
    shot(page, "25-published")
    at_phone_width(page, shot, "26-published-phone")


def _quick_test_then_save_into_training(page, shot, sample_dir, sample_project, iteration):
    """Quick Test the sample's test photo with this iteration, keeping it; then, in
    Predictions, Save and close moves it into the training images as a Hemlock."""
    page.get_by_role("link", name="Quick Test").click()
    page.get_by_label("Browse local files").set_input_files(
        str(sample_dir / "Test" / "test_image.jpg")
    )
    page.get_by_label("Save the image in Predictions").check()
    page.get_by_role("button", name="Test").click()
    first = page.locator("#quick-test-predictions tbody tr").first
    expect(first).to_contain_text("Hemlock")  # the sample "test" photo is a hemlock
    shot(page, "32-quick-test-sample")
    page.get_by_role("link", name="Predictions", exact=True).first.click()
    page.locator("#prediction-grid a").first.click()
    expect(page.get_by_label("Hemlock")).to_be_checked()
    page.get_by_role("button", name="Save and close").click()
    expect(page.get_by_text("The image was moved into the training images.")).to_be_visible()
    assert sample_project.images.filter(source="prediction").count() == 1
    page.goto(f"/projects/{sample_project.id}/performance/{iteration.id}/")


def _unpublish_then_delete(page, sample_project, iteration):
    """Unpublish (confirmed in the portal's own dialog, not the browser's), then delete (the
    confirmation counts the images that go too)."""
    page.once("dialog", lambda d: pytest.fail(f"a browser dialog opened: {d.message}"))
    page.get_by_role("button", name="Unpublish").click()
    confirm = page.locator("#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("heading")).to_contain_text("Unpublish Iteration 1?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert Iteration.objects.get(pk=iteration.pk).is_published  # cancelled: nothing happened
    page.get_by_role("button", name="Unpublish").click()
    confirm.get_by_role("button", name="Unpublish").click()
    expect(page.get_by_text("Unpublished Iteration 1: its prediction URL is gone.")).to_be_visible()
    expect(page.locator("#prediction-url")).to_have_count(0)
    iteration.refresh_from_db()
    assert not iteration.is_published

    removed = iteration.images.first()
    assert removed is not None
    project_services.images_delete(project=sample_project, image_ids=[removed.image_id])
    page.reload()
    page.get_by_role("button", name="Delete").click()
    expect(confirm.get_by_role("heading")).to_have_text(
        "Delete Iteration 1 and its model? 1 image you removed from the project is kept only "
        "for this iteration and will be deleted with it."
    )
    confirm.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted Iteration 1 and 1 image only it still kept.")).to_be_visible()
    assert not Iteration.objects.filter(pk=iteration.pk).exists()
    expect(page.get_by_text("Train a model to see its precision and recall here.")).to_be_visible()


def test_mistakes_and_errors_per_tag(page, shot, alice, project, multilabel_project):
    """Iterations completed by hand with known mistakes: how they look, laptop and phone."""
    from tests.training.test_performance_views import (
        BLUE_PROBABILITIES,
        RED_PROBABILITIES,
        complete,
    )
    from tests.training.test_services import add

    reds, blues = add(project, "red", 5, ["Red"]), add(project, "blue", 5, ["Blue"])
    probabilities = zip(reds + blues, RED_PROBABILITIES + BLUE_PROBABILITIES, strict=True)
    multiclass = complete(
        services.iteration_train_start(project=project),
        {str(image.id): p for image, p in probabilities},
    )
    sign_in(page)
    page.goto(f"/projects/{project.id}/performance/{multiclass.id}/")
    expect(page.locator("#overall-precision")).to_have_text("90.0%")
    expect(page.locator("#mistakes .outcome")).to_have_count(1)
    expect(page.locator("#mistakes .outcome")).to_contain_text("Blue")
    page.locator("#threshold").focus()
    page.locator("#threshold").press("End")  # nothing reaches 100 %: precision undefined
    expect(page.locator("#overall-precision")).to_have_text("—")
    expect(page.locator("#overall-recall")).to_have_text("0.0%")
    expect(page.locator("circle[data-tag-index='0']")).to_have_attribute("visibility", "hidden")
    page.reload()
    shot(page, "27-mistakes")
    at_phone_width(page, shot, "28-mistakes-phone")
    page.get_by_role("link", name="1 image tagged Red, predicted Blue").click()
    expect(page.locator(".outcome img")).to_have_count(1)
    shot(page, "29-confusion-cell-mistake")

    reds = add(multilabel_project, "red", 3, ["Red"])
    blues = add(multilabel_project, "blue", 3, ["Blue"])
    scores = {str(i.id): [0.9, 0.1] for i in reds} | {str(i.id): [0.1, 0.9] for i in blues}
    scores[str(reds[0].id)] = [0.8, 0.6]
    scores[str(blues[0].id)] = [0.2, 0.3]
    multilabel = complete(services.iteration_train_start(project=multilabel_project), scores)
    page.goto(f"/projects/{multilabel_project.id}/performance/{multilabel.id}/")
    expect(page.locator("#tag-errors")).to_be_visible()
    expect(page.locator("#mistakes .outcome")).to_have_count(2)
    shot(page, "30-multilabel")
    at_phone_width(page, shot, "31-multilabel-phone")
    page.get_by_role("link", name="1 tagged Blue but not predicted").click()
    expect(page.get_by_role("heading", name="Tagged Blue but not predicted")).to_be_visible()
    expect(page.locator(".outcome")).to_contain_text("Nothing at 50%")
