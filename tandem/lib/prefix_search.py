"""Case-insensitive "starts with" search that the database answers from an index on lower(column).

SQLite uses an expression index for a range on lower(column) but never for LIKE, and its lower()
folds ASCII letters only. PostgreSQL compares text ranges in the database's collation, which
(unless it is "C") does not keep the values sharing a prefix together, so there the search is LIKE,
served by a `text_pattern_ops` index on lower(column). Migrations crm 0005 and 0009 create both kinds
(for email, the unique index on lower(email) is that index).
"""

from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Model, Q
from django.db.models.functions import Lower
from django.db.models.lookups import GreaterThanOrEqual, LessThan, StartsWith

# Past this many matches, reading rows in the list's order and skipping the others finds a page
# sooner than collecting every match from the indexes and sorting them (at a million people: a
# one-letter prefix takes a second from the indexes, milliseconds in order; a rare one the reverse).
COMMON_MATCHES = 5000
_SURROGATES = range(0xD800, 0xE000)


def _fold_ascii(text: str) -> str:
    return "".join(character.lower() if character.isascii() else character for character in text)


def _next_prefix(prefix: str) -> str | None:
    """The smallest string after every string starting with `prefix`, in code point order."""
    following = ord(prefix[-1]) + 1
    if following in _SURROGATES:
        following = _SURROGATES.stop
    if following > 0x10FFFF:
        return None
    return prefix[:-1] + chr(following)


def starts_with(field: str, prefix: str) -> Q:
    """Rows whose `field` starts with `prefix`, ignoring case, in a form an index on lower(field) serves."""
    column = Lower(field)
    if connection.vendor != "sqlite":
        return Q(StartsWith(column, prefix.lower()))
    # Matches what `field__istartswith` does on SQLite, where LIKE ignores the case of ASCII only.
    lowest = _fold_ascii(prefix)
    condition = Q(GreaterThanOrEqual(column, lowest))
    beyond = _next_prefix(lowest)
    return condition & Q(LessThan(column, beyond)) if beyond else condition & Q(StartsWith(column, lowest))


def _matches_at_least(model: type[Model], conditions: list[Q], count: int) -> bool:
    """Whether `count` rows match the conditions together, reading at most that many index entries."""
    parts, params = [], []
    for condition in conditions:
        query = model._base_manager.filter(condition).order_by().values_list("pk")[:count].query
        sql, part_params = query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql})")  # noqa: S608 - SQL that Django compiled, values passed apart
        params += part_params
    # One statement; SQLite stops reading the indexes once `count` rows have come through.
    statement = f"SELECT COUNT(*) FROM ({' UNION ALL '.join(parts)} LIMIT {int(count)})"  # noqa: S608 - as above
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0] >= count


def any_starts_with(model: type[Model], prefixes: list[tuple[str, str]]) -> Q:
    """Rows of `model` where any of the fields starts with its prefix, ignoring case.

    `prefixes` holds (field, prefix) pairs with non-empty prefixes. PostgreSQL's planner knows from
    its statistics how common a prefix is and picks between the indexes and the list's order itself;
    SQLite's does not, so there a quick count decides, and the conditions are written so that
    SQLite can use the indexes only when it should.
    """
    conditions = [starts_with(field, prefix) for field, prefix in prefixes]
    if connection.vendor == "sqlite" and _matches_at_least(model, conditions, COMMON_MATCHES):
        conditions = [Q(**{f"{field}__istartswith": prefix}) for field, prefix in prefixes]
    return reduce(or_, conditions)
