import pytest
from django.core.exceptions import ValidationError

from tandem.audit.actors import Actor
from tandem.audit.models import AuditEntry
from tandem.crm import services
from tandem.crm.models import AccountMatch, OpportunityStageChange, Person, StageChange
from tandem.crm.tests.factories import SYSTEM, make_account, make_opportunity, make_person

pytestmark = pytest.mark.django_db


def test_person_email_is_unique_case_insensitively():
    make_person(email="Pat@Acme.com")
    with pytest.raises(ValidationError) as error:
        make_person(email="pat@ACME.com")
    assert "email" in error.value.message_dict
    assert Person.objects.count() == 1


def test_person_email_is_stored_lower_case_and_validated():
    person = make_person(email="  Pat.Smith@Acme.COM ")
    assert person.email == "pat.smith@acme.com"
    with pytest.raises(ValidationError) as error:
        make_person(email="not-an-email")
    assert "not a valid email" in error.value.message_dict["email"][0]


def test_person_is_matched_to_account_by_email_domain_and_the_match_is_recorded():
    account = make_account(domain="acme.com")
    person = make_person(email="pat@sales.acme.com")
    assert person.account_id == account.pk
    match = AccountMatch.objects.get(person=person)
    assert (match.method, match.matched_domain, match.previous_account_id) == ("email_domain", "acme.com", None)


def test_free_mail_addresses_are_never_matched():
    make_account(name="Gmail lovers", domain="gmail.com")
    person = make_person(email="someone@gmail.com")
    assert person.account_id is None
    assert not AccountMatch.objects.exists()


def test_new_account_picks_up_existing_people_at_its_domain(django_capture_on_commit_callbacks):
    person = make_person(email="kim@globex.com")
    with django_capture_on_commit_callbacks(execute=True):
        account = make_account(name="Globex", domain="https://www.globex.com/")
    assert account.domain == "globex.com"
    person.refresh_from_db()
    assert person.account_id == account.pk


def test_account_match_can_be_undone():
    account = make_account()
    person = make_person()
    match = AccountMatch.objects.get(person=person)
    services.account_match_undo(match=match, by=SYSTEM)
    person.refresh_from_db()
    match.refresh_from_db()
    assert person.account_id is None
    assert match.undone_at is not None
    with pytest.raises(ValidationError):
        services.account_match_undo(match=match, by=SYSTEM)
    assert account.pk  # the account itself is untouched


def test_creating_a_person_records_their_first_stage():
    person = make_person(stage="subscriber")
    change = StageChange.objects.get(person=person)
    assert (change.from_stage_id, change.to_stage_id, change.actor_type) == (None, "subscriber", "system")


def test_transition_writes_stage_change_with_actor_reason_and_evidence(cast):
    person = make_person()
    change = services.lifecycle_transition(
        person=person,
        to_stage="mql",
        by=cast.marketer,
        reason="Downloaded pricing guide",
        evidence={"fit": 72},
        contract_version=7,
    )
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "mql"
    assert (change.from_stage_id, change.to_stage_id) == ("lead", "mql")
    assert (change.actor_type, change.actor_user, change.actor_label) == ("user", cast.marketer, "Alice Marketer")
    assert (change.reason, change.evidence, change.contract_version) == ("Downloaded pricing guide", {"fit": 72}, 7)
    audit = AuditEntry.objects.filter(entity_type="crm.person", entity_id=person.pk, action="stage_change").get()
    assert audit.before == {"lifecycle_stage": "lead"}
    assert audit.after == {"lifecycle_stage": "mql"}


def test_illegal_transition_is_refused_and_nothing_changes():
    person = make_person(stage="sql")
    with pytest.raises(ValidationError) as error:
        services.lifecycle_transition(person=person, to_stage="mql", by=SYSTEM)
    assert "not allowed" in error.value.message_dict["to_stage"][0]
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "sql"
    assert StageChange.objects.filter(person=person).count() == 1


def test_unknown_stage_is_refused():
    person = make_person()
    with pytest.raises(ValidationError) as error:
        services.lifecycle_transition(person=person, to_stage="champion", by=SYSTEM)
    assert "Unknown stage 'champion'" in error.value.message_dict["to_stage"][0]


def test_recycle_and_return_keep_full_history_and_lead_status_consistent():
    person = make_person(stage="mql")
    services.lifecycle_transition(person=person, to_stage="recycled", by=SYSTEM, reason="Bad timing")
    person.refresh_from_db()
    assert person.lead_status_id == "bad_timing"
    services.lifecycle_transition(person=person, to_stage="mql", by=Actor.rule("Score >= 60"))
    person.refresh_from_db()
    assert person.lead_status_id == "new"
    path = list(StageChange.objects.filter(person=person).order_by("at", "id").values_list("to_stage_id", flat=True))
    assert path == ["mql", "recycled", "mql"]


def test_disqualify_and_churn_are_ordinary_transitions():
    lead = make_person(email="a@x.io", stage="lead")
    services.lifecycle_transition(person=lead, to_stage="disqualified", by=SYSTEM, reason="Student")
    lead.refresh_from_db()
    assert (lead.lifecycle_stage_id, lead.lead_status_id) == ("disqualified", "unqualified")
    customer = make_person(email="b@x.io", stage="customer")
    services.lifecycle_transition(person=customer, to_stage="churned", by=SYSTEM)
    customer.refresh_from_db()
    assert customer.lifecycle_stage_id == "churned"


def test_account_moves_between_stages_too():
    account = make_account()
    services.lifecycle_transition(account=account, to_stage="opportunity", by=SYSTEM)
    account.refresh_from_db()
    assert account.lifecycle_stage_id == "opportunity"
    assert StageChange.objects.filter(account=account, to_stage="opportunity").exists()


def test_opportunity_defaults_come_from_its_stage_and_moves_are_recorded(cast):
    account = make_account()
    person = make_person(stage="sql")
    opportunity = make_opportunity(account, primary_person=person, stage="proposal")
    assert (opportunity.probability, opportunity.forecast_category) == (60, "best_case")
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "opportunity"
    services.opportunity_update(by=cast.ae, opportunity=opportunity, changes={"stage": "closed_won"})
    opportunity.refresh_from_db()
    assert (opportunity.is_closed, opportunity.is_won, opportunity.forecast_category) == (True, True, "closed")
    moves = list(
        OpportunityStageChange.objects.filter(opportunity=opportunity)
        .order_by("at", "id")
        .values_list("from_stage_id", "to_stage_id")
    )
    assert moves == [(None, "proposal"), ("proposal", "closed_won")]
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "customer"
    assert StageChange.objects.filter(person=person, to_stage="customer").get().actor_type == "rule"


def test_update_audits_before_and_after(cast):
    person = make_person()
    services.person_update(by=cast.marketer, person=person, changes={"title": "CTO"})
    entry = AuditEntry.objects.filter(entity_id=person.pk, action="update").get()
    assert (entry.before, entry.after, entry.actor) == ({"title": ""}, {"title": "CTO"}, cast.marketer)


def test_update_refuses_unknown_fields_and_changes_nothing(cast):
    person = make_person()
    with pytest.raises(ValidationError) as error:
        services.person_update(by=cast.marketer, person=person, changes={"favourite_colour": "red"})
    assert "favourite_colour" in error.value.message_dict
    assert not AuditEntry.objects.filter(entity_id=person.pk, action="update").exists()


def test_activity_bumps_last_activity(cast):
    person = make_person()
    activity = services.activity_create(by=cast.sdr, kind="call", subject="Intro call", person=person)
    person.refresh_from_db()
    assert person.last_activity_at == activity.occurred_at
    assert activity.account_id == person.account_id
