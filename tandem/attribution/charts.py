"""Geometry of the side-by-side model comparison, for an inline SVG drawn by the template."""

from tandem.attribution.reports import AttributionReport

# One colour per model, in catalogue order; chosen to stay distinguishable side by side.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#1f3b73",
)


def comparison_chart(
    report: AttributionReport, *, selected: str, top: int = 8, width: int = 760, height: int = 240
) -> dict:
    """Grouped bars: for each of the `top` campaigns under the selected model, one bar per model."""
    by_value = report.has_value
    metric = "value" if by_value else "conversions"

    def amount(row, key: str) -> float:
        return (row.value if by_value else row.conversions)[key]

    rows = [row for row in report.campaigns if any(amount(row, spec.key) > 0 for spec in report.models)]
    rows.sort(key=lambda row: (-amount(row, selected), row.name))
    rows = rows[:top]
    peak = max([amount(row, spec.key) for row in rows for spec in report.models] or [0.0]) or 1.0
    plot_height = height - 40
    slot = width / max(1, len(rows))
    bar = max(1.5, slot * 0.8 / max(1, len(report.models)))
    bars, labels = [], []
    for group, row in enumerate(rows):
        left = group * slot + slot * 0.1
        for index, spec in enumerate(report.models):
            value = amount(row, spec.key)
            bar_height = plot_height * value / peak
            bars.append(
                {
                    "x": round(left + index * bar, 1),
                    "y": round(10 + plot_height - bar_height, 1),
                    "width": round(bar * 0.9, 1),
                    "height": round(bar_height, 1),
                    "colour": PALETTE[index % len(PALETTE)],
                    "is_selected": spec.key == selected,
                    "title": f"{row.name} — {spec.label}: {value:,.2f}",
                }
            )
        name = row.name if len(row.name) <= 16 else row.name[:15] + "…"
        labels.append({"x": round(group * slot + slot / 2, 1), "text": name})
    legend = [
        {"label": spec.label, "colour": PALETTE[index % len(PALETTE)], "is_selected": spec.key == selected}
        for index, spec in enumerate(report.models)
    ]
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "labels": labels,
        "legend": legend,
        "metric": metric,
        "peak": peak,
        "baseline": 10 + plot_height,
    }
