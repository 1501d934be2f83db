"""The fields a rule may name, built from the models: their kind, choices and allowed range.

A rule names person fields bare or as `person.<field>`, account fields as `account.<field>`, custom
fields as `custom.<key>` / `account.custom.<key>`, and inside a touchpoint aggregate's `where` the
touchpoint's fields and `properties.<key>`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import cache

from django.db import models

TEXT, NUMBER, BOOL, CHOICE, DATE, ANY = "text", "number", "bool", "choice", "date", "any"
PERSON, ACCOUNT, TOUCHPOINT = "person", "account", "touchpoint"

PERSON_FIELDS = [
    "email",
    "first_name",
    "last_name",
    "title",
    "phone",
    "lifecycle_stage",
    "lead_status",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "fit_score",
    "engagement_score",
    "predictive_score",
    "buying_role",
    "consent_email",
    "consent_tracking",
    "stage_entered_at",
    "last_activity_at",
    "created_at",
]
ACCOUNT_FIELDS = [
    "name",
    "domain",
    "industry",
    "employee_count",
    "annual_revenue",
    "country",
    "region",
    "icp_tier",
    "is_target_account",
    "lifecycle_stage",
    "created_at",
]
TOUCHPOINT_FIELDS = [
    "type",
    "channel",
    "campaign",
    "url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
]
SCORE_RANGE = (0, 100)
RANGES = {"fit_score": SCORE_RANGE, "engagement_score": SCORE_RANGE, "predictive_score": SCORE_RANGE}


@dataclass(frozen=True)
class Field:
    """One field a rule can name: where it lives (scope and column) and what values it takes."""

    name: str  # as written in a rule, e.g. "account.industry"
    scope: str  # person, account or touchpoint
    column: str  # the model's attribute name, e.g. "lifecycle_stage_id"; also the key in plain facts
    kind: str  # text, number, bool, choice, date, or any (custom fields and properties)
    choices: tuple[tuple[str, str], ...] = ()  # (key, label) for choice fields
    minimum: float | None = None
    maximum: float | None = None
    is_decimal: bool = False
    json_key: str | None = None  # custom fields and properties: the key inside the JSON column
    related_model: type[models.Model] | None = None  # the touchpoint's campaign: matched on the campaign's name
    related_column: str = ""
    orm_path: str = ""  # where the ORM finds a field kept on a related model (e.g. scores__fit_score)

    @property
    def query_path(self) -> str:
        """The field's path in ORM lookups from its scope's model."""
        return self.orm_path or self.column

    @property
    def choice_keys(self) -> list[str]:
        return [key for key, _ in self.choices]


@dataclass
class Catalogue:
    """Every field rules may name: person and account fields by the name a rule uses, touchpoint fields
    (for an aggregate's `where`) apart, and the touchpoint types an aggregate may count."""

    fields: dict[str, Field] = field(default_factory=dict)
    touchpoint_fields: dict[str, Field] = field(default_factory=dict)
    touchpoint_types: tuple[tuple[str, str], ...] = ()

    def lookup(self, name: str, scope: str = PERSON) -> Field | None:
        return (self.touchpoint_fields if scope == TOUCHPOINT else self.fields).get(name)

    def names(self, scope: str = PERSON) -> list[str]:
        return list(self.touchpoint_fields if scope == TOUCHPOINT else self.fields)

    def suggestions(self, name: str, scope: str = PERSON) -> list[str]:
        """The nearest known names to a misspelt one: the same name under another prefix first."""
        known = [item for item in self.names(scope) if name.startswith("person.") or not item.startswith("person.")]
        last = name.rsplit(".", 1)[-1]
        same_last = [candidate for candidate in known if candidate.rsplit(".", 1)[-1] == last and candidate != name]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        return list(dict.fromkeys(same_last + close))[:3]

    def with_choices(self, name: str, choices: list[tuple[str, str]]) -> Catalogue:
        """A copy in which a choice field takes other values, e.g. the stages of a contract version."""
        fields = dict(self.fields)
        names = [name, "person." + name] if name in PERSON_FIELDS else [name]
        for alias in names:
            fields[alias] = replace(fields[alias], choices=tuple(choices))
        return replace(self, fields=fields)


def _kind_of(model_field: models.Field) -> tuple[str, dict]:
    if model_field.choices:
        return CHOICE, {"choices": tuple((str(key), str(label)) for key, label in model_field.choices)}
    if isinstance(model_field, models.BooleanField):
        return BOOL, {}
    if isinstance(model_field, models.DateTimeField | models.DateField):
        return DATE, {}
    if isinstance(model_field, models.DecimalField):
        return NUMBER, {"is_decimal": True}
    if isinstance(model_field, models.PositiveIntegerField | models.PositiveSmallIntegerField):
        return NUMBER, {"minimum": 0}
    if isinstance(model_field, models.IntegerField):
        return NUMBER, {}
    if isinstance(model_field, models.CharField | models.TextField):
        return TEXT, {}
    raise TypeError(f"{model_field.name}: no rule kind for {model_field.__class__.__name__}")


# Person fields kept on a related model, and the path to them: the rule scores live in tandem.scoring's
# narrow PersonScore table (a rescore rewrites it without touching the person row).
RELATED_PERSON_FIELDS = {"fit_score": "scores", "engagement_score": "scores"}


def _model_fields(model, names: list[str], scope: str, prefix: str, choices: dict) -> dict[str, Field]:
    found = {}
    for name in names:
        relation = RELATED_PERSON_FIELDS.get(name) if scope == PERSON else None
        if relation is not None:
            model_field = model._meta.get_field(relation).related_model._meta.get_field(name)
            kind, extra = _kind_of(model_field)
            minimum, maximum = RANGES.get(name, (None, None))
            found[prefix + name] = Field(
                name=prefix + name,
                scope=scope,
                column=model_field.attname,
                orm_path=f"{relation}__{model_field.attname}",
                kind=kind,
                minimum=minimum,
                maximum=maximum,
                **extra,
            )
            continue
        model_field = model._meta.get_field(name)
        if isinstance(model_field, models.ForeignKey) and name == "campaign":
            kind, extra = TEXT, {"related_model": model_field.related_model, "related_column": "name"}
        elif isinstance(model_field, models.ForeignKey):
            kind, extra = CHOICE, {"choices": choices[name]}
        else:
            kind, extra = _kind_of(model_field)
        minimum, maximum = RANGES.get(name, (None, None)) if scope == PERSON else (None, None)
        minimum = extra.pop("minimum", minimum)
        found[prefix + name] = Field(
            name=prefix + name,
            scope=scope,
            column=model_field.attname,
            kind=kind,
            minimum=minimum,
            maximum=maximum,
            **extra,
        )
    return found


def build_catalogue(*, lifecycle_stages: list[tuple[str, str]], lead_statuses: list[tuple[str, str]]) -> Catalogue:
    """The catalogue for the given stage and lead-status lists (a contract version may change them)."""
    import pycountry

    from tandem.crm.models import Account, Person
    from tandem.engagement.models import Touchpoint, TouchpointType

    choices = {"lifecycle_stage": tuple(lifecycle_stages), "lead_status": tuple(lead_statuses)}
    fields = _model_fields(Person, PERSON_FIELDS, PERSON, "", choices)
    fields |= {"person." + name: replace(item, name="person." + name) for name, item in list(fields.items())}
    fields |= _model_fields(Account, ACCOUNT_FIELDS, ACCOUNT, "account.", choices)
    countries = tuple((country.alpha_2, country.name) for country in pycountry.countries)
    fields["account.country"] = replace(fields["account.country"], kind=CHOICE, choices=countries)
    return Catalogue(
        fields=fields,
        touchpoint_fields=_model_fields(Touchpoint, TOUCHPOINT_FIELDS, TOUCHPOINT, "", choices),
        touchpoint_types=tuple((str(key), str(label)) for key, label in TouchpointType.choices),
    )


@cache
def default_catalogue() -> Catalogue:
    """The catalogue with Tandem's default lifecycle stages and lead statuses."""
    from tandem.crm.defaults import LEAD_STATUSES, LIFECYCLE_STAGES

    return build_catalogue(
        lifecycle_stages=[(key, name) for key, name, *_ in LIFECYCLE_STAGES],
        lead_statuses=list(LEAD_STATUSES),
    )


def catalogue_from_database() -> Catalogue:
    """The catalogue with the stages and lead statuses currently in the database."""
    from tandem.crm.models import LeadStatus, LifecycleStage

    return build_catalogue(
        lifecycle_stages=list(LifecycleStage.objects.values_list("key", "name")),
        lead_statuses=list(LeadStatus.objects.values_list("key", "name")),
    )
