"""`{% clv_panel person %}` / `{% clv_panel account %}`: the lifetime-value panel of a record page."""

from django import template

from tandem.clv import selectors
from tandem.crm.models import Account

register = template.Library()


@register.inclusion_tag("clv/_panel.html")
def clv_panel(record):
    if isinstance(record, Account):
        value = selectors.account_value(account_id=record.pk)
        history = selectors.historical_value(account_id=record.pk)
    else:
        value = selectors.person_value(person_id=record.pk)
        history = selectors.historical_value(person_id=record.pk)
    return {"value": value, "history": history, "fit": value.fit if value else None}
