"""Microsoft's "Quickstart: Build an object detector with the Custom Vision website", step by
step in Chromium, as a first-time user finds their way: by visible text, the mouse and the
keyboard. New Project (Object Detection, General), Add images (the fork and scissors photos),
a box drawn with the mouse around each photo's object, Train (Quick) through a real Celery
worker, Performance at two Overlap Thresholds, Publish, Quick Test of the test photo with the
fork's box where the fork is. No console error, no dialog, no page wider than the screen, and
axe-core finds nothing on the editor and the Performance page."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from engine.boxes import box_iou
from projects.models import Image, Project, Region
from tests.browser.a11y import assert_accessible, assert_fits
from tests.browser.test_quickstart import sign_in
from tests.factories import UserFactory
from tests.training.detection import OD_SAMPLES, TEST_FORK, TEST_PHOTO, sample_regions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PER_TAG = 15  # Azure's minimum for a detector: the walk trains on 30 photos.
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}
PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def photos(per_tag: int = PER_TAG) -> list:
    return [
        OD_SAMPLES / tag / f"{tag}_{n}.jpg"
        for tag in ("fork", "scissors")
        for n in range(1, per_tag + 1)
    ]


def fits_both_widths(page, *, axe: bool = False) -> None:
    """Nothing wider than a laptop's or a phone's screen (and, with axe, no violation at
    either width: the layout changes between them)."""
    for size in (LAPTOP, PHONE):
        page.set_viewport_size(size)
        assert_fits(page)
        if axe:
            assert_accessible(page)
    page.set_viewport_size(LAPTOP)


def new_detection_project(page, name: str) -> None:
    page.get_by_role("link", name="New Project").first.click()
    # A dialog over the projects, or the New Project page: the form with "Create project".
    dialog = page.locator("form").filter(has=page.get_by_role("button", name="Create project"))
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name", exact=True).fill(name)
    dialog.get_by_label("Description").fill("Forks and scissors, from Microsoft's quickstart")
    resource = dialog.get_by_label("New resource name")
    if resource.count() and resource.is_visible():
        resource.fill("cutlery-training")
    dialog.get_by_role("radio", name="Object Detection").check()
    dialog.get_by_role("radio", name="General", exact=True).check()
    dialog.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def add_images(page, files) -> None:
    page.get_by_role("button", name="Add images").click()
    with page.expect_file_chooser() as chooser:
        page.get_by_text("Browse local files").click()
    chooser.value.set_files([str(f) for f in files])
    upload = page.get_by_role("button", name=f"Upload {len(files)} files")
    expect(upload).to_be_visible()
    upload.click()
    expect(page.get_by_text(f"{len(files)} of {len(files)} files uploaded")).to_be_visible(
        timeout=120_000
    )
    page.get_by_role("link", name="Done").click()


def photo_on_screen(page):
    """The editor's photo and its box on the screen once loaded and laid out."""
    photo = page.locator("[data-region-editor] img").first
    expect(photo).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    # As a person waits for the photo to stop moving: the same place two frames running.
    before = None
    for _ in range(50):
        at = photo.bounding_box()
        if at == before:
            return photo, at
        before = at
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => done()))")
    pytest.fail(f"the photo keeps moving: {before}")


def image_on_page(page) -> Image:
    match = re.search(r"/images/([0-9a-f-]{36})/", page.url)
    assert match, page.url
    return Image.objects.get(id=uuid.UUID(match.group(1)))


def draw_box(page, box: tuple[float, float, float, float]) -> None:
    """Press, drag and release the mouse from the box's top-left to its bottom-right corner,
    as the photo is drawn on the screen now."""
    _, at = photo_on_screen(page)
    left, top, width, height = box
    x0, y0 = at["x"] + left * at["width"], at["y"] + top * at["height"]
    x1, y1 = x0 + width * at["width"], y0 + height * at["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()


def choose_tag(page, tag: str, *, check: bool = False) -> None:
    field = page.get_by_label("Tag for this region")
    expect(field).to_be_focused()
    if check:  # the picker open, then filtering My Tags
        assert_accessible(page)
        field.type(tag[0])
        expect(page.get_by_role("option", name=re.compile(tag))).to_be_visible()
        assert_accessible(page)
        tag = tag[1:]
    field.type(tag)
    field.press("Enter")


def next_image(page) -> None:
    before = page.url
    page.get_by_role("button", name=re.compile(r"^Next image")).click()
    page.wait_for_url(lambda url: url != before)


def saved_box(image: Image) -> tuple[str, tuple[float, float, float, float]]:
    region = Region.objects.select_related("tag").get(image=image)
    return region.tag.name, (region.left, region.top, region.width, region.height)


def label_every_photo(page, count: int, shot) -> float:
    """A box around each photo's object, drawn with the mouse from regions.json's coordinates:
    the seconds a photo took, on average."""
    truth = sample_regions()
    started = time.monotonic()
    labelled: list[Image] = []
    for n in range(count):
        image = image_on_page(page)
        region = truth[image.original_name]
        box = tuple(float(region[k]) for k in ("left", "top", "width", "height"))
        draw_box(page, box)
        # The second photo's tag is in My Tags already: the picker lists it.
        choose_tag(page, str(region["tag"]), check=n == 1)
        expect(page.locator("[data-region-editor] .re-regions li")).to_have_count(1)
        if n == 0:
            shot(page, "od-walk-03-first-box")
            fits_both_widths(page, axe=True)
        labelled.append(image)
        if n < count - 1:
            next_image(page)
    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    seconds = (time.monotonic() - started) / count
    for image in labelled:
        region = truth[image.original_name]
        tag, box = saved_box(image)
        assert tag == region["tag"], image.original_name
        expected = tuple(float(region[k]) for k in ("left", "top", "width", "height"))
        # Drawn with the mouse on a photo a few hundred pixels wide: within two pixels' worth.
        assert box == pytest.approx(expected, abs=0.01), image.original_name
    return seconds


def read_map(page) -> float:
    text = page.get_by_text("mAP", exact=True).first.locator("xpath=following-sibling::*[1]")
    expect(text).to_have_text(PERCENT)
    return float(PERCENT.search(text.inner_text()).group(1))


def move_slider(page, label: str, fraction: float) -> str:
    """Click on the slider's track at `fraction` of its width, as a mouse user sets it."""
    slider = page.get_by_label(label, exact=True)
    at = slider.bounding_box()
    page.mouse.click(at["x"] + fraction * at["width"], at["y"] + at["height"] / 2)
    return slider.input_value()


def drawn_fork(page) -> tuple[float, float, float, float]:
    """The surest fork box drawn over the tested photo, as a fraction of the photo on the screen."""
    found = page.evaluate(
        """() => {
          const boxes = [...document.querySelectorAll('svg.boxes .box')]
            .filter(g => g.getBoundingClientRect().width > 0)
            .filter(g => (g.textContent || '').trim().toLowerCase().startsWith('fork'));
          boxes.sort((a, b) => (b.dataset.probability || 0) - (a.dataset.probability || 0));
          if (!boxes.length) return null;
          const rect = boxes[0].querySelector('rect').getBoundingClientRect();
          const img = boxes[0].closest('.boxed').querySelector('img').getBoundingClientRect();
          return [(rect.left - img.left) / img.width, (rect.top - img.top) / img.height,
                  rect.width / img.width, rect.height / img.height];
        }"""
    )
    assert found, "no fork box is drawn over the tested photo"
    return tuple(found)


@pytest.mark.worker
def test_the_website_quickstart_for_object_detection(page, shot, start_worker, browser_errors):
    UserFactory(username="alice")
    start_worker("od-walk-trainer")
    sign_in(page)
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    new_detection_project(page, "Cutlery")
    project = Project.objects.get(name="Cutlery")
    assert project.is_detection

    add_images(page, photos())
    shot(page, "od-walk-01-uploaded")
    fits_both_widths(page)
    page.get_by_role("radio", name=re.compile(r"^Untagged")).click()  # applies on change
    page.wait_for_url(re.compile(r"state=untagged"))
    page.locator(".image-grid").get_by_role("link").first.click()
    shot(page, "od-walk-02-editor")
    assert_accessible(page)
    seconds = label_every_photo(page, 2 * PER_TAG, shot)
    print(f"\n{seconds:.2f} seconds per labelled photo (mouse, {2 * PER_TAG} photos)")

    page.get_by_role("link", name="Train", exact=True).click()
    page.get_by_label("Quick training").check()
    fits_both_widths(page, axe=True)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.locator("#iteration-status")).to_have_text("Completed", timeout=600_000)
    shot(page, "od-walk-04-performance")
    fits_both_widths(page, axe=True)

    at_first = read_map(page)
    overlap = move_slider(page, "Overlap Threshold", 0.5)
    expect(page.get_by_text(f"{overlap}%").first).to_be_visible()
    stricter = read_map(page)
    print(f"mAP {at_first}% at the first overlap, {stricter}% at {overlap}%")
    # A stricter overlap matches fewer boxes: mAP can only stay or fall.
    assert stricter <= at_first
    assert at_first > 0
    shot(page, "od-walk-05-stricter-overlap")
    assert_accessible(page)

    page.get_by_role("button", name="Publish", exact=True).click()
    page.locator("dialog[open]").get_by_role("button", name="Publish").click()
    expect(page.get_by_text(re.compile(r"Published Iteration 1 as"))).to_be_visible()

    page.get_by_role("link", name="Quick Test").click()
    page.get_by_label("Browse local files").set_input_files(str(TEST_PHOTO))
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.get_by_text(re.compile(r"^fork\b")).first).to_be_visible()
    shot(page, "od-walk-06-quick-test")
    fits_both_widths(page)
    fork = drawn_fork(page)
    print(f"the fork's drawn box overlaps the fork by IoU {box_iou(fork, TEST_FORK):.2f}")
    assert box_iou(fork, TEST_FORK) >= 0.5, (fork, TEST_FORK)


def test_labelling_a_few_photos_with_the_keyboard_only(page, shot, alice, resource, browser_errors):
    """Tab to the photo, p for a suggested box, Enter keeps it, type the tag, Enter, arrows
    nudge it, "." saves and goes to the next photo: no mouse at all."""
    from projects import services as project_services
    from projects.services import ImageUpload
    from tests.training.detection import detection_project

    project = detection_project(alice, resource)
    files = photos(2)[:1] + photos(2)[2:4]  # fork_1, scissors_1, scissors_2
    uploads = [ImageUpload(name=p.name, data=p.read_bytes()) for p in files]
    assert all(
        r.status.ok for r in project_services.images_create(project=project, uploads=uploads)
    )
    sign_in(page)
    page.goto(f"/projects/{project.id}/images/?state=untagged")
    page.locator(".image-grid").get_by_role("link").first.focus()
    page.keyboard.press("Enter")
    stage = page.get_by_role("application")
    for _ in range(40):  # Tab from the top of the page to the photo
        if stage.evaluate("e => e === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(stage).to_be_focused()

    started = time.monotonic()
    labelled: list[Image] = []
    for n in range(len(files)):
        image = image_on_page(page)
        photo_on_screen(page)
        page.keyboard.press("p")
        expect(page.get_by_text(re.compile(r"Suggested box 1 of \d+"))).to_be_visible()
        page.keyboard.press("Enter")
        field = page.get_by_label("Tag for this region")
        expect(field).to_be_focused()
        page.keyboard.type(image.original_name.split("_")[0])
        page.keyboard.press("Enter")
        expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
        if n == 0:
            page.keyboard.press("ArrowRight")
            expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
            page.keyboard.press("?")  # the shortcuts list, then zoomed in: still accessible
            expect(page.get_by_text("Select the next region")).to_be_visible()
            page.keyboard.press("+")
            shot(page, "od-keyboard-01")
            assert_accessible(page)
            assert_fits(page)
            page.keyboard.press("?")
            page.keyboard.press("-")
        labelled.append(image)
        if n < len(files) - 1:
            before = page.url
            page.keyboard.press(".")
            page.wait_for_url(lambda url, before=before: url != before)
    print(f"\n{(time.monotonic() - started) / len(files):.2f} seconds per photo by keyboard")
    for image in labelled:
        tag, box = saved_box(image)
        assert tag == image.original_name.split("_")[0]
        assert box[2] > 0 and box[3] > 0
