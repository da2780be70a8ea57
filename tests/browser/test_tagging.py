"""Tagging at speed in a real browser: number keys, arrows, x, select all matching, and the
dataset health panel, at laptop and phone width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects import views
from projects.models import Image
from tests import images
from tests.browser.test_quickstart import sign_in, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def photos(tmp_path, start: int, n: int) -> list:
    paths = []
    for i, data in enumerate(images.distinct(start + n)[start:], start=start):
        paths.append(tmp_path / f"photo-{i:02}.jpg")
        paths[-1].write_bytes(data)
    return paths


def upload_untagged(page, files) -> None:
    page.get_by_role("button", name="Add images").click()
    page.locator("#id_files").set_input_files([str(f) for f in files])
    page.locator("#upload-button").click()
    expect(page.get_by_text(f"{len(files)} of {len(files)} files uploaded")).to_be_visible()


def tile(page, n: int):
    return page.locator(".image-grid .thumb").nth(n)


def focused_tile_index(page) -> int:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('.image-grid .thumb'))"
        ".indexOf(document.activeElement.closest('.thumb'))"
    )


def test_tag_with_the_keyboard_then_untag_everything_matching(
    page, shot, alice, project, tmp_path, monkeypatch
):
    sign_in(page)
    _upload_alder_birch_and_untagged(page, project, tmp_path)
    health = _numbered_tags_and_health(page, shot)
    _tag_the_focused_image_by_number(page)
    _select_with_x_then_tag_and_untag(page, shot)
    _move_by_whole_rows(page)
    _typing_in_a_field_is_just_typing(page)
    _shortcuts_and_a_redrawn_health_panel(page, shot, health)
    _untag_all_matching_across_pages(page, shot, project, health, monkeypatch)
    _tag_from_untagged_then_delete_the_rest(page, project, health)
    _health_and_shortcuts_at_phone_width(page, shot, project)


def _upload_alder_birch_and_untagged(page, project, tmp_path):
    """Three Alder, two Birch and five untagged photos, through the upload dialog."""
    page.goto(f"/projects/{project.id}/images/")
    upload(page, photos(tmp_path, 0, 3), "Alder")
    page.get_by_role("link", name="Done").click()
    upload(page, photos(tmp_path, 3, 2), "Birch")
    page.get_by_role("link", name="Done").click()
    upload_untagged(page, photos(tmp_path, 5, 5))
    page.get_by_role("link", name="Done").click()
    expect(page).to_have_title(re.compile("Training Images"))


def _numbered_tags_and_health(page, shot):
    """The tags are numbered for the keys; the health panel says both are too small to train."""
    expect(page.locator("#filters .tag-key")).to_have_text(["1", "2"])
    health = page.locator("#dataset-health")
    expect(health.locator('[data-health="too-few"]')).to_contain_text("Alder (3)")
    expect(health.locator('[data-health="too-few"]')).to_contain_text("Birch (2)")
    shot(page, "tagging-01-laptop")
    return health


def _tag_the_focused_image_by_number(page):
    """Newest first: the five untagged photos lead the grid."""
    page.keyboard.press("ArrowRight")  # from nowhere: the first image
    assert focused_tile_index(page) == 0
    page.keyboard.press("1")
    expect(tile(page, 0).locator(".chip")).to_have_text(["Alder"])
    expect(page.locator("#shortcut-status")).to_have_text("Tagged 1 image 'Alder'.")
    expect(page.locator('[data-tag-count="Alder"]')).to_have_text("4")
    expect(page.locator('[data-count="untagged"]')).to_have_text("4")

    page.keyboard.press("ArrowRight")
    page.keyboard.press("2")
    expect(tile(page, 1).locator(".chip")).to_have_text(["Birch"])
    page.keyboard.press("1")  # Multiclass: the new tag replaces the old
    expect(tile(page, 1).locator(".chip")).to_have_text(["Alder"])


def _select_with_x_then_tag_and_untag(page, shot):
    """x selects; a number then tags the selection, not just the focused image."""
    page.keyboard.press("ArrowRight")
    page.keyboard.press("x")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("x")
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    expect(tile(page, 2)).to_have_class(re.compile("selected"))
    page.keyboard.press("2")
    expect(tile(page, 2).locator(".chip")).to_have_text(["Birch"])
    expect(tile(page, 3).locator(".chip")).to_have_text(["Birch"])
    expect(page.locator('[data-tag-count="Birch"]')).to_have_text("4")
    shot(page, "tagging-02-keyboard")
    page.keyboard.press("Shift+Digit2")  # Shift+number takes the tag off again
    expect(tile(page, 2).locator(".chip")).to_have_text(["Untagged"])
    expect(tile(page, 3).locator(".chip")).to_have_text(["Untagged"])
    page.keyboard.press("2")
    expect(page.locator('[data-tag-count="Birch"]')).to_have_text("4")
    page.keyboard.press("Escape")
    expect(page.locator("#selected-count")).to_have_text("0 selected")


def _move_by_whole_rows(page):
    """Up and down move by whole rows of the grid as laid out."""
    columns = page.evaluate(
        "() => { const t = [...document.querySelectorAll('.image-grid .thumb')];"
        " return t.filter(e => e.offsetTop === t[0].offsetTop).length; }"
    )
    page.keyboard.press("ArrowUp")  # on the first row: stays
    assert focused_tile_index(page) == 3
    page.keyboard.press("ArrowDown")
    assert focused_tile_index(page) == 3 + columns
    page.keyboard.press("ArrowLeft")
    assert focused_tile_index(page) == 2 + columns


def _typing_in_a_field_is_just_typing(page):
    page.locator("#bulk-tag").fill("")
    page.locator("#bulk-tag").press_sequentially("1x2")
    expect(page.locator("#bulk-tag")).to_have_value("1x2")
    expect(page.locator('[data-tag-count="Alder"]')).to_have_text("5")
    expect(page.locator("#selected-count")).to_have_text("0 selected")
    page.locator("#bulk-tag").fill("")


def _shortcuts_and_a_redrawn_health_panel(page, shot, health):
    """? shows the shortcuts."""
    page.locator("#bulk-tag").blur()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_have_attribute("open", "")
    expect(page.locator("#shortcuts dl")).to_contain_text("Remove that tag")
    # The panel was redrawn after each key: 5 Alder, 4 Birch, still too few for Birch.
    expect(health.locator('[data-health="too-few"]')).to_contain_text("Birch (4)")
    expect(health.locator('[data-health="low"]')).to_contain_text("Alder (5)")
    page.locator("#dataset-health summary").click()
    shot(page, "tagging-03-help-and-health")


def _untag_all_matching_across_pages(page, shot, project, health, monkeypatch):
    """Select all matching, across pages, then remove the tag from all of them."""
    monkeypatch.setattr(views, "IMAGES_PER_PAGE", 3)
    page.locator("#filters").get_by_label("Alder").check()  # applies on change
    expect(page.locator(".image-grid .thumb")).to_have_count(3)
    expect(page.locator(".pager")).to_contain_text("5 images")
    expect(page.locator(".pager").get_by_role("link", name="Older")).to_be_visible()
    page.get_by_role("button", name="Select all 5 matching").click()
    expect(page.locator("#selected-count")).to_have_text("All 5 matching selected")
    expect(page.get_by_role("button", name="Clear selection")).to_be_visible()
    page.locator("#bulk-action").select_option("untag")
    page.locator("#bulk-tag").fill("Alder")
    shot(page, "tagging-04-select-all-matching")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Removed 'Alder' from 5 images.")).to_be_visible()
    expect(page.locator('[data-tag-count="Alder"]')).to_have_text("0")
    expect(page.locator('[data-tag-count="Birch"]')).to_have_text("4")
    assert Image.objects.filter(project=project, tags__name="Alder").count() == 0
    assert Image.objects.filter(project=project, tags__name="Birch").count() == 4

    # One tag left with images: the panel says training cannot start.
    expect(health.locator('[data-health="min-tags"]')).to_contain_text("this project has 1")
    expect(health.locator('[data-health="too-few"]')).to_contain_text("Birch (4)")
    shot(page, "tagging-05-after-untag")


def _tag_from_untagged_then_delete_the_rest(page, project, health):
    """Tagging from the Untagged filter shrinks it; "Select all N matching" follows, so
    deleting the rest removes exactly the images still untagged."""
    page.locator("#filters").get_by_label("Alder").uncheck()
    expect(page.locator(".image-grid .thumb")).to_have_count(3)  # all 10, 3 to a page
    page.locator("#filters").get_by_label("Untagged").check()
    expect(page.get_by_role("button", name="Select all 6 matching")).to_be_visible()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("2")
    expect(page.locator('[data-tag-count="Birch"]')).to_have_text("5")
    page.get_by_role("button", name="Select all 5 matching").click()
    page.locator("#bulk-action").select_option("delete")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Deleted 5 images.")).to_be_visible()
    assert Image.objects.filter(project=project).count() == 5
    assert Image.objects.filter(project=project, tags__name="Birch").count() == 5
    expect(health.locator('[data-health="too-few"]')).to_have_count(0)
    expect(health.locator('[data-health="min-tags"]')).to_be_visible()


def _health_and_shortcuts_at_phone_width(page, shot, project):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/projects/{project.id}/images/")
    expect(page.locator("#dataset-health")).to_be_visible()
    shot(page, "tagging-06-phone")
    page.locator("#dataset-health summary").click()
    page.locator("#shortcuts summary").click()
    expect(page.locator("#dataset-health table")).to_be_visible()
    shot(page, "tagging-07-phone-details")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_negative_tag_never_breaks_mid_word_in_the_sidebar(page, alice, project):
    """A Negative tag named "Negative", as Azure teams name it, and its badge, in the Training
    Images sidebar at phone (390) and tablet (820) width: each word on one line, never
    "Negati/ve"; and the health panel says the tag is not scored."""
    from projects import services
    from tests.training.test_services import add

    services.tag_create(project=project, name="Negative", type="Negative")
    add(project, "green", 2, ["Negative"])
    add(project, "red", 2, ["Alder"])
    sign_in(page)
    page.goto(f"/projects/{project.id}/images/")
    name = page.locator("#filters .tag-name", has_text="Negative")
    lines = (
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set(Array.from(r.getClientRects(), c => Math.round(c.top))).size; }"
    )
    for width in (390, 820):
        page.set_viewport_size({"width": width, "height": 844})
        # The name's own text, then the badge: one line each (they may sit on two).
        assert (
            name.evaluate(lines.replace("selectNodeContents(e)", "selectNode(e.firstChild)")) == 1
        )
        assert page.locator("#filters .badge").evaluate(lines) == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    expect(page.locator('#dataset-health [data-health="negative"]')).to_contain_text(
        "The Negative tag is not scored"
    )
