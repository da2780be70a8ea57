"""One process's decodes in flight are bounded in bytes: a decode waits while the pixels of
others (still held by their callers) leave no room, and goes on when they are freed."""

from __future__ import annotations

import threading

import pytest

from engine import imaging
from engine.imaging import ImageRejected, ImageRules, decode_for_model, decoding_cost
from engine.pixelbudget import PixelBudget
from tests import images

SIDE = 256


@pytest.fixture(autouse=True)
def _budget_of_its_own(monkeypatch):
    monkeypatch.setattr(imaging, "BUDGET", PixelBudget())


def test_a_decoded_image_is_counted_until_it_is_freed():
    data = images.solid((1200, 900), fmt="PNG")
    cost = decoding_cost(data, for_model=SIDE)
    image = decode_for_model(data, ImageRules(), SIDE)
    assert imaging.BUDGET.used == cost
    del image
    assert imaging.BUDGET.used == 0


def test_a_prepared_images_pixels_are_counted_until_it_is_freed():
    data = images.exif_rotated_jpeg()
    prepared = imaging.prepare_image(data)
    assert imaging.BUDGET.used == decoding_cost(data)
    del prepared
    assert imaging.BUDGET.used == 0


def test_a_refused_or_broken_image_gives_its_reservation_back():
    with pytest.raises(ImageRejected):
        imaging.prepare_image(images.truncated_jpeg())
    with pytest.raises(ImageRejected):
        imaging.prepare_image(images.pixel_heavy_png(8000, 4000, mode="LA"))
    assert imaging.BUDGET.used == 0


def test_a_decode_waits_while_another_images_pixels_leave_no_room():
    data = images.solid((1200, 900), fmt="PNG")
    rules = ImageRules(max_decoded_bytes=decoding_cost(data, for_model=SIDE) * 3 // 2)
    first = decode_for_model(data, rules, SIDE)  # holds two thirds of the budget
    done = threading.Event()

    def second() -> None:
        decode_for_model(data, rules, SIDE)
        done.set()

    waiting = threading.Thread(target=second)
    waiting.start()
    assert not done.wait(0.5)  # no room while `first` is alive
    del first
    waiting.join(timeout=30)
    assert done.is_set()
    assert imaging.BUDGET.used == 0


def test_decodes_that_fit_together_do_not_wait():
    data = images.solid((600, 450), fmt="PNG")
    rules = ImageRules(max_decoded_bytes=decoding_cost(data, for_model=SIDE) * 4)
    held = []
    finished = threading.Event()

    def more() -> None:
        held.append(decode_for_model(data, rules, SIDE))
        finished.set()

    held.append(decode_for_model(data, rules, SIDE))
    thread = threading.Thread(target=more)
    thread.start()
    thread.join(timeout=30)
    assert finished.is_set() and len(held) == 2


def test_a_thread_that_holds_an_image_is_not_made_to_wait_for_itself():
    data = images.solid((1200, 900), fmt="PNG")
    rules = ImageRules(max_decoded_bytes=decoding_cost(data, for_model=SIDE))
    first = decode_for_model(data, rules, SIDE)
    second = decode_for_model(data, rules, SIDE)  # would wait forever on `first`
    assert imaging.BUDGET.used == 2 * rules.max_decoded_bytes
    del first, second
    assert imaging.BUDGET.used == 0


def test_the_budget_gives_back_each_reservation_once():
    budget = PixelBudget()
    release = budget.reserve(100, 1000)
    release()
    release()
    assert budget.used == 0
