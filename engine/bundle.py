"""The model artefact: one file that training writes, prediction serves and export packs.

A zip of two members, so a user can open it with any unzip tool:

- `model.onnx`: the served graph (`serving.ServingModel` exported), float32;
- `bundle.json`: what the graph means: tag names and ids in output order, multiclass or
  multilabel, the backbone and recipe it came from, the input it wants.

Files written before this format (a torch pickle of trunk and head weights) still load: they
are rebuilt and exported on first use.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.serving import ServingModel

FORMAT = "customvision-model"
VERSION = 2
LEGACY_FORMAT = "customvision-classifier"
MODEL_MEMBER = "model.onnx"
META_MEMBER = "bundle.json"
INPUT_NAME = "data"
OUTPUT_NAME = "model_output"


@dataclass(frozen=True)
class ModelBundle:
    onnx: bytes
    tag_names: list[str]
    multilabel: bool
    image_size: int  # the graph's input height and width
    input_size: int  # the backbone's own input (the views cut from the image)
    backbone: str
    weights_source: str = ""
    kind: str = "frozen"  # or "finetuned"
    test_views: list[str] = field(default_factory=lambda: ["center"])
    recipe: dict[str, Any] = field(default_factory=dict)
    tag_ids: list[str] = field(default_factory=list)
    project_id: str = ""
    iteration_id: str = ""

    def with_ids(self, *, tag_ids: list[str], project_id: str, iteration_id: str) -> ModelBundle:
        return replace(self, tag_ids=tag_ids, project_id=project_id, iteration_id=iteration_id)

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "tag_names": self.tag_names,
            "tag_ids": self.tag_ids,
            "multilabel": self.multilabel,
            "image_size": self.image_size,
            "input_size": self.input_size,
            "backbone": self.backbone,
            "weights_source": self.weights_source,
            "kind": self.kind,
            "test_views": self.test_views,
            "recipe": self.recipe,
            "project_id": self.project_id,
            "iteration_id": self.iteration_id,
        }

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        # ONNX weights hardly compress; storing them keeps reads a plain copy.
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(META_MEMBER, json.dumps(self.meta(), indent=1))
            archive.writestr(MODEL_MEMBER, self.onnx)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelBundle:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                if META_MEMBER in names and MODEL_MEMBER in names:
                    meta = json.loads(archive.read(META_MEMBER))
                    onnx = archive.read(MODEL_MEMBER)
                else:
                    return _from_legacy(data)
        except zipfile.BadZipFile:
            raise ValueError("Not a model file written by this server.") from None
        if meta.get("format") != FORMAT:
            raise ValueError("Not a model file written by this server.")
        fields = {k: v for k, v in meta.items() if k not in ("format", "version")}
        return cls(onnx=onnx, **fields)


def _from_legacy(data: bytes) -> ModelBundle:
    """A model file from before ONNX (torch weights): rebuilt, then exported like a new one."""
    import torch

    from engine.serving import export_onnx

    try:
        old = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        raise ValueError("Not a model file written by this server.") from None
    if not isinstance(old, dict) or old.get("format") != LEGACY_FORMAT:
        raise ValueError("Not a model file written by this server.")
    model = _legacy_model(old)
    return ModelBundle(
        onnx=export_onnx(model, {}),
        tag_names=list(old["tag_names"]),
        multilabel=bool(old["multilabel"]),
        image_size=model.image_size,
        input_size=int(old["input_size"]),
        backbone=str(old["backbone"]),
        weights_source=str(old.get("weights_source", "")),
        kind=str(old.get("kind", "frozen")),
        test_views=list(old["test_views"]),
        recipe=dict(old.get("recipe", {})),
        tag_ids=[str(t) for t in old.get("tag_ids", [])],
        project_id=str(old.get("project_id", "")),
        iteration_id=str(old.get("iteration_id", "")),
    )


def _legacy_model(old: dict[str, Any]) -> ServingModel:
    from engine.backbones import BackboneSpec, rebuild
    from engine.head import LinearHead
    from engine.serving import ServingModel

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
