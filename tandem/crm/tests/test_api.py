"""The HTTP API of the shared record, end to end through the test client."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client

from tandem.audit.models import AuditEntry
from tandem.campaigns.services import campaign_create
from tandem.crm import services
from tandem.crm.models import Account, Activity, Opportunity, Person, StageChange
from tandem.crm.tests.factories import SYSTEM, make_account, make_opportunity, make_person
from tandem.integrations.models import ApiToken
from tandem.integrations.services import token_revoke
from tandem.integrations.tests.api_client import ApiClient, make_token
from tandem.scoring.tests.factories import set_scores

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_budgets():
    # Rate counters live in the cache, which outlives each test's database rollback.
    cache.clear()


@pytest.fixture
def api_as(client):
    def bound(user, **token_options) -> ApiClient:
        return ApiClient(client, make_token(user, **token_options))

    return bound


def _ids(response) -> list[int]:
    return [row["id"] for row in response.json()["items"]]


def _every_page(api: ApiClient, path: str, params: dict) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        response = api.get(path, {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        pages.append(_ids(response))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


# ---------------------------------------------------------------- authentication


def test_request_without_credentials_is_refused_with_401(client):
    api = ApiClient(client, None)
    response = api.get("/people")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication required: send 'Authorization: Bearer <token>'."}
    assert response["WWW-Authenticate"] == "Bearer"
    assert api.post("/people", {"email": "kim@acme.com"}).status_code == 401
    assert not Person.objects.exists()


def test_unknown_token_is_refused_with_401(client, cast):
    make_token(cast.revops)
    for secret in ["tdm_deadbeef_not-the-secret", "garbage", "tdm_"]:
        response = ApiClient(client, secret).get("/people")
        assert response.status_code == 401
        assert response.json() == {"detail": "The API token is not valid or has been revoked."}


def test_revoked_token_is_refused_with_401(client, cast):
    secret = make_token(cast.revops)
    api = ApiClient(client, secret)
    assert api.get("/people").status_code == 200
    token_revoke(by=SYSTEM, token=ApiToken.objects.get())
    response = api.get("/people")
    assert response.status_code == 401
    assert response.json() == {"detail": "The API token is not valid or has been revoked."}


def test_token_of_a_deactivated_user_is_refused_with_401(api_as, cast):
    api = api_as(cast.ae)
    cast.ae.is_active = False
    cast.ae.save()
    assert api.get("/people").status_code == 401


def test_public_write_key_is_refused_with_403_on_the_record(api_as, cast):
    person = make_person()
    api = api_as(cast.revops, is_write_key=True)
    expected = {"detail": "This is a public write key: it may only send events."}
    for response in [
        api.get("/people"),
        api.get(f"/people/{person.pk}"),
        api.get("/accounts"),
        api.post("/people", {"email": "kim@acme.com"}),
        api.patch(f"/people/{person.pk}", {"title": "CEO"}),
        api.delete(f"/people/{person.pk}"),
    ]:
        assert response.status_code == 403
        assert response.json() == expected
    person.refresh_from_db()
    assert (Person.objects.count(), person.title) == (1, "")


def test_signed_in_browser_session_reads_and_writes_with_a_csrf_token(cast):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.marketer)
    assert browser.get("/api/v1/people").status_code == 200
    body = '{"email": "kim@acme.com"}'
    refused = browser.post("/api/v1/people", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "CSRF check Failed"}
    assert not Person.objects.exists()
    browser.cookies["csrftoken"] = "a" * 32
    created = browser.post("/api/v1/people", body, content_type="application/json", HTTP_X_CSRFTOKEN="a" * 32)
    assert created.status_code == 201
    change = StageChange.objects.get()
    assert (change.actor_type, change.actor_user, change.actor_label) == (
        "user",
        cast.marketer,
        "Alice Marketer",
    )


def test_rate_limit_answers_429_with_retry_after_and_spares_other_tokens(api_as, cast):
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, 15, tzinfo=dt.UTC), tick=False):
        limited = api_as(cast.ae, name="nightly sync", rate_limit_per_minute=3)
        other = api_as(cast.ae, name="dashboard")
        assert [limited.get("/people").status_code for _ in range(3)] == [200, 200, 200]
        refused = limited.get("/people")
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Rate limit of 3 requests per minute exceeded for token 'nightly sync'"}
        assert refused["Retry-After"] == "45"
        assert other.get("/people").status_code == 200
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 1, 0, tzinfo=dt.UTC), tick=False):
        assert limited.get("/people").status_code == 200


def test_openapi_schema_and_docs_page_are_served(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Tandem API"
    assert {
        "/api/v1/people",
        "/api/v1/people/{person_id}/transitions",
        "/api/v1/campaigns/{campaign_id}/members/{person_id}",
    } <= set(schema.json()["paths"])
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"/static/ninja/swagger-ui-bundle.js" in docs.content
    assert b"cdn." not in docs.content


# ---------------------------------------------------------------- people


def test_person_round_trip_create_read_update_delete(api_as, cast):
    account = make_account(name="Acme", domain="acme.com")
    api = api_as(cast.revops)
    created = api.post(
        "/people",
        {
            "email": "Kim.Lee@Acme.com",
            "first_name": "Kim",
            "last_name": "Lee",
            "title": "CTO",
            "owner": cast.sdr.pk,
            "lifecycle_stage": "subscriber",
            "utm_source": "google",
            "consent_email": True,
            "custom_fields": {"plan": "pro"},
            "external_id": "crm-1",
        },
    )
    assert created.status_code == 201
    body = created.json()
    person = Person.objects.get()
    assert body["id"] == person.pk
    assert {
        key: body[key]
        for key in [
            "email",
            "first_name",
            "last_name",
            "title",
            "account",
            "account_name",
            "lifecycle_stage",
            "lead_status",
            "owner",
            "owner_email",
            "utm_source",
            "consent_email",
            "consent_tracking",
            "custom_fields",
            "external_id",
            "fit_score",
            "engagement_score",
            "predictive_score",
        ]
    } == {
        "email": "kim.lee@acme.com",
        "first_name": "Kim",
        "last_name": "Lee",
        "title": "CTO",
        "account": account.pk,
        "account_name": "Acme",
        "lifecycle_stage": "subscriber",
        "lead_status": None,
        "owner": cast.sdr.pk,
        "owner_email": "sam@example.com",
        "utm_source": "google",
        "consent_email": True,
        "consent_tracking": False,
        "custom_fields": {"plan": "pro"},
        "external_id": "crm-1",
        "fit_score": 0,
        "engagement_score": 0,
        "predictive_score": None,
    }
    assert api.get(f"/people/{person.pk}").json() == body

    updated = api.patch(f"/people/{person.pk}", {"title": "CEO", "owner": None})
    assert updated.status_code == 200
    assert (updated.json()["title"], updated.json()["owner"], updated.json()["first_name"]) == (
        "CEO",
        None,
        "Kim",
    )
    entry = AuditEntry.objects.filter(entity_id=person.pk, action="update").get()
    assert (entry.before, entry.after) == (
        {"title": "CTO", "owner": cast.sdr.pk},
        {"title": "CEO", "owner": None},
    )
    assert entry.actor_label == "API: Rita RevOps via token 'tests'"

    deleted = api.delete(f"/people/{person.pk}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    missing = api.get(f"/people/{person.pk}")
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"Person {person.pk} not found"}


def test_patch_changes_only_the_fields_sent(api_as, cast):
    person = make_person(first_name="Kim", last_name="Lee", title="CTO", phone="123")
    response = api_as(cast.revops).patch(f"/people/{person.pk}", {"phone": "456"})
    assert response.status_code == 200
    person.refresh_from_db()
    assert (person.first_name, person.last_name, person.title, person.phone) == (
        "Kim",
        "Lee",
        "CTO",
        "456",
    )


def test_invalid_email_is_422_naming_email_and_nothing_is_created(api_as, cast):
    response = api_as(cast.marketer).post("/people", {"email": "not-an-address"})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"field": "email", "message": "'not-an-address' is not a valid email address."}]
    }
    assert not Person.objects.exists()


def test_duplicate_email_is_422_naming_email(api_as, cast):
    make_person(email="kim@acme.com")
    response = api_as(cast.marketer).post("/people", {"email": "KIM@acme.com"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "email", "message": "A person with email 'kim@acme.com' already exists."}
    ]
    assert Person.objects.count() == 1


def test_unknown_stage_on_create_is_422_naming_lifecycle_stage(api_as, cast):
    response = api_as(cast.marketer).post("/people", {"email": "kim@acme.com", "lifecycle_stage": "hot"})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == "lifecycle_stage"
    assert problem["message"].startswith("Unknown stage 'hot'; expected one of subscriber, lead, mql")
    assert not Person.objects.exists()


def test_unknown_owner_is_422_naming_owner_and_nothing_changes(api_as, cast):
    api = api_as(cast.revops)
    created = api.post("/people", {"email": "kim@acme.com", "owner": 987654})
    assert created.status_code == 422
    assert created.json() == {"detail": [{"field": "owner", "message": "There is no active user with id 987654."}]}
    assert not Person.objects.exists()
    person = make_person(owner=cast.sdr)
    updated = api.patch(f"/people/{person.pk}", {"owner": 987654, "title": "CEO"})
    assert updated.status_code == 422
    assert updated.json()["detail"] == [{"field": "owner", "message": "There is no active user with id 987654."}]
    person.refresh_from_db()
    assert (person.owner_id, person.title) == (cast.sdr.pk, "")


def test_unknown_account_is_422_naming_account(api_as, cast):
    response = api_as(cast.marketer).post("/people", {"email": "kim@acme.com", "account": 5})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"field": "account", "message": "There is no account with id 5."}]
    assert not Person.objects.exists()


def test_unknown_fields_and_wrong_types_are_422_naming_each_field(api_as, cast):
    response = api_as(cast.marketer).post(
        "/people",
        {
            "email": "kim@acme.com",
            "fit_score": 99,
            "consent_email": "maybe",
            "owner": "alice",
        },
    )
    assert response.status_code == 422
    assert sorted(problem["field"] for problem in response.json()["detail"]) == [
        "consent_email",
        "fit_score",
        "owner",
    ]
    assert not Person.objects.exists()


def test_null_for_a_field_that_cannot_be_empty_is_422(api_as, cast):
    person = make_person(consent_email=True)
    response = api_as(cast.revops).patch(f"/people/{person.pk}", {"consent_email": None})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"field": "consent_email", "message": "Input should be a valid boolean"}]
    person.refresh_from_db()
    assert person.consent_email is True


def test_stage_cannot_be_patched_and_the_error_points_to_transitions(api_as, cast):
    person = make_person()
    response = api_as(cast.revops).patch(f"/people/{person.pk}", {"lifecycle_stage": "mql"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "lifecycle_stage", "message": "Use the stage transition to change the stage."}
    ]
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "lead"


def test_malformed_json_is_422_naming_the_body(api_as, cast):
    api = api_as(cast.marketer)
    response = api.post_raw("/people", '{"email": "kim@acme.com",')
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == "body"
    assert problem["message"].startswith("Malformed JSON: the body is not valid JSON")
    for body in ['{"email": "kim@acme.com", "custom_fields": {"x": NaN}}', "[1, 2]", ""]:
        response = api.post_raw("/people", body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "body"
    assert not Person.objects.exists()


def test_body_over_one_megabyte_is_413_naming_the_limit(api_as, cast):
    body = '{"email": "kim@acme.com", "title": "' + "x" * 1_048_576 + '"}'
    response = api_as(cast.marketer).post_raw("/people", body)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than the limit of 1048576 bytes (1024 KB)."}
    assert not Person.objects.exists()


def test_leadership_reads_everything_but_writes_nothing(api_as, cast):
    person = make_person(title="CTO")
    account = make_account()
    api = api_as(cast.leadership)
    assert api.get("/people").status_code == 200
    assert api.get(f"/people/{person.pk}").status_code == 200
    assert api.get(f"/accounts/{account.pk}").status_code == 200
    refusals = [
        api.post("/people", {"email": "new@acme.com"}),
        api.patch(f"/people/{person.pk}", {"title": "CEO"}),
        api.delete(f"/people/{person.pk}"),
        api.post(f"/people/{person.pk}/transitions", {"to_stage": "mql"}),
        api.post("/accounts", {"name": "Globex"}),
        api.patch(f"/accounts/{account.pk}", {"industry": "Retail"}),
    ]
    assert [response.status_code for response in refusals] == [403] * 6
    assert refusals[0].json() == {"detail": "Your role can read the record but not change it."}
    person.refresh_from_db()
    account.refresh_from_db()
    assert (Person.objects.count(), person.title, person.lifecycle_stage_id) == (1, "CTO", "lead")
    assert (Account.objects.count(), account.industry) == (1, "")


def test_rep_cannot_change_a_person_someone_else_owns(api_as, cast):
    person = make_person(owner=cast.ae, title="CTO")
    api = api_as(cast.sdr)
    response = api.patch(f"/people/{person.pk}", {"title": "CEO"})
    assert response.status_code == 403
    assert response.json() == {"detail": "You can change people you own, or your team's as their manager."}
    assert api.delete(f"/people/{person.pk}").status_code == 403
    person.refresh_from_db()
    assert person.title == "CTO"


def test_missing_and_malformed_ids_are_404_and_422(api_as, cast):
    api = api_as(cast.revops)
    assert api.get("/people/4242").json() == {"detail": "Person 4242 not found"}
    assert api.patch("/people/4242", {"title": "x"}).status_code == 404
    assert api.get("/accounts/77").json() == {"detail": "Account 77 not found"}
    assert api.get("/opportunities/77").json() == {"detail": "Opportunity 77 not found"}
    malformed = api.get("/people/kim")
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["field"] == "person_id"
    assert api.get("/people/99999999999999999999999").status_code == 422


def test_unknown_api_path_is_a_json_404(api_as, cast):
    response = api_as(cast.revops).get("/people/1/friends")
    assert response.status_code == 404
    assert response.json() == {"detail": "There is no API endpoint at /api/v1/people/1/friends"}


# ---------------------------------------------------------------- people list


def test_people_list_filters_by_stage_status_owner_account_and_search(api_as, cast):
    acme = make_account(name="Acme", domain="acme.com")
    kim = make_person(email="kim@acme.com", first_name="Kim", owner=cast.sdr)
    lee = make_person(email="lee@globex.com", first_name="Lee", stage="mql", owner=cast.ae)
    ann = make_person(email="ann@initech.com", first_name="Ann", stage="subscriber")
    services.person_update(by=SYSTEM, person=lee, changes={"lead_status": "attempting"})
    api = api_as(cast.sdr)
    assert _ids(api.get("/people", {"stage": "mql"})) == [lee.pk]
    assert _ids(api.get("/people", {"stage": ["", "mql"]})) == [lee.pk]
    assert sorted(_ids(api.get("/people", {"stage": ["mql", "subscriber"]}))) == [lee.pk, ann.pk]
    assert _ids(api.get("/people", {"lead_status": "attempting"})) == [lee.pk]
    assert _ids(api.get("/people", {"owner": cast.ae.pk})) == [lee.pk]
    assert _ids(api.get("/people", {"owner": "me"})) == [kim.pk]
    assert _ids(api.get("/people", {"owner": "none"})) == [ann.pk]
    assert _ids(api.get("/people", {"account": acme.pk})) == [kim.pk]
    assert _ids(api.get("/people", {"q": "an"})) == [ann.pk]
    assert _ids(api.get("/people", {"q": "lee@glo"})) == [lee.pk]


def test_people_list_sorts_by_name_and_score(api_as, cast):
    zed = make_person(email="z@x.io", last_name="Zed")
    abe = make_person(email="a@x.io", last_name="Abe")
    moe = make_person(email="m@x.io", last_name="Moe")
    set_scores(moe, fit=80)
    set_scores(zed, fit=40)
    api = api_as(cast.marketer)
    assert _ids(api.get("/people", {"sort": "name"})) == [abe.pk, moe.pk, zed.pk]
    assert _ids(api.get("/people", {"sort": "fit_score"})) == [moe.pk, zed.pk, abe.pk]
    assert _ids(api.get("/people", {"sort": "created"})) == [moe.pk, abe.pk, zed.pk]


def test_people_list_pages_through_every_row_exactly_once(api_as, cast):
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for index in range(23):
        # Some people share a last-activity time, so the id must break ties.
        services.person_create(
            by=SYSTEM,
            email=f"p{index}@x.io",
            last_name=f"N{index % 4}",
            at=start + dt.timedelta(hours=index // 3),
        )
    api = api_as(cast.marketer)
    for sort in ["last_activity", "name", "created"]:
        pages = _every_page(api, "/people", {"limit": 5, "sort": sort})
        assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
        flat = [pk for page in pages for pk in page]
        assert sorted(flat) == sorted(Person.objects.values_list("pk", flat=True))
        assert flat == _ids(api.get("/people", {"limit": 100, "sort": sort}))


def test_people_list_refuses_bad_parameters_naming_each(api_as, cast):
    api = api_as(cast.marketer)
    cases = {
        "stage": {"stage": "hot"},
        "lead_status": {"lead_status": "warm"},
        "owner": {"owner": "alice"},
        "sort": {"sort": "email"},
        "limit": {"limit": 101},
        "cursor": {"cursor": "not-a-cursor"},
        "q": {"q": "x" * 101},
    }
    for field, params in cases.items():
        response = api.get("/people", params)
        assert response.status_code == 422, field
        assert response.json()["detail"][0]["field"] == field
    assert api.get("/people", {"limit": 0}).status_code == 422


def test_people_list_runs_a_fixed_number_of_queries(api_as, cast, django_assert_max_num_queries):
    for index in range(30):
        account = make_account(name=f"Company {index}", domain=f"company{index}.com")
        make_person(email=f"p{index}@company{index}.com", owner=cast.ae, account=account)
    api = api_as(cast.marketer)
    api.get("/people")  # records the token's first use
    # One query authenticates the token and one reads the page with accounts and owners joined.
    with django_assert_max_num_queries(2):
        response = api.get("/people", {"limit": 30})
    assert len(response.json()["items"]) == 30
    assert response.json()["items"][0]["owner_email"] == "erin@example.com"
    # A search on SQLite first counts how common its prefixes are (see tandem.lib.prefix_search).
    with django_assert_max_num_queries(3 if connection.vendor == "sqlite" else 2):
        api.get("/people", {"limit": 5, "owner": cast.ae.pk, "q": "p1"})


# ---------------------------------------------------------------- stage transitions


def test_transition_moves_the_person_and_returns_the_stage_change(api_as, cast):
    person = make_person(owner=cast.marketer)
    api = api_as(cast.marketer, name="scoring sync")
    response = api.post(
        f"/people/{person.pk}/transitions",
        {
            "to_stage": "mql",
            "reason": "Fit 72 and engagement 41",
            "evidence": {"fit": 72, "engagement": 41},
        },
    )
    assert response.status_code == 201
    change = StageChange.objects.get(person=person, to_stage="mql")
    body = response.json()
    assert body == {
        "id": change.pk,
        "from_stage": "lead",
        "to_stage": "mql",
        "at": body["at"],
        "actor_type": "api",
        "actor_label": "API: Alice Marketer via token 'scoring sync'",
        "reason": "Fit 72 and engagement 41",
        "evidence": {"fit": 72, "engagement": 41},
        "contract_version": None,
    }
    assert change.actor_user == cast.marketer
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "mql"
    history = api.get(f"/people/{person.pk}/stage-changes").json()
    assert [(item["from_stage"], item["to_stage"]) for item in history["items"]] == [
        ("lead", "mql"),
        (None, "lead"),
    ]
    assert history["next_cursor"] is None


def test_illegal_transition_is_422_naming_to_stage_and_writes_nothing(api_as, cast):
    person = make_person()
    api = api_as(cast.revops)
    changes_before, audit_before = StageChange.objects.count(), AuditEntry.objects.count()
    response = api.post(f"/people/{person.pk}/transitions", {"to_stage": "churned"})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "field": "to_stage",
                "message": "Moving from lead to churned is not allowed; allowed: mql, sal, sql, "
                "opportunity, customer, evangelist, recycled, disqualified.",
            }
        ]
    }
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "lead"
    assert (StageChange.objects.count(), AuditEntry.objects.count()) == (
        changes_before,
        audit_before,
    )


def test_transition_to_an_unknown_stage_is_422_naming_to_stage(api_as, cast):
    person = make_person()
    response = api_as(cast.revops).post(f"/people/{person.pk}/transitions", {"to_stage": "hot"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "to_stage"
    assert StageChange.objects.count() == 1


def test_marketing_cannot_move_a_person_into_a_sales_stage(api_as, cast):
    person = make_person(owner=cast.marketer, stage="mql")
    response = api_as(cast.marketer).post(f"/people/{person.pk}/transitions", {"to_stage": "sal"})
    assert response.status_code == 403
    assert response.json() == {"detail": "Your role may not move this record to SAL."}
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "mql"


def test_account_transition_records_the_account_stage_change(api_as, cast):
    account = make_account(owner=cast.ae)
    api = api_as(cast.ae)
    response = api.post(f"/accounts/{account.pk}/transitions", {"to_stage": "customer", "reason": "Signed"})
    assert response.status_code == 201
    assert (response.json()["from_stage"], response.json()["to_stage"]) == (None, "customer")
    account.refresh_from_db()
    assert account.lifecycle_stage_id == "customer"
    assert _ids(api.get(f"/accounts/{account.pk}/stage-changes")) == [response.json()["id"]]
    again = api.post(f"/accounts/{account.pk}/transitions", {"to_stage": "customer"})
    assert again.json() == {"detail": [{"field": "to_stage", "message": "Already in stage Customer."}]}


# ---------------------------------------------------------------- accounts


def test_account_round_trip_and_delete(api_as, cast):
    api = api_as(cast.revops)
    created = api.post(
        "/accounts",
        {
            "name": "Globex",
            "domain": "https://www.Globex.com/",
            "industry": "Energy",
            "employee_count": 5000,
            "annual_revenue": "1250000.50",
            "country": "US",
            "owner": cast.ae.pk,
            "icp_tier": 1,
            "is_target_account": True,
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert {
        key: body[key]
        for key in [
            "name",
            "domain",
            "industry",
            "employee_count",
            "annual_revenue",
            "owner",
            "owner_email",
            "icp_tier",
            "is_target_account",
            "lifecycle_stage",
        ]
    } == {
        "name": "Globex",
        "domain": "globex.com",
        "industry": "Energy",
        "employee_count": 5000,
        "annual_revenue": "1250000.50",
        "owner": cast.ae.pk,
        "owner_email": "erin@example.com",
        "icp_tier": 1,
        "is_target_account": True,
        "lifecycle_stage": None,
    }
    account_id = body["id"]
    updated = api.patch(f"/accounts/{account_id}", {"region": "NA"})
    assert (updated.json()["region"], updated.json()["industry"]) == ("NA", "Energy")
    assert api.get(f"/accounts/{account_id}").json() == updated.json()
    assert api.delete(f"/accounts/{account_id}").status_code == 204
    assert not Account.objects.exists()


def test_account_with_opportunities_cannot_be_deleted(api_as, cast):
    account = make_account()
    make_opportunity(account)
    response = api_as(cast.revops).delete(f"/accounts/{account.pk}")
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "field": "account",
            "message": "This account has opportunities; delete or move them first.",
        }
    ]
    assert Account.objects.filter(pk=account.pk).exists()


def test_account_list_filters_and_sorts(api_as, cast):
    big = make_account(
        name="Big",
        domain="big.com",
        industry="Retail",
        employee_count=900,
        is_target_account=True,
        owner=cast.ae,
        icp_tier=1,
    )
    small = make_account(name="Small", domain="small.com", industry="Retail", employee_count=12)
    other = make_account(name="Other", domain="other.com", industry="Energy", region="EMEA")
    api = api_as(cast.ae)
    assert _ids(api.get("/accounts")) == [big.pk, other.pk, small.pk]
    assert _ids(api.get("/accounts", {"industry": "Retail", "sort": "employees"})) == [
        big.pk,
        small.pk,
    ]
    # An account of unknown size is listed after the smallest, not left out.
    assert _ids(api.get("/accounts", {"sort": "employees"})) == [big.pk, small.pk, other.pk]
    assert _every_page(api, "/accounts", {"sort": "employees", "limit": 2}) == [[big.pk, small.pk], [other.pk]]
    assert _ids(api.get("/accounts", {"is_target_account": "true"})) == [big.pk]
    assert _ids(api.get("/accounts", {"owner": "me"})) == [big.pk]
    assert _ids(api.get("/accounts", {"icp_tier": 1})) == [big.pk]
    assert _ids(api.get("/accounts", {"region": "EMEA"})) == [other.pk]
    assert _ids(api.get("/accounts", {"q": "sma"})) == [small.pk]
    assert [len(page) for page in _every_page(api, "/accounts", {"limit": 2})] == [2, 1]
    refused = api.get("/accounts", {"owner": "none"})
    assert refused.json()["detail"][0]["field"] == "owner"


def test_invalid_account_fields_are_422_naming_the_field(api_as, cast):
    api = api_as(cast.revops)
    assert api.post("/accounts", {"name": "Acme", "domain": "not a domain"}).json()["detail"][0]["field"] == "domain"
    assert api.post("/accounts", {"name": ""}).json()["detail"][0]["field"] == "name"
    assert (
        api.post("/accounts", {"name": "Acme", "employee_count": -1}).json()["detail"][0]["field"] == "employee_count"
    )
    assert (
        api.post("/accounts", {"name": "Acme", "annual_revenue": "lots"}).json()["detail"][0]["field"]
        == "annual_revenue"
    )
    assert api.post("/accounts", {"name": "Acme", "country": "USA"}).json()["detail"][0]["field"] == "country"
    assert not Account.objects.exists()


# ---------------------------------------------------------------- opportunities


def test_ae_opens_an_opportunity_and_its_primary_person_advances(api_as, cast):
    account = make_account(owner=cast.ae)
    person = make_person(stage="sql")
    campaign = campaign_create(by=SYSTEM, name="Webinar", channel="events")
    response = api_as(cast.ae).post(
        "/opportunities",
        {
            "account": account.pk,
            "primary_person": person.pk,
            "name": "Acme platform",
            "amount": "48000",
            "close_date": "2026-06-30",
            "owner": cast.ae.pk,
            "source_campaign": campaign.pk,
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert {
        key: body[key]
        for key in [
            "account",
            "account_name",
            "primary_person",
            "name",
            "amount",
            "currency",
            "stage",
            "probability",
            "forecast_category",
            "close_date",
            "owner",
            "is_closed",
            "source_campaign",
        ]
    } == {
        "account": account.pk,
        "account_name": "Acme",
        "primary_person": person.pk,
        "name": "Acme platform",
        "amount": "48000.00",
        "currency": "USD",
        "stage": "discovery",
        "probability": 10,
        "forecast_category": "pipeline",
        "close_date": "2026-06-30",
        "owner": cast.ae.pk,
        "is_closed": False,
        "source_campaign": campaign.pk,
    }
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "opportunity"


def test_opportunity_references_must_exist_and_name_their_field(api_as, cast):
    account = make_account()
    api = api_as(cast.ae)
    base = {"account": account.pk, "name": "Deal", "close_date": "2026-06-30"}
    for field in ["account", "primary_person", "source_campaign", "owner"]:
        response = api.post("/opportunities", {**base, field: 9999})
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == field
    assert api.post("/opportunities", {**base, "stage": "won"}).json()["detail"][0]["field"] == "stage"
    assert api.post("/opportunities", {**base, "close_date": "soon"}).json()["detail"][0]["field"] == "close_date"
    assert not Opportunity.objects.exists()


def test_marketing_cannot_open_or_edit_opportunities(api_as, cast):
    account = make_account()
    opportunity = make_opportunity(account)
    api = api_as(cast.marketer)
    refused = api.post("/opportunities", {"account": account.pk, "name": "Deal", "close_date": "2026-06-30"})
    assert refused.status_code == 403
    assert api.patch(f"/opportunities/{opportunity.pk}", {"amount": "1"}).status_code == 403
    opportunity.refresh_from_db()
    assert (Opportunity.objects.count(), opportunity.amount) == (1, 1000)


def test_opportunity_stage_change_closes_it_and_delete_removes_it(api_as, cast):
    account = make_account()
    opportunity = make_opportunity(account, owner=cast.ae)
    api = api_as(cast.ae)
    won = api.patch(f"/opportunities/{opportunity.pk}", {"stage": "closed_won"})
    assert won.status_code == 200
    assert {key: won.json()[key] for key in ["stage", "is_closed", "is_won", "probability", "forecast_category"]} == {
        "stage": "closed_won",
        "is_closed": True,
        "is_won": True,
        "probability": 100,
        "forecast_category": "closed",
    }
    assert api.delete(f"/opportunities/{opportunity.pk}").status_code == 403  # only managers and RevOps
    assert api_as(cast.sales_manager).delete(f"/opportunities/{opportunity.pk}").status_code == 204
    assert not Opportunity.objects.exists()


def test_opportunity_list_filters_and_sorts(api_as, cast):
    account = make_account()
    other = make_account(name="Globex", domain="globex.com")
    small = make_opportunity(account, name="Small", amount="100", owner=cast.ae)
    big = make_opportunity(other, name="Big", amount="9000", stage="negotiation")
    won = make_opportunity(account, name="Won", amount="500", stage="closed_won")
    api = api_as(cast.ae)
    assert _ids(api.get("/opportunities", {"sort": "amount"})) == [big.pk, won.pk, small.pk]
    assert _ids(api.get("/opportunities", {"is_open": "false"})) == [won.pk]
    assert sorted(_ids(api.get("/opportunities", {"stage": ["discovery", "negotiation"]}))) == [
        small.pk,
        big.pk,
    ]
    assert _ids(api.get("/opportunities", {"forecast_category": "commit"})) == [big.pk]
    assert _ids(api.get("/opportunities", {"owner": "me"})) == [small.pk]
    assert _ids(api.get("/opportunities", {"account": other.pk})) == [big.pk]
    assert _ids(api.get("/opportunities", {"q": "mal"})) == [small.pk]
    assert api.get("/opportunities", {"forecast_category": "maybe"}).json()["detail"][0]["field"] == "forecast_category"
    assert api.get("/opportunities", {"stage": "won"}).json()["detail"][0]["field"] == "stage"


def test_opportunities_without_a_close_date_are_paged_after_the_dated_ones(api_as, cast):
    account = make_account()
    undated = make_opportunity(account, name="Undated", close_date=None)
    late = make_opportunity(account, name="Late", close_date=dt.date(2026, 9, 1))
    also_undated = make_opportunity(account, name="Also undated", close_date=None)
    early = make_opportunity(account, name="Early", close_date=dt.date(2026, 2, 1))
    api = api_as(cast.ae)
    expected = [early.pk, late.pk, undated.pk, also_undated.pk]
    assert _ids(api.get("/opportunities")) == expected
    for limit in [1, 2, 3]:
        pages = _every_page(api, "/opportunities", {"limit": limit})
        assert [pk for page in pages for pk in page] == expected


# ---------------------------------------------------------------- activities


def test_activity_round_trip_on_a_person(api_as, cast):
    account = make_account()
    person = make_person()
    api = api_as(cast.sdr)
    created = api.post(
        "/activities",
        {
            "kind": "call",
            "subject": "Intro call",
            "person": person.pk,
            "occurred_at": "2026-02-03T10:00:00+01:00",
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert {key: body[key] for key in ["kind", "subject", "person", "account", "user", "occurred_at", "is_done"]} == {
        "kind": "call",
        "subject": "Intro call",
        "person": person.pk,
        "account": account.pk,
        "user": cast.sdr.pk,
        "occurred_at": "2026-02-03T09:00:00Z",
        "is_done": True,
    }
    assert _ids(api.get("/activities", {"person": person.pk})) == [body["id"]]
    assert _ids(api.get("/activities", {"account": account.pk + 1})) == []
    updated = api.patch(f"/activities/{body['id']}", {"body": "Left a voicemail"})
    assert (updated.json()["body"], updated.json()["subject"]) == ("Left a voicemail", "Intro call")
    assert api_as(cast.ae).delete(f"/activities/{body['id']}").status_code == 403
    assert api.delete(f"/activities/{body['id']}").status_code == 204
    assert not Activity.objects.exists()


def test_activity_needs_a_known_kind_and_a_subject_record(api_as, cast):
    api = api_as(cast.sdr)
    assert api.post("/activities", {"kind": "fax", "subject": "x", "account": 1}).json()["detail"][0]["field"] == "kind"
    assert api.post("/activities", {"kind": "call", "subject": "x"}).json()["detail"][0]["field"] == "person"
    assert (
        api.post("/activities", {"kind": "call", "subject": "x", "opportunity": 3}).json()["detail"][0]["field"]
        == "opportunity"
    )
    assert not Activity.objects.exists()


# ---------------------------------------------------------------- hostile input


NESTED_25_LEVELS: list = [1]
for _ in range(24):
    NESTED_25_LEVELS = [NESTED_25_LEVELS]

HOSTILE_BODIES = [
    {"email": "kim@acme.com", "first_name": "x" * 5000},
    {"email": "kim@acme.com", "title": "nul\u0000byte"},
    {"email": "kim@acme.com", "external_id": "e" * 500},
    {"email": "kim@acme.com", "custom_fields": {"deep": NESTED_25_LEVELS}},
    {"email": "kim@acme.com", "owner": 2**64},
    {"email": "kim@acme.com", "account": -1},
    {"email": "x" * 300 + "@acme.com"},
    {"email": ["kim@acme.com"]},
    {"email": "kim@acme.com", "lead_status": {"key": "new"}},
    {"email": "kim@acme.com", "lifecycle_stage": None},
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_hostile_person_input_is_refused_without_a_server_error(api_as, cast, body):
    response = api_as(cast.revops).post("/people", body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] in body
    assert not Person.objects.exists()


def test_hostile_values_elsewhere_are_refused_without_a_server_error(api_as, cast):
    account = make_account()
    api = api_as(cast.revops)
    responses = [
        api.post(
            "/opportunities",
            {"account": account.pk, "name": "D", "close_date": "2026-01-01", "amount": "1e30"},
        ),
        api.post(
            "/opportunities",
            {"account": account.pk, "name": "D", "close_date": "2026-01-01", "amount": "NaN"},
        ),
        api.post("/opportunities", {"account": account.pk, "name": "D", "close_date": "99999-01-01"}),
        api.post(
            "/opportunities",
            {"account": account.pk, "name": "D", "close_date": "2026-01-01", "probability": 101},
        ),
        api.post(
            "/activities",
            {
                "kind": "note",
                "subject": "x",
                "account": account.pk,
                "occurred_at": "0001-01-01T00:00:00+05:00",
            },
        ),
        api.post("/accounts", {"name": "A", "icp_tier": 10**6}),
        api.post_raw("/accounts", '{"name": "A", "annual_revenue": 1e999}'),
        api.post_raw("/accounts", b'{"name": "\xff\xfe"}'),
        api.post(f"/accounts/{account.pk}/transitions", {"to_stage": "lead", "evidence": "not an object"}),
        api.get("/people", {"cursor": "eyJ4IjoxfQ"}),
        api.get("/people", {"cursor": "WzEsMl0", "sort": "name"}),
        api.get("/opportunities", {"cursor": "WyJub3QtYS1kYXRlIiwiYSJd"}),
        api.get("/people", {"q": "nul\u0000"}),
        api.get("/people", {"owner": "\u00b2"}),
        api.get("/accounts", {"owner": "99999999999999999999999"}),
    ]
    assert [response.status_code for response in responses] == [422] * len(responses)
    assert (Opportunity.objects.count(), Activity.objects.count(), Account.objects.count()) == (
        0,
        0,
        1,
    )
