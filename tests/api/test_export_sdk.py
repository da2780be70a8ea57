"""Export through the official SDK with a real worker, downloaded from its downloadUri without
a key, and run the way Microsoft's sample script for exported classifiers runs it: the export
answers what the server answers."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from msrest.authentication import ApiKeyCredentials
from msrest.exceptions import HttpOperationError
from PIL import Image

from tests.export_sample import sample_predict
from training import services as training_services

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_done(trainer, project_id: str, iteration_id: str, platform: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while True:
        found = {e.platform: e for e in trainer.get_exports(project_id, iteration_id)}
        if platform in found and found[platform].status != "Exporting":
            return found[platform]
        assert time.monotonic() < deadline, f"the {platform} export did not finish"
        time.sleep(0.5)


def test_sdk_export_downloads_and_agrees_with_the_server(
    live_server, keys, sample_project, sample_dir, start_worker, tmp_path
):
    (_t, tkeys), (prediction_resource, pkeys) = keys
    iteration = training_services.iteration_train_start(project=sample_project)
    training_services.iteration_run(iteration_id=iteration.id, worker="test")
    start_worker("exporter")
    trainer = CustomVisionTrainingClient(
        live_server.url, ApiKeyCredentials(in_headers={"Training-key": tkeys.key1})
    )
    predictor = CustomVisionPredictionClient(
        live_server.url, ApiKeyCredentials(in_headers={"Prediction-key": pkeys.key1})
    )
    p, it = str(sample_project.id), str(iteration.id)
    listed = trainer.get_iteration(p, it)
    assert listed.exportable and "ONNX" in listed.exportable_to

    started = trainer.export_iteration(p, it, "ONNX")
    assert (started.platform, started.status, started.download_uri) == ("ONNX", "Exporting", None)
    done = wait_done(trainer, p, it, "ONNX")
    assert done.status == "Done" and done.download_uri.startswith(live_server.url)
    assert done.newer_version_available is False

    # The link needs no key, as Azure's SAS links don't.
    download = requests.get(done.download_uri, timeout=30)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/zip"
    folder = tmp_path / "export"
    zipfile.ZipFile(io.BytesIO(download.content)).extractall(folder)
    labels = (folder / "labels.txt").read_text().splitlines()
    assert sorted(labels) == ["Hemlock", "Japanese Cherry"]

    trainer.publish_iteration(p, it, "trees", str(prediction_resource.id))
    photos = [sample_dir / "Test" / "test_image.jpg"]
    photos += sorted((sample_dir / "Hemlock").glob("*.jpg"))[:4]
    photos += sorted((sample_dir / "Japanese_Cherry").glob("*.jpg"))[:4]
    agree = 0
    for path in photos:
        # A copy at another size and shape: what a camera elsewhere might send.
        photo = tmp_path / f"{path.stem}-other.jpg"
        Image.open(path).convert("RGB").resize((700, 500)).save(photo, quality=90)
        for image in (path, photo):
            [scores] = sample_predict(folder / "model.onnx", image).values()
            exported = labels[int(np.argmax(scores[0]))]
            served = predictor.classify_image_with_no_store(p, "trees", image.read_bytes())
            agree += exported == served.predictions[0].tag_name
    assert agree == 2 * len(photos), f"{agree} of {2 * len(photos)} agree"

    # Docker, and what can't be built here.
    assert trainer.export_iteration(p, it, "DockerFile", flavor="Linux").status == "Exporting"
    docker = wait_done(trainer, p, it, "DockerFile")
    assert docker.status == "Done" and docker.flavor == "Linux"
    names = zipfile.ZipFile(io.BytesIO(requests.get(docker.download_uri, timeout=30).content))
    assert {"Dockerfile", "app/app.py", "app/model.onnx"} <= set(names.namelist())
    with pytest.raises(HttpOperationError) as refused:
        trainer.export_iteration(p, it, "CoreML")
    assert refused.value.error.code == "BadRequestProjectUnsupportedExportPlatform"
    assert "ONNX" in refused.value.error.message

    # A forged link is refused.
    forged = done.download_uri.replace("/exports/", "/exports/x")
    assert requests.get(forged, timeout=30).status_code == 404
