"""Records with every exported field set (or left empty), at a fixed time, for exact expectations."""

import csv
import datetime as dt
import io

import time_machine

from tandem.audit.actors import Actor
from tandem.campaigns.services import campaign_create
from tandem.crm.models import Account, Opportunity, Person
from tandem.crm.tests.factories import SYSTEM, make_account, make_opportunity, make_person
from tandem.engagement.models import Touchpoint
from tandem.exports import services
from tandem.scoring.tests.factories import set_scores

CREATED_AT = dt.datetime(2025, 3, 4, 5, 6, 7, 891, tzinfo=dt.UTC)
CREATED_AT_TEXT = "2025-03-04T05:06:07.000891+00:00"
EXPORTER = Actor.system("tests")


def make_records(cast):
    """Two accounts, two people (one without email, account or owner), two opportunities, two touchpoints."""
    with time_machine.travel(CREATED_AT, tick=False):
        account = make_account(
            name="Acme",
            domain="acme.com",
            industry="Software",
            employee_count=250,
            annual_revenue="1234.50",
            country="DE",
            region="EMEA",
            owner=cast.ae,
            icp_tier=1,
            is_target_account=True,
            external_id="ACC-1",
        )
        Account.objects.filter(pk=account.pk).update(custom_fields={"tier": "gold", "seats": 40})
        bare_account = make_account(name='=HYPERLINK("x")', domain="")
        campaign = campaign_create(by=SYSTEM, name="Spring webinar", channel="events")
        pat = make_person(
            email="pat@acme.com",
            stage="mql",
            first_name="Pat",
            last_name="Lee",
            title="CTO",
            phone="+49 30 1234",
            account=account,
            owner=cast.sdr,
            source="Webinar",
            utm_source="linkedin",
            utm_medium="paid_social",
            utm_campaign="spring",
            utm_term="crm",
            utm_content="video",
            buying_role="Champion",
            consent_email=True,
            consent_tracking=False,
            external_id="P-1",
            custom_fields={"persona": "=cmd", "budget": -5, "vip": True},
        )
        Person.objects.filter(pk=pat.pk).update(predictive_score=-3)
        set_scores(pat, fit=72, engagement=41)
        kim = make_person(email="kim@example.org", stage="lead", last_name="-Kim", external_id="P-2")
        Person.objects.filter(pk=kim.pk).update(email=None)
        deal = make_opportunity(
            account,
            name="Acme platform",
            stage="proposal",
            amount="-12.50",
            currency="EUR",
            close_date=dt.date(2025, 6, 30),
            owner=cast.ae,
            primary_person=pat,
            source_campaign=campaign,
            external_id="O-1",
        )
        Opportunity.objects.filter(pk=deal.pk).update(custom_fields={"region": "north"})
        open_deal = make_opportunity(account, name="@renewal", stage="discovery", amount="0")
        Opportunity.objects.filter(pk=open_deal.pk).update(account=None, close_date=None)
        visit = Touchpoint.objects.create(
            person=pat,
            type="page_view",
            channel="paid_social",
            campaign=campaign,
            utm_source="linkedin",
            utm_medium="paid_social",
            utm_campaign="spring",
            url="https://acme.com/pricing",
            referrer="https://www.linkedin.com/",
            occurred_at=CREATED_AT,
            properties={"title": "Pricing", "scroll": 80},
            client_event_id="evt-1",
        )
        anonymous = Touchpoint.objects.create(
            anonymous_id="anon-7", type="form_submit", occurred_at=CREATED_AT, properties={}
        )
    kim.refresh_from_db()
    return {
        "account": account,
        "bare_account": bare_account,
        "campaign": campaign,
        "pat": pat,
        "kim": kim,
        "deal": deal,
        "open_deal": open_deal,
        "visit": visit,
        "anonymous": anonymous,
    }


def export_csv(kind: str, filters, *, by=EXPORTER) -> list[list[str]]:
    """The exported CSV of one list, read back as rows of text (header first)."""
    out = io.BytesIO()
    services.export_write(by=by, kind=kind, filters=filters, file_format="csv", target=out)
    return list(csv.reader(io.StringIO(out.getvalue().decode(), newline="")))
