from django import forms


class RevenueTargetForm(forms.Form):
    """The shared revenue target for a range of days."""

    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive.")
    amount = forms.DecimalField(max_digits=16, decimal_places=2, min_value=0)
    currency = forms.CharField(max_length=3, initial="USD")
