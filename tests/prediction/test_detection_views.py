"""Quick Test and the Predictions tab of an object-detection project through the test client:
boxes over the photo with tag and probability, the weaker ones hidden until the slider shows
them, and a prediction's corrected boxes saved into the training images."""

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse

from prediction.models import StoredPrediction
from tests.prediction.detecting import detector_with_stand_in
from tests.training.detection import TEST_PHOTO

pytestmark = pytest.mark.django_db


@pytest.fixture
def detector(alice, resource, monkeypatch):
    return detector_with_stand_in(alice, resource, monkeypatch)


def quick_test(client, iteration, store=True):
    data = {"iteration": iteration.id, "image": _photo()}
    if store:
        data["store"] = "on"
    return client.post(reverse("prediction:quick_test", args=[iteration.project_id]), data)


def _photo():
    file = io.BytesIO(TEST_PHOTO.read_bytes())
    file.name = "test_image.jpg"
    return file


def boxes(html: str) -> list[tuple[str, str]]:
    """Each drawn box's class and whether it is hidden."""
    return re.findall(r'<g class="(box[^"]*)" data-probability="[\d.]+"( hidden)?>', html)


def test_quick_test_draws_the_boxes_and_hides_the_weaker(alice_client, detector):
    response = quick_test(alice_client, detector, store=False)
    html = response.content.decode()
    assert response.status_code == 200
    # Most probable first; below the slider's 50 % hidden, in the picture and in the table.
    assert boxes(html) == [
        ("box box-found", ""),
        ("box box-found", " hidden"),
        ("box box-found", " hidden"),
    ]
    assert '<rect x="10.0000%" y="24.0000%" width="71.0000%" height="56.0000%">' in html
    assert ">fork 92%</text>" in html
    assert 'id="box-threshold" min="0" max="100" step="1" value="50"' in html
    assert "Probability threshold" in html
    rows = re.findall(
        r'<tr data-probability="[\d.]+"( hidden)?><td>(\w+)</td><td class="num">([\d.]+%)', html
    )
    assert rows == [
        ("", "fork", "92.0%"),
        (" hidden", "scissors", "31.0%"),
        (" hidden", "fork", "4.0%"),
    ]
    assert not StoredPrediction.objects.exists()


def test_quick_test_keeps_the_detection_for_predictions(alice_client, detector):
    quick_test(alice_client, detector)
    [stored] = StoredPrediction.objects.all()
    assert [p["tagName"] for p in stored.predictions] == ["fork", "scissors", "fork"]
    assert stored.predictions[0]["boundingBox"]["left"] == pytest.approx(0.10)
