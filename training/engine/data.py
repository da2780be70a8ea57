"""Decoding images, and the fixed views that training, evaluation and prediction share.

Every image is decoded once into a *square*: its shortest side resized to
`square_size(input_size)` and the centre cut square, as uint8 (3, S, S). Every view the
models see is cut from that square with tensor ops, in batches, on whatever device holds it:
the frozen-feature views, the out-of-fold evaluation of a fine-tuned model and prediction
all call `views()`, so a model is scored on exactly the pixels it will be served.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image

from training.engine.backbones import BackboneSpec

VIEWS = ("center", "flip", "zoom")
PREPROCESSING_VERSION = 3  # bump when a view changes: cached features are keyed by it
CROP_FRACTION = 0.875  # the input is the centre 87.5 % of the square, as ImageNet evaluation
ZOOM_FRACTION = 0.7  # "zoom" is the centre 70 % of the square, scaled up to the input


@dataclass(frozen=True)
class Sample:
    """One training image: a stable content key and a way to read its bytes."""

    key: str  # e.g. the image's SHA-256; features are cached under it
    read: Callable[[], bytes]


def square_size(input_size: int) -> int:
    return round(input_size / CROP_FRACTION)


def load_rgb(data: bytes, size: int) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        # Let libjpeg decode at a reduced scale: a 1600 px photo needed for 224 px input
        # decodes several times faster, with the same result after resizing.
        image.draft("RGB", (size * 2, size * 2))
    return image.convert("RGB")


def square(data: bytes, input_size: int) -> torch.Tensor:
    """The image's centre square at `square_size(input_size)`, uint8 (3, S, S)."""
    side = square_size(input_size)
    image = load_rgb(data, side)
    image = TF.center_crop(TF.resize(image, side, antialias=True), [side, side])
    return TF.pil_to_tensor(image)


def normalise(pixels: torch.Tensor, spec: BackboneSpec) -> torch.Tensor:
    """uint8 or 0..255 float (B, 3, H, W) → the backbone's normalised float input."""
    mean = torch.tensor(spec.mean, device=pixels.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(spec.std, device=pixels.device).view(1, 3, 1, 1) * 255
    return (pixels.float() - mean) / std


def _centre(squares: torch.Tensor, side: int) -> torch.Tensor:
    full = squares.shape[-1]
    top = round((full - side) / 2.0)
    return squares[..., top : top + side, top : top + side]


def view(squares: torch.Tensor, name: str, input_size: int) -> torch.Tensor:
    """One named view of a batch of squares (B, 3, S, S) as uint8 (B, 3, size, size)."""
    if name == "center":
        return _centre(squares, input_size)
    if name == "flip":
        return _centre(squares, input_size).flip(-1)
    if name == "zoom":
        crop = _centre(squares, round(squares.shape[-1] * ZOOM_FRACTION)).float()
        resized = F.interpolate(crop, size=(input_size, input_size), mode="bilinear")
        return resized.round().clamp(0, 255).to(torch.uint8)
    raise ValueError(f"Unknown view {name!r}")


def views(squares: torch.Tensor, names: Sequence[str], spec: BackboneSpec) -> list[torch.Tensor]:
    """Normalised model inputs, one batch per view name."""
    return [normalise(view(squares, name, spec.input_size), spec) for name in names]


def preprocessing_key(spec: BackboneSpec) -> str:
    return f"{spec.name}-{spec.input_size}-v{PREPROCESSING_VERSION}"
