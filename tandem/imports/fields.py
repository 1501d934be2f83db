"""The fields an import can fill for each kind of record, and the column names that map to them.

Column names are compared reduced (`normalise_label`: 'First Name', 'FirstName' and 'first_name'
all read 'firstname'), so one alias covers the exports of HubSpot, Salesforce and Tandem itself.
"""

from dataclasses import dataclass

from tandem.imports.values import normalise_label

KINDS = ("accounts", "people", "opportunities", "touchpoints", "users")
CUSTOM_PREFIX = "custom."
# Columns that Tandem writes into its own error reports; importing a corrected report skips them.
REPORT_COLUMNS = ("tandem_error_line", "tandem_error")


@dataclass(frozen=True)
class TargetField:
    """One field an import column can fill."""

    name: str
    label: str
    type: str  # text, email, domain, integer, decimal, money, boolean, date, datetime, choice, user, json
    max_length: int | None = None
    aliases: tuple[str, ...] = ()
    hubspot: tuple[str, ...] = ()
    salesforce: tuple[str, ...] = ()
    choices: str = ""  # which list of values a choice field takes (see tandem.imports.choices)
    help: str = ""


def _f(name, label, type_, max_length=None, aliases=(), hubspot=(), salesforce=(), choices="", help=""):
    return TargetField(name, label, type_, max_length, tuple(aliases), tuple(hubspot), tuple(salesforce), choices, help)


ACCOUNT_FIELDS = [
    _f(
        "external_id",
        "External id",
        "text",
        100,
        ["externalid", "accountexternalid"],
        ["Record ID", "Company ID"],
        ["Id", "Account ID"],
    ),
    _f(
        "name",
        "Name",
        "text",
        200,
        ["name", "accountname", "account", "company", "companyname", "organization", "organisation"],
        ["Company name", "Name"],
        ["Name", "Account Name"],
    ),
    _f(
        "domain",
        "Domain",
        "domain",
        253,
        ["domain", "website", "companydomain", "url"],
        ["Company Domain Name", "Website URL"],
        ["Website"],
    ),
    _f("industry", "Industry", "text", 100, ["industry", "sector", "vertical"], ["Industry"], ["Industry"]),
    _f(
        "employee_count",
        "Employees",
        "integer",
        None,
        ["employees", "employeecount", "numberofemployees", "headcount"],
        ["Number of Employees"],
        ["NumberOfEmployees"],
    ),
    _f(
        "annual_revenue",
        "Annual revenue",
        "decimal",
        None,
        ["annualrevenue", "revenue"],
        ["Annual Revenue"],
        ["AnnualRevenue"],
    ),
    _f(
        "country",
        "Country",
        "choice",
        None,
        ["country", "countrycode", "billingcountry", "countryregion"],
        ["Country/Region"],
        ["BillingCountry"],
        choices="country",
    ),
    _f("region", "Region", "text", 50, ["region", "salesregion", "territory"], [], []),
    _f(
        "owner",
        "Owner",
        "user",
        None,
        ["owner", "owneremail", "accountowner", "companyowner"],
        ["Company owner"],
        ["OwnerId", "Account Owner"],
    ),
    _f("icp_tier", "ICP tier", "integer", None, ["icptier", "tier"], [], []),
    _f(
        "is_target_account",
        "Target account",
        "boolean",
        None,
        ["istargetaccount", "targetaccount"],
        ["Target Account"],
        [],
    ),
    _f(
        "lifecycle_stage",
        "Lifecycle stage",
        "choice",
        None,
        ["lifecyclestage"],
        ["Lifecycle Stage"],
        [],
        choices="lifecycle_stage",
    ),
    _f(
        "created_at",
        "Created",
        "datetime",
        None,
        ["createdat", "createdate", "createddate", "created"],
        ["Create Date"],
        ["CreatedDate"],
    ),
]

PERSON_FIELDS = [
    _f(
        "external_id",
        "External id",
        "text",
        100,
        ["externalid", "prospectid", "contactid", "leadid", "personid"],
        ["Record ID", "Contact ID"],
        ["Id", "Lead ID", "Contact ID"],
    ),
    _f("email", "Email", "email", 254, ["email", "emailaddress", "workemail", "e-mail"], ["Email"], ["Email"]),
    _f("first_name", "First name", "text", 100, ["firstname", "givenname", "forename"], ["First Name"], ["FirstName"]),
    _f("last_name", "Last name", "text", 100, ["lastname", "surname", "familyname"], ["Last Name"], ["LastName"]),
    _f("title", "Title", "text", 150, ["title", "jobtitle", "position"], ["Job Title"], ["Title"]),
    _f(
        "phone",
        "Phone",
        "text",
        50,
        ["phone", "phonenumber", "telephone", "mobile", "mobilephone"],
        ["Phone Number", "Mobile Phone Number"],
        ["Phone", "MobilePhone"],
    ),
    _f(
        "account_external_id",
        "Account external id",
        "text",
        100,
        ["accountexternalid", "accountid", "associatedcompanyid", "companyid"],
        ["Associated Company ID"],
        ["AccountId"],
    ),
    _f(
        "account_domain",
        "Account domain",
        "domain",
        253,
        ["accountdomain", "companydomain", "companydomainname", "website", "domain"],
        ["Company Domain Name", "Website URL"],
        ["Website"],
    ),
    _f(
        "account_name",
        "Account name",
        "text",
        200,
        ["accountname", "account", "company", "companyname", "organization", "organisation", "associatedcompany"],
        ["Company Name", "Associated Company"],
        ["Company", "Account Name"],
    ),
    _f(
        "lifecycle_stage",
        "Lifecycle stage",
        "choice",
        None,
        ["lifecyclestage", "stage"],
        ["Lifecycle Stage"],
        [],
        choices="lifecycle_stage",
    ),
    _f(
        "lead_status",
        "Lead status",
        "choice",
        None,
        ["leadstatus", "status"],
        ["Lead Status"],
        ["Status"],
        choices="lead_status",
    ),
    _f(
        "owner",
        "Owner",
        "user",
        None,
        ["owner", "owneremail", "contactowner", "leadowner"],
        ["Contact owner", "HubSpot Owner"],
        ["OwnerId", "Lead Owner", "Contact Owner"],
    ),
    _f(
        "source",
        "Source",
        "text",
        100,
        ["source", "leadsource", "originalsource", "originalsourcetype"],
        ["Original Source"],
        ["LeadSource"],
    ),
    _f("utm_source", "UTM source", "text", 200, ["utmsource"], [], []),
    _f("utm_medium", "UTM medium", "text", 200, ["utmmedium"], [], []),
    _f("utm_campaign", "UTM campaign", "text", 200, ["utmcampaign"], [], []),
    _f("utm_term", "UTM term", "text", 200, ["utmterm"], [], []),
    _f("utm_content", "UTM content", "text", 200, ["utmcontent"], [], []),
    _f("fit_score", "Fit score", "integer", None, ["fitscore"], [], []),
    _f("engagement_score", "Engagement score", "integer", None, ["engagementscore"], [], []),
    _f("predictive_score", "Predictive score", "integer", None, ["predictivescore"], [], []),
    _f("buying_role", "Buying role", "text", 50, ["buyingrole", "role"], ["Buying Role"], []),
    _f("consent_email", "Email consent", "boolean", None, ["consentemail", "emailconsent", "emailoptin"], [], []),
    _f(
        "email_opt_out",
        "Email opt-out (sets email consent to its opposite)",
        "boolean",
        None,
        ["donotemail", "emailoptout", "hasoptedoutofemail", "unsubscribedfromallemail"],
        ["Unsubscribed from all email"],
        ["HasOptedOutOfEmail"],
    ),
    _f("consent_tracking", "Tracking consent", "boolean", None, ["consenttracking", "trackingconsent"], [], []),
    _f(
        "created_at",
        "Created",
        "datetime",
        None,
        ["createdat", "createdate", "createddate", "created"],
        ["Create Date"],
        ["CreatedDate"],
    ),
]

OPPORTUNITY_FIELDS = [
    _f(
        "external_id",
        "External id",
        "text",
        100,
        ["externalid", "opportunityid", "dealid"],
        ["Record ID", "Deal ID"],
        ["Id", "Opportunity ID"],
    ),
    _f(
        "name",
        "Name",
        "text",
        200,
        ["name", "dealname", "opportunityname", "opportunity"],
        ["Deal Name"],
        ["Name", "Opportunity Name"],
    ),
    _f(
        "account_external_id",
        "Account external id",
        "text",
        100,
        ["accountexternalid", "accountid", "associatedcompanyid", "companyid"],
        ["Associated Company ID"],
        ["AccountId"],
    ),
    _f(
        "account_domain",
        "Account domain",
        "domain",
        253,
        ["accountdomain", "companydomain", "companydomainname"],
        [],
        [],
    ),
    _f(
        "account_name",
        "Account name",
        "text",
        200,
        ["accountname", "account", "company", "companyname", "associatedcompany"],
        ["Associated Company"],
        ["Account Name"],
    ),
    _f(
        "primary_person_email",
        "Primary person's email",
        "email",
        254,
        ["primarypersonemail", "contactemail", "primarycontactemail"],
        [],
        [],
    ),
    _f(
        "amount",
        "Amount",
        "money",
        None,
        ["amount", "value", "dealamount", "closevalue", "dealvalue"],
        ["Amount"],
        ["Amount"],
    ),
    _f(
        "currency",
        "Currency",
        "choice",
        None,
        ["currency", "currencycode", "currencyisocode", "dealcurrencycode"],
        ["Currency"],
        ["CurrencyIsoCode"],
        choices="currency",
    ),
    _f(
        "stage",
        "Stage",
        "choice",
        None,
        ["stage", "dealstage", "stagename", "opportunitystage"],
        ["Deal Stage"],
        ["StageName"],
        choices="opportunity_stage",
    ),
    _f(
        "probability",
        "Probability %",
        "integer",
        None,
        ["probability", "dealprobability"],
        ["Deal probability"],
        ["Probability"],
    ),
    _f(
        "forecast_category",
        "Forecast category",
        "choice",
        None,
        ["forecastcategory", "forecastcategoryname"],
        ["Forecast category"],
        ["ForecastCategoryName"],
        choices="forecast_category",
    ),
    _f("close_date", "Close date", "date", None, ["closedate", "expectedclosedate"], ["Close Date"], ["CloseDate"]),
    _f(
        "owner",
        "Owner",
        "user",
        None,
        ["owner", "owneremail", "dealowner", "opportunityowner", "salesagent", "salesrep"],
        ["Deal owner"],
        ["OwnerId", "Opportunity Owner"],
    ),
    _f(
        "lost_reason",
        "Lost reason",
        "text",
        200,
        ["lostreason", "closedlostreason", "lossreason"],
        ["Closed Lost Reason"],
        ["Loss_Reason__c"],
    ),
    _f(
        "source_campaign",
        "Source campaign",
        "text",
        200,
        ["sourcecampaign", "campaign", "primarycampaignsource"],
        [],
        ["Primary Campaign Source"],
    ),
    _f(
        "created_at",
        "Created",
        "datetime",
        None,
        ["createdat", "createdate", "createddate", "created"],
        ["Create Date"],
        ["CreatedDate"],
    ),
]

TOUCHPOINT_FIELDS = [
    _f("client_event_id", "Event id", "text", 100, ["clienteventid", "eventid", "touchpointid"], [], []),
    _f("person_email", "Person's email", "email", 254, ["personemail", "email", "contactemail"], ["Email"], ["Email"]),
    _f("person_external_id", "Person's external id", "text", 100, ["personexternalid", "contactid", "leadid"], [], []),
    _f("anonymous_id", "Anonymous visitor id", "text", 100, ["anonymousid", "visitorid"], [], []),
    _f(
        "type",
        "Type",
        "choice",
        None,
        ["type", "touchpointtype", "eventtype", "activitytype"],
        [],
        [],
        choices="touchpoint_type",
    ),
    _f("channel", "Channel", "choice", None, ["channel"], [], [], choices="channel"),
    _f("campaign", "Campaign", "text", 200, ["campaign", "campaignname"], [], []),
    _f("utm_source", "UTM source", "text", 200, ["utmsource"], [], []),
    _f("utm_medium", "UTM medium", "text", 200, ["utmmedium"], [], []),
    _f("utm_campaign", "UTM campaign", "text", 200, ["utmcampaign"], [], []),
    _f("utm_term", "UTM term", "text", 200, ["utmterm"], [], []),
    _f("utm_content", "UTM content", "text", 200, ["utmcontent"], [], []),
    _f("url", "URL", "text", 2000, ["url", "pageurl", "page"], [], []),
    _f("referrer", "Referrer", "text", 2000, ["referrer", "referer"], [], []),
    _f(
        "occurred_at",
        "Occurred at",
        "datetime",
        None,
        ["occurredat", "timestamp", "date", "time", "activitydate"],
        [],
        [],
    ),
    _f("properties", "Properties (JSON)", "json", None, ["properties"], [], []),
]

USER_FIELDS = [
    _f("email", "Email", "email", 254, ["email", "emailaddress"], ["Email"], ["Email"]),
    _f("full_name", "Name", "text", 150, ["fullname", "name", "salesagent", "agent", "username"], ["Name"], ["Name"]),
    _f("role", "Role", "choice", None, ["role"], [], [], choices="role"),
    _f("team", "Team", "text", 100, ["team", "teamname", "regionaloffice", "office"], [], []),
    _f("team_manager", "Team manager (name or email)", "text", 150, ["manager", "teammanager"], [], ["Manager"]),
]

FIELDS = {
    "accounts": ACCOUNT_FIELDS,
    "people": PERSON_FIELDS,
    "opportunities": OPPORTUNITY_FIELDS,
    "touchpoints": TOUCHPOINT_FIELDS,
    "users": USER_FIELDS,
}
FIELDS_BY_NAME = {kind: {field.name: field for field in fields} for kind, fields in FIELDS.items()}

# Which fields identify a record of each kind, in the order they are tried.
KEYS = {
    "accounts": ("external_id", "domain", "name"),
    "people": ("external_id", "email"),
    "opportunities": ("external_id",),
    "touchpoints": ("client_event_id",),
    "users": ("email",),
}


def field_for_header(kind: str, header: str, preset: str = "auto") -> str | None:
    """The field a column of this name fills under a preset ('auto', 'hubspot', 'salesforce'), if any."""
    normalised = normalise_label(header)
    if header.strip().lower().startswith(CUSTOM_PREFIX):
        return CUSTOM_PREFIX + header.strip()[len(CUSTOM_PREFIX) :]
    fields = FIELDS[kind]
    if preset in ("hubspot", "salesforce"):
        for target in fields:
            names = target.hubspot if preset == "hubspot" else target.salesforce
            if normalised in {normalise_label(name) for name in names}:
                return target.name
    for target in fields:
        if normalised == normalise_label(target.name) or normalised in target.aliases:
            return target.name
    if normalised == "id":
        # Under `auto` a bare "id" is Tandem's own record id (its exports start with it), which
        # means nothing in another database; `--mapping salesforce` reads Salesforce's Id.
        return None
    for target in fields:
        if normalised in {normalise_label(name) for name in (*target.hubspot, *target.salesforce)}:
            return target.name
    return None
