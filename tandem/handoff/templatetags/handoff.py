"""`{% handoff_panel person %}`: the hand-off panel of the person record page, with accept and reject."""

from django import template

from tandem.handoff import permissions, selectors, services

register = template.Library()


@register.inclusion_tag("handoff/_panel.html", takes_context=True)
def handoff_panel(context, person):
    request = context.get("request")
    user = getattr(request, "user", None)
    handoffs = selectors.person_handoffs(person.pk)
    current = handoffs[0] if handoffs else None
    can_decide = bool(current and current.is_open and user and permissions.can_decide_handoff(user, current))
    return {
        "person": person,
        "handoff": current,
        "earlier": handoffs[1:],
        "can_decide": can_decide,
        "reasons": services.rejection_reasons() if can_decide else {},
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path() if request else "",
    }
