"""Model files from before the ONNX bundle: a torch pickle of trunk and head weights.

Iterations trained then still predict and export: their file is rebuilt into the served
model and exported to ONNX on first use, as a new training's would be.
"""

from __future__ import annotations

import io
from typing import Any

import torch

from engine.backbones import BackboneSpec, rebuild
from engine.head import LinearHead
from engine.serving import ServingModel, export_onnx

LEGACY_FORMAT = "customvision-classifier"


def convert(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """The ONNX graph and the bundle's fields (what `bundle.json` holds) of an old file;
    ValueError if `data` is no such file."""
    try:
        old = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        raise ValueError("Not a model file written by this server.") from None
    if not isinstance(old, dict) or old.get("format") != LEGACY_FORMAT:
        raise ValueError("Not a model file written by this server.")
    model = _legacy_model(old)
    fields = {
        "tag_names": list(old["tag_names"]),
        "multilabel": bool(old["multilabel"]),
        "image_size": model.image_size,
        "input_size": int(old["input_size"]),
        "backbone": str(old["backbone"]),
        "weights_source": str(old.get("weights_source", "")),
        "kind": str(old.get("kind", "frozen")),
        "test_views": list(old["test_views"]),
        "recipe": dict(old.get("recipe", {})),
        "tag_ids": [str(t) for t in old.get("tag_ids", [])],
        "project_id": str(old.get("project_id", "")),
        "iteration_id": str(old.get("iteration_id", "")),
    }
    return export_onnx(model, {}), fields


def _legacy_model(old: dict[str, Any]) -> ServingModel:
    mean, std = old["mean"], old["std"]
    spec = BackboneSpec(
        old["backbone"], old["input_size"], (mean[0], mean[1], mean[2]), (std[0], std[1], std[2]), 0
    )
    trunk = rebuild(old["backbone"])
    trunk.load_state_dict(old["trunk_state"])
    head_state = old["head_state"]
    head = LinearHead(head_state["mean"], head_state["std"], head_state["linear.weight"].shape[0])
    head.load_state_dict(head_state)
    return ServingModel(trunk, head, spec, old["test_views"], bool(old["multilabel"]))
