"""Class-agnostic region proposals (GetImageRegionProposals) without a trained model.

numpy and Pillow only, so the web tier answers it without torch, in a few milliseconds:

1. the photo at 64 × 64 (the aspect is not kept: boxes are normalised anyway);
2. a saliency map, the mean of two cues: colour distance from the photo's border (what
   differs from the background; photos are framed around their subject) and the spectral
   residual of its brightness (Hou & Zhang, 2007: what is unexpected in the photo's spectrum);
3. the map thresholded at a few levels; every connected blob's bounding box is a proposal,
   its confidence the share of the photo's saliency inside the box, times how much denser it
   is inside than outside, times (a fourth root of) how much of the box the blob fills: a
   box around all of an object, tight, scores high; a piece of it, a halo or the photo low
   (a median filter, not a blur, cleans the map: a blur widens every box);
4. overlapping proposals suppressed (IoU > 0.7), the most confident first.

It finds the salient objects of product-style and quickstart photos; it knows nothing of
classes, so its confidences rank boxes, they do not say what is in them.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from PIL import Image, ImageFilter

from engine.boxes import nms

SIDE = 64
LEVELS = (0.15, 0.25, 0.35, 0.5, 0.65)
MIN_AREA = 0.005  # of the photo
SUPPRESS_IOU = 0.7

Proposal = tuple[float, float, float, float, float]  # confidence, left, top, width, height


def _border_contrast(rgb: np.ndarray) -> np.ndarray:
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    # The distance to the nearest of a few border colours: a two-tone background stays dark.
    centres = border[np.linspace(0, len(border) - 1, 16).astype(int)]
    distance = np.linalg.norm(rgb[:, :, None, :] - centres[None, None], axis=-1)
    return np.asarray(distance.min(axis=-1))


def _spectral_residual(grey: np.ndarray) -> np.ndarray:
    spectrum = np.fft.fft2(grey)
    log_amplitude = np.log(np.abs(spectrum) + 1e-9)
    kernel = np.ones((3, 3)) / 9
    padded = np.pad(log_amplitude, 1, mode="wrap")
    smooth = sum(
        kernel[i, j] * padded[i : i + grey.shape[0], j : j + grey.shape[1]]
        for i in range(3)
        for j in range(3)
    )
    residual = np.exp(log_amplitude - smooth) * np.exp(1j * np.angle(spectrum))
    return np.asarray(np.abs(np.fft.ifft2(residual)) ** 2)


def _normalised(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _robust(values: np.ndarray) -> np.ndarray:
    """0..1 against the 98th percentile, so one glint does not make the rest of it faint."""
    low, high = float(np.percentile(values, 2)), float(np.percentile(values, 98))
    return np.clip((values - low) / (high - low), 0, 1) if high > low else np.zeros_like(values)


def saliency(image: Image.Image) -> np.ndarray:
    """(SIDE, SIDE) map in 0..1."""
    small = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float64)
    grey = rgb.mean(axis=2)
    combined = 0.7 * _robust(_border_contrast(rgb)) + 0.3 * _robust(_spectral_residual(grey))
    blurred = Image.fromarray(np.uint8(_normalised(combined) * 255)).filter(
        ImageFilter.MedianFilter(3)
    )
    return _normalised(np.asarray(blurred, dtype=np.float64))


def _blobs(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """Connected (4-neighbour) blobs of a boolean map: (x1, y1, x2, y2, pixel count)."""
    seen = np.zeros_like(mask, dtype=bool)
    height, width = mask.shape
    found = []
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        seen[y, x] = True
        queue, xs, ys = deque([(y, x)]), [x], [y]
        while queue:
            cy, cx = queue.popleft()
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
                    xs.append(nx)
                    ys.append(ny)
        found.append((min(xs), min(ys), max(xs) + 1, max(ys) + 1, len(xs)))
    return found


def _confidence(heat: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> float:
    """The share of the photo's saliency the box holds, times how much denser it is inside
    than outside (0..1): a box around all of an object beats a piece of it or the photo."""
    inside = heat[y1:y2, x1:x2]
    total, held = float(heat.sum()), float(inside.sum())
    outside_count = heat.size - inside.size
    if outside_count == 0 or total <= 0 or held <= 0:
        return 0.0
    density, outside = held / inside.size, (total - held) / outside_count
    return max(0.0, held / total * (1 - outside / density))


def propose(image: Image.Image, *, limit: int = 20) -> list[Proposal]:
    """Up to `limit` proposals, most confident first: (confidence, left, top, width, height)."""
    heat = saliency(image)
    boxes, scores = [], []
    for level in LEVELS:
        for x1, y1, x2, y2, count in _blobs(heat >= level):
            area = (x2 - x1) * (y2 - y1)
            if area < MIN_AREA * SIDE * SIDE:
                continue
            boxes.append([x1 / SIDE, y1 / SIDE, x2 / SIDE, y2 / SIDE])
            # A blob that fills its box makes a tighter box than a blurred halo around it.
            scores.append(_confidence(heat, x1, y1, x2, y2) * (count / area) ** 0.25)
    if not boxes:
        return [(0.0, 0.0, 0.0, 1.0, 1.0)]
    kept = nms(
        np.array(boxes),
        np.array(scores)[:, None],
        max_detections=limit,
        prob_threshold=1e-6,
        iou_threshold=SUPPRESS_IOU,
    )
    return [(round(p, 4), left, top, width, height) for _t, p, left, top, width, height in kept]
