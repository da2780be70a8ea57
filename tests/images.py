"""Synthetic images for the unit tests: every kind of good and bad file an upload can carry."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image


def encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def solid(
    size: tuple[int, int] = (300, 300),
    color: tuple[int, int, int] = (200, 30, 30),
    fmt: str = "JPEG",
    mode: str = "RGB",
) -> bytes:
    return encode(Image.new(mode, size, color), fmt)


def distinct(n: int, size: tuple[int, int] = (300, 300)) -> list[bytes]:
    """n different JPEGs (different colours, so different content hashes)."""
    return [
        solid(size, ((n * 37 + i * 53) % 256, (i * 97) % 256, (i * 13 + 7) % 256)) for i in range(n)
    ]


def noise_png(size: tuple[int, int]) -> bytes:
    """Incompressible: a PNG whose byte size is about 3 × width × height."""
    return encode(
        Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)), "PNG", compress_level=0
    )


def exif_rotated_jpeg() -> bytes:
    """400×300 pixels stored, with EXIF orientation 6: shown 300×400, rotated 90° clockwise."""
    image = Image.new("RGB", (400, 300), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 200, 300))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (300, 300), (0, 255, 255, 0)), "JPEG")


def png_16bit() -> bytes:
    image = Image.frombytes("I;16", (300, 300), struct.pack("<H", 32768) * 300 * 300)
    return encode(image, "PNG")


def palette_with_transparency() -> bytes:
    image = Image.new("P", (300, 300), 0)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    image.paste(1, (0, 0, 150, 300))  # left half green, right half index 0 = transparent
    return encode(image, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [Image.new("P", (300, 300), i) for i in range(3)]
    for frame in frames:
        frame.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def pixel_heavy_png(width: int = 10_240, height: int = 10_240, mode: str = "RGBA") -> bytes:
    """A real, complete PNG of blank pixels: a few hundred KB that decode to width × height
    pixels (400 MB for the default). Written row by row, never whole in memory. Modes: RGBA,
    RGB, LA, L, I;16 (16-bit grey) and P (a palette with a transparent entry)."""
    colour_type, depth, channels = {
        "RGBA": (6, 8, 4),
        "RGB": (2, 8, 3),
        "LA": (4, 8, 2),
        "L": (0, 8, 1),
        "I;16": (0, 16, 2),
        "P": (3, 8, 1),
    }[mode]
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * channels)  # filter byte 0, then blank pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    palette = b""
    if mode == "P":
        palette = chunk(b"PLTE", bytes(range(256)) * 3) + chunk(b"tRNS", b"\x00" + b"\xff" * 255)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + palette
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims to be width × height: a decompression bomb in miniature."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    data = encode(Image.effect_noise((600, 600), 64).convert("RGB"), "JPEG", quality=90)
    return data[: len(data) // 2]


HTML = b"<!doctype html><html><body>not an image</body></html>"
