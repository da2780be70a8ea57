"""Run in a process of its own (`python -m tests.memory_probe`): measures how much memory
decoding really takes, for tests/projects/test_decoding_memory.py.

Reads a JSON list of cases on stdin, prints a JSON list of results. Each case is measured from
the RSS of that moment, with the peak (VmHWM) reset first, so cases don't see each other's
peaks. glibc's malloc is set as the web processes set it (`return_freed_memory`): every large
block is mapped on its own, so what a case frees is gone before the next begins.

Cases:
    {"kind": "storage", "mode": M}  the bytes per pixel of a filled image of mode M
    {"kind": "prepare" | "keep" | "model", "path": P, "limit": N}
        prepare_image as an upload (thumbnail), as a kept prediction (model_side), or
        decode_for_model; the image is then used as its caller uses it (the model's resize,
        a thumbnail) before it is freed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from engine.runtime import return_freed_memory

SIDE = 297  # a model's square (EfficientNet-Lite2's 260 px input, as square_size makes it)


def status(key: str) -> int:
    text = Path("/proc/self/status").read_text()
    found = re.search(rf"{key}:\s+(\d+) kB", text)
    assert found, key
    return int(found.group(1)) * 1024


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def main() -> None:
    return_freed_memory()
    from PIL import Image

    from engine import imaging
    from engine.pixels import pixels_of

    def use(image: Image.Image) -> None:
        pixels_of(image if image.mode == "RGB" else image.convert("RGB"), SIDE)
        imaging.thumbnail_of(image)

    def run(how: str, data: bytes, rules: imaging.ImageRules) -> None:
        if how == "prepare":
            imaging.prepare_image(data, rules)
        elif how == "keep":
            prepared = imaging.prepare_image(data, rules, model_side=SIDE, thumbnail=False)
            assert prepared.decoded is not None
            use(prepared.decoded)
        else:
            use(imaging.decode_for_model(data, rules, SIDE))

    def cost(how: str, data: bytes, rules: imaging.ImageRules) -> int:
        if how == "model":
            return imaging.decoding_cost(data, rules, for_model=SIDE)
        keep = how == "keep"
        return imaging.decoding_cost(
            data, rules, model_side=SIDE if keep else None, thumbnail=not keep
        )

    cases = json.load(sys.stdin)
    # Codecs, plugins and tables are set up by a first small decode of each kind.
    for fmt in ("JPEG", "PNG", "GIF", "BMP"):
        warm = Path(cases[0].get("path", "/nonexistent")).with_name(f"warm.{fmt.lower()}")
        Image.new("RGB", (300, 300), (9, 99, 199)).save(warm, fmt)
        for how in ("prepare", "keep", "model"):
            run(how, warm.read_bytes(), imaging.ImageRules())
    results: list[dict[str, Any]] = []
    for case in cases:
        if case["kind"] == "storage":
            reset_peak()
            base = status("VmRSS")
            bands = len(Image.new(case["mode"], (1, 1)).getbands())
            # Filled, so every page is touched (a blank image is calloc's untouched zeroes).
            image = Image.new(case["mode"], (2000, 1000), 1 if bands == 1 else (1,) * bands)
            results.append({"per_pixel": (status("VmRSS") - base) / 2_000_000})
            del image
            continue
        data = Path(case["path"]).read_bytes()
        rules = imaging.ImageRules(max_bytes=len(data), max_decoded_bytes=case["limit"])
        estimate = cost(case["kind"], data, rules)
        reset_peak()
        base = status("VmRSS")
        try:
            run(case["kind"], data, rules)
            refused = None
        except imaging.ImageRejected as exc:
            refused = {"status": exc.status.value, "message": exc.message}
        results.append(
            {
                "cost": estimate,
                "peak": status("VmHWM") - base,
                "refused": refused,
                "reserved_after": imaging.BUDGET.used,
            }
        )
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
