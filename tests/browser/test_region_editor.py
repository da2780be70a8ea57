"""The region editor on a detection image's page, in Chromium with Playwright's mouse and
keyboard: the boxes the server stores are exactly the ones drawn (in pixels of the rendered
photo, at any zoom), and drawing, moving, resizing, deleting, undoing, tagging by typing,
keeping a suggested box and Save and next all reach the server. No console or page errors,
no browser dialog, no page wider than the screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from projects import services
from projects.models import Image, Region
from projects.services import ImageUpload
from tests.browser.test_quickstart import sign_in
from tests.training.detection import OD_SAMPLES, add_sample_photos, detection_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HALF_PIXEL = 0.5


@pytest.fixture
def cutlery(alice, resource):
    """Two photos with their boxes (tags fork and scissors), then two without any."""
    project = detection_project(alice, resource)
    add_sample_photos(project, 1)
    uploads = [
        ImageUpload(name=p.name, data=p.read_bytes())
        for p in sorted((OD_SAMPLES / "fork").glob("*.jpg"))[5:7]
    ]
    results = services.images_create(project=project, uploads=uploads)
    return project, [r.image for r in results]


@pytest.fixture
def watched(page):
    """The page, failing the test on any console error, page error or browser dialog."""
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield page
    assert not problems, problems


def open_image(page, project, image) -> None:
    """The image's page, its photo loaded, its suggested boxes arrived and laid out (the
    editor fits the photo again a frame after the page settles)."""
    page.goto(f"/projects/{project.id}/images/{image.id}/")
    expect(page.locator(".re-canvas img")).to_have_js_property("complete", True)
    expect(page.locator("[data-region-editor]")).to_have_attribute("data-proposals", "ready")
    page.evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def photo_box(page) -> dict[str, float]:
    box = page.locator(".re-canvas img").bounding_box()
    assert box is not None
    return box


def drag(page, x0: float, y0: float, x1: float, y1: float, *, save: bool = True) -> None:
    """A mouse drag in page pixels; with `save`, waits for the editor's save it causes."""
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=3)
    page.mouse.move(x1, y1, steps=3)
    if save:
        with page.expect_response(lambda r: r.url.endswith("/regions/")) as answer:
            page.mouse.up()
        assert answer.value.ok
    else:
        page.mouse.up()


def assert_drawn(region: Region, photo: dict[str, float], x0, y0, x1, y1) -> None:
    """The stored region is the drawn rectangle, within half a pixel of the rendered photo."""
    w, h = photo["width"], photo["height"]
    assert abs(region.left * w - (min(x0, x1) - photo["x"])) <= HALF_PIXEL
    assert abs(region.top * h - (min(y0, y1) - photo["y"])) <= HALF_PIXEL
    assert abs(region.width * w - abs(x1 - x0)) <= HALF_PIXEL
    assert abs(region.height * h - abs(y1 - y0)) <= HALF_PIXEL


def tag_typed(page, text: str) -> None:
    """Types into the tag picker and presses Enter, waiting for the save."""
    picker = page.get_by_role("combobox", name="Tag for this region")
    expect(picker).to_be_focused()
    picker.fill(text)
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        picker.press("Enter")
    expect(page.locator(".re-status")).to_have_text("Saved")


def regions_of(image) -> list[Region]:
    return list(Region.objects.filter(image=image).select_related("tag").order_by("created_at"))


def test_draw_move_resize_delete_and_undo_with_the_mouse(watched, cutlery, shot):
    page, (project, (photo, _)) = watched, cutlery
    sign_in(page)
    open_image(page, project, photo)
    p = photo_box(page)
    x0, y0, x1, y1 = p["x"] + 40.25, p["y"] + 30.5, p["x"] + 201, p["y"] + 150.75
    drag(page, x0, y0, x1, y1, save=False)
    tag_typed(page, "spoon")  # a new tag, by typing and Enter
    (spoon,) = regions_of(photo)
    assert spoon.tag.name == "spoon"
    assert_drawn(spoon, p, x0, y0, x1, y1)
    shot(page, "region-editor-01-drawn")

    drag(page, x0 + 60, y0 + 60, x0 + 90, y0 + 80)  # move by (30, 20)
    (moved,) = regions_of(photo)
    assert_drawn(moved, p, x0 + 30, y0 + 20, x1 + 30, y1 + 20)
    drag(page, x1 + 30, y1 + 20, x1 + 70, y1 + 45)  # the bottom-right handle
    (resized,) = regions_of(photo)
    assert_drawn(resized, p, x0 + 30, y0 + 20, x1 + 70, y1 + 45)
    page.mouse.dblclick(x0 + 60, y0 + 60)  # a double click changes the tag
    tag_typed(page, "knife")
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        page.keyboard.press("Control+z")
    expect(page.locator(".re-regions button")).to_have_text(["spoon"])

    drag(page, p["x"] + 300, p["y"] + 200, p["x"] + 380, p["y"] + 260, save=False)
    tag_typed(page, "for")  # filters My Tags to fork: Enter picks it
    assert [r.tag.name for r in regions_of(photo)] == ["spoon", "fork"]
    selected = page.locator(".re-regions button[aria-pressed=true]")
    page.locator(".re-stage").focus()
    page.keyboard.press("Escape")  # unselect; then Tab walks the regions from the photo
    expect(selected).to_have_count(0)
    page.keyboard.press("Tab")
    expect(selected).to_have_text("spoon")
    page.keyboard.press("Tab")
    expect(selected).to_have_text("fork")
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        page.get_by_role("button", name="Delete region").click()
    assert [r.tag.name for r in regions_of(photo)] == ["spoon"]
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        page.get_by_role("button", name="Undo").click()
    assert [r.tag.name for r in regions_of(photo)] == ["spoon", "fork"]
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        page.keyboard.press("Control+z")
    assert [r.tag.name for r in regions_of(photo)] == ["spoon"]


def test_escape_drops_a_new_box_and_zoomed_boxes_are_exact(watched, cutlery):
    page, (project, (photo, _)) = watched, cutlery
    sign_in(page)
    open_image(page, project, photo)
    p = photo_box(page)
    drag(page, p["x"] + 10, p["y"] + 10, p["x"] + 90, p["y"] + 90, save=False)
    page.keyboard.press("Escape")
    expect(page.locator(".re-picker")).to_be_hidden()
    expect(page.locator(".re-region")).to_have_count(0)

    p = photo_box(page)
    page.mouse.move(p["x"] + 100, p["y"] + 100)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -100)  # Ctrl + wheel zooms in
    page.keyboard.up("Control")
    expect(page.locator(".re-zoom-level")).to_have_text("150%")
    page.get_by_role("button", name="Zoom out").click()
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator(".re-zoom-level")).to_have_text("200%")
    p = photo_box(page)
    stage = page.locator(".re-stage").bounding_box()
    assert stage is not None and p["width"] > stage["width"]  # the stage scrolls, not the page
    x0, y0 = stage["x"] + 50.5, stage["y"] + 40
    x1, y1 = x0 + 33.25, y0 + 21.5
    drag(page, x0, y0, x1, y1, save=False)
    tag_typed(page, "scissors")
    (region,) = regions_of(photo)
    assert_drawn(region, p, x0, y0, x1, y1)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_keyboard_only_labelling_then_save_and_next(watched, cutlery):
    page, (project, (first, _)) = watched, cutlery
    sign_in(page)
    with page.expect_response(lambda r: r.url.endswith("/proposals/")) as proposals:
        open_image(page, project, first)
    offered = proposals.value.json()["proposals"]
    assert offered, "the proposer offers boxes for a photo of a fork"
    page.keyboard.press("p")  # the most confident suggested box
    expect(page.locator(".re-status")).to_contain_text("Enter keeps it")
    page.keyboard.press("Enter")
    tag_typed(page, "fork")
    (kept,) = regions_of(first)
    stored = [kept.left, kept.top, kept.width, kept.height]
    assert stored == [offered[0][k] for k in ("left", "top", "width", "height")]

    page.keyboard.press("n")  # select it, then give it My Tags' second tag (scissors)
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        page.keyboard.press("2")
    assert regions_of(first)[0].tag.name == "scissors"
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        page.keyboard.press("Shift+ArrowRight")  # nudged ten pixels right
    width = photo_box(page)["width"]
    assert abs((regions_of(first)[0].left - kept.left) * width - 10) <= HALF_PIXEL

    next_url = page.locator("[data-region-editor]").get_attribute("data-next-url")
    assert next_url
    page.keyboard.press("PageDown")  # Save and next
    page.wait_for_url(f"**{next_url}")
    expect(page.get_by_role("button", name="Previous image")).to_be_enabled()
    following = Image.objects.get(id=next_url.split("/images/")[1].split("/")[0])
    had = [r.tag.name for r in regions_of(following)]
    page.keyboard.press("p")  # shown once the suggested boxes arrive
    expect(page.locator(".re-status")).to_contain_text("Enter keeps it")
    page.keyboard.press("Enter")
    picker = page.get_by_role("combobox", name="Tag for this region")
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        picker.press("Enter")  # the tag chosen last comes first
    assert sorted(r.tag.name for r in regions_of(following)) == sorted([*had, "scissors"])
    page.keyboard.press(",")
    page.wait_for_url(f"**/images/{first.id}/**")
    expect(page.locator(".re-regions button")).to_have_text(["scissors"])


def touch_drag(page, x0: float, y0: float, x1: float, y1: float) -> None:
    """A finger's drag, as a tablet's touch screen sends it."""
    cdp = page.context.new_cdp_session(page)
    for kind, x, y in (
        ("touchStart", x0, y0),
        ("touchMove", (x0 + x1) / 2, (y0 + y1) / 2),
        ("touchMove", x1, y1),
    ):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_the_editor_fits_a_tablet_and_a_phone(watched, cutlery):
    page, (project, (photo, other)) = watched, cutlery
    sign_in(page)
    page.set_viewport_size({"width": 1280, "height": 720})  # a laptop: the photo is all in view
    open_image(page, project, photo)
    p = photo_box(page)
    assert p["y"] + p["height"] <= 720
    for width in (820, 390):
        page.set_viewport_size({"width": width, "height": 900})
        open_image(page, project, photo)
        p = photo_box(page)
        assert p["x"] >= 0 and p["x"] + p["width"] <= width
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        for name in ("Previous image", "Next image", "Undo", "Zoom in"):
            expect(page.get_by_role("button", name=name)).to_be_visible()

    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, drawn on with a finger
    open_image(page, project, other)
    p = photo_box(page)
    touch_drag(page, p["x"] + 30, p["y"] + 40, p["x"] + 230, p["y"] + 160)
    tag_typed(page, "fork")
    (touched,) = regions_of(other)
    assert_drawn(touched, p, p["x"] + 30, p["y"] + 40, p["x"] + 230, p["y"] + 160)

    page.set_viewport_size({"width": 390, "height": 844})
    open_image(page, project, photo)
    p = photo_box(page)
    drag(page, p["x"] + 20, p["y"] + 20, p["x"] + 120, p["y"] + 90, save=False)
    tag_typed(page, "fork")
    (region,) = regions_of(photo)
    assert_drawn(region, p, p["x"] + 20, p["y"] + 20, p["x"] + 120, p["y"] + 90)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_click_keeps_the_suggested_box_under_the_mouse(watched, cutlery):
    page, (project, (photo, _)) = watched, cutlery
    sign_in(page)
    with page.expect_response(lambda r: r.url.endswith("/proposals/")) as proposals:
        open_image(page, project, photo)
    offered = [
        [p[k] for k in ("left", "top", "width", "height")]
        for p in proposals.value.json()["proposals"]
    ]
    first = offered[0]
    p = photo_box(page)
    x = p["x"] + (first[0] + first[2] / 2) * p["width"]
    y = p["y"] + (first[1] + first[3] / 2) * p["height"]
    page.mouse.move(x, y)
    expect(page.locator(".re-proposal")).to_have_count(1)
    page.mouse.click(x, y)
    picker = page.get_by_role("combobox", name="Tag for this region")
    picker.fill("knife")
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        page.get_by_role("button", name="+ Add").click()
    (kept,) = regions_of(photo)
    assert kept.tag.name == "knife"
    assert [kept.left, kept.top, kept.width, kept.height] in offered  # exactly a suggested box


def test_drafts_are_accepted_into_regions_or_discarded(watched, cutlery):
    """A page that gives the editor a drafts_url (Suggested objects) gets the model's boxes
    dashed, to accept or discard; here the URL is answered by the test."""
    page, (project, (photo, _)) = watched, cutlery
    fork = project.tags.get(name="fork")
    drafts = [
        {
            "tag_id": str(fork.id),
            "tag_name": "fork",
            "probability": 0.91,
            "left": 0.125,
            "top": 0.25,
            "width": 0.5,
            "height": 0.375,
        },
        {
            "tag_id": None,
            "tag_name": "scissors",
            "probability": 0.4,
            "left": 0.5,
            "top": 0.5,
            "width": 0.25,
            "height": 0.25,
        },
    ]
    page.route("**/test-drafts/", lambda route: route.fulfill(json={"drafts": drafts}))
    sign_in(page)
    open_image(page, project, photo)
    page.evaluate(
        "() => { const root = document.querySelector('[data-region-editor]');"
        " root.dataset.draftsUrl = '/test-drafts/'; root.regionEditor.fetchExtras(); }"
    )
    expect(page.locator(".re-draft")).to_have_count(2)
    with page.expect_response(lambda r: r.url.endswith("/regions/")):
        page.get_by_role("button", name="Accept fork").click()
    (accepted,) = regions_of(photo)
    assert (accepted.tag, accepted.left, accepted.top, accepted.width, accepted.height) == (
        fork,
        0.125,
        0.25,
        0.5,
        0.375,
    )
    page.get_by_role("button", name="Discard all").click()
    expect(page.locator(".re-draft")).to_have_count(0)
    expect(page.get_by_role("heading", name="Suggested objects")).to_be_hidden()
