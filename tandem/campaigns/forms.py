"""Forms of campaigns."""

from django import forms

from tandem.campaigns.models import Campaign
from tandem.lib.record_forms import form_class_for

CAMPAIGN_FORM_FIELDS = ["name", "channel", "type", "cost", "start_date", "end_date", "owner", "goal", "utm_campaign"]

CampaignForm = form_class_for(
    Campaign,
    CAMPAIGN_FORM_FIELDS,
    name="CampaignForm",
    extra={
        "start_date": forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"})),
        "end_date": forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"})),
    },
)
