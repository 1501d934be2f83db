"""The ledger panel on the person record page and the ledger CSV download."""

import csv
import io

import time_machine
from django.urls import reverse

from tandem.audit.models import AuditEntry
from tandem.contract.services import contract_get
from tandem.crm.tests.factories import make_person
from tandem.scoring import services
from tandem.scoring.tests.factories import AS_OF, make_touchpoint, rules_of

RULES = [
    {"name": "=HYPERLINK(1)", "touchpoint": "form_submit", "points": 25},
    {"name": "Careers <b>page</b>", "touchpoint": "page_view", "url": "*/careers*", "points": -10},
]


def scored_person():
    """A person scored under RULES, which are the engagement section of the contract in force (v1)."""
    version = contract_get().active_version
    version.document = {**version.document, "engagement": {"decay": {"half_life_days": 30}, "rules": RULES}}
    version.save(update_fields=["document"])
    person = make_person(email="pat@acme.com")
    make_touchpoint(person, "form_submit", 30)
    make_touchpoint(person, "form_submit", 1)
    make_touchpoint(person, "page_view", 2, url="https://acme.com/careers")
    rules = rules_of(*RULES, decay={"half_life_days": 30})
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=version.number)
    return person


def test_record_page_shows_the_ledger_and_its_total(client, cast):
    person = scored_person()
    client.force_login(cast.sdr)
    with time_machine.travel(AS_OF, tick=False):
        response = client.get(reverse("crm:person-detail", args=[person.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    # 25 * 0.5 + 25 * 0.5 ** (1 / 30) - 10 * 0.5 ** (2 / 30) = 27.38 -> 27
    assert "Engagement score 27" in page
    assert 'id="score-ledger-total">27.38 → 27<' in page
    assert "Careers &lt;b&gt;page&lt;/b&gt;" in page
    assert "<b>page</b>" not in page
    assert "under contract v1" in page
    assert "Stored score" not in page  # the score worked out now is the stored one
    assert reverse("scoring:person-ledger-csv", args=[person.pk]) in page


def test_record_page_of_a_person_without_lines(client, cast):
    person = make_person(email="new@acme.com")
    client.force_login(cast.sdr)
    page = client.get(reverse("crm:person-detail", args=[person.pk])).content.decode()
    assert "No scoring rule has given this person points." in page


def test_ledger_csv_lists_every_line_with_formulas_neutralised_and_is_audited(client, cast):
    person = scored_person()
    client.force_login(cast.marketer)
    with time_machine.travel(AS_OF, tick=False):
        response = client.get(reverse("scoring:person-ledger-csv", args=[person.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == list(services.LEDGER_EXPORT_COLUMNS)
    assert [(row[0], row[2], row[5], row[6], row[7], row[8], row[9]) for row in rows[1:]] == [
        ("'=HYPERLINK(1)", "Form submit", "25", "", repr(25 * 0.5 ** (1 / 30)), "halves every 30 days", "1"),
        ("Careers <b>page</b>", "Page view", "-10", "", repr(-10 * 0.5 ** (2 / 30)), "halves every 30 days", "1"),
        ("'=HYPERLINK(1)", "Form submit", "25", "", "12.5", "halves every 30 days", "1"),
    ]
    assert [row[4] for row in rows[1:]] == [
        "2025-06-29T12:00:00+00:00",
        "2025-06-28T12:00:00+00:00",
        "2025-05-31T12:00:00+00:00",
    ]
    entry = AuditEntry.objects.get(action="score_ledger_export")
    assert (entry.entity_type, entry.entity_id, entry.actor_id) == ("crm.person", person.pk, cast.marketer.pk)
    assert entry.after == {"lines": 3, "engagement_score": 27, "score_now": 27}


def test_ledger_csv_needs_a_signed_in_user_and_an_existing_person(client, cast):
    person = scored_person()
    response = client.get(reverse("scoring:person-ledger-csv", args=[person.pk]))
    assert response.status_code == 302
    client.force_login(cast.leadership)
    assert client.get(reverse("scoring:person-ledger-csv", args=[person.pk + 100])).status_code == 404
    assert not AuditEntry.objects.filter(action="score_ledger_export").exists()
