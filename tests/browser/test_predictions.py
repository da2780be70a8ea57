"""Quick Test, the Predictions tab, Suggested tags and project export / import in a real
browser, on a model trained in-process on synthetic red and blue photos."""

from __future__ import annotations

import re
import zipfile

import pytest
from django.utils.text import slugify
from playwright.sync_api import expect

from prediction.models import StoredPrediction, Suggestion
from prediction.services import prediction_classify
from projects import services as project_services
from projects.models import Image, Project, Tag
from projects.services import ImageUpload
from tests.browser.test_quickstart import sign_in
from tests.training.synthetic import photo
from tests.training.test_performance_views import complete
from tests.training.test_services import add
from training import services as training_services
from training.templatetags.training_format import percent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}


def images_loaded(page) -> None:
    page.wait_for_function(
        "() => [...document.images]"
        ".filter(i => i.loading !== 'lazy' || i.getBoundingClientRect().top < innerHeight)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def at_both_widths(page, shot, name: str) -> None:
    """Screenshots at laptop and phone width, once the images show; on a phone nothing in the
    page may stick out sideways (wide tables scroll inside their own box)."""
    images_loaded(page)
    shot(page, name)
    page.set_viewport_size(PHONE)
    images_loaded(page)
    wide = page.evaluate(
        "() => [...document.querySelectorAll('main *')]"
        ".filter(e => !e.closest('.table-scroll *'))"
        ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
        ".map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
    )
    assert wide == [], name
    shot(page, f"{name}-phone")
    page.set_viewport_size(LAPTOP)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_quick_test_a_file_and_a_url_then_keep_it_in_predictions(
    page, shot, tmp_path, alice, project, trained, image_server, allow_local
):
    sign_in(page)
    page.goto(f"/projects/{project.id}/images/")
    page.get_by_role("link", name="Quick Test").click()
    expect(page).to_have_title(re.compile(r"^Quick Test · "))
    expect(page.get_by_role("link", name="Quick Test")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("Choose an iteration and an image, then press Test.")).to_be_visible()
    page.get_by_label("Iteration").select_option(label=trained.name)
    page.get_by_label("Browse local files").set_input_files(
        str(write(tmp_path, "blue.jpg", photo("blue", seed=7001)))
    )
    page.get_by_label("Save the image in Predictions").check()
    at_both_widths(page, shot, "predictions-01-quick-test")
    page.get_by_role("button", name="Test").click()

    table = page.locator("#quick-test-predictions")
    expect(table.locator("tbody tr")).to_have_count(2)
    kept = StoredPrediction.objects.get()
    assert kept.application == "Quick Test"
    expected = [(p["tagName"], percent(p["probability"])) for p in kept.predictions]
    assert expected[0][0] == "Blue"
    expect(table.locator("tbody td:first-child")).to_have_text([name for name, _ in expected])
    expect(table.locator("tbody td.num")).to_have_text([p for _, p in expected])
    expect(page.get_by_role("img", name="The tested image")).to_be_visible()
    expect(page.get_by_text(f"Tested with {trained.name}")).to_be_visible()
    expect(page.get_by_text("Saved in Predictions.")).to_be_visible()
    at_both_widths(page, shot, "predictions-02-quick-test-result")

    # By URL, not kept: the image comes from a server on 127.0.0.1 (allow-listed for the test).
    url = image_server.serve("/red.jpg", photo("red", seed=7002))
    page.goto(f"/projects/{project.id}/quicktest/")
    page.get_by_label("Image URL").fill(url)
    # Kept by default, as Azure's Quick Test does; unticked here.
    expect(page.get_by_label("Save the image in Predictions")).to_be_checked()
    page.get_by_label("Save the image in Predictions").uncheck()
    page.get_by_role("button", name="Test").click()
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text("Red")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(page.get_by_text("Saved in Predictions.")).to_have_count(0)
    assert image_server.hits == ["/red.jpg"]
    assert StoredPrediction.objects.count() == 1

    # An address inside the network is refused with the reason, and nothing is tested.
    page.goto(f"/projects/{project.id}/quicktest/")
    page.get_by_label("Image URL").fill("http://169.254.169.254/latest/meta-data/")
    page.get_by_label("Save the image in Predictions").check()
    page.get_by_role("button", name="Test").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(
        "The URL's host '169.254.169.254' is a link-local address; "
        "only public addresses are fetched."
    )
    expect(table).to_have_count(0)
    assert image_server.hits == ["/red.jpg"]
    expect(page.get_by_label("Image URL")).to_have_value("http://169.254.169.254/latest/meta-data/")
    at_both_widths(page, shot, "predictions-03-quick-test-refused")

    # Neither a file nor a URL.
    page.goto(f"/projects/{project.id}/quicktest/")
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Choose an image file or give an image URL (one of them)."
    )
    assert StoredPrediction.objects.count() == 1


def test_predictions_tab_filter_then_save_and_close_into_training(
    page, shot, tmp_path, alice, project, trained
):
    older_red, older_blue = _keep_a_quick_test_after_two_older(page, tmp_path, project, trained)
    kept, tiles = _list_newest_first(page, shot, older_red, older_blue)
    _filter_by_probability(page, shot, project, older_red, kept, tiles)
    _open_then_save_and_close_as_blue(page, shot, kept, tiles)
    _find_it_in_training_images(page, project)


def _keep_a_quick_test_after_two_older(page, tmp_path, project, trained):
    """Two older predictions from the endpoint, then one kept from Quick Test in the browser."""
    older_red = prediction_classify(iteration=trained, data=photo("red", seed=7101), store=True)
    older_blue = prediction_classify(iteration=trained, data=photo("blue", seed=7102), store=True)
    sign_in(page)
    page.goto(f"/projects/{project.id}/quicktest/")
    page.get_by_label("Browse local files").set_input_files(
        str(write(tmp_path, "kept.jpg", photo("blue", seed=7103)))
    )
    page.get_by_label("Save the image in Predictions").check()
    page.get_by_role("button", name="Test").click()
    page.get_by_text("Saved in Predictions.").get_by_role("link", name="Predictions").click()
    return older_red, older_blue


def _list_newest_first(page, shot, older_red, older_blue):
    expect(page).to_have_title(re.compile(r"^Predictions · "))
    kept = StoredPrediction.objects.get(application="Quick Test")
    tiles = page.locator("#prediction-grid .thumb")
    expect(tiles).to_have_count(3)
    newest_first = [kept.id, older_blue.id, older_red.id]
    for i, prediction_id in enumerate(newest_first):
        expect(tiles.nth(i).locator("a")).to_have_attribute(
            "href", re.compile(f"/predictions/{prediction_id}/")
        )
    expect(tiles.locator(".chip")).to_have_text(
        [re.compile(r"^Blue \d+\.\d%$"), re.compile(r"^Blue \d+\.\d%$"), re.compile(r"^Red ")]
    )
    at_both_widths(page, shot, "predictions-04-list")
    return kept, tiles


def _filter_by_probability(page, shot, project, older_red, kept, tiles):
    """Likely Red (50–100 %): only the red photo, its chip showing Red's probability."""
    red = Tag.objects.get(project=project, name="Red")
    page.get_by_label("Tag", exact=True).select_option(label="Red")
    page.get_by_label("Probability from (%)").fill("50")
    page.get_by_label("Probability to (%)").fill("100")
    page.get_by_role("button", name="Apply").click()
    expect(tiles).to_have_count(1)
    red_p = next(p.probability for p in older_red.predictions if p.tag_id == str(red.id))
    expect(tiles.locator(".chip")).to_have_text(f"Red {percent(red_p)}")
    at_both_widths(page, shot, "predictions-05-filtered")

    # Unlikely Red (0–49 %): the two blue photos, newest first.
    page.get_by_label("Probability from (%)").fill("0")
    page.get_by_label("Probability to (%)").fill("49")
    page.get_by_role("button", name="Apply").click()
    expect(tiles).to_have_count(2)
    expect(tiles.first.locator("a")).to_have_attribute(
        "href", re.compile(f"/predictions/{kept.id}/")
    )
    expect(tiles.locator(".chip")).to_have_text([re.compile(r"^Red \d"), re.compile(r"^Red \d")])

    # A range upside down is explained, not ignored.
    page.get_by_label("Probability from (%)").fill("80")
    page.get_by_label("Probability to (%)").fill("20")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_have_text("The lower probability is above the upper one.")
    page.go_back()


def _open_then_save_and_close_as_blue(page, shot, kept, tiles):
    """Open the kept one: the model's answer, Blue pre-ticked."""
    tiles.first.locator("a").click()
    expect(page).to_have_title(re.compile(r"^Prediction · "))
    expect(page.locator("#prediction-table tbody td:first-child")).to_have_text(["Blue", "Red"])
    tags = page.locator("#promote-form")
    expect(tags.get_by_label("Blue")).to_be_checked()
    expect(tags.get_by_label("Red")).not_to_be_checked()
    at_both_widths(page, shot, "predictions-06-detail")

    # A Multiclass project offers one tag: picking Red replaces Blue, and back again.
    expect(tags.get_by_role("radio")).to_have_count(3)  # Blue, Red and "No tag"
    expect(tags.get_by_role("checkbox")).to_have_count(0)
    tags.get_by_label("Red").check()
    expect(tags.get_by_label("Blue")).not_to_be_checked()
    at_both_widths(page, shot, "predictions-07-detail-one-tag")

    # Back to Blue, Save and close: back to the filtered list, without it.
    tags.get_by_label("Blue").check()
    expect(tags.get_by_label("Red")).not_to_be_checked()
    page.get_by_role("button", name="Save and close").click()
    expect(page.get_by_text("The image was moved into the training images.")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Predictions · "))
    expect(page.get_by_label("Probability to (%)")).to_have_value("49")
    expect(tiles).to_have_count(1)
    assert not StoredPrediction.objects.filter(pk=kept.pk).exists()


def _find_it_in_training_images(page, project):
    """In Training Images, newest first, tagged Blue."""
    page.get_by_role("link", name="Training Images").click()
    expect(page.locator('[data-tag-count="Blue"]')).to_have_text("6")
    expect(page.locator('[data-tag-count="Red"]')).to_have_text("5")
    first = page.locator(".image-grid .thumb").first
    expect(first.locator(".chip")).to_have_text(["Blue"])
    moved = Image.objects.get(project=project, source=Image.Source.PREDICTION)
    assert first.get_attribute("data-image-id") == str(moved.id)
    assert [t.name for t in moved.tags.all()] == ["Blue"]


def test_suggested_tags_confirm_untagged_images(page, shot, tmp_path, alice, project, trained):
    paths = [write(tmp_path, f"red-new-{i}.jpg", photo("red", seed=7200 + i)) for i in range(2)]
    paths += [write(tmp_path, f"blue-new-{i}.jpg", photo("blue", seed=7300 + i)) for i in range(3)]
    sign_in(page)
    page.goto(f"/projects/{project.id}/images/")
    page.get_by_role("button", name="Add images").click()
    page.locator("#id_files").set_input_files([str(p) for p in paths])
    page.locator("#upload-button").click()
    expect(page.get_by_text("5 of 5 files uploaded")).to_be_visible()
    page.get_by_role("link", name="Done").click()
    expect(page.locator('[data-count="untagged"]')).to_have_text("5")
    expect(page.get_by_role("link", name="Suggested tags")).to_have_count(0)

    page.locator("#filters").get_by_label("Untagged").check()  # applies on change
    page.get_by_role("link", name="Suggested tags").click()
    expect(page.get_by_role("heading", name="Suggested tags for untagged images")).to_be_visible()
    expect(page.get_by_text(f"From {trained.name}, the most uncertain first")).to_be_visible()
    tiles = page.locator("#suggested-grid .thumb")
    expect(tiles).to_have_count(5)
    chips = tiles.locator(".chip")
    expect(chips).to_have_count(5)
    assert sorted(c.split()[0] for c in chips.all_inner_texts()) == ["Blue"] * 3 + ["Red"] * 2
    at_both_widths(page, shot, "predictions-08-suggested")

    # Only the images suggested Red; select all, Confirm.
    page.get_by_label("Suggested tag", exact=True).select_option(label="Red")
    page.get_by_role("button", name="Filter").click()
    expect(tiles).to_have_count(2)
    expect(chips).to_have_text([re.compile(r"^Red \d+\.\d%$")] * 2)
    expect(page.get_by_label("Suggested tag", exact=True)).to_have_value(
        str(Tag.objects.get(project=project, name="Red").id)
    )
    confirm = page.get_by_role("button", name="Confirm selected")
    expect(confirm).to_be_disabled()  # nothing ticked yet
    page.get_by_label("Select all 2").check()
    expect(page.locator("#confirm-count")).to_have_text("2 selected")
    expect(page.locator('#suggested-grid input[name="confirm"]:checked')).to_have_count(2)
    at_both_widths(page, shot, "predictions-08-suggested-selected")
    confirm.click()
    expect(page.get_by_text("Tagged 2 images.")).to_be_visible()
    expect(page.get_by_text("No untagged images with this suggested tag.")).to_be_visible()

    # One of the blue ones, by its own tick box.
    page.get_by_label("Suggested tag", exact=True).select_option(label="Any")
    page.get_by_role("button", name="Filter").click()
    expect(tiles).to_have_count(3)
    page.get_by_label("Confirm Blue").first.check()
    expect(page.locator("#confirm-count")).to_have_text("1 selected")
    confirm.click()
    expect(page.get_by_text("Tagged 1 image.")).to_be_visible()
    expect(tiles).to_have_count(2)

    page.get_by_role("link", name="Back to Untagged").click()
    expect(page.locator('[data-count="untagged"]')).to_have_text("2")
    expect(page.locator('[data-tag-count="Red"]')).to_have_text("7")
    expect(page.locator('[data-tag-count="Blue"]')).to_have_text("6")
    confirmed = Image.objects.filter(project=project, original_name__startswith="red-new")
    assert [[t.name for t in i.tags.all()] for i in confirmed] == [["Red"], ["Red"]]


def test_suggested_tags_in_a_multilabel_project_confirm_the_tag_filtered_for(
    page, alice, multilabel_project
):
    """Filtered by a tag that is not the model's top answer, the tile offers that tag."""
    reds = add(multilabel_project, "red", 2, ["Red"])
    blues = add(multilabel_project, "blue", 2, ["Blue"])
    iteration = complete(
        training_services.iteration_train_start(project=multilabel_project),
        {str(i.id): [0.9, 0.1] for i in reds} | {str(i.id): [0.1, 0.9] for i in blues},
    )
    [both] = [
        r.image
        for r in project_services.images_create(
            project=multilabel_project,
            uploads=[ImageUpload(name="both.jpg", data=photo("red", seed=7500, second="blue"))],
        )
    ]
    tags = {t["name"]: t for t in iteration.tags}
    Suggestion.objects.create(  # what the model said, without a model file to ask
        iteration=iteration,
        image=both,
        predictions=[
            {"tagId": tags[name]["id"], "tagName": name, "tagType": "Regular", "probability": p}
            for name, p in (("Red", 0.9), ("Blue", 0.7))
        ],
        uncertainty=0.6,
        top_tag_id=tags["Red"]["id"],
        top_probability=0.9,
    )
    sign_in(page)
    page.goto(f"/projects/{multilabel_project.id}/images/suggested/")
    tiles = page.locator("#suggested-grid .thumb")
    expect(tiles.locator(".chip")).to_have_text(["Red 90.0%"])
    page.get_by_label("Suggested tag", exact=True).select_option(label="Blue")
    page.get_by_role("button", name="Filter").click()
    expect(tiles.locator(".chip")).to_have_text(["Blue 70.0%"])
    page.get_by_label("Confirm Blue").check()
    page.get_by_role("button", name="Confirm selected").click()
    expect(page.get_by_text("Tagged 1 image.")).to_be_visible()
    assert [t.name for t in both.tags.all()] == ["Blue"]


def test_export_then_import_the_project(page, shot, tmp_path, alice, project):
    add(project, "red", 3, ["Red"])
    add(project, "blue", 2, ["Blue"])
    project_services.images_create(
        project=project, uploads=[ImageUpload(name="green.jpg", data=photo("green", seed=7400))]
    )
    sign_in(page)
    page.goto(f"/projects/{project.id}/images/")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Export project")).to_be_visible()
    at_both_widths(page, shot, "predictions-09-settings")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export project").click()
    download = download_info.value
    assert download.suggested_filename == f"{slugify(project.name)}-export.zip"
    archive = tmp_path / download.suggested_filename
    download.save_as(archive)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "project.json" in names
    assert len([n for n in names if n.startswith("images/")]) == 6

    page.get_by_role("link", name="Projects", exact=True).first.click()
    page.get_by_role("link", name="Import project").click()
    expect(page.get_by_role("heading", name="Import a project")).to_be_visible()
    page.get_by_label("Project export (.zip)").set_input_files(str(archive))
    page.get_by_label("Name").fill("Colours (copy)")
    at_both_widths(page, shot, "predictions-10-import")
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_text("Imported 6 images.")).to_be_visible()
    expect(page.get_by_role("heading", name="Colours (copy)")).to_be_visible()
    expect(page.locator('[data-count="all"]')).to_have_text("6")
    expect(page.locator('[data-tag-count="Red"]')).to_have_text("3")
    expect(page.locator('[data-tag-count="Blue"]')).to_have_text("2")
    expect(page.locator('[data-count="untagged"]')).to_have_text("1")
    copy = Project.objects.get(name="Colours (copy)")
    assert copy.owner == alice and copy.pk != project.pk
    assert Image.objects.filter(project=copy).count() == 6

    page.get_by_role("link", name="Projects", exact=True).first.click()
    cards = page.locator(".project-card")
    expect(cards).to_have_count(2)
    expect(cards.filter(has_text="Colours (copy)")).to_contain_text("6 images")
    at_both_widths(page, shot, "predictions-11-projects")

    # A file that is not an export is refused, and nothing is created.
    page.get_by_role("link", name="Import project").click()
    page.get_by_label("Project export (.zip)").set_input_files(
        str(write(tmp_path, "not-a-zip.zip", b"hello"))
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".errors")).to_contain_text("The file is not a zip archive.")
    at_both_widths(page, shot, "predictions-12-import-refused")
    assert Project.objects.filter(owner=alice).count() == 2
