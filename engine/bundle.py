"""The model artefact: one file that training writes, prediction serves and export packs.

A zip of two members, so a user can open it with any unzip tool:

- `model.onnx`: the served graph (`serving.ServingModel` exported), float32;
- `bundle.json`: what the graph means: tag names and ids in output order, multiclass or
  multilabel, the backbone and recipe it came from, the input it wants, and the task
  (classification, or detection with its anchors; files without a task are classifiers).

Files written before this format (a torch pickle of trunk and head weights) still load: they
are rebuilt and exported on first use (`legacy.py`).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field, replace
from typing import Any

FORMAT = "customvision-model"
VERSION = 2
MODEL_MEMBER = "model.onnx"
META_MEMBER = "bundle.json"


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
    # "classification" or "detection". A detection graph outputs the raw grid (1, A*(5+C), H, W)
    # with x, y already sigmoid-ed, decoded with `anchors` (grid cells); `export_form` is
    # "grid" (exported as trained) or "s1" (exported with decoding and NMS inside).
    task: str = "classification"
    anchors: list[list[float]] = field(default_factory=list)
    export_form: str = ""

    @property
    def is_detection(self) -> bool:
        return self.task == "detection"

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
            "task": self.task,
            "anchors": self.anchors,
            "export_form": self.export_form,
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
                    return cls._from_legacy(data)
        except zipfile.BadZipFile:
            raise ValueError("Not a model file written by this server.") from None
        if meta.get("format") != FORMAT:
            raise ValueError("Not a model file written by this server.")
        fields = {k: v for k, v in meta.items() if k not in ("format", "version")}
        return cls(onnx=onnx, **fields)

    @classmethod
    def _from_legacy(cls, data: bytes) -> ModelBundle:
        """A model file from before ONNX (torch weights): rebuilt, then exported like a new one."""
        # Imported here: only old files need torch to load, and a web process never loads it.
        from engine.legacy import convert

        onnx, fields = convert(data)
        return cls(onnx=onnx, **fields)
