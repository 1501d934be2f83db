"""`{% sla_countdown handoff %}`: the SLA countdown badge of a hand-off, for lists and the person record."""

from django import template
from django.utils import timezone

from tandem.sla.selectors import handoff_attempts, handoff_countdown

register = template.Library()


@register.inclusion_tag("sla/_countdown.html")
def sla_countdown(handoff):
    """Time left to the due time (refreshed every minute while running), or met / breached."""
    return {"handoff": handoff, "countdown": handoff_countdown(handoff, now=timezone.now())}


@register.inclusion_tag("sla/_attempts.html")
def sla_attempts(handoff):
    """The attempts rule on one hand-off (the record page; one query, so not for lists)."""
    progress = handoff_attempts(handoff)
    return {"progress": progress, "is_overdue": bool(progress and progress.is_overdue(timezone.now()))}
