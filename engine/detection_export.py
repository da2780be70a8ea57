"""Detection graphs as Azure exports them for its two compact forms.

- "grid" (General (compact)): the served graph as it is, one output, the raw grid, which
  Microsoft's `object_detection/predict.py` decodes with Azure's anchors and suppresses.
- "s1" (General (compact) [S1]): the served graph followed by the decoding and the
  suppression of that same script, inside the graph (ONNX `NonMaxSuppression`), so that
  `object_detection_s1/predict.py` reads `detected_boxes` (1, N, 4) x1 y1 x2 y2,
  `detected_classes` (1, N) and `detected_scores` (1, N) straight from it.

The tail is traced from torch once per shape and appended to the bundle's graph with
`onnx.compose`, so the exported detector is the served one, operator for operator, up to the
grid.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
import torchvision
from torch import nn

from engine.boxes import IOU_THRESHOLD, MAX_DETECTIONS, PROB_THRESHOLD
from engine.signature import OUTPUT_NAME

S1_OUTPUTS = ("detected_boxes", "detected_classes", "detected_scores")
_GRID_INPUT = "grid"
_PREFIX = "postprocess/"


class Postprocess(nn.Module):
    """(1, A*(5+C), H, W) grid → the sample's boxes, classes and scores, most probable first."""

    def __init__(self, anchors: np.ndarray, classes: int) -> None:
        super().__init__()
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32))
        self.classes = classes

    def forward(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        anchors: torch.Tensor = self.anchors  # type: ignore[assignment]
        count = int(anchors.shape[0])
        _n, _c, height, width = (int(d) for d in grid.shape)
        out = grid[0].float().reshape(count, 5 + self.classes, height, width).permute(2, 3, 0, 1)
        cols = torch.arange(width, dtype=torch.float32).view(1, width, 1)
        rows = torch.arange(height, dtype=torch.float32).view(height, 1, 1)
        x = (out[..., 0] + cols) / width
        y = (out[..., 1] + rows) / height
        w = torch.exp(out[..., 2]) * anchors[:, 0].view(1, 1, count) / width
        h = torch.exp(out[..., 3]) * anchors[:, 1].view(1, 1, count) / height
        x, y = x - w / 2, y - h / 2
        boxes = torch.stack((x, y, x + w, y + h), dim=-1).reshape(-1, 4)
        probs = torch.softmax(out[..., 5:], dim=-1) * torch.sigmoid(out[..., 4:5])
        scores, tags = probs.reshape(-1, self.classes).max(dim=1)
        keep = torch.nonzero(scores > PROB_THRESHOLD).flatten()
        boxes, scores, tags = boxes[keep], scores[keep], tags[keep]
        chosen = torchvision.ops.nms(boxes, scores, IOU_THRESHOLD)[:MAX_DETECTIONS]
        return (
            boxes[chosen].clamp(0, 1).unsqueeze(0),
            tags[chosen].unsqueeze(0),
            scores[chosen].unsqueeze(0),
        )


def _postprocess_graph(
    anchors: np.ndarray, classes: int, height: int, width: int, dtype: torch.dtype
) -> bytes:
    example = torch.zeros(1, len(anchors) * (5 + classes), height, width, dtype=dtype)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Postprocess(anchors, classes).eval(),
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object is accepted, as documented
            input_names=[_GRID_INPUT],
            output_names=list(S1_OUTPUTS),
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


def _grid_shape(onnx_bytes: bytes) -> tuple[int, int, torch.dtype]:
    """The grid's height, width and type, from running the graph once (its declared output
    shape may be symbolic)."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    dtype = np.float16 if graph_input.type == "tensor(float16)" else np.float32
    pixels = np.zeros([1, *graph_input.shape[1:]], dtype=dtype)
    (grid,) = session.run(None, {graph_input.name: pixels})
    kind = torch.float16 if grid.dtype == np.float16 else torch.float32
    return int(grid.shape[2]), int(grid.shape[3]), kind


def s1_graph(onnx_bytes: bytes, anchors: list[list[float]], classes: int) -> bytes:
    """The grid graph (float32 or float16) with decoding and suppression appended (outputs
    `S1_OUTPUTS`, float32 boxes and scores)."""
    import onnx
    from onnx import compose

    model = onnx.load_from_string(onnx_bytes)
    height, width, dtype = _grid_shape(onnx_bytes)
    tail = onnx.load_from_string(
        _postprocess_graph(np.asarray(anchors, dtype=np.float32), classes, height, width, dtype)
    )
    tail = compose.add_prefix(tail, _PREFIX, rename_inputs=True, rename_outputs=False)
    tail.ir_version = model.ir_version
    merged = compose.merge_models(
        model, tail, io_map=[(OUTPUT_NAME, _PREFIX + _GRID_INPUT)], outputs=list(S1_OUTPUTS)
    )
    del merged.metadata_props[:]
    for prop in model.metadata_props:
        merged.metadata_props.add().CopyFrom(prop)
    merged.producer_name = model.producer_name
    return bytes(merged.SerializeToString())
