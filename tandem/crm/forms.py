"""Forms of the shared record: they parse input; services write."""

from django import forms
from django.urls import reverse_lazy

from tandem.campaigns.models import Campaign
from tandem.crm.models import Account, ActivityKind, LifecycleStage, Opportunity, Person
from tandem.lib.record_forms import RecordLookupField, form_class_for

ACCOUNT_FORM_FIELDS = [
    "name",
    "domain",
    "industry",
    "employee_count",
    "annual_revenue",
    "country",
    "region",
    "owner",
    "icp_tier",
    "is_target_account",
]
PERSON_FORM_FIELDS = [
    "email",
    "first_name",
    "last_name",
    "title",
    "phone",
    "account",
    "owner",
    "lead_status",
    "source",
    "buying_role",
    "consent_email",
    "consent_tracking",
]
OPPORTUNITY_FORM_FIELDS = [
    "name",
    "account",
    "primary_person",
    "amount",
    "currency",
    "stage",
    "close_date",
    "owner",
    "forecast_category",
    "lost_reason",
    "source_campaign",
]


def _account_lookup(required=False):
    return RecordLookupField(
        queryset=Account.objects.all(),
        suggest_url=reverse_lazy("crm:account-suggest"),
        list_id="account-suggestions",
        lookup_fields=("name", "domain"),
        required=required,
        label="Account",
        help_text="Type to search by name or domain.",
    )


AccountForm = form_class_for(Account, ACCOUNT_FORM_FIELDS, name="AccountForm")

PersonForm = form_class_for(
    Person,
    PERSON_FORM_FIELDS,
    name="PersonForm",
    extra={
        "account": _account_lookup(),
        "lifecycle_stage": forms.ModelChoiceField(
            queryset=LifecycleStage.objects.all(), initial="lead", label="Lifecycle stage"
        ),
    },
)

OpportunityForm = form_class_for(
    Opportunity,
    OPPORTUNITY_FORM_FIELDS,
    name="OpportunityForm",
    extra={
        "account": _account_lookup(required=True),
        "primary_person": RecordLookupField(
            queryset=Person.objects.all(),
            suggest_url=reverse_lazy("crm:person-suggest"),
            list_id="person-suggestions",
            lookup_fields=("email",),
            required=False,
            label="Primary person",
        ),
        "source_campaign": forms.ModelChoiceField(queryset=Campaign.objects.all(), required=False),
        "close_date": forms.DateField(widget=forms.DateInput(attrs={"type": "date"})),
    },
)


class StageMoveForm(forms.Form):
    """Move a record to one of the stages its current stage allows."""

    to_stage = forms.ModelChoiceField(queryset=LifecycleStage.objects.none(), label="Move to")
    reason = forms.CharField(max_length=500, required=False, label="Reason")

    def __init__(self, *args, allowed_stages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_stage"].queryset = LifecycleStage.objects.filter(pk__in=[stage.pk for stage in allowed_stages])


class ActivityForm(forms.Form):
    """Log a call, email, meeting, note or task."""

    kind = forms.ChoiceField(choices=ActivityKind.choices, initial=ActivityKind.CALL)
    subject = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Notes")
