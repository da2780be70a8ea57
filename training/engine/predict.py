"""Load a saved model bundle and classify images with exactly the training preprocessing."""

from __future__ import annotations

import io
from typing import Any

import torch

from training.engine.backbones import BackboneSpec, rebuild
from training.engine.data import square, views
from training.engine.head import LinearHead, score
from training.engine.train import MODEL_FORMAT


def save_bundle(bundle: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(bundle, buffer)
    return buffer.getvalue()


class Predictor:
    def __init__(self, bundle: dict[str, Any], device: str = "cpu") -> None:
        if bundle.get("format") != MODEL_FORMAT:
            raise ValueError("Not a model file written by this server.")
        self.bundle = bundle
        mean, std = bundle["mean"], bundle["std"]
        self.spec = BackboneSpec(
            bundle["backbone"],
            bundle["input_size"],
            (mean[0], mean[1], mean[2]),
            (std[0], std[1], std[2]),
            0,
        )
        self.trunk = rebuild(bundle["backbone"])
        self.trunk.load_state_dict(bundle["trunk_state"])
        head_state = bundle["head_state"]
        self.head = LinearHead(
            head_state["mean"], head_state["std"], head_state["linear.weight"].shape[0]
        )
        self.head.load_state_dict(head_state)
        self.device = torch.device(device)
        self.trunk.eval().to(self.device)
        self.head.eval().to(self.device)
        self.multilabel: bool = bundle["multilabel"]
        self.views: list[str] = bundle["test_views"]

    @classmethod
    def from_bytes(cls, data: bytes, device: str = "cpu") -> Predictor:
        bundle = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return cls(bundle, device)

    def predict(self, data: bytes) -> list[float]:
        """Probability per tag, in the bundle's tag order."""
        squares = square(data, self.spec.input_size)[None].to(self.device)
        batches = views(squares, self.views, self.spec)
        probs = score(lambda x: self.head(self.trunk(x)), batches, self.multilabel)[0]
        return [float(p) for p in probs.cpu()]
