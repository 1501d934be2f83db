"""Template filters of the import pages (and the navigation link to them)."""

from django import template

from tandem.imports import permissions

register = template.Library()


@register.filter
def may_import(user) -> bool:
    return permissions.can_import(user)


@register.filter
def cell(row: list, index: int) -> str:
    """The cell at `index` of a row, or nothing when the row is shorter."""
    try:
        return row[index]
    except (IndexError, TypeError):
        return ""
