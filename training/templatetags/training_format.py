from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.9234 → "92.3%"; an undefined metric (None) → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


@register.filter
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def svg_points(points: list[tuple[float, float]]) -> str:
    """(recall, precision) pairs → an SVG polyline's points in a 100 × 100 plot, y upwards."""
    return " ".join(f"{r * 100:.1f},{100 - p * 100:.1f}" for r, p in points)


@register.filter
def plot_x(point: tuple[float, float]) -> str:
    """A (recall, precision) point's x in that 100 × 100 plot."""
    return f"{point[0] * 100:.1f}"


@register.filter
def plot_y(point: tuple[float, float]) -> str:
    return f"{100 - point[1] * 100:.1f}"
