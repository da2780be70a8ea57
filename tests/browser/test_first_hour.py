"""Issue #12, "A newcomer's first hour", walked in a real browser by someone with nothing yet:
a first project with its keys, the sample Trees project, tagging, training on the CPU,
Performance, publishing to a prediction resource made in place, Quick Test, Predictions, the
API page, and the portal's own confirm dialogs. Only visible text is used to find things, no
browser dialog may open and no page may log an error."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from prediction.models import StoredPrediction
from projects.models import Project, Resource
from tests.factories import UserFactory
from training.models import Iteration

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
KEY = re.compile(r"^[0-9a-f]{32}$")
PERCENT = re.compile(r"^\d+\.\d%$")
SHOTS = os.environ.get("CV_FIRST_HOUR_SHOTS", "")  # also copy the screenshots there


class Watch:
    """Everything a page says that a user should never meet: the browser's own confirm() or
    alert(), console errors and uncaught exceptions."""

    def __init__(self, page) -> None:
        self.problems: list[str] = []
        page.on("dialog", self.dialog)
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def dialog(self, dialog) -> None:
        self.problems.append(f"browser {dialog.type} dialog: {dialog.message}")
        dialog.dismiss()

    def console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location})")

    def check(self) -> None:
        assert self.problems == []


@pytest.fixture
def snap(page, shot):
    """The suite's screenshot (test-output/browser/), once the visible images have loaded;
    CV_FIRST_HOUR_SHOTS=/some/folder copies them there too."""
    folder = Path(SHOTS) if SHOTS else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        # Nothing sticks out sideways at laptop width (the page never scrolls horizontally).
        assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0, name
        page.wait_for_function(
            "() => [...document.images]"
            ".filter(i => i.loading !== 'lazy' || i.getBoundingClientRect().top < innerHeight)"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        shot(page, f"first-hour-{name}")
        if folder:
            from tests.browser.conftest import SCREENSHOTS

            shutil.copy(SCREENSHOTS / f"first-hour-{name}.png", folder / f"{name}.png")

    return take


def test_a_newcomers_first_hour(page, snap, live_server, sample_dir, start_worker):
    start_worker("first-hour-trainer")  # starts while the newcomer looks around
    UserFactory(username="newcomer")
    watch = Watch(page)

    _sign_in_to_nothing_yet(page, snap)
    _create_a_first_project(page, snap)
    _copy_the_new_keys_once(page, snap)
    _find_the_keys_in_settings(page, snap, live_server)
    trees = _load_the_sample_project(page, snap)
    _browse_the_sample_images(page, snap)
    iteration = _train_and_read_performance(page, snap, trees)
    _publish_to_a_new_prediction_resource(page, snap, live_server, trees)
    _export_for_a_device(page, snap)
    _quick_test_into_predictions(page, snap, sample_dir, trees)
    _read_the_api_page(page, snap, live_server)
    _unpublish_then_delete_the_iteration(page, snap, iteration)
    _delete_the_first_project(page, snap)
    watch.check()


def _sign_in_to_nothing_yet(page, snap):
    """Sign in: nothing yet, and the empty Projects page says what to do."""
    page.goto("/")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    expect(page.get_by_text("You have no projects yet.")).to_be_visible()
    sample_button = page.get_by_role("button", name="Load sample project (Trees)")
    expect(sample_button).to_be_visible()
    expect(page.get_by_role("link", name="New Project").first).to_be_visible()
    snap("01-projects-empty")


def _create_a_first_project(page, snap):
    """New project: the resource is made with it, under a suggested name."""
    page.get_by_role("link", name="New Project").first.click()
    dialog = page.get_by_role("dialog", name="Create new project")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Resource", exact=True)).to_have_value("")  # Create a new one
    expect(dialog.get_by_label("New resource name")).to_have_value("newcomer-vision")
    expect(dialog.get_by_label("Multiclass")).to_be_checked()
    expect(dialog.get_by_role("radio", name="Classification", exact=True)).to_be_checked()
    domains = dialog.get_by_role("group", name="Domains")
    expect(domains.get_by_role("radio", name="General", exact=True)).to_be_checked()
    dialog.get_by_label("Name", exact=True).fill("Birds")
    dialog.get_by_label("Description").fill("Robins or sparrows?")
    snap("02-new-project")
    dialog.get_by_role("button", name="Create project").click()


def _copy_the_new_keys_once(page, snap):
    expect(page.get_by_role("heading", name="Birds")).to_be_visible()
    keys = page.get_by_role("region", name="Your new keys: copy them now")
    expect(keys).to_be_visible()
    expect(keys).to_contain_text("newcomer-vision")
    expect(keys).to_contain_text("newcomer-vision-Prediction")
    expect(keys).to_contain_text("Training-Key")
    expect(keys.locator("code.key")).to_have_count(4)
    for key in keys.locator("code.key").all():
        expect(key).to_have_text(KEY)
    copy = keys.get_by_role("button", name="Copy")
    expect(copy).to_have_count(6)  # Resource Id, Key 1 and Key 2 of both resources
    copy.nth(1).click()
    expect(copy.nth(1)).to_have_text(re.compile("^(Copied|Copy)$"))
    snap("03-new-keys")
    page.reload()  # shown once
    expect(page.get_by_role("heading", name="Birds")).to_be_visible()
    expect(page.get_by_text(re.compile("Your new keys"))).to_have_count(0)


def _find_the_keys_in_settings(page, snap, live_server):
    page.get_by_role("link", name="Settings").click()
    general = page.locator("section.card", has=page.get_by_role("heading", name="General"))
    expect(general.get_by_text(live_server.url, exact=True)).to_be_visible()  # the endpoint
    expect(general).to_contain_text("newcomer-vision")
    expect(general).to_contain_text("newcomer-vision-Prediction")
    expect(general).to_contain_text("Training-Key")
    expect(general.get_by_role("link", name="Resources")).to_be_visible()
    snap("04-settings")


def _load_the_sample_project(page, snap):
    """The sample project, from the Projects page."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    expect(page.get_by_role("link", name=re.compile("Birds"))).to_be_visible()
    snap("05-projects-one")
    page.get_by_role("button", name="Load sample project (Trees)").click()
    expect(page.get_by_text("Loaded the sample project Trees: 20 tagged photos.")).to_be_visible()
    expect(page.get_by_role("heading", name="Trees")).to_be_visible()
    expect(page.get_by_role("link", name="Training Images")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("list").get_by_role("img")).to_have_count(20)
    snap("06-sample-images")
    trees = Project.objects.get(name="Trees", owner__username="newcomer")
    return trees


def _browse_the_sample_images(page, snap):
    page.get_by_role("list").get_by_role("img").first.click()
    expect(page.get_by_role("link", name="Back to images")).to_be_visible()
    expect(page.get_by_role("link", name="Next →")).to_be_visible()
    expect(page.get_by_text("← Previous")).to_be_visible()
    expect(page.get_by_role("button", name="Save and next")).to_be_visible()
    expect(page.get_by_role("radio", name="Hemlock")).to_have_count(1)
    expect(page.get_by_role("radio", name="Japanese Cherry")).to_have_count(1)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("radio", checked=True)).to_have_count(1)
    snap("07-image-detail")
    first_url = page.url
    page.get_by_role("link", name="Next →").click()
    expect(page).not_to_have_url(first_url)
    expect(page.get_by_role("link", name="← Previous")).to_be_visible()
    expect(page.get_by_role("radio", checked=True)).to_have_count(1)
    snap("08-image-next")


def _train_and_read_performance(page, snap, trees):
    """Train (Quick training) and read Performance."""
    page.get_by_role("link", name="Train", exact=True).click()
    expect(page.get_by_role("heading", name="Choose training type")).to_be_visible()
    expect(page.get_by_label("Quick training")).to_be_checked()
    snap("09-train")
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.locator("#iteration-status")).to_have_text(re.compile("Queued|Training"))
    snap("10-training")
    expect(page.locator("#iteration-status")).to_have_text("Completed", timeout=150_000)
    iteration = Iteration.objects.get(project=trees)
    for name in ("Precision", "Recall", "AP"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    expect(page.locator("#overall-precision")).to_have_text(PERCENT)
    expect(page.locator("#overall-recall")).to_have_text(PERCENT)
    expect(page.locator("#overall-ap")).to_have_text(PERCENT)
    expect(page.get_by_role("table").filter(has_text="Japanese Cherry").first).to_be_visible()
    snap("11-performance")
    return iteration


def _publish_to_a_new_prediction_resource(page, snap, live_server, trees):
    page.get_by_role("button", name="Publish", exact=True).click()
    publish = page.get_by_role("dialog", name="Publish Iteration 1")
    expect(publish).to_be_visible()
    expect(publish.get_by_label("Model name")).to_have_value("Iteration1")
    resource = publish.get_by_label("Prediction resource", exact=True)
    expect(resource.locator("option:checked")).to_have_text(
        re.compile("newcomer-vision-Prediction")
    )
    resource.select_option(label="Create a new prediction resource")
    new_name = publish.get_by_label("New prediction resource name")
    expect(new_name).to_be_visible()
    # A free name: the plain "-Prediction" one is the twin the first project already made.
    expect(new_name).to_have_value("newcomer-vision-Prediction-2")
    snap("12-publish-dialog")
    publish.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Published Iteration 1 as 'Iteration1'.")).to_be_visible()
    keys = page.get_by_role("region", name="Your new keys: copy them now")
    expect(keys).to_contain_text("newcomer-vision-Prediction-2")
    expect(keys).to_contain_text("Prediction resource")
    expect(keys.locator("code.key")).to_have_count(2)
    expect(keys.get_by_role("button", name="Copy")).to_have_count(3)
    prediction_url = page.get_by_role("region", name="Prediction URL")
    expect(prediction_url).to_contain_text("newcomer-vision-Prediction-2")
    expect(prediction_url).to_contain_text(
        f"{live_server.url}/customvision/v3.0/Prediction/{trees.id}/classify/iterations/Iteration1"
    )
    snap("13-published")
    assert (
        Resource.objects.get(name="newcomer-vision-Prediction-2").kind == Resource.Kind.PREDICTION
    )


def _export_for_a_device(page, snap):
    """ONNX, built by the worker, downloadable from the page."""
    page.get_by_role("button", name="Export", exact=True).click()
    export = page.get_by_role("dialog", name="Export Iteration 1")
    expect(export.get_by_role("radio", name=re.compile("^ONNX Windows"))).to_be_checked()
    expect(export.get_by_role("radio", name=re.compile("^Dockerfile \\(Linux\\)"))).to_be_visible()
    snap("13b-export-dialog")
    export.get_by_role("button", name="Export", exact=True).click()
    expect(page.get_by_text("Exporting Iteration 1 to ONNX")).to_be_visible()
    exports = page.get_by_role("region", name="Exports")
    for _ in range(60):
        if exports.get_by_role("link", name="Download").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    download = exports.get_by_role("link", name="Download")
    expect(download).to_be_visible()
    snap("13c-exported")
    archive = page.request.get(download.get_attribute("href"))
    assert archive.ok and archive.body()[:2] == b"PK"


def _quick_test_into_predictions(page, snap, sample_dir, trees):
    """Quick Test the sample's test photo; it is kept in Predictions by default."""
    page.get_by_role("link", name="Quick Test").click()
    expect(page.get_by_label("Save the image in Predictions")).to_be_checked()
    page.get_by_label("Browse local files").set_input_files(
        str(sample_dir / "Test" / "test_image.jpg")
    )
    page.get_by_role("button", name="Test", exact=True).click()
    results = page.get_by_role("table").filter(has_text="Probability")
    expect(results.get_by_role("row")).to_have_count(3)  # the head and two tags
    expect(results.get_by_role("row").nth(1)).to_contain_text("Hemlock")
    expect(page.get_by_text("Saved in Predictions.")).to_be_visible()
    snap("14-quick-test")
    page.get_by_text("Saved in Predictions.").get_by_role("link", name="Predictions").click()
    expect(page.get_by_role("link", name="Predictions", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("img", name=re.compile("^Prediction from"))).to_have_count(1)
    expect(page.get_by_text(re.compile(r"^Hemlock \d+\.\d%$"))).to_be_visible()
    snap("15-predictions")
    assert StoredPrediction.objects.filter(project=trees).count() == 1


def _read_the_api_page(page, snap, live_server):
    """The API page, from the top navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API").click()
    expect(page).to_have_url(f"{live_server.url}/api/")
    expect(page.get_by_role("heading", name="API", exact=True)).to_be_visible()
    expect(page.get_by_text(live_server.url, exact=True).first).to_be_visible()
    resources = page.get_by_role("table").filter(has_text="Resource Id")
    for name in ("newcomer-vision", "newcomer-vision-Prediction", "newcomer-vision-Prediction-2"):
        expect(resources.get_by_role("cell", name=name, exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile("Regenerate|regenerate")).first).to_be_visible()
    for language in ("Python", "JavaScript", "curl"):
        expect(page.get_by_role("heading", name=language, exact=True)).to_be_visible()
    expect(page.get_by_text("CustomVisionTrainingClient(")).to_be_visible()
    expect(page.get_by_text("new TrainingAPIClient(")).to_be_visible()
    expect(page.get_by_text(re.compile(r"curl -H \"Training-key"))).to_be_visible()
    expect(page.get_by_role("heading", name="API reference")).to_be_visible()
    expect(page.get_by_role("cell", name="ClassifyImage", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="GetProjects", exact=True)).to_be_visible()
    snap("16-api")
    href = page.get_by_role("link", name="OpenAPI document (JSON)").get_attribute("href")
    response = page.request.get(href)
    assert response.ok and response.json()["openapi"].startswith("3.")


def _unpublish_then_delete_the_iteration(page, snap, iteration):
    """Unpublish and Delete ask in the portal's own dialog."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name=re.compile("^Trees")).click()
    page.get_by_role("link", name="Performance").click()
    page.get_by_role("button", name="Unpublish").click()
    confirm = page.get_by_role("dialog", name=re.compile("^Unpublish Iteration 1?"))
    expect(confirm).to_be_visible()
    snap("17-confirm-unpublish")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert Iteration.objects.get(pk=iteration.pk).is_published
    page.get_by_role("button", name="Unpublish").click()
    confirm.get_by_role("button", name="Unpublish").click()
    expect(page.get_by_text("Unpublished Iteration 1: its prediction URL is gone.")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("dialog", name=re.compile("^Delete Iteration 1"))
    expect(confirm).to_be_visible()
    snap("18-confirm-delete-iteration")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.get_by_text(re.compile("^Deleted Iteration 1"))).to_be_visible()
    assert not Iteration.objects.filter(pk=iteration.pk).exists()
    snap("19-iteration-deleted")


def _delete_the_first_project(page, snap):
    """Deleting a project asks in the portal's own dialog too."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name=re.compile("^Birds")).click()
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("button", name="Delete project").click()
    confirm = page.get_by_role("dialog", name=re.compile("^Delete Birds"))
    expect(confirm).to_be_visible()
    snap("20-confirm-delete-project")
    confirm.get_by_role("button", name="Delete project").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Birds"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Trees"))).to_be_visible()
    snap("21-projects-after")
    assert not Project.objects.filter(name="Birds").exists()
