"""`tandem token create|list|revoke` from the command line."""

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tandem.integrations.models import ApiToken
from tandem.integrations.services import token_authenticate, token_create


def run_token_command(*arguments: str) -> str:
    out = StringIO()
    call_command("token", *arguments, stdout=out)
    return out.getvalue()


def test_create_prints_the_secret_once_and_acts_as_the_first_revops_user(cast):
    output = run_token_command("create", "--name", "Zapier")

    token = ApiToken.objects.get()
    first_line, secret, warning = output.splitlines()
    assert first_line == (
        f"Created API token 'Zapier' (prefix {token.prefix}), acting as rita@example.com, 600 requests per minute."
    )
    assert warning == ("Copy the secret now: it is stored only as a hash and cannot be shown again.")
    assert token_authenticate(secret) == token
    assert (token.user, token.is_write_key, token.rate_limit_per_minute) == (
        cast.revops,
        False,
        600,
    )
    assert secret not in token.secret_hash


def test_create_a_write_key_for_a_named_user_with_its_own_rate(cast):
    output = run_token_command(
        "create", "--name", "Website", "--write-key", "--user", "ALICE@example.com",
        "--rate-per-minute", "30",
    )  # fmt: skip

    token = ApiToken.objects.get()
    assert (token.user, token.is_write_key, token.rate_limit_per_minute) == (
        cast.marketer,
        True,
        30,
    )
    assert output.startswith("Created write key 'Website'")


@pytest.mark.django_db
def test_create_without_any_revops_user_refuses_and_creates_nothing():
    with pytest.raises(CommandError, match="user: there is no active RevOps user"):
        run_token_command("create", "--name", "Zapier")

    assert ApiToken.objects.count() == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--name", "Zapier", "--user", "nobody@example.com"],
         "user: no user with email 'nobody@example.com'."),
        (["--name", "Zapier", "--rate-per-minute", "0"],
         "rate-per-minute: expected a whole number of at least 1, got '0'."),
        (["--name", "  "], "name: A token needs a name that says which integration uses it."),
    ],
)  # fmt: skip
def test_create_refuses_bad_input_naming_the_field(cast, arguments, message):
    with pytest.raises(CommandError) as error:
        run_token_command("create", *arguments)

    assert str(error.value) == message
    assert ApiToken.objects.count() == 0


def test_list_shows_active_tokens_in_each_format_without_secrets(cast):
    zapier = token_create(by=cast.revops, user=cast.revops, name="Zapier")
    formula = token_create(by=cast.revops, user=cast.marketer, name="=HYPERLINK(1)", is_write_key=True)
    revoked = token_create(by=cast.revops, user=cast.revops, name="Old")
    run_token_command("revoke", revoked.token.prefix)

    table = run_token_command("list").splitlines()
    rows = list(csv.DictReader(StringIO(run_token_command("list", "--format", "csv"))))
    listed = json.loads(run_token_command("list", "--all", "--format", "json"))

    assert table[0].split() == [
        "PREFIX", "NAME", "KIND", "USER", "RATE", "PER", "MINUTE", "CREATED", "AT", "LAST", "USED",
        "AT", "STATUS",
    ]  # fmt: skip
    assert len(table) == 3
    assert [row["name"] for row in rows] == ["'=HYPERLINK(1)", "Zapier"]
    assert rows[0]["kind"] == "write key"
    assert rows[1]["user"] == "rita@example.com"
    assert [(item["prefix"], item["status"]) for item in listed] == [
        (revoked.token.prefix, "revoked"),
        (formula.token.prefix, "active"),
        (zapier.token.prefix, "active"),
    ]
    every_output = "\n".join(table) + json.dumps(listed) + json.dumps(rows)
    assert zapier.secret not in every_output


def test_revoke_by_prefix_stops_the_token_working(cast):
    issued = token_create(by=cast.revops, user=cast.revops, name="Zapier")

    output = run_token_command("revoke", issued.token.prefix)

    assert output == f"Revoked token 'Zapier' ({issued.token.prefix}).\n"
    assert token_authenticate(issued.secret) is None


def test_revoke_an_unknown_prefix_names_it(cast):
    issued = token_create(by=cast.revops, user=cast.revops, name="Zapier")

    with pytest.raises(CommandError, match="prefix: no token with prefix 'deadbeef'."):
        run_token_command("revoke", "deadbeef")

    assert token_authenticate(issued.secret) == issued.token
