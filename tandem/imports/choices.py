"""The allowed values of choice fields, and how other systems' values map onto Tandem's.

Stages and statuses come from the database (the revenue contract owns them); HubSpot's and
Salesforce's standard values are mapped onto the default stages here, and every mapping is
shown in the import preview, where the user can change it.
"""

import re

import pycountry

from tandem.imports.values import CellError, normalise_label

HUBSPOT_LIFECYCLE = {
    "marketingqualifiedlead": "mql",
    "salesqualifiedlead": "sql",
    "salesacceptedlead": "sal",
}
LEAD_STATUS_SYNONYMS = {
    # HubSpot
    "open": "new",
    "inprogress": "connected",
    "attemptedtocontact": "attempting",
    "opendeal": "qualified",
    # Salesforce
    "opennotcontacted": "new",
    "workingcontacted": "attempting",
    "closedconverted": "qualified",
    "closednotconverted": "unqualified",
}
OPPORTUNITY_STAGE_SYNONYMS = {
    # HubSpot's default deal pipeline
    "appointmentscheduled": "discovery",
    "qualifiedtobuy": "qualification",
    "presentationscheduled": "solution",
    "decisionmakerboughtin": "proposal",
    "contractsent": "negotiation",
    "closedwon": "closed_won",
    "closedlost": "closed_lost",
    # Salesforce's default sales process
    "prospecting": "discovery",
    "needsanalysis": "solution",
    "valueproposition": "solution",
    "iddecisionmakers": "proposal",
    "perceptionanalysis": "proposal",
    "proposalpricequote": "proposal",
    "negotiationreview": "negotiation",
    # plain words
    "won": "closed_won",
    "lost": "closed_lost",
}
FORECAST_SYNONYMS = {"bestcase": "best_case", "omitted": "omitted", "closed": "closed", "commit": "commit"}
ROLE_SYNONYMS = {
    "marketer": "marketing",
    "accountexecutive": "ae",
    "salesrep": "ae",
    "salesagent": "ae",
    "salesdevelopmentrep": "sdr",
    "salesdevelopmentrepresentative": "sdr",
    "bdr": "sdr",
    "salesmanager": "sales_manager",
    "marketingmanager": "marketing_manager",
    "admin": "revops",
    "leadership": "leadership",
}


class ChoiceList:
    """The values one choice field accepts: each value's key, by key, name or known synonym."""

    def __init__(self, name: str, options: list[tuple[str, str]], synonyms: dict[str, str] | None = None):
        self.name = name
        self.options = options
        self.lookup: dict[str, str] = {}
        for key, label in options:
            self.lookup[normalise_label(key)] = key
            self.lookup[normalise_label(label)] = key
        keys = {key for key, _ in options}
        for synonym, key in (synonyms or {}).items():
            if key in keys:
                self.lookup.setdefault(synonym, key)

    def key_for(self, text: str) -> str:
        key = self.lookup.get(normalise_label(text))
        if key is None:
            raise CellError(f"'{text}' is not a known {self.name.replace('_', ' ')} (expected one of {self.expected})")
        return key

    def mapped_key(self, text: str) -> str | None:
        return self.lookup.get(normalise_label(text))

    @property
    def expected(self) -> str:
        shown = [label for _, label in self.options[:12]]
        more = len(self.options) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


class CountryList(ChoiceList):
    """ISO 3166 countries by alpha-2 or alpha-3 code or English name."""

    def __init__(self):
        super().__init__("country", [])
        self.cache: dict[str, str] = {}

    def key_for(self, text: str) -> str:
        cached = self.cache.get(text)
        if cached:
            return cached
        try:
            code = pycountry.countries.lookup(text.strip()).alpha_2
        except LookupError:
            raise CellError(f"'{text}' is not a country name or ISO code (e.g. US, DE, Germany)") from None
        self.cache[text] = code
        return code

    def mapped_key(self, text: str) -> str | None:
        try:
            return self.key_for(text)
        except CellError:
            return None

    @property
    def expected(self) -> str:
        return "an ISO 3166 code or English country name"


class CurrencyList(ChoiceList):
    def __init__(self):
        super().__init__("currency", [])

    def key_for(self, text: str) -> str:
        value = text.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", value) or pycountry.currencies.get(alpha_3=value) is None:
            raise CellError(f"'{text}' is not an ISO 4217 currency code (e.g. USD, EUR)")
        return value

    def mapped_key(self, text: str) -> str | None:
        try:
            return self.key_for(text)
        except CellError:
            return None

    @property
    def expected(self) -> str:
        return "an ISO 4217 currency code"


def load_choice_lists() -> dict[str, ChoiceList]:
    """Every choice list, read from the database where the contract keeps them."""
    from tandem.campaigns.models import Channel
    from tandem.crm.models import ForecastCategory, LeadStatus, LifecycleStage, OpportunityStage
    from tandem.engagement.models import TouchpointType
    from tandem.users.models import Role

    stages = list(LifecycleStage.objects.values_list("key", "name"))
    stage_keys = {key for key, _ in stages}
    lifecycle_synonyms = {name: key for name, key in HUBSPOT_LIFECYCLE.items() if key in stage_keys}
    return {
        "lifecycle_stage": ChoiceList("lifecycle stage", stages, lifecycle_synonyms),
        "lead_status": ChoiceList(
            "lead status", list(LeadStatus.objects.values_list("key", "name")), LEAD_STATUS_SYNONYMS
        ),
        "opportunity_stage": ChoiceList(
            "opportunity stage", list(OpportunityStage.objects.values_list("key", "name")), OPPORTUNITY_STAGE_SYNONYMS
        ),
        "forecast_category": ChoiceList("forecast category", list(ForecastCategory.choices), FORECAST_SYNONYMS),
        "touchpoint_type": ChoiceList("touchpoint type", list(TouchpointType.choices)),
        "channel": ChoiceList("channel", list(Channel.choices)),
        "role": ChoiceList("role", list(Role.choices), ROLE_SYNONYMS),
        "country": CountryList(),
        "currency": CurrencyList(),
    }
