"""Boxes drawn over a photo as SVG, positioned by attributes in percent: the page's
Content-Security-Policy forbids inline styles, and SVG's geometry attributes are not styles.
One partial (`portal/_boxes.html`) draws every box the portal shows: regions, detections,
drafts, misses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import template

register = template.Library()


@register.filter
def pct(value: float | str) -> str:
    """A normalised coordinate (0–1) as an SVG length in percent."""
    return f"{float(value) * 100:.4f}%"


@register.filter
def box_list(boxes: Iterable[Any]) -> list[Mapping[str, Any]]:
    """Boxes as plain dicts for `json_script`, whatever shape they came in: a dict with
    left/top/width/height or an object with those attributes."""
    keys = ("left", "top", "width", "height", "tag_id", "tag_name", "probability", "kind")
    out: list[Mapping[str, Any]] = []
    for box in boxes:
        get = box.get if isinstance(box, Mapping) else (lambda k, b=box: getattr(b, k, None))
        out.append({k: get(k) for k in keys if get(k) is not None})
    return out
