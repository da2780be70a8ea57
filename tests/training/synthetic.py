"""Separable synthetic photos: colour and shape tell the classes apart."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

COLOURS = {"red": (210, 40, 40), "blue": (40, 60, 210), "green": (40, 170, 60)}


def photo(
    colour: str | None, shape: str = "circle", seed: int = 0, second: str | None = None
) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (320, 288), tuple(rng.randint(200, 250) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(30):  # background clutter, shared by every class
        x, y = rng.randint(0, 300), rng.randint(0, 270)
        grey = rng.randint(120, 200)
        draw.point((x, y), fill=(grey, grey, grey))
    if second is None:
        spots = [(colour, rng.randint(60, 200), rng.randint(60, 170), rng.randint(45, 70))]
    else:  # two objects side by side, neither hiding the other
        spots = [
            (colour, rng.randint(10, 60), rng.randint(60, 160), rng.randint(40, 50)),
            (second, rng.randint(180, 220), rng.randint(60, 160), rng.randint(40, 50)),
        ]
    for name, x, y, r in spots:
        if name is not None:
            box = (x, y, x + r * 2, y + r * 2)
            (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=COLOURS[name])
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
