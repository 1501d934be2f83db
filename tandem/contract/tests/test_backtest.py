"""What-if backtest: the same history replayed under the version in force and a stricter proposal."""

import datetime as dt

import pytest
import time_machine

from tandem.contract import services
from tandem.contract.backtest import contract_backtest, month_bars
from tandem.contract.document import default_source
from tandem.crm.services import lifecycle_transition
from tandem.crm.tests.factories import SYSTEM, make_account, make_person
from tandem.engagement.models import Touchpoint

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
STRICTER = default_source().replace("engagement_score_at_least: 40", "engagement_score_at_least: 50")


def _touch(person, kind: str, days_ago: int) -> None:
    Touchpoint.objects.create(person=person, type=kind, occurred_at=NOW - dt.timedelta(days=days_ago))


@pytest.fixture
def history(cast):
    """Two well-fitting leads: Ada engaged strongly and became a customer; Bob less so and was recycled."""
    with time_machine.travel(NOW - dt.timedelta(days=200), tick=False):
        account = make_account(industry="Software", employee_count=500, region="North America")
        ada = make_person(email="ada@acme.com", account=account, title="VP Marketing")
        bob = make_person(email="bob@acme.com", account=account, title="Head of Growth")
        make_person(email="cy@acme.com", account=account, title="Intern")  # fit too low: 65, no title points
    # Ada: demo request and meeting 100 days ago -> 70 points; Bob: demo request and webinar 90 days ago -> 45.
    _touch(ada, "form_submit", 100)
    _touch(ada, "meeting_booked", 100)
    _touch(bob, "form_submit", 90)
    _touch(bob, "webinar", 90)
    with time_machine.travel(NOW - dt.timedelta(days=80), tick=False):
        lifecycle_transition(person=ada, to_stage="sql", by=SYSTEM, reason="qualified on a call")
        lifecycle_transition(person=bob, to_stage="mql", by=SYSTEM, reason="score")
    with time_machine.travel(NOW - dt.timedelta(days=75), tick=False):
        lifecycle_transition(person=bob, to_stage="recycled", by=SYSTEM, reason="Bad timing")
    with time_machine.travel(NOW - dt.timedelta(days=20), tick=False):
        lifecycle_transition(person=ada, to_stage="customer", by=SYSTEM, reason="closed won")
    return {"ada": ada, "bob": bob}


def test_the_stricter_proposal_would_have_passed_fewer_leads(history, cast):
    current = services.contract_get().active_version
    proposal = services.contract_draft_create(by=cast.marketer, source=STRICTER, summary="Raise the bar")
    result = contract_backtest(proposed=proposal, current=current, months=12, end=NOW)
    assert (result.current.mqls, result.proposed.mqls) == (2, 1)
    assert result.current.reached == {"sql": 1, "customer": 1}
    assert result.proposed.reached == {"sql": 1, "customer": 1}
    assert (result.current.rejected, result.proposed.rejected) == (1, 0)
    assert result.current.reasons == [("Bad timing", 1)]
    assert (result.people, result.touchpoints) == (3, 4)
    assert sum(result.current.by_month.values()) == 2
    rows = {label: (current, proposed) for label, current, proposed in result.rows}
    assert rows["Would have become MQL"] == (2, 1)
    bars = month_bars(result)
    assert max(bar["value"] for bar in bars["bars"]) == 1


def test_a_version_with_problems_cannot_be_backtested(cast):
    current = services.contract_get().active_version
    broken = services.contract_draft_create(by=cast.marketer, source="mql: {}", summary="x")
    with pytest.raises(ValueError, match="has problems"):
        contract_backtest(proposed=broken, current=current)


def test_the_proposal_page_loads_the_backtest_panel(history, client, cast):
    proposal = services.contract_draft_create(by=cast.marketer, source=STRICTER, summary="Raise the bar")
    services.contract_propose(by=cast.marketer, version=proposal)
    client.force_login(cast.sales_manager)
    page = client.get(f"/contract/versions/{proposal.number}/").content.decode()
    assert f"/contract/versions/{proposal.number}/backtest/" in page
    with time_machine.travel(NOW, tick=False):
        panel = client.get(f"/contract/versions/{proposal.number}/backtest/?months=12").content.decode()
    assert "Would have become MQL" in panel and "<svg" in panel
