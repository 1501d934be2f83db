"""Geometry of the scorecard's inline SVG charts (no JavaScript, no library): sparklines, bars and lines."""

import math


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def sparkline(values: list[float | None], *, width: int = 120, height: int = 32) -> dict:
    """Polyline segments through the known values (a gap where a period has none), scaled to their range."""
    known = [value for value in values if _finite(value)]
    if not known:
        return {"width": width, "height": height, "segments": [], "last": None}
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = width / max(1, len(values) - 1)
    pad = 3
    segments, current, last = [], [], None
    for index, value in enumerate(values):
        if not _finite(value):
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        x = round(index * step, 1)
        y = round(height - pad - (value - low) / span * (height - 2 * pad), 1)
        current.append(f"{x},{y}")
        last = {"x": x, "y": y}
    if current:
        segments.append(" ".join(current))
    return {"width": width, "height": height, "segments": segments, "last": last}


def bars(labels: list[str], values: list[float], *, width: int = 640, height: int = 180) -> dict:
    """Vertical bars scaled to the tallest, with their labels."""
    top = max([1.0, *[float(value) for value in values]])
    slot = width / max(1, len(values))
    plot = height - 20
    items = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_height = plot * float(value) / top
        items.append(
            {
                "label": label,
                "value": value,
                "x": round(index * slot + 2, 1),
                "y": round(plot - bar_height, 1),
                "width": round(max(1.0, slot - 4), 1),
                "height": round(bar_height, 1),
                "label_x": round(index * slot + slot / 2, 1),
            }
        )
    return {"width": width, "height": height, "bars": items, "label_y": height - 4}
