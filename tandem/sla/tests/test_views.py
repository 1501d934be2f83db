"""The SLA pages: compliance report, breach log, and the countdown in lists and on the person record."""

import pytest
import time_machine
from django.urls import reverse

from tandem.handoff.models import Handoff, SlaStatus
from tandem.sla.selectors import months_with_handoffs
from tandem.sla.services import handoff_sla_start, sla_rollup_refresh, sla_sweep
from tandem.sla.tests.support import make_handoff, new_york

pytestmark = pytest.mark.django_db


def _started(cast, **fields) -> Handoff:
    handoff = make_handoff(assignee=cast.sdr, at=new_york(2026, 3, 13, 16, 30), **fields)
    handoff_sla_start(handoff=handoff)
    handoff.refresh_from_db()
    return handoff


def test_the_countdown_shows_on_my_hand_offs_and_the_person_record(client, cast):
    handoff = _started(cast)
    client.force_login(cast.sdr)
    with time_machine.travel(new_york(2026, 3, 16, 9, 0), tick=False):
        mine = client.get(reverse("handoff:mine"))
        record = client.get(reverse("crm:person-detail", args=[handoff.person_id]))
        partial = client.get(reverse("sla:countdown", args=[handoff.pk]))
    for response in (mine, record, partial):
        assert response.status_code == 200
        html = response.content.decode()
        assert f'id="sla-countdown-{handoff.pk}"' in html
        assert "Due in 30 min" in html
        assert 'hx-trigger="every 60s"' in html


def test_the_countdown_turns_to_breached_then_met_shows_the_response_time(client, cast):
    handoff = _started(cast)
    client.force_login(cast.sdr)
    with time_machine.travel(new_york(2026, 3, 16, 11, 45), tick=False):
        sla_sweep()
        html = client.get(reverse("sla:countdown", args=[handoff.pk])).content.decode()
    assert "Breached · overdue by 2 h 15 min" in html
    assert "hx-trigger" not in html
    Handoff.objects.filter(pk=handoff.pk).update(sla_status=SlaStatus.MET, response_business_minutes=42.0)
    html = client.get(reverse("sla:countdown", args=[handoff.pk])).content.decode()
    assert "Met · answered in 42 business min" in html


def test_the_countdown_of_an_unknown_hand_off_is_404(client, cast):
    client.force_login(cast.sdr)
    assert client.get(reverse("sla:countdown", args=[999999])).status_code == 404


def test_the_report_page_shows_compliance_by_rep(client, cast):
    _started(cast)
    _started(cast, email="kim@beta.com", icp_tier=2)
    sla_sweep(now=new_york(2026, 3, 16, 12, 31))  # both breached
    sla_rollup_refresh(months=months_with_handoffs())
    client.force_login(cast.sales_manager)
    response = client.get(
        reverse("sla:report"), {"group": "rep", "period": "month", "from": "2026-01", "to": "2026-12"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<td>2026-03</td><td>Sam SDR</td><td class="num">2</td><td class="num">0</td><td class="num">2</td>' in html
    assert "0.0%" in html


def test_the_report_names_a_bad_filter(client, cast):
    client.force_login(cast.sales_manager)
    html = client.get(reverse("sla:report"), {"group": "campaign", "from": "March"}).content.decode()
    assert "group: expected one of rep, team, segment, policy." in html
    assert "from: expected a month as YYYY-MM, got &#x27;March&#x27;." in html


def test_reps_cannot_see_the_report_but_see_their_own_breaches(client, cast):
    handoff = _started(cast)
    other = make_handoff(assignee=cast.ae, at=new_york(2026, 3, 13, 16, 30), email="zed@gamma.com")
    handoff_sla_start(handoff=other)
    sla_sweep(now=new_york(2026, 3, 16, 9, 31))
    client.force_login(cast.sdr)
    assert client.get(reverse("sla:report")).status_code == 403
    html = client.get(reverse("sla:breaches")).content.decode()
    assert str(handoff.person) in html
    assert "zed@gamma.com" not in html
    client.force_login(cast.sales_manager)
    html = client.get(reverse("sla:breaches")).content.decode()
    assert str(handoff.person) in html and "zed@gamma.com" in html
    assert html.count("<td>Stan Manager</td>") == 2


def test_the_breach_log_escapes_names(client, cast):
    cast.sdr.full_name = "<script>alert(1)</script>"
    cast.sdr.save()
    _started(cast)
    sla_sweep(now=new_york(2026, 3, 16, 9, 31))
    client.force_login(cast.sales_manager)
    html = client.get(reverse("sla:breaches")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for name in ("sla:report", "sla:breaches"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert "login" in response["Location"]


def test_the_record_shows_the_attempts_rule(client, cast):
    from tandem.crm.services import activity_create

    handoff = _started(cast)  # Friday 16:30 New York; three attempts within two business days
    with time_machine.travel(new_york(2026, 3, 16, 9, 5), tick=False):
        activity_create(by=cast.sdr, kind="call", subject="Voicemail", person=handoff.person)
        activity_create(by=cast.ae, kind="call", subject="Not the assignee", person=handoff.person)
        activity_create(by=cast.sdr, kind="note", subject="Not an attempt", person=handoff.person)
    client.force_login(cast.sdr)
    with time_machine.travel(new_york(2026, 3, 17, 12, 0), tick=False):
        html = client.get(reverse("crm:person-detail", args=[handoff.person_id])).content.decode()
    assert "Contact attempts: 1 of 3 by 2026-03-17" in html
    with time_machine.travel(new_york(2026, 3, 17, 16, 31), tick=False):
        html = client.get(reverse("crm:person-detail", args=[handoff.person_id])).content.decode()
    assert "Contact attempts: 1 of 3 by" in html and "· overdue" in html
