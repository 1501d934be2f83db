from django import template

register = template.Library()


@register.filter
def percent(value) -> str:
    """A share (0.667) as a percentage with one decimal (66.7%); — when unknown."""
    return "—" if value is None else f"{float(value):.1%}"
