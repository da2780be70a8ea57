"""Detection benchmark (not a test): Quick training time and mAP, and prediction speed.

The set: grocery-store products (../shared/datasets/grocery-store: Banana, Lemon, Carrots,
Milk) pasted at random places and sizes, 1–3 per photo, onto the tree photos of the
classification sample (samples/custom-vision-sample) as backgrounds. Training photos paste
crops of one two thirds of each class's product photos onto 19 backgrounds; the held-out photos
paste the other third onto the other 10 backgrounds, so no product photo or background is
shared between them.

Prints: Quick training's seconds and phases (torch threads as given, default 2), the
iteration's reported (out-of-fold) mAP, the final model's mAP on the held-out photos (the
figure the reported one should predict), and the time per photo of `Detector.detect` against
raw ONNX Runtime (decode, resize and the graph only, as an exported model's script runs it).

    .venv/bin/python bench/detect.py [--photos 120] [--held-out 60] [--threads 2] [--advanced S]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.backbones import resolve  # noqa: E402
from engine.boxes import Box  # noqa: E402
from engine.detection_metrics import evaluate  # noqa: E402
from engine.detector import DetectRequest, train_detector  # noqa: E402
from engine.features import NoCache, Sample  # noqa: E402
from engine.pixels import load_rgb, pixels_of  # noqa: E402
from engine.predict import Detector  # noqa: E402
from engine.recipes import detection_recipe_for  # noqa: E402

GROCERY = ROOT.parent / "shared" / "datasets" / "grocery-store" / "train"
CLASSES = {
    "Banana": "Fruit/Banana",
    "Lemon": "Fruit/Lemon",
    "Carrots": "Vegetables/Carrots",
    "Milk": "Packages/Milk",
}
BACKGROUNDS = sorted((ROOT / "samples" / "custom-vision-sample").glob("*/*.jpg"))
SIZE = (640, 480)


def sources(part: int) -> dict[int, list[Path]]:
    """Per class, product photos of one part: 0 (the first two thirds) or 1 (the rest)."""
    chosen = {}
    for index, folder in enumerate(CLASSES.values()):
        paths = sorted((GROCERY / folder).rglob("*.jpg"))
        cut = len(paths) * 2 // 3
        chosen[index] = paths[:cut] if part == 0 else paths[cut:]
    return chosen


def compose(
    rng: random.Random, products: dict[int, list[Path]], backgrounds: list[Path]
) -> tuple[bytes, list[Box]]:
    """One photo: a background with 1–3 product crops pasted apart from each other."""
    canvas = Image.open(rng.choice(backgrounds)).convert("RGB").resize(SIZE)
    if rng.random() < 0.5:
        canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    boxes: list[Box] = []
    taken: list[tuple[int, int, int, int]] = []
    for _ in range(rng.randint(1, 3)):
        tag = rng.randrange(len(CLASSES))
        product = Image.open(rng.choice(products[tag])).convert("RGB")
        w, h = product.size
        product = product.crop((w * 0.15, h * 0.15, w * 0.85, h * 0.85))  # the product itself
        width = int(SIZE[0] * rng.uniform(0.18, 0.4))
        height = int(width * product.size[1] / product.size[0] * rng.uniform(0.8, 1.2))
        height = min(height, SIZE[1] - 2)
        for _attempt in range(20):
            x, y = rng.randint(0, SIZE[0] - width), rng.randint(0, SIZE[1] - height)
            if all(
                x + width < a or a + c < x or y + height < b or b + d < y for a, b, c, d in taken
            ):
                break
        else:
            continue
        canvas.paste(product.resize((width, height)), (x, y))
        taken.append((x, y, width, height))
        boxes.append((tag, x / SIZE[0], y / SIZE[1], width / SIZE[0], height / SIZE[1]))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue(), boxes


def dataset(count: int, part: int, seed: int) -> tuple[list[bytes], list[list[Box]]]:
    rng = random.Random(seed)  # noqa: S311 (a reproducible data set, not a secret)
    backgrounds = BACKGROUNDS[:19] if part == 0 else BACKGROUNDS[19:]
    products = sources(part)
    photos, boxes = [], []
    while len(photos) < count:
        data, found = compose(rng, products, backgrounds)
        if found:
            photos.append(data)
            boxes.append(found)
    return photos, boxes


def speed(detector: Detector, photos: list[bytes], rounds: int = 3) -> tuple[float, float]:
    """Median ms per photo: Detector.detect, and raw ONNX Runtime (decode, resize, graph)."""
    raw_times, detect_times = [], []
    side = detector.image_size
    for _ in range(rounds):
        started = time.perf_counter()
        for data in photos:
            detector.run(pixels_of(load_rgb(data, side), side))
        raw_times.append((time.perf_counter() - started) / len(photos) * 1000)
        started = time.perf_counter()
        for data in photos:
            detector.detect(data)
        detect_times.append((time.perf_counter() - started) / len(photos) * 1000)
    return statistics.median(detect_times), statistics.median(raw_times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--held-out", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--domain", default="General (compact)")
    parser.add_argument("--advanced", type=float, default=0.0, help="budget in seconds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photos, boxes = dataset(args.photos, 0, seed=1)
    test_photos, test_boxes = dataset(args.held_out, 1, seed=2)
    tags = list(CLASSES)
    samples = [Sample(hashlib.sha256(p).hexdigest(), lambda p=p: p) for p in photos]
    recipe = detection_recipe_for(args.domain)
    backbone = resolve(recipe.torchvision, recipe.bundled)
    print(f"{len(photos)} photos, {sum(map(len, boxes))} boxes; held out {len(test_photos)}")
    request = DetectRequest(
        samples,
        boxes,
        tags,
        recipe,
        advanced=args.advanced > 0,
        budget_seconds=args.advanced or 3600,
    )
    started = time.perf_counter()
    result = train_detector(request, backbone=backbone, cache=NoCache())
    seconds = time.perf_counter() - started
    print(f"training: {seconds:.1f} s ({result.kind}, {args.threads} threads) {result.phases}")
    if args.advanced:
        print(f"  {result.details.get('why')}")
    detector = Detector(result.bundle)
    predicted = [detector.detect(p) for p in test_photos]
    for overlap in (0.3, 0.5):
        oof = evaluate(boxes, result.detections, len(tags), threshold=0.5, overlap=overlap)
        held = evaluate(test_boxes, predicted, len(tags), threshold=0.5, overlap=overlap)
        print(
            f"mAP@{overlap}: reported (out-of-fold) {oof.mean_average_precision:.3f}, "
            f"held-out {held.mean_average_precision:.3f}; at 0.5 precision/recall "
            f"reported {oof.precision:.2f}/{oof.recall:.2f}, held-out "
            f"{held.precision:.2f}/{held.recall:.2f}"
        )
    detect_ms, raw_ms = speed(detector, test_photos[:20])
    print(
        f"prediction, 1 thread: Detector.detect {detect_ms:.1f} ms/photo, raw ONNX Runtime "
        f"{raw_ms:.1f} ms/photo (decode + resize + graph)"
    )


if __name__ == "__main__":
    main()
