"""Geometry of the lifetime-value histogram, for an inline SVG (no JavaScript, no library)."""

from tandem.clv.selectors import Histogram


def histogram_bars(histogram: Histogram, *, width: int = 640, height: int = 200) -> dict:
    """Bars of a histogram scaled to the tallest; labels are bin ranges in whole currency units."""
    count = len(histogram.counts)
    top = max([1, *histogram.counts])
    slot = width / max(1, count)
    plot_height = height - 24
    bars = []
    for index, value in enumerate(histogram.counts):
        low, high = histogram.edges[index], histogram.edges[index + 1]
        last = index == count - 1
        bar_height = plot_height * value / top
        bars.append(
            {
                "label": f"{low:,.0f}+" if last else f"{low:,.0f}–{high:,.0f}",
                "value": value,
                "x": round(index * slot + 1, 1),
                "y": round(plot_height - bar_height, 1),
                "width": round(max(1.0, slot - 2), 1),
                "height": round(bar_height, 1),
            }
        )
    ticks = []
    if count:
        for index in (0, count // 2, count):
            ticks.append(
                {
                    "label": f"{histogram.edges[index]:,.0f}",
                    "x": round(min(index * slot, width - 1), 1),
                    "anchor": "start" if index == 0 else ("end" if index == count else "middle"),
                }
            )
    return {"width": width, "height": height, "bars": bars, "ticks": ticks, "top": top}
