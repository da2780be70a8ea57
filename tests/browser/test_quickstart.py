"""The Custom Vision quickstart in a real browser: sign in, New Project, upload tagged photos."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects.models import Image, Project
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page) -> None:
    page.goto("/signin/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()


def upload(page, files, tag: str) -> None:
    page.get_by_role("button", name="Add images").click()
    page.locator("#id_files").set_input_files([str(f) for f in files])
    page.locator("#id_tag_input").fill(tag)
    page.locator("#id_tag_input").press("Enter")
    expect(page.locator("#tag-chips .chip")).to_have_text([re.compile(re.escape(tag))])
    button = page.locator("#upload-button")
    expect(button).to_have_text(f"Upload {len(files)} files")
    button.click()
    expect(page.locator("#upload-summary")).to_have_text(
        f"{len(files)} of {len(files)} files uploaded"
    )


def test_sign_in_create_project_and_upload_the_sample_photos(page, shot, sample_dir):
    UserFactory(username="alice")
    page.goto("/")
    expect(page).to_have_title(re.compile("Sign in"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery staple")
    shot(page, "01-sign-in")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    shot(page, "02-projects-empty")
    page.get_by_role("link", name="New Project").first.click()
    dialog = page.locator("dialog#new-project")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name", exact=True).fill("Trees")
    dialog.get_by_label("Description").fill("Hemlock or Japanese cherry?")
    dialog.get_by_label("New resource name").fill("trees-training")
    shot(page, "03-new-project")
    dialog.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", name="Trees")).to_be_visible()
    shot(page, "04-training-images-empty")
    upload(page, sorted((sample_dir / "Hemlock").glob("*.jpg")), "Hemlock")
    shot(page, "05-upload-result")
    page.get_by_role("link", name="Done").click()
    upload(page, sorted((sample_dir / "Japanese_Cherry").glob("*.jpg")), "Japanese Cherry")
    page.get_by_role("link", name="Done").click()

    expect(page.locator('[data-tag-count="Hemlock"]')).to_have_text("10")
    expect(page.locator('[data-tag-count="Japanese Cherry"]')).to_have_text("10")
    expect(page.locator('[data-count="tagged"]')).to_have_text("20")
    expect(page.locator(".image-grid .thumb")).to_have_count(20)
    shot(page, "06-training-images")

    page.locator("#filters").get_by_label("Hemlock").check()  # applies on change
    expect(page.locator(".image-grid .thumb")).to_have_count(10)
    expect(page.locator(".image-grid .chip").first).to_have_text("Hemlock")
    shot(page, "07-filter-hemlock")

    project = Project.objects.get(name="Trees")
    assert Image.objects.filter(project=project).count() == 20


def test_select_many_and_retag_then_delete(page, shot, sample_dir, alice, project):
    from projects import services
    from projects.services import ImageUpload

    paths = sorted((sample_dir / "Hemlock").glob("*.jpg"))[:3]
    services.images_create(
        project=project, uploads=[ImageUpload(name=p.name, data=p.read_bytes()) for p in paths]
    )
    sign_in(page)
    page.goto(f"/projects/{project.id}/images/")
    expect(page.locator('[data-count="untagged"]')).to_have_text("3")

    page.locator("#select-all").check()
    expect(page.locator("#selected-count")).to_have_text("3 selected")
    page.locator("#bulk-tag").fill("Hemlock")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Tagged 3 images 'Hemlock'.")).to_be_visible()
    expect(page.locator('[data-tag-count="Hemlock"]')).to_have_text("3")
    shot(page, "08-bulk-tagged")

    page.locator("input.pick").first.check()
    page.locator("#bulk-action").select_option("delete")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Deleted 1 image.")).to_be_visible()
    expect(page.locator(".image-grid .thumb")).to_have_count(2)


def test_more_files_than_a_batch_go_up_in_batches(page, shot, alice, project, settings, tmp_path):
    from tests import images

    settings.CV_MAX_IMAGES_PER_BATCH = 5
    paths = []
    for i, data in enumerate(images.distinct(11)):
        paths.append(tmp_path / f"photo-{i:02}.jpg")
        paths[-1].write_bytes(data)
    paths.append(tmp_path / "not-a-photo.jpg")
    paths[-1].write_bytes(images.HTML)

    sign_in(page)
    page.goto(f"/projects/{project.id}/images/")
    page.get_by_role("button", name="Add images").click()
    page.locator("#id_files").set_input_files([str(p) for p in paths])
    expect(page.locator("#file-summary")).to_have_text("12 files: they go up in batches of 5.")
    page.locator("#id_tag_input").fill("Many")
    page.locator("#upload-button").click()
    expect(page.locator("#upload-summary")).to_have_text("11 of 12 files uploaded")
    expect(page.locator("dialog table.results")).to_contain_text("not-a-photo.jpg")
    expect(page.locator("dialog table.results")).to_contain_text("ErrorImageFormat")
    shot(page, "09-batched-upload")
    page.get_by_role("link", name="Done").click()
    expect(page.locator('[data-tag-count="Many"]')).to_have_text("11")
    assert Image.objects.filter(project=project).count() == 11


@pytest.mark.worker
def test_train_and_read_performance(page, shot, alice, sample_project, start_worker):
    start_worker("browser-trainer")
    sign_in(page)
    page.goto(f"/projects/{sample_project.id}/images/")
    page.get_by_role("link", name="Train", exact=True).click()
    expect(page.get_by_role("heading", name="Choose training type")).to_be_visible()
    page.get_by_label("Quick training").check()
    shot(page, "10-train")
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.locator("#iteration-status")).to_have_text(re.compile("Queued|Training"))
    shot(page, "11-training-progress")
    expect(page.locator("#iteration-status")).to_have_text("Completed", timeout=120_000)
    expect(page.locator("#overall-precision")).to_have_text(re.compile(r"\d+\.\d%"))
    expect(page.locator("#tag-performance")).to_contain_text("Japanese Cherry")
    expect(page.locator("#iteration-weights")).to_contain_text("efficientnet-lite0")
    shot(page, "12-performance")
