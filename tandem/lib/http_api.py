"""What every app's API router shares: input rules, record lookups and the acting user."""

import datetime as dt
from typing import Annotated

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404
from ninja import Schema
from pydantic import ConfigDict, Field, create_model, field_validator
from pydantic.fields import FieldInfo

from tandem.audit.actors import Actor, ActorType
from tandem.lib.keyset import Page
from tandem.users.models import User

MAX_RECORD_ID = 2**63 - 1
MAX_JSON_DEPTH = 20

RecordId = Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]
PageLimit = Annotated[int, Field(ge=1, le=100, description="Rows per page, 1 to 100.")]
PageCursor = Annotated[str | None, Field(max_length=500, description="The next_cursor of the previous page.")]


def _storage_problem(value) -> str | None:
    """Why a value could not be stored in every supported database, or None if it can."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, str):
            if "\x00" in item:
                return "contains a NUL character"
            try:
                item.encode()
            except UnicodeEncodeError:
                return "contains characters that are not valid Unicode"
        elif isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


class Input(Schema):
    """Request data: unknown fields are refused, and text must be storable in every database."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _check_storable(cls, value):
        problem = _storage_problem(value)
        if problem:
            raise ValueError(f"The value {problem}.")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _check_datetime_range(cls, value):
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                # A time without an offset is read as UTC rather than guessed from the server.
                value = value.replace(tzinfo=dt.UTC)
            try:
                value.astimezone(dt.UTC)
            except OverflowError:
                raise ValueError("The date and time is out of range.") from None
        return value


def _drop_default(schema: dict) -> None:
    schema.pop("default", None)


def patch_schema(schema: type[Input]) -> type[Input]:
    """The same fields, all optional, keeping their types: a PATCH sends only what it changes.

    Read the sent fields with `model_dump(exclude_unset=True)`; null stays refused where the
    field itself cannot be null.
    """
    fields = {}
    for name, info in schema.model_fields.items():
        optional = FieldInfo.merge_field_infos(info, default=None, json_schema_extra=_drop_default)
        optional.default_factory = None
        fields[name] = (info.annotation, optional)
    return create_model(f"{schema.__name__}Patch", __base__=schema, **fields)


def get_or_404(queryset: QuerySet, pk: int, label: str) -> Model:
    """The record with this id, or a 404 that names it."""
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404(f"{label} {pk} not found") from None


def reference(queryset: QuerySet, pk: int | None, *, field: str, label: str) -> Model | None:
    """The record an input field points to; an unknown id is a validation error of that field."""
    if pk is None:
        return None
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise ValidationError({field: f"There is no {label} with id {pk}."}) from None


def owner_reference(pk: int | None, *, field: str = "owner") -> User | None:
    """The active user an owner field points to."""
    return reference(User.objects.filter(is_active=True), pk, field=field, label="active user")


def references(data: dict, lookups: dict) -> dict:
    """Replace the ids in `data` named by `lookups` ({field: resolver}) with their records."""
    for field, resolve in lookups.items():
        if field in data:
            data[field] = resolve(data[field], field=field)
    return data


def owner_filter(request, value: str, *, allows_unowned: bool = True) -> tuple[int | None, bool]:
    """Parse an `owner` filter: a user id, 'me', or 'none' for unowned records."""
    value = value.strip()
    if value == "":
        return None, False
    if value == "me":
        return request.user.pk, False
    if value == "none" and allows_unowned:
        return None, True
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_RECORD_ID:
        return int(value), False
    expected = "a user id, 'me' or 'none'" if allows_unowned else "a user id or 'me'"
    raise ValidationError({"owner": f"'{value[:50]}' is not an owner filter; expected {expected}."})


def acting_as(request):
    """Who a change is made by: the signed-in user, or the user a token acts for, marked as API."""
    token = getattr(request, "api_token", None)
    if token is None:
        return request.user
    label = f"{token.user} via token '{token.name}'"
    return Actor(type=ActorType.API, user=token.user, label=label[:190])


def page_response(page: Page) -> dict:
    return {"items": page.rows, "next_cursor": page.next_cursor}
