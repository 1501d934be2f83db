"""Writes to the audit log, and the helpers services use to describe a change."""

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable

from django.db import models
from django.utils import timezone

from tandem.audit.actors import as_actor
from tandem.audit.models import AuditEntry


def _plain(value):
    """Turn a field value into something JSON can hold and a person can read."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict:
    """The current values of the named fields, foreign keys by their id."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        attribute = field.attname if isinstance(field, models.ForeignKey) else name
        values[name] = _plain(getattr(instance, attribute))
    return values


def audit_record(*, by, action: str, instance: models.Model, before=None, after=None, summary=""):
    """Write one audit entry for a change of `instance`."""
    actor = as_actor(by)
    return AuditEntry.objects.create(
        at=timezone.now(),
        actor=actor.user if actor.user is not None and actor.user.pk else None,
        actor_label=actor.display,
        action=action,
        entity_type=instance._meta.label_lower,
        entity_id=instance.pk,
        summary=summary[:300],
        before=before,
        after=after,
    )


def apply_changes(instance: models.Model, changes: dict, allowed: Iterable[str]) -> tuple[dict, dict]:
    """Set the allowed fields on `instance`; return (before, after) of the fields that changed.

    Unknown field names are refused rather than ignored so that no input is lost silently.
    """
    allowed = set(allowed)
    unknown = sorted(set(changes) - allowed)
    if unknown:
        from django.core.exceptions import ValidationError

        raise ValidationError(dict.fromkeys(unknown, "This field cannot be changed here."))
    before = snapshot(instance, changes.keys())
    for name, value in changes.items():
        field = instance._meta.get_field(name)
        if isinstance(field, models.ForeignKey) and not isinstance(value, models.Model | None):
            setattr(instance, field.attname, value)
        else:
            setattr(instance, name, value)
    after = snapshot(instance, changes.keys())
    changed = [name for name in changes if before[name] != after[name]]
    return {n: before[n] for n in changed}, {n: after[n] for n in changed}


def audit_record_many(*, by, action: str, changes: Iterable[tuple[models.Model, dict | None, dict | None, str]]):
    """Write one audit entry per (instance, before, after, summary) in a single insert, all by `by`."""
    actor = as_actor(by)
    at = timezone.now()
    user = actor.user if actor.user is not None and actor.user.pk else None
    return AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                at=at,
                actor=user,
                actor_label=actor.display,
                action=action,
                entity_type=instance._meta.label_lower,
                entity_id=instance.pk,
                summary=summary[:300],
                before=before,
                after=after,
            )
            for instance, before, after, summary in changes
        ],
        batch_size=1000,
    )


def audit_record_rows(*, by, action: str, entity_type: str, rows: Iterable[tuple[int, dict | None, dict | None, str]]):
    """Write one audit entry per (entity id, before, after, summary) of one model, by COPY on PostgreSQL.

    For services that change thousands of records at once and hold their ids, not their instances.
    """
    from tandem.lib.bulk_insert import BulkInserter

    actor = as_actor(by)
    at = timezone.now()
    user_id = actor.user.pk if actor.user is not None and actor.user.pk else None
    label = actor.display[:200]
    BulkInserter().write(
        AuditEntry,
        [
            {
                "at": at,
                "actor_id": user_id,
                "actor_label": label,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "summary": summary[:300],
                "before": before,
                "after": after,
            }
            for entity_id, before, after, summary in rows
        ],
    )
