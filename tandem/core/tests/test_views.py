import hashlib

import pytest
from django.urls import reverse

from tandem.integrations.models import ApiToken
from tandem.users.models import User

pytestmark = pytest.mark.django_db


def test_revops_creates_a_token_whose_secret_is_shown_once_and_stored_hashed(client, cast):
    client.force_login(cast.revops)
    response = client.post(reverse("token-list"), {"name": "Website", "rate_limit_per_minute": 120})
    secret = response.context["issued"].secret
    assert secret in response.content.decode()
    token = ApiToken.objects.get()
    assert (token.name, token.rate_limit_per_minute, token.user) == ("Website", 120, cast.revops)
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in client.get(reverse("token-list")).content.decode()


def test_revoked_token_is_refused_by_the_api(client, cast):
    client.force_login(cast.revops)
    secret = client.post(reverse("token-list"), {"name": "CI", "rate_limit_per_minute": 60}).context["issued"].secret
    token = ApiToken.objects.get()
    client.post(reverse("token-revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None
    client.logout()
    response = client.get("/api/v1/people", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 401


def test_only_revops_manages_tokens_and_users(client, cast):
    for user in (cast.marketer, cast.sales_manager, cast.leadership):
        client.force_login(user)
        assert client.get(reverse("token-list")).status_code == 403
        assert client.post(reverse("user-list"), {"email": "x@example.com", "role": "ae"}).status_code == 403
    assert not User.objects.filter(email="x@example.com").exists()
    assert not ApiToken.objects.exists()


def test_revops_adds_a_user_to_a_new_team(client, cast):
    client.force_login(cast.revops)
    response = client.post(
        reverse("user-list"),
        {"email": "Nina@Example.com", "full_name": "Nina SDR", "role": "sdr", "team": "EMEA SDRs", "password": ""},
    )
    assert response.status_code == 302
    user = User.objects.get(email="nina@example.com")
    assert (user.role, user.team.name, user.team.side) == ("sdr", "EMEA SDRs", "sales")
    assert not user.has_usable_password()


def test_adding_a_user_twice_shows_the_error_on_the_email_field(client, cast):
    client.force_login(cast.revops)
    response = client.post(reverse("user-list"), {"email": "alice@example.com", "role": "ae"})
    assert response.status_code == 200
    assert "already exists" in str(response.context["form"].errors["email"])


def test_home_counts_people_by_stage(client, cast):
    from tandem.crm.tests.factories import make_person

    make_person(email="a@x.io", stage="mql")
    make_person(email="b@x.io", stage="mql")
    make_person(email="c@x.io", stage="lead")
    client.force_login(cast.leadership)
    counts = {row["stage"].key: row["count"] for row in client.get(reverse("home")).context["stage_counts"]}
    assert (counts["mql"], counts["lead"], counts["sql"]) == (2, 1, 0)
