"""Training augmentation for a whole batch at once, on the device that holds it.

One affine warp per image (random resized crop, rotation, mirror) through `affine_grid` /
`grid_sample`, then colour jitter as three broadcast ops: a handful of kernels per batch
instead of a Python loop over PIL images on the training thread.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.recipes import Recipe

# Luma weights (ITU-R 601), as torchvision's rgb_to_grayscale.
_GREY = (0.299, 0.587, 0.114)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def augment(
    squares: torch.Tensor,
    recipe: Recipe,
    size: int,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.35, 1.0),
) -> torch.Tensor:
    """uint8 (B, 3, S, S) → augmented float (B, 3, size, size), still 0..255."""
    n, device = squares.shape[0], squares.device
    area = _uniform(n, *scale, generator)
    log_ratio = _uniform(n, math.log(3 / 4), math.log(4 / 3), generator)
    width = torch.sqrt(area * log_ratio.exp()).clamp(max=1.0)
    height = torch.sqrt(area / log_ratio.exp()).clamp(max=1.0)
    # Centres keep the crop inside the square (coordinates run from -1 to 1).
    cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
    cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    angle = _uniform(n, -recipe.rotation, recipe.rotation, generator) * math.pi / 180
    mirror = torch.ones(n)
    if recipe.flips:
        mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack(
        [
            torch.stack([cos * width * mirror, -sin * height, cx], 1),
            torch.stack([sin * width * mirror, cos * height, cy], 1),
        ],
        1,
    ).to(device)
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    out = F.grid_sample(
        squares.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    if recipe.color_jitter:
        out = _jitter(out, recipe.color_jitter, generator)
    return out.clamp_(0, 255)


def _jitter(x: torch.Tensor, amount: float, generator: torch.Generator) -> torch.Tensor:
    """Brightness b, contrast c and saturation s, folded into two passes over the pixels.

    Brightness then contrast is x·b·c + b·m·(1 - c), m the image's mean grey; saturation then
    blends each pixel with its own grey. Together: α·lerp(grey(x), x, s) + β with α = b·c and
    β = b·m·(1 - c), instead of a pass per step.
    """
    n, device = x.shape[0], x.device

    def factor() -> torch.Tensor:
        return _uniform(n, 1 - amount, 1 + amount, generator).to(device).view(n, 1, 1, 1)

    b, c, s = factor(), factor(), factor()
    r, g, bl = _GREY
    grey = x[:, 0:1] * r + x[:, 1:2] * g + x[:, 2:3] * bl
    mean = grey.mean((2, 3), keepdim=True)
    out = torch.lerp(grey.expand_as(x), x, s)
    return out.mul_(b * c).add_(b * mean * (1 - c))
