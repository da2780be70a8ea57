"""Decoding images, and the fixed views that training, evaluation and prediction share.

Every image is decoded once into a *square*: the whole photo resized to
`square_size(input_size)` on both sides (Pillow's bicubic), as uint8 (3, S, S). That is what
Microsoft's sample scripts for exported models feed a model (the whole photo resized to the
model's input), so the exported graph takes the square and the server, the export and those
scripts all start from the same pixels. Every view the models see is cut from that square with
tensor ops, in batches, on whatever device holds it: the frozen-feature views, the out-of-fold
evaluation of a fine-tuned model and the exported graph all call `views()`, so a model is
scored on exactly the pixels it will be served.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from engine.backbones import BackboneSpec
from engine.pixels import load_rgb, square_image, square_size

VIEWS = ("center", "flip", "zoom")
PREPROCESSING_VERSION = 4  # bump when a view changes: cached features are keyed by it
ZOOM_FRACTION = 0.7  # "zoom" is the centre 70 % of the square, scaled up to the input


@dataclass(frozen=True)
class Sample:
    """One training image: a stable content key and a way to read its bytes."""

    key: str  # e.g. the image's SHA-256; features are cached under it
    read: Callable[[], bytes]


def square(data: bytes, input_size: int) -> torch.Tensor:
    """The whole image resized to `square_size(input_size)` square, uint8 (3, S, S)."""
    side = square_size(input_size)
    return TF.pil_to_tensor(square_image(load_rgb(data, side), side))


def normalise(pixels: torch.Tensor, spec: BackboneSpec) -> torch.Tensor:
    """uint8 or 0..255 float (B, 3, H, W) → the backbone's normalised float input."""
    mean = torch.tensor(spec.mean, device=pixels.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(spec.std, device=pixels.device).view(1, 3, 1, 1) * 255
    # No cast for float input: an exported graph (float16 ones too) keeps its own type.
    pixels = pixels if pixels.is_floating_point() else pixels.float()
    return (pixels - mean) / std


def _centre(squares: torch.Tensor, side: int) -> torch.Tensor:
    # A plain int: the square's side is fixed, also in an exported graph's trace.
    full = int(squares.shape[-1])
    top = round((full - side) / 2.0)
    return squares[..., top : top + side, top : top + side]


def view(squares: torch.Tensor, name: str, input_size: int) -> torch.Tensor:
    """One named view of a batch of squares (B, 3, S, S), uint8 or float 0..255, as the same
    dtype (B, 3, size, size)."""
    if name == "center":
        return _centre(squares, input_size)
    if name == "flip":
        return _centre(squares, input_size).flip(-1)
    if name == "zoom":
        crop = _centre(squares, round(int(squares.shape[-1]) * ZOOM_FRACTION))
        crop = crop if crop.is_floating_point() else crop.float()
        resized = F.interpolate(crop, size=(input_size, input_size), mode="bilinear")
        # Rounded to whole levels whatever the dtype: the exported graph takes float pixels
        # and must see what training saw from uint8 squares.
        return resized.round().clamp(0, 255).to(squares.dtype)
    raise ValueError(f"Unknown view {name!r}")


def views(squares: torch.Tensor, names: Sequence[str], spec: BackboneSpec) -> list[torch.Tensor]:
    """Normalised model inputs, one batch per view name."""
    return [normalise(view(squares, name, spec.input_size), spec) for name in names]


def preprocessing_key(spec: BackboneSpec) -> str:
    return f"{spec.name}-{spec.input_size}-v{PREPROCESSING_VERSION}"
