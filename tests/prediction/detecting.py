"""A detection iteration whose model is a stand-in that always finds the same boxes, so that the
portal's detection pages (Quick Test, Predictions) are tested without training a detector.
The iteration is tests/training/detection_scored.py's, completed by hand."""

from __future__ import annotations

from prediction.services import classify
from tests.training.detection_scored import scored_detector
from training.models import Iteration

# (tag index, probability, left, top, width, height): the fork of test_image.jpg found surely,
# a weak scissors and a weaker fork.
FOUND = [
    (0, 0.92, 0.10, 0.24, 0.71, 0.56),
    (1, 0.31, 0.55, 0.05, 0.30, 0.20),
    (0, 0.04, 0.02, 0.60, 0.20, 0.30),
]


class StandIn:
    image_size = 320

    def detect_image(self, image) -> list[tuple[int, float, float, float, float, float]]:
        return list(FOUND)


def detector_with_stand_in(owner, resource, monkeypatch) -> Iteration:
    iteration = scored_detector(owner, resource, monkeypatch)
    monkeypatch.setattr(classify, "detector_for", lambda iteration: StandIn())
    return iteration
