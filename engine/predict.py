"""Classify images, or detect objects in them, with a model bundle's ONNX graph in ONNX Runtime.

The graph is the one an export packs (`serving.py`): the server runs what a user downloads.
torch is not imported here, so a web process that only predicts never loads it.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from PIL import Image

from engine.boxes import Detection, decode, nms
from engine.bundle import ModelBundle
from engine.pixels import load_rgb, pixels_of
from engine.signature import INPUT_NAME


def session_for(onnx: bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # Set on purpose: ORT's default is a thread per core in every process, and several
    # web workers share the cores (core/threads.py).
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])


class Predictor:
    def __init__(self, bundle: ModelBundle, threads: int = 1) -> None:
        self.session = session_for(bundle.onnx, threads)
        # Only what prediction reads is kept: the session holds the weights now, and keeping
        # the graph's bytes too would be a second copy of them per cached model.
        self.tag_names = list(bundle.tag_names)
        self.image_size = bundle.image_size
        self.multilabel = bundle.multilabel

    @classmethod
    def from_bytes(cls, data: bytes, threads: int = 1) -> Predictor:
        return cls(ModelBundle.from_bytes(data), threads)

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 → (N, C) probabilities."""
        (out,) = self.session.run(None, {INPUT_NAME: pixels})
        return np.asarray(out)

    def predict_image(self, image: Image.Image) -> list[float]:
        """Probability per tag, in the bundle's tag order, for a decoded image."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        return [float(p) for p in self.run(pixels_of(image, self.image_size))[0]]

    def predict(self, data: bytes) -> list[float]:
        """Probability per tag for an encoded image (JPEG, PNG, …)."""
        return self.predict_image(load_rgb(data, self.image_size))


class Detector:
    """Boxes of a detection bundle: the graph's grid, decoded and suppressed as Microsoft's
    export sample does (`boxes.py`), up to 64 boxes above 0.01 (the caller drops what Azure
    drops)."""

    def __init__(self, bundle: ModelBundle, threads: int = 1) -> None:
        self.session = session_for(bundle.onnx, threads)
        self.tag_names = list(bundle.tag_names)
        self.image_size = bundle.image_size
        self.anchors = np.asarray(bundle.anchors, dtype=np.float64)

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 → (N, A*(5+C), H, W) grids."""
        (out,) = self.session.run(None, {INPUT_NAME: pixels})
        return np.asarray(out)

    def detect_image(self, image: Image.Image) -> list[Detection]:
        """Detections in a decoded image, most probable first."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        (grid,) = self.run(pixels_of(image, self.image_size))
        return nms(*decode(grid, self.anchors))

    def detect(self, data: bytes) -> list[Detection]:
        """Detections in an encoded image (JPEG, PNG, …)."""
        return self.detect_image(load_rgb(data, self.image_size))


def predictor_for(bundle: ModelBundle, threads: int = 1) -> Predictor | Detector:
    """The bundle's runner: a Detector for a detection model, else a Predictor."""
    return Detector(bundle, threads) if bundle.is_detection else Predictor(bundle, threads)
