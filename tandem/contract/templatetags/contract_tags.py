from django import template

register = template.Library()


@register.filter
def as_list(value) -> list:
    """A transition end is one stage key or a list of them; read both as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
