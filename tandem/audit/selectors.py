"""Reads of the audit log."""

from django.db import models

from tandem.audit.models import AuditEntry


def audit_entries_for(instance: models.Model, *, limit: int = 200):
    """The newest audit entries of one record."""
    return AuditEntry.objects.filter(entity_type=instance._meta.label_lower, entity_id=instance.pk).select_related(
        "actor"
    )[:limit]
