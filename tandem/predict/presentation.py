"""How the model card and the score panel show things: feature names in words and chart geometry for inline SVG."""

from tandem.engagement.models import TouchpointType

TOUCHPOINT_LABELS = {choice.value: choice.label for choice in TouchpointType}


def feature_label(name: str) -> str:
    """`custom.total_time_spent_on_website` → "Total time spent on website"; accounts and touchpoints prefixed."""
    if name == "touchpoints.total":
        return "Touchpoints (all)"
    if name.startswith("touchpoints."):
        kind = name.removeprefix("touchpoints.")
        return f"Touchpoints: {TOUCHPOINT_LABELS.get(kind, kind).lower()}"
    prefix = ""
    if name.startswith("account."):
        prefix, name = "Account ", name.removeprefix("account.")
    name = name.removeprefix("custom.")
    words = name.replace("_", " ").strip()
    text = f"{prefix}{words}" if prefix else words
    return text[:1].upper() + text[1:]


def calibration_chart(bins: list[dict], *, size: int = 240, margin: int = 30) -> dict:
    """Points of mean predicted (x) against observed conversion (y) per bin, and the diagonal of perfect calibration."""
    plot = size - 2 * margin
    largest = max([1, *(row["people"] for row in bins)])
    points = [
        {
            "x": round(margin + row["predicted"] * plot, 1),
            "y": round(margin + (1 - row["observed"]) * plot, 1),
            "r": round(3 + 6 * (row["people"] / largest) ** 0.5, 1),
            "label": f"{row['low']:.0%}–{row['high']:.0%}: predicted {row['predicted']:.1%}, "
            f"observed {row['observed']:.1%} of {row['people']:,} people",
        }
        for row in bins
    ]
    return {"size": size, "margin": margin, "end": size - margin, "points": points, "ticks": _ticks(margin, plot)}


def gain_chart(curve: list[dict], *, size: int = 240, margin: int = 30) -> dict:
    """The cumulative gain line (share of conversions found in the top x% by score) over the random diagonal."""
    plot = size - 2 * margin
    points = [(margin, margin + plot)] + [
        (round(margin + row["share"] * plot, 1), round(margin + (1 - row["gain"]) * plot, 1)) for row in curve
    ]
    return {
        "size": size,
        "margin": margin,
        "end": size - margin,
        "line": " ".join(f"{x},{y}" for x, y in points),
        "dots": [
            {
                "x": x,
                "y": y,
                "label": f"top {row['share']:.0%}: {row['gain']:.0%} of conversions, lift {row['lift']:.2f}",
            }
            for (x, y), row in zip(points[1:], curve, strict=True)
        ],
        "ticks": _ticks(margin, plot),
    }


def _ticks(margin: int, plot: int) -> list[dict]:
    return [
        {
            "label": f"{share}%",
            "at": round(margin + share / 100 * plot, 1),
            "flip": round(margin + (1 - share / 100) * plot, 1),
        }
        for share in (0, 50, 100)
    ]


def factor_rows(factors: list[dict]) -> list[dict]:
    """Factors with their label and a bar width (share of the strongest) for the panel."""
    strongest = max([1e-9, *(abs(factor["contribution"]) for factor in factors)])
    return [
        {
            **factor,
            "label": feature_label(factor["feature"]),
            "width": max(4, round(60 * abs(factor["contribution"]) / strongest)),
        }
        for factor in factors
    ]
