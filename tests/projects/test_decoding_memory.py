"""What decoding really allocates, measured in a process of its own (`tests/memory_probe.py`):
every conversion path stays under the estimate it is admitted by, and the red team's PNGs are
refused from their headers without growing the process."""

from __future__ import annotations

import functools
import io
import json
import os
import platform
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from engine.imaging import ImageRules, ImageStatus, decoding_cost, storage_bytes
from tests import images

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
SIDE = 297  # tests/memory_probe.py's model square
WIDTH, HEIGHT = 1600, 1200

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists() or platform.libc_ver()[0] != "glibc",
    reason="measures with Linux's /proc and glibc's malloc",
)


def probe(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.memory_probe"],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


# --- Images for every path, noise where the encoded copy's size matters --------------------

_random = random.Random(5)


def noise(mode: str, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Image.Image:
    bands = len(Image.new(mode, (1, 1)).getbands())
    raw = _random.randbytes(size[0] * size[1] * bands * (2 if mode == "I;16" else 1))
    return Image.frombytes(mode, size, raw)


def gradient(mode: str = "RGB") -> Image.Image:
    grey = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    return grey.convert(mode)


def encoded(image: Image.Image, fmt: str, orientation: int = 1, **options: Any) -> bytes:
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    return images.encode(image, fmt, **options)


def exif_after_pixels(png: bytes, orientation: int) -> bytes:
    """`png` with an eXIf chunk after its IDAT, where Pillow finds it only once decoded."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    body = exif.tobytes()[6:]  # without the "Exif\0\0" of JPEG's APP1
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + body) & 0xFFFFFFFF)
    return png[:-12] + chunk + png[-12:]  # before IEND


def rle8_bmp(width: int, height: int) -> bytes:
    """An 8-bit run-length BMP: Pillow decodes these in Python, rows into bytes first."""
    rows = bytearray()
    for y in range(height):
        for x in range(0, width, 255):
            rows += bytes([min(255, width - x), (x + y) % 256])
        rows += b"\x00\x00"  # end of line
    rows += b"\x00\x01"  # end of bitmap
    palette = bytes(v for i in range(256) for v in (i, i, i, 0))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette + rows


@functools.cache
def paths() -> dict[str, bytes]:
    palette = noise("P")
    palette.putpalette(list(_random.randbytes(768)))
    return {
        # Stored as it came: decoded at the thumbnail's or the model's reduced scale.
        "jpeg-upright": encoded(gradient(), "JPEG", quality=90),
        # Decoded whole, turned (a second copy), encoded again.
        "jpeg-rotated": encoded(noise("RGB"), "JPEG", 6, quality=90),
        # Progressive 4:4:4: libjpeg holds every coefficient, 6 bytes a pixel, while decoding
        # (not noise: Pillow's progressive writer wants the whole file in one w × h buffer).
        "jpeg-progressive-rotated": encoded(
            gradient(), "JPEG", 6, quality=90, progressive=True, subsampling=0
        ),
        "jpeg-cmyk": encoded(noise("CMYK"), "JPEG", quality=90),
        "jpeg-grey-rotated": encoded(noise("L"), "JPEG", 8, quality=95),
        "png-rgb": encoded(noise("RGB"), "PNG", compress_level=1),
        "png-rgba": encoded(noise("RGBA"), "PNG", compress_level=1),
        "png-la": encoded(noise("LA"), "PNG", compress_level=1),
        "png-palette": encoded(palette, "PNG"),
        "png-palette-transparent": encoded(palette, "PNG", transparency=bytes(range(256))),
        "png-16-bit": encoded(noise("I;16"), "PNG", compress_level=1),
        "png-1-bit": encoded(noise("L").convert("1"), "PNG"),
        "png-scaled-up": encoded(noise("RGB", (100, 2400)), "PNG", compress_level=1),
        "png-exif-after-pixels": exif_after_pixels(encoded(gradient(), "PNG"), 6),
        "gif-transparent": encoded(palette, "GIF", transparency=0),
        "bmp-rle8": rle8_bmp(WIDTH, HEIGHT),
    }


def cost_of(kind: str, data: bytes, limit: int = 2**40) -> int:
    rules = ImageRules(max_bytes=len(data), max_decoded_bytes=limit)
    if kind == "model":
        return decoding_cost(data, rules, for_model=SIDE)
    keep = kind == "keep"
    return decoding_cost(data, rules, model_side=SIDE if keep else None, thumbnail=not keep)


# --- Tests -------------------------------------------------------------------------------------


def test_pillow_stores_each_mode_as_the_estimate_counts_it():
    modes = ["1", "L", "P", "I;16", "I;16B", "I", "F", "RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr"]
    measured = probe([{"kind": "storage", "mode": mode} for mode in modes])
    for mode, result in zip(modes, measured, strict=True):
        assert storage_bytes(mode) <= result["per_pixel"] < storage_bytes(mode) + 0.1, mode


def test_every_path_peaks_under_the_estimate_it_is_admitted_by(tmp_path):
    cases, names = [], []
    for name, data in paths().items():
        path = tmp_path / name
        path.write_bytes(data)
        for kind in ("prepare", "keep", "model"):
            # The limit just at the estimate: the image is admitted, and must stay under it.
            cases.append({"kind": kind, "path": str(path), "limit": cost_of(kind, data)})
            names.append(f"{name} {kind}")
    for name, case, result in zip(names, cases, probe(cases), strict=True):
        assert result["refused"] is None, (name, result["refused"])
        assert result["cost"] == case["limit"], name
        assert result["peak"] <= result["cost"], (name, result["peak"] / MB, result["cost"] / MB)
        # Given back once the pixels were freed.
        assert result["reserved_after"] == 0, name


def test_one_byte_over_the_limit_is_refused_before_decoding(tmp_path):
    cases = []
    for name, data in paths().items():
        if name.startswith(("jpeg-rotated", "png-rgba", "png-16-bit", "png-palette-t")):
            path = tmp_path / name
            path.write_bytes(data)
            limit = cost_of("prepare", data) - 1
            cases.append({"kind": "prepare", "path": str(path), "limit": limit})
    for result in probe(cases):
        assert result["refused"]["status"] == ImageStatus.ERROR_IMAGE_DIMENSIONS.value
        assert result["peak"] < 2 * MB


def test_the_red_teams_pngs_are_refused_from_the_header_and_cost_nothing(tmp_path):
    attacks = {
        # 124 KB that took 591 MB: 16-bit grey is 2 bytes a pixel, then 4 as 32-bit.
        "grey-16-bit": images.pixel_heavy_png(8000, 8000, mode="I;16"),
        "grey-alpha": images.pixel_heavy_png(8000, 4000, mode="LA"),  # took 605 MB
        "palette-transparent": images.pixel_heavy_png(5700, 5700, mode="P"),  # took 530 MB
    }
    limit = ImageRules().max_decoded_bytes
    cases = []
    for name, data in attacks.items():
        assert len(data) < 128 * 1024
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        for kind in ("prepare", "keep", "model"):
            assert cost_of(kind, data) > limit, (name, kind)
            cases.append({"kind": kind, "path": str(path), "limit": limit})
    for case, result in zip(cases, probe(cases), strict=True):
        assert result["refused"] is not None, case
        assert result["refused"]["status"] == ImageStatus.ERROR_IMAGE_DIMENSIONS.value
        assert "would take" in result["refused"]["message"]
        assert result["peak"] < 4 * MB, (case, result["peak"] / MB)


def _jpeg_claiming(width: int, height: int, orientation: int = 1, **options: Any) -> bytes:
    """A small JPEG whose frame header says width × height: all the estimate reads."""
    data = encoded(Image.new("RGB", (16, 16), (90, 120, 200)), "JPEG", orientation, **options)
    frame = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
    return data[: frame + 5] + struct.pack(">HH", height, width) + data[frame + 9 :]


def test_the_default_limit_admits_phone_photos_and_modest_16_bit_scans():
    limit = ImageRules().max_decoded_bytes
    assert limit == 200 * MB
    admitted = {
        "12 MP": _jpeg_claiming(4032, 3024),
        "12 MP turned": _jpeg_claiming(4032, 3024, 6),
        "24 MP": _jpeg_claiming(6000, 4000),
        "24 MP turned": _jpeg_claiming(6000, 4000, 6),
        "24 MP turned, 4:3": _jpeg_claiming(5712, 4284, 8),
        "24 MP progressive, turned": _jpeg_claiming(6000, 4000, 6, progressive=True),
        "48 MP, upright": _jpeg_claiming(8064, 6048),
        "A4 at 300 dpi, 16-bit grey": images.pixel_heavy_png(2480, 3508, mode="I;16"),
        "30 MP, 16-bit grey": images.pixel_heavy_png(5000, 6000, mode="I;16"),
    }
    for name, data in admitted.items():
        for kind in ("prepare", "keep", "model"):
            assert cost_of(kind, data) <= limit, (name, kind, cost_of(kind, data) / MB)
    refused = {
        "48 MP turned": _jpeg_claiming(8064, 6048, 6),
        "A4 at 600 dpi, 16-bit grey": images.pixel_heavy_png(4960, 7016, mode="I;16"),
    }
    for name, data in refused.items():
        assert cost_of("prepare", data) > limit, name


def test_a_web_process_gives_freed_pixels_back(tmp_path):
    """Four threads decode large images, then the process idles: with glibc's threshold left to
    rise, 70–140 MB of freed pixels stayed in the heap; now they are unmapped as they go."""
    data = {
        "rgba.png": images.pixel_heavy_png(4000, 3000, mode="RGBA"),
        "la.png": images.pixel_heavy_png(4000, 3000, mode="LA"),
        "palette.png": images.pixel_heavy_png(4000, 3000, mode="P"),
        "grey16.png": images.pixel_heavy_png(4000, 3000, mode="I;16"),
        "turned.jpg": _turned_jpeg(4000, 3000),
    }
    for name, content in data.items():
        (tmp_path / name).write_bytes(content)
    script = _WEB_PROCESS.format(files=[str(tmp_path / name) for name in data])
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "portal.settings"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["decoded"] == 12
    assert result["kept"] < 24 * MB, result["kept"] / MB


def _turned_jpeg(width: int, height: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 90, 160)).save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


_WEB_PROCESS = """
import json, re, threading
from pathlib import Path
import portal.wsgi  # what a web worker runs at start
from engine import imaging

def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]) * 1024

files = [Path(f).read_bytes() for f in {files}]
rules = imaging.ImageRules(max_bytes=2**30)
imaging.prepare_image(files[-1], rules)  # codecs set up
base = rss()
decoded = []

def work(first):
    for i in range(3):
        data = files[(first + i) % len(files)]
        if (first + i) % 2:
            imaging.prepare_image(data, rules)
        else:
            imaging.decode_for_model(data, rules, 297)
        decoded.append(1)

threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({{"decoded": len(decoded), "kept": rss() - base}}))
"""
