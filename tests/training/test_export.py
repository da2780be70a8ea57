"""Exports built from a real model (the sample photos, trained in-process): the ONNX zip run the
way Microsoft's sample script runs it, float16, and the Docker app run directly."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from PIL import Image

from engine import export
from engine.bundle import ModelBundle
from engine.features import NoCache, Sample
from engine.predict import Predictor
from engine.recipes import recipe_for
from engine.train import TrainRequest, train
from tests.export_sample import sample_predict
from tests.servers import free_port, wait_until_answering

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "custom-vision-sample"
FOLDERS = ("Hemlock", "Japanese_Cherry")


def photos(folder: str) -> list[Path]:
    return sorted((SAMPLES / folder).glob("*.jpg"))


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    samples, rows = [], []
    for index, folder in enumerate(FOLDERS):
        for path in photos(folder):
            data = path.read_bytes()
            samples.append(Sample(hashlib.sha256(data).hexdigest(), lambda d=data: d))
            rows.append([1.0 if j == index else 0.0 for j in range(2)])
    request = TrainRequest(
        samples, torch.tensor(rows), ["Hemlock", "Japanese Cherry"], False, recipe_for("General")
    )
    result = train(request, cache=NoCache())
    assert result.bundle is not None
    return result.bundle.with_ids(
        tag_ids=["t-hemlock", "t-cherry"], project_id="p", iteration_id="i"
    )


def unpack(data: bytes, folder: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)
    return folder


def trial_photos(tmp_path: Path) -> list[Path]:
    """The sample's test photo, photos of both trees, and each as a PNG at another size and
    shape (PNG has no reduced-scale decoding, so the server's pixels equal the script's)."""
    chosen = [
        SAMPLES / "Test" / "test_image.jpg",
        *photos("Hemlock")[:3],
        *photos("Japanese_Cherry")[:3],
    ]
    made = []
    for path in chosen[:4]:
        png = tmp_path / f"{path.stem}.png"
        Image.open(path).convert("RGB").resize((640, 420)).save(png)
        made.append(png)
    return chosen + made


def test_onnx_export_runs_in_microsofts_sample_script_and_answers_as_the_server(bundle, tmp_path):
    folder = unpack(export.package(bundle, "ONNX"), tmp_path / "onnx")
    assert sorted(p.name for p in folder.iterdir()) == [
        "cvexport.manifest",
        "labels.txt",
        "metadata_properties.json",
        "model.onnx",
    ]
    labels = (folder / "labels.txt").read_text().splitlines()
    assert labels == ["Hemlock", "Japanese Cherry"]
    properties = json.loads((folder / "metadata_properties.json").read_text())
    assert properties["Image.BitmapPixelFormat"] == "Rgb8"
    assert properties["Image.NominalPixelRange"] == "NominalRange_0_255"
    manifest = json.loads((folder / "cvexport.manifest").read_text())
    assert manifest["Platform"] == "ONNX" and manifest["IterationId"] == "i"
    server = Predictor(bundle)
    for photo in trial_photos(tmp_path):
        [scores] = sample_predict(folder / "model.onnx", photo).values()
        served = server.predict(photo.read_bytes())
        assert labels[int(np.argmax(scores[0]))] == bundle.tag_names[int(np.argmax(served))]
        # JPEGs: the server decodes at a reduced scale (libjpeg's DCT scaling), the script at
        # full size, so the pixels differ a little; PNGs decode alike and agree to float error.
        tolerance = 1e-4 if photo.suffix == ".png" else 0.05
        assert np.allclose(scores[0], served, atol=tolerance), (photo.name, scores, served)


def test_float16_export_is_half_the_size_and_agrees(bundle, tmp_path):
    full = unpack(export.package(bundle, "ONNX"), tmp_path / "full")
    half = unpack(export.package(bundle, "ONNX", "OnnxFloat16"), tmp_path / "half")
    assert (half / "model.onnx").stat().st_size < 0.6 * (full / "model.onnx").stat().st_size
    for photo in trial_photos(tmp_path):
        [a] = sample_predict(full / "model.onnx", photo).values()
        [b] = sample_predict(half / "model.onnx", photo).values()
        assert b.dtype == np.float16
        assert np.argmax(a) == np.argmax(b) and np.allclose(a, b.astype(np.float32), atol=0.01)


def test_unsupported_platforms_and_flavors_say_what_is_supported(bundle):
    for platform, flavor in (("CoreML", ""), ("TensorFlow", "TensorFlowLite"), ("ONNX", "Bogus")):
        with pytest.raises(export.UnsupportedExport) as info:
            export.package(bundle, platform, flavor)
        assert "ONNX" in str(info.value)
    with pytest.raises(export.UnsupportedExport, match="Windows"):
        export.package(bundle, "DockerFile", "Windows")


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    response = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=30)
    return response.status_code, response.json()


def test_docker_export_app_serves_azures_routes_and_json(bundle, tmp_path, image_server):
    folder = unpack(export.package(bundle, "DockerFile", "Linux"), tmp_path / "docker")
    dockerfile = (folder / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile and "app.py" in dockerfile
    assert {"app.py", "pixels.py", "model.onnx", "labels.txt", "requirements.txt"} <= {
        p.name for p in (folder / "app").iterdir()
    }
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=folder / "app",
        env={**os.environ, "PORT": str(port), "HOST": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(
            base + "/",
            app,
            lambda: app.stdout.read().decode() if app.stdout else "",
            "the exported app did not start",
            seconds=60,
        )
        photo = (SAMPLES / "Test" / "test_image.jpg").read_bytes()
        server = Predictor(bundle).predict(photo)
        status, answer = post(base + "/image", photo, "application/octet-stream")
        assert status == 200, answer
        assert set(answer) == {"id", "project", "iteration", "created", "predictions"}
        assert (answer["project"], answer["iteration"]) == ("p", "i")
        top = answer["predictions"][0]
        assert top["tagName"] == "Hemlock" and top["tagId"] == "t-hemlock"
        by_name = {p["tagName"]: p["probability"] for p in answer["predictions"]}
        assert np.allclose([by_name[n] for n in bundle.tag_names], server, atol=1e-5)
        # The multipart form of Azure's container (field imageData), and Azure's long paths.
        boundary = "----cv"
        form = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="imageData"; '
                'filename="t.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            ).encode()
            + photo
            + f"\r\n--{boundary}--\r\n".encode()
        )
        long_path = f"{base}/p/classify/iterations/Iteration1/image/nostore"
        status, again = post(long_path, form, f"multipart/form-data; boundary={boundary}")
        assert status == 200 and again["predictions"][0]["tagName"] == "Hemlock"
        url = image_server.serve("/tree.jpg", photo)
        status, by_url = post(base + "/url", json.dumps({"url": url}).encode(), "application/json")
        assert status == 200 and by_url["predictions"][0]["tagName"] == "Hemlock"
        # Bad input: a clear 400, and the app keeps serving.
        status, bad = post(base + "/image", b"not an image", "application/octet-stream")
        assert status == 400 and bad["message"]
        status, bad = post(base + "/url", b'{"url": "file:///etc/passwd"}', "application/json")
        assert status == 400
        assert post(base + "/image", photo, "application/octet-stream")[0] == 200
    finally:
        app.terminate()
        app.wait(timeout=10)
