from django import forms

from tandem.clv import services
from tandem.clv.models import TimeUnit


class RefitForm(forms.Form):
    """The choices of a refit: time unit of the summaries and the prediction horizon."""

    unit = forms.ChoiceField(choices=TimeUnit.choices, initial=TimeUnit.WEEKS)
    horizon_months = forms.IntegerField(
        min_value=1, max_value=services.MAX_HORIZON_MONTHS, initial=services.DEFAULT_HORIZON_MONTHS
    )
