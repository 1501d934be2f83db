"""`{% score_ledger_panel person %}`: the ledger panel of the person record page."""

from django import template

from tandem.scoring import selectors

register = template.Library()
PANEL_LINES = 50


@register.inclusion_tag("scoring/_ledger_panel.html")
def score_ledger_panel(person):
    ledger = selectors.person_score_ledger(person_id=person.pk)
    return {
        "person": person,
        "ledger": ledger,
        "lines": ledger.lines[:PANEL_LINES],
        "more": len(ledger.lines) > PANEL_LINES,
    }
