"""The served model as one graph: the photo's square in, probabilities per tag out.

`ServingModel` wraps a trained trunk and head with everything prediction does around them:
the recipe's test views, normalisation, softmax or sigmoid and the average over views. It is
exported to ONNX once, when training ends; the server runs that graph in ONNX Runtime and the
Export button packs the same graph, so the server and an exported model agree by construction.

The input is what Microsoft's sample scripts for exported Custom Vision models feed a model:
the whole photo resized to the input's height and width, RGB, float values 0–255, NCHW. The
graph's metadata says so in the keys those scripts read (`Image.BitmapPixelFormat`,
`Image.NominalPixelRange`).
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from engine.backbones import BackboneSpec, FeatureNet
from engine.data import views
from engine.head import LinearHead, probabilities
from engine.pixels import square_size
from engine.signature import INPUT_NAME, OUTPUT_NAME

if TYPE_CHECKING:
    import onnx

OPSET = 17
# What the exported graph expects, in the metadata keys Microsoft's samples read.
PIXEL_METADATA = {
    "Image.BitmapPixelFormat": "Rgb8",
    "Image.ColorSpaceGamma": "SRGB",
    "Image.NominalPixelRange": "NominalRange_0_255",
}


class ServingModel(nn.Module):
    """(N, 3, S, S) float RGB 0..255 → (N, C) probabilities, averaged over the test views."""

    def __init__(
        self,
        trunk: FeatureNet,
        head: LinearHead,
        spec: BackboneSpec,
        test_views: Sequence[str],
        multilabel: bool,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.spec = spec
        self.test_views = tuple(test_views)
        self.multilabel = multilabel

    @property
    def image_size(self) -> int:
        return square_size(self.spec.input_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        batches = views(pixels, self.test_views, self.spec)
        outputs = [probabilities(self.head(self.trunk(b)), self.multilabel) for b in batches]
        return torch.stack(outputs).mean(0)


# The head's weights in the exported graph: the exporter keeps their names, so a graph traced
# once serves every later model with the same trunk, with these four tensors put in and the
# output's width set to the tag count (nothing else in the graph depends on the head).
HEAD_INITIALIZERS = ("head.mean", "head.std", "head.linear.weight", "head.linear.bias")
# Graphs kept for reuse per process: a domain's trunk and views, multiclass or multilabel,
# each make one; a few cover a worker's usual round.
TEMPLATES_KEPT = 4


@dataclass(frozen=True)
class _Template:
    trunk_state: dict[str, torch.Tensor]  # the trunk the graph was traced with
    graph: bytes  # ONNX, without metadata


_templates: OrderedDict[Hashable, _Template] = OrderedDict()
# torch.onnx.export keeps global state (one export at a time per process), and a worker's
# warm-up thread may still be tracing when the first training exports: the second waits, and
# then finds the first's graph.
_exporting = threading.Lock()


def export_onnx(
    model: ServingModel, metadata: dict[str, str], trunk_key: Hashable | None = None
) -> bytes:
    """The model as an ONNX graph (float32) with a free batch size and `metadata` attached.

    `trunk_key` names a trunk that many models share unchanged (a frozen pretrained trunk):
    tracing such a model once (~1 s for Lite0, the largest share of a quick training) is
    enough; the next graph is that one with the new head put in. It is the same graph a fresh
    trace gives (tests/training/test_engine.py), and only a trunk equal to the traced one,
    weight for weight, reuses it.
    """
    with _exporting:
        return _export(model, metadata, trunk_key)


def _export(model: ServingModel, metadata: dict[str, str], trunk_key: Hashable | None) -> bytes:
    import onnx

    model = model.eval().cpu()
    key = (
        (trunk_key, model.spec, model.test_views, model.multilabel)
        if trunk_key is not None
        else None
    )
    template = _templates.get(key) if key is not None else None
    if template is not None and _same_trunk(template.trunk_state, model.trunk):
        _templates.move_to_end(key)
        graph = _with_head(onnx.load_from_string(template.graph), model.head)
    else:
        graph = onnx.load_from_string(_trace(model))
        if key is not None and _reusable(graph):
            state = {k: v.detach().clone() for k, v in model.trunk.state_dict().items()}
            _templates[key] = _Template(state, graph.SerializeToString())
            while len(_templates) > TEMPLATES_KEPT:
                _templates.popitem(last=False)
    for name, text in (PIXEL_METADATA | metadata).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = name, text
    graph.producer_name = "custom-vision-self-hosted"
    return graph.SerializeToString()


def _same_trunk(state: dict[str, torch.Tensor], trunk: FeatureNet) -> bool:
    current = trunk.state_dict()
    return current.keys() == state.keys() and all(
        torch.equal(current[k], v) for k, v in state.items()
    )


def _initializer(graph: onnx.ModelProto, name: str) -> onnx.TensorProto | None:
    return next((t for t in graph.graph.initializer if t.name == name), None)


def _reusable(graph: onnx.ModelProto) -> bool:
    """The head's weights are where `_with_head` puts them, and the output is (batch, tags)."""
    (output,) = graph.graph.output
    return (
        all(_initializer(graph, name) for name in HEAD_INITIALIZERS)
        and len(output.type.tensor_type.shape.dim) == 2
    )


def _with_head(graph: onnx.ModelProto, head: LinearHead) -> onnx.ModelProto:
    from onnx import numpy_helper

    state = head.state_dict()
    for name in HEAD_INITIALIZERS:
        old = _initializer(graph, name)
        assert old is not None  # a template is kept only when it has them all
        value = state[name.removeprefix("head.")].detach().float().cpu().numpy()
        old.CopyFrom(numpy_helper.from_array(value, name))
    graph.graph.output[0].type.tensor_type.shape.dim[1].dim_value = head.linear.out_features
    return graph


def _trace(model: ServingModel) -> bytes:
    """The TorchScript exporter's graph of `model`, without metadata."""
    example = torch.zeros(1, 3, model.image_size, model.image_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer chatter about Python ints in shapes
        # The TorchScript exporter: five times quicker than the dynamo one here (1 s against
        # 6 s for Lite0), and every training pays it once.
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object is accepted, as documented
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()
