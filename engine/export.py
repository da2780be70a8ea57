"""Pack a model bundle for use outside the server, as Azure's ExportIteration does.

Plain Python (no Django): a bundle in, the bytes of a zip out. Every package carries the same
ONNX graph the server predicts with, so an export answers as the server does.

- `ONNX` (flavors none, `ONNX10`, `ONNX12`, `OnnxFloat16`): `model.onnx`, `labels.txt`,
  `metadata_properties.json` and `cvexport.manifest`, as Azure's zip has them. The graph takes
  one NCHW float input (float16 for `OnnxFloat16`), the whole photo resized to its height and
  width, RGB, 0–255, and says so in its metadata, which Microsoft's sample scripts read.
- Detectors: a "grid" bundle (General (compact)) exports its graph as served, which
  Microsoft's `object_detection/predict.py` decodes; an "s1" bundle exports that graph with
  decoding and suppression inside (`detection_export.py`) for `object_detection_s1/predict.py`.
- `DockerFile` (flavors none, `Linux`, `ARM`): a small Linux image serving the model with the
  routes and JSON of Azure's exported container (`POST /image`, `POST /url`). The base image
  is multi-architecture, so `ARM` builds the same files on an ARM machine.

Other platforms (CoreML, TensorFlow, OpenVino, VAIDK, Docker for Windows) raise
`UnsupportedExport`: no converter for them installs here from the ONNX graph.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from engine.bundle import ModelBundle

CONTAINER = Path(__file__).with_name("container")
PIXELS = Path(__file__).with_name("pixels.py")
BOXES = Path(__file__).with_name("boxes.py")
EXPORTER_VERSION = "2.0"

# platform -> flavor -> what is built; "" is the flavor Azure's clients send as none.
FLAVORS: dict[str, dict[str, str]] = {
    "ONNX": {"": "onnx", "ONNX10": "onnx", "ONNX12": "onnx", "OnnxFloat16": "onnx16"},
    "DockerFile": {"": "docker", "Linux": "docker", "ARM": "docker"},
}
AZURE_PLATFORMS = ("CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino")
SUPPORTED_PLATFORMS = tuple(FLAVORS)


class UnsupportedExport(ValueError):
    """A platform or flavor this server can't build; the message says which and what can."""


def check(platform: str, flavor: str) -> None:
    if platform not in FLAVORS:
        raise UnsupportedExport(
            f"Exporting to {platform} is not supported here: no converter for it installs "
            f"with this server. Export to {' or '.join(SUPPORTED_PLATFORMS)} instead."
        )
    if flavor not in FLAVORS[platform]:
        known = ", ".join(f for f in FLAVORS[platform] if f) or "none"
        raise UnsupportedExport(
            f"{platform} has no flavor {flavor!r} here; the flavors are: {known}."
        )


def package(bundle: ModelBundle, platform: str, flavor: str = "") -> bytes:
    """The export zip's bytes."""
    check(platform, flavor)
    kind = FLAVORS[platform][flavor]
    model = float16(bundle.onnx) if kind == "onnx16" else bundle.onnx
    if bundle.is_detection and bundle.export_form == "s1" and kind != "docker":
        # Imported here: only S1 exports need torch (to trace the decoding and suppression).
        # Appended after the float16 conversion: the suppression runs in float32 either way.
        from engine.detection_export import s1_graph

        model = s1_graph(model, bundle.anchors, len(bundle.tag_names))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if kind == "docker":
            _docker(archive, bundle, model)
        else:
            archive.writestr("model.onnx", model)
            archive.writestr("labels.txt", labels(bundle))
            archive.writestr("metadata_properties.json", json.dumps(metadata(model), indent=2))
        archive.writestr("cvexport.manifest", json.dumps(manifest(bundle, platform, flavor, model)))
    return buffer.getvalue()


def labels(bundle: ModelBundle) -> str:
    return "".join(f"{name}\n" for name in bundle.tag_names)


def float16(onnx_bytes: bytes) -> bytes:
    """The graph with float16 weights, input and output (the `OnnxFloat16` flavor)."""
    import onnx
    from onnxconverter_common import float16 as converter

    with warnings.catch_warnings():
        # Weights below float16's range round to its smallest value: said once per weight.
        warnings.simplefilter("ignore", UserWarning)
        converted = converter.convert_float_to_float16(
            onnx.load_from_string(onnx_bytes), keep_io_types=False
        )
    return bytes(converted.SerializeToString())


def metadata(onnx_bytes: bytes) -> dict[str, str]:
    import onnx

    graph = onnx.load_from_string(onnx_bytes)
    return {p.key: p.value for p in graph.metadata_props}


def manifest(bundle: ModelBundle, platform: str, flavor: str, model: bytes) -> dict[str, str]:
    return {
        "DomainType": "ObjectDetection" if bundle.is_detection else "Classification",
        "Platform": platform,
        "Flavor": flavor,
        "ExporterVersion": EXPORTER_VERSION,
        "ExportedDate": datetime.now(UTC).isoformat(timespec="seconds"),
        "IterationId": bundle.iteration_id,
        "ProjectId": bundle.project_id,
        **(
            {}
            if bundle.is_detection
            else {"ClassificationType": "Multilabel" if bundle.multilabel else "Multiclass"}
        ),
        "ModelFileName": "model.onnx",
        "LabelFileName": "labels.txt",
        "ModelFileSHA256": hashlib.sha256(model).hexdigest(),
    }


def _docker(archive: zipfile.ZipFile, bundle: ModelBundle, model: bytes) -> None:
    archive.write(CONTAINER / "Dockerfile", "Dockerfile")
    archive.write(CONTAINER / "README.md", "README.md")
    archive.write(CONTAINER / "app.py", "app/app.py")
    archive.write(CONTAINER / "requirements.txt", "app/requirements.txt")
    # The server's own preprocessing, so the container resizes a photo exactly as it does.
    archive.write(PIXELS, "app/pixels.py")
    if bundle.is_detection:
        # The server's own decoding and suppression, so the container's boxes are its boxes.
        archive.write(BOXES, "app/boxes.py")
    archive.writestr("app/model.onnx", model)
    archive.writestr("app/labels.txt", labels(bundle))
    archive.writestr(
        "app/model.json",
        json.dumps(
            {
                "project": bundle.project_id,
                "iteration": bundle.iteration_id,
                "tag_ids": bundle.tag_ids,
                "multilabel": bundle.multilabel,
                "task": bundle.task,
                "anchors": bundle.anchors,
            }
        ),
    )
