"""`{% sla_countdown handoff %}`: the SLA countdown badge of a hand-off, for lists and the person record."""

from django import template
from django.utils import timezone

from tandem.sla.selectors import handoff_countdown

register = template.Library()


@register.inclusion_tag("sla/_countdown.html")
def sla_countdown(handoff):
    """Time left to the due time (refreshed every minute while running), or met / breached."""
    return {"handoff": handoff, "countdown": handoff_countdown(handoff, now=timezone.now())}
