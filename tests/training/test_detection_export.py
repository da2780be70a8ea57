"""Exported detectors run in Microsoft's sample scripts, unchanged, and agree with the server.

The scripts are Azure-Samples/customvision-export-samples' `object_detection/predict.py`
(General (compact): one grid output, decoded with Azure's anchors) and
`object_detection_s1/predict.py` (General (compact) [S1]: boxes, classes and scores out of
the graph), kept as they are in tests/data/export-samples and run as programs.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
from PIL import Image

from engine import export
from engine.boxes import Detection
from engine.bundle import ModelBundle
from engine.predict import Detector
from tests.servers import free_port, wait_until_answering
from tests.training.conftest import SAMPLE, TAGS
from tests.training.detection_samples import sample_script

LINE = re.compile(
    r"Label: (\d+), Probability: ([\d.]+), box: \(([-\d.]+), ([-\d.]+)\) \(([-\d.]+), ([-\d.]+)\)"
)


@pytest.fixture(scope="module")
def s1_bundle(fork_detector) -> ModelBundle:
    """The shared quick detector (tests/training/conftest.py), as the [S1] domain exports it:
    the same graph, with decoding and NMS appended on export."""
    _boxes, result = fork_detector
    bundle = dataclasses.replace(result.bundle, export_form="s1")
    return bundle.with_ids(tag_ids=["t-fork", "t-scissors"], project_id="p", iteration_id="i")


def unpack(data: bytes, folder: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)
    return folder


def run_sample(form: str, model: Path, photo: Path, folder: Path) -> list[Detection]:
    """The sample script's printed detections, clipped to the image as the server's are."""
    script = sample_script(form, folder)
    printed = subprocess.run(
        [sys.executable, str(script), str(model), str(photo)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    found: list[Detection] = []
    for match in LINE.finditer(printed):
        tag, probability, *corners = match.groups()
        x1, y1, x2, y2 = (min(max(float(v), 0.0), 1.0) for v in corners)
        found.append((int(tag), float(probability), x1, y1, x2 - x1, y2 - y1))
    return found


def trial_photos(tmp_path: Path) -> list[Path]:
    """The quickstart's test photo and a scissors photo, and each as a PNG of another shape
    (no reduced-scale JPEG decoding there, so the server's pixels are the script's)."""
    chosen = [SAMPLE / "test" / "test_image.jpg", SAMPLE / "scissors" / "scissors_1.jpg"]
    made = []
    for path in chosen:
        png = tmp_path / f"{path.stem}.png"
        Image.open(path).convert("RGB").resize((600, 450)).save(png)
        made.append(png)
    return chosen + made


def assert_agree(script: list[Detection], server: list[Detection], exact: bool) -> None:
    """Same boxes, classes and scores (to the script's 5 printed decimals where the pixels are
    the same; to what JPEG's reduced-scale decoding moves, otherwise)."""
    assert script and server
    shown = [d for d in server if d[1] > 0.01]
    if exact:
        assert len(script) == len(shown)
    count = len(script) if exact else 1
    for got, want in zip(script[:count], shown[:count], strict=True):
        assert got[0] == want[0]
        assert got[1:] == pytest.approx(want[1:], abs=2e-4 if exact else 0.03)


@pytest.mark.parametrize("form", ["grid", "s1"])
def test_onnx_export_runs_in_microsofts_sample_and_agrees_with_the_server(
    s1_bundle, form, tmp_path
):
    bundle = dataclasses.replace(s1_bundle, export_form=form)
    folder = unpack(export.package(bundle, "ONNX"), tmp_path / "export")
    assert (folder / "labels.txt").read_text() == "fork\nscissors\n"
    manifest = json.loads((folder / "cvexport.manifest").read_text())
    assert manifest["DomainType"] == "ObjectDetection"
    script = "object_detection" if form == "grid" else "object_detection_s1"
    detector = Detector(bundle)
    for photo in trial_photos(tmp_path):
        found = run_sample(script, folder / "model.onnx", photo, tmp_path)
        server = detector.detect(photo.read_bytes())
        assert_agree(found, server, exact=photo.suffix == ".png")
    top = run_sample(script, folder / "model.onnx", SAMPLE / "test" / "test_image.jpg", tmp_path)[0]
    assert TAGS[top[0]] == "fork"


@pytest.mark.parametrize("form", ["grid", "s1"])
def test_float16_export_runs_in_the_sample_and_finds_the_same_fork(s1_bundle, form, tmp_path):
    bundle = dataclasses.replace(s1_bundle, export_form=form)
    full = unpack(export.package(bundle, "ONNX"), tmp_path / "full")
    half = unpack(export.package(bundle, "ONNX", "OnnxFloat16"), tmp_path / "half")
    assert (half / "model.onnx").stat().st_size < 0.6 * (full / "model.onnx").stat().st_size
    script = "object_detection" if form == "grid" else "object_detection_s1"
    photo = SAMPLE / "test" / "test_image.jpg"
    a = run_sample(script, full / "model.onnx", photo, tmp_path)[0]
    b = run_sample(script, half / "model.onnx", photo, tmp_path)[0]
    assert a[0] == b[0] and a[1:] == pytest.approx(b[1:], abs=0.02)


def test_docker_export_answers_azures_detection_json(s1_bundle, tmp_path, image_server):
    folder = unpack(export.package(s1_bundle, "DockerFile"), tmp_path / "docker")
    assert (folder / "app" / "boxes.py").is_file()
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
        photo = (SAMPLE / "test" / "test_image.jpg").read_bytes()
        server = Detector(s1_bundle).detect(photo)
        answer = requests.post(base + "/image", data=photo, timeout=30).json()
        assert (answer["project"], answer["iteration"]) == ("p", "i")
        top = answer["predictions"][0]
        assert (top["tagName"], top["tagId"]) == ("fork", "t-fork")
        box = top["boundingBox"]
        assert [top["probability"], box["left"], box["top"], box["width"], box["height"]] == (
            pytest.approx(list(server[0][1:]), abs=1e-5)
        )
        url = image_server.serve("/fork.jpg", photo)
        by_url = requests.post(base + "/url", json={"url": url}, timeout=30).json()
        assert by_url["predictions"][0]["boundingBox"] == box
    finally:
        app.terminate()
        app.wait(timeout=10)
