import pytest
from django.urls import reverse

from tandem.audit.models import AuditEntry
from tandem.crm.models import Account, Person, StageChange
from tandem.crm.tests.factories import make_account, make_opportunity, make_person

pytestmark = pytest.mark.django_db


def test_every_page_renders_for_a_signed_in_user(client, cast):
    account = make_account()
    person = make_person()
    opportunity = make_opportunity(account, primary_person=person)
    client.force_login(cast.revops)
    urls = [
        reverse("home"),
        reverse("crm:person-list"),
        reverse("crm:person-create"),
        reverse("crm:person-detail", args=[person.pk]),
        reverse("crm:person-edit", args=[person.pk]),
        reverse("crm:account-list"),
        reverse("crm:account-create"),
        reverse("crm:account-detail", args=[account.pk]),
        reverse("crm:account-edit", args=[account.pk]),
        reverse("crm:opportunity-list"),
        reverse("crm:opportunity-create"),
        reverse("crm:opportunity-detail", args=[opportunity.pk]),
        reverse("crm:opportunity-edit", args=[opportunity.pk]),
        reverse("campaigns:campaign-list"),
        reverse("campaigns:campaign-create"),
        reverse("settings"),
        reverse("token-list"),
        reverse("user-list"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url


def test_pages_require_sign_in(client):
    response = client.get(reverse("crm:person-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_marketer_creates_a_person_through_the_form(client, cast):
    account = make_account(name="Initech", domain="initech.com")
    client.force_login(cast.marketer)
    response = client.post(
        reverse("crm:person-create"),
        {
            "email": "Peter@Initech.com",
            "first_name": "Peter",
            "last_name": "Gibbons",
            "account": f"Initech (#{account.pk})",
            "owner": cast.marketer.pk,
            "lifecycle_stage": "lead",
        },
    )
    person = Person.objects.get()
    assert response.status_code == 302
    assert (person.email, person.account_id, person.owner_id) == ("peter@initech.com", account.pk, cast.marketer.pk)


def test_invalid_input_is_shown_next_to_the_field_and_nothing_is_saved(client, cast):
    make_person(email="taken@acme.com")
    client.force_login(cast.marketer)
    response = client.post(reverse("crm:person-create"), {"email": "TAKEN@acme.com", "lifecycle_stage": "lead"})
    assert response.status_code == 200
    assert 'id="errors-email"' in response.content.decode()
    assert "already exists" in response.content.decode()
    response = client.post(reverse("crm:person-create"), {"email": "no-at-sign", "lifecycle_stage": "lead"})
    assert 'id="errors-email"' in response.content.decode()
    response = client.post(
        reverse("crm:person-create"), {"email": "x@y.io", "lifecycle_stage": "lead", "account": "Nowhere Inc"}
    )
    assert 'id="errors-account"' in response.content.decode()
    assert Person.objects.count() == 1


def test_stage_move_appears_in_the_timeline_with_actor_and_reason(client, cast):
    person = make_person()
    client.force_login(cast.marketer)
    response = client.post(
        reverse("crm:person-move-stage", args=[person.pk]), {"to_stage": "mql", "reason": "Asked for a demo"}
    )
    assert response.status_code == 302
    change = StageChange.objects.get(person=person, to_stage="mql")
    assert (change.actor_user, change.reason) == (cast.marketer, "Asked for a demo")
    client.force_login(cast.sdr)
    page = client.get(reverse("crm:person-detail", args=[person.pk])).content.decode()
    assert "Lead → MQL" in page
    assert "Alice Marketer" in page
    assert "Asked for a demo" in page


def test_marketer_cannot_move_a_person_into_a_sales_stage(client, cast):
    person = make_person(stage="mql")
    client.force_login(cast.marketer)
    client.post(reverse("crm:person-move-stage", args=[person.pk]), {"to_stage": "sal"})
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "mql"


def test_leadership_reads_but_cannot_create(client, cast):
    client.force_login(cast.leadership)
    assert client.get(reverse("crm:person-list")).status_code == 200
    response = client.post(reverse("crm:account-create"), {"name": "Nope"})
    assert response.status_code == 403
    assert not Account.objects.exists()


def test_rep_cannot_edit_someone_elses_person(client, cast):
    person = make_person(owner=cast.ae)
    client.force_login(cast.sdr)
    response = client.post(reverse("crm:person-edit", args=[person.pk]), {"email": person.email, "title": "Boss"})
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.title == ""


def test_manager_edits_their_teams_person(client, cast):
    person = make_person(owner=cast.ae)
    client.force_login(cast.sales_manager)
    response = client.post(
        reverse("crm:person-edit", args=[person.pk]),
        {
            "email": person.email,
            "title": "VP Sales",
            "owner": cast.ae.pk,
            "lead_status": person.lead_status_id,
            "account": f"{person.account} (#{person.account_id})" if person.account_id else "",
        },
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.title == "VP Sales"
    entry = AuditEntry.objects.filter(entity_id=person.pk, action="update").get()
    assert entry.after == {"title": "VP Sales"}


def test_a_bad_cursor_or_sort_is_a_message_not_an_error(client, cast):
    make_person()
    client.force_login(cast.sdr)
    response = client.get(reverse("crm:person-list"), {"cursor": "garbage!!", "sort": "name"})
    assert response.status_code == 200
    response = client.get(reverse("crm:person-list"), {"sort": "shoe_size"})
    assert response.status_code == 200
    assert "Unknown sort" in response.content.decode()


def test_list_pages_through_every_person_once(client, cast):
    for index in range(60):
        make_person(email=f"p{index}@example.org")
    client.force_login(cast.sdr)
    seen, url = [], reverse("crm:person-list") + "?sort=name"
    while url:
        response = client.get(url)
        seen += [row.pk for row in response.context["page"].rows]
        cursor = response.context["page"].next_cursor
        url = reverse("crm:person-list") + f"?sort=name&cursor={cursor}" if cursor else None
    assert len(seen) == 60 == len(set(seen))


def test_account_match_undo_from_the_record_page(client, cast):
    make_account()
    person = make_person()
    match = person.account_matches.get()
    client.force_login(cast.revops)
    client.post(reverse("crm:account-match-undo", args=[match.pk]))
    person.refresh_from_db()
    assert person.account_id is None


def test_password_reset_sends_an_email(client, cast, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "/password-reset/" in mailoutbox[0].body
    assert mailoutbox[0].to == ["alice@example.com"]


def test_sign_in_and_out(client, cast):
    response = client.post(reverse("login"), {"username": "alice@example.com", "password": "secret-pass-123"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_output_is_escaped(client, cast):
    make_person(email="x@evil.io", first_name="<script>alert(1)</script>")
    client.force_login(cast.sdr)
    page = client.get(reverse("crm:person-list")).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_timeline_can_be_narrowed_to_one_kind(client, cast):
    person = make_person()
    client.force_login(cast.revops)
    client.post(reverse("crm:person-log-activity", args=[person.pk]), {"kind": "call", "subject": "Intro"})
    everything = client.get(reverse("crm:person-detail", args=[person.pk])).context["timeline"]
    assert {item.kind for item in everything} >= {"stage", "activity-call", "audit"}
    stages = client.get(reverse("crm:person-detail", args=[person.pk]), {"timeline": "stage"}).context["timeline"]
    assert [item.kind for item in stages] == ["stage"]
