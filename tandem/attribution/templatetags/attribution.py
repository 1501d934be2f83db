"""Small filters for the attribution pages."""

from django import template

register = template.Library()


@register.filter
def item(mapping: dict, key: str):
    """mapping[key] in a template, or None."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def percent(value, decimals: int = 0) -> str:
    """0.425 -> '42.5%' (with `decimals`); '—' for None."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{int(decimals)}f}%"


@register.filter
def figure(value, decimals: int = 2) -> str:
    """A number with thousands separators and at most `decimals` decimals; '—' for None."""
    if value is None:
        return "—"
    text = f"{float(value):,.{int(decimals)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
