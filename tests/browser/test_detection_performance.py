"""A detector's Performance tab in Chromium: the Probability Threshold and Overlap Threshold
sliders, moved as a person moves them (keyboard, or dragged to a value), give the figures the
server gives at those values, and re-draw the images' missed and false boxes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_quickstart import sign_in
from tests.training.detection_scored import scored_detector
from training import selectors
from training.templatetags.training_format import percent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def expect_figures(page, iteration, threshold: int, overlap: int) -> None:
    expect(page.locator("#threshold-value")).to_have_text(f"{threshold}%")
    expect(page.locator("#overlap-value")).to_have_text(f"{overlap}%")
    numbers = selectors.iteration_detection_performance(iteration, threshold / 100, overlap / 100)
    overall = numbers["overall"]
    cells = [("#overall-precision", overall["precision"]), ("#overall-recall", overall["recall"])]
    cells.append(("#overall-map", overall["average_precision"]))
    rows = page.locator("#tag-performance tbody tr")
    for i, tag in enumerate(numbers["tags"]):
        row = f"#tag-performance tbody tr:nth-child({i + 1})"
        cells += [
            (f"{row} .tag-precision", tag["precision"]),
            (f"{row} .tag-recall", tag["recall"]),
        ]
        cells.append((f"{row} .tag-ap", tag["average_precision"]))
    for selector, value in cells:
        expect(page.locator(selector)).to_have_text(percent(value))
        assert float(page.locator(selector).get_attribute("data-value")) == pytest.approx(
            value, abs=1e-12
        ), (selector, threshold, overlap)
    expect(page.locator("#overall-precision-std")).to_have_text(
        f"± {percent(overall['precision_std'])}"
    )
    expect(page.locator("#overall-recall-std")).to_have_text(f"± {percent(overall['recall_std'])}")
    assert rows.count() == len(numbers["tags"])
    _expect_images(page, iteration, threshold, overlap)


def _expect_images(page, iteration, threshold: int, overlap: int) -> None:
    drawn = selectors.detection_mistakes(iteration, threshold / 100, overlap / 100)
    expect(page.locator("#mistake-count")).to_have_text(str(sum(1 for d in drawn if d.count)))
    shown = page.evaluate(
        """() => [...document.querySelectorAll('#detection-images li:not([hidden])')].map(li => [
            Number(li.dataset.imageIndex),
            [...li.querySelectorAll('g.box:not([hidden])')].map(g => g.getAttribute('class'))])"""
    )
    expected = [
        [d.index, [f"box box-{b['kind']}" for b in d.boxes if not b["hidden"]]]
        for d in sorted(drawn, key=lambda d: d.index)
        if d.count
    ]
    assert sorted(shown) == expected


def test_the_sliders_recompute_what_the_server_computes(
    page, shot, live_server, alice, resource, monkeypatch
):
    iteration = scored_detector(alice, resource, monkeypatch)
    sign_in(page)
    page.goto(f"/projects/{iteration.project_id}/performance/{iteration.id}/")
    # Azure's portal opens at 50 % and 30 %; the Apply button is for pages without JS.
    expect(page.get_by_label("Probability Threshold")).to_have_value("50")
    expect(page.get_by_label("Overlap Threshold")).to_have_value("30")
    expect(page.get_by_role("button", name="Apply")).to_be_hidden()
    expect_figures(page, iteration, 50, 30)

    overlap = page.get_by_label("Overlap Threshold")
    overlap.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    expect_figures(page, iteration, 50, 50)

    threshold = page.get_by_label("Probability Threshold")
    threshold.focus()
    for _ in range(25):
        page.keyboard.press("ArrowLeft")
    expect_figures(page, iteration, 25, 50)

    for t, o in ((75, 60), (60, 10), (0, 90)):
        threshold.fill(str(t))
        overlap.fill(str(o))
        expect_figures(page, iteration, t, o)
    threshold.fill("50")
    shot(page, "detection-performance")
    for width in (820, 390):  # a tablet, a phone: nothing wider than the screen
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), width
