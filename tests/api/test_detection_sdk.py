"""Object detection through Microsoft's Python SDKs against a live server and a real Celery
worker: TrainProject on Microsoft's fork/scissors photos, the iteration's figures at a
threshold and an overlap, image by image with predicted boxes, the four Detect operations
(the test photo's top box is the fork), stored detections in QueryPredictions, Azure's error
for the other project type's operations, and the detection exports."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.models import (
    CustomVisionErrorException as PredictionError,
)
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    PredictionQueryToken,
)
from msrest.authentication import ApiKeyCredentials

from engine.boxes import box_iou
from tests.training.detection import TEST_FORK, TEST_PHOTO, add_sample_photos, detection_project

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _clients(live_server, keys):
    (_t, tkeys), (_p, pkeys) = keys
    trainer = CustomVisionTrainingClient(
        live_server.url, ApiKeyCredentials(in_headers={"Training-key": tkeys.key1})
    )
    predictor = CustomVisionPredictionClient(
        live_server.url, ApiKeyCredentials(in_headers={"Prediction-key": pkeys.key1})
    )
    return trainer, predictor


def _wait(seconds: float, check):
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.5)


def _box(prediction) -> tuple[float, float, float, float]:
    b = prediction.bounding_box
    return (b.left, b.top, b.width, b.height)


def _refused(call, *args) -> str:
    with pytest.raises((CustomVisionErrorException, PredictionError)) as info:
        call(*args)
    return info.value.inner_exception.code


def test_detector_trained_by_a_worker_finds_the_fork(
    live_server, keys, alice, start_worker, image_server, allow_local
):
    (training_resource, _), (prediction_resource, _) = keys
    project = detection_project(alice, training_resource)
    add_sample_photos(project, 15)  # Azure's minimum per tag
    start_worker("trainer", CV_TORCH_THREADS="2")
    trainer, predictor = _clients(live_server, keys)
    p = str(project.id)

    queued = trainer.train_project(p)
    done = _wait(
        900, lambda: (it := trainer.get_iteration(p, queued.id)).status != "Training" and it
    )
    assert done.status == "Completed", done.training_error_details
    assert done.classification_type is None  # a detector's, as Azure's
    it = done.id

    figures = trainer.get_iteration_performance(p, it, threshold=0.3, overlap_threshold=0.3)
    assert sorted(t.name for t in figures.per_tag_performance) == ["fork", "scissors"]
    assert 0 <= figures.average_precision <= 1 and 0 <= figures.recall <= 1
    strict = trainer.get_iteration_performance(p, it, threshold=0.3, overlap_threshold=0.95)
    assert strict.average_precision <= figures.average_precision
    images = trainer.get_image_performances(p, it, take=50)
    assert len(images) == trainer.get_image_performance_count(p, it) > 0
    assert all(len(i.regions) == 1 and i.regions[0].width > 0 for i in images)
    assert any(i.predictions and i.predictions[0].bounding_box for i in images)

    trainer.publish_iteration(p, it, "cutlery", str(prediction_resource.id))
    photo = TEST_PHOTO.read_bytes()
    for result in (
        predictor.detect_image(p, "cutlery", photo),
        predictor.detect_image_with_no_store(p, "cutlery", photo),
    ):
        top = result.predictions[0]
        assert str(result.iteration) == str(it) and top.tag_name == "fork"
        assert box_iou(_box(top), TEST_FORK) > 0.3, _box(top)
    url = image_server.serve("/fork.jpg", photo)
    assert predictor.detect_image_url(p, "cutlery", url).predictions[0].tag_name == "fork"
    assert predictor.detect_image_url_with_no_store(p, "cutlery", url).predictions

    # The two kept detections, with their boxes.
    stored = trainer.query_predictions(p, PredictionQueryToken(order_by="Newest")).results
    assert len(stored) == 2
    assert all(s.predictions[0].bounding_box.width > 0 for s in stored)

    # A detector does not classify (Azure: "Invalid project type for operation").
    assert _refused(predictor.classify_image, p, "cutlery", photo) == (
        "BadRequestOperationNotSupported"
    )

    for platform, flavor in (("ONNX", None), ("ONNX", "OnnxFloat16"), ("DockerFile", "Linux")):
        trainer.export_iteration(p, it, platform, flavor=flavor)
        export = _wait(
            180,
            lambda pf=platform, fl=flavor: next(
                (
                    e
                    for e in trainer.get_exports(p, it)
                    if e.platform == pf and e.flavor == fl and e.status != "Exporting"
                ),
                None,
            ),
        )
        assert export.status == "Done", (platform, flavor)
        archive = zipfile.ZipFile(io.BytesIO(requests.get(export.download_uri, timeout=30).content))
        names = archive.namelist()
        assert any(n.endswith("model.onnx") for n in names), names
        label_file = next(n for n in names if n.endswith("labels.txt"))
        assert sorted(archive.read(label_file).decode().split()) == ["fork", "scissors"]
