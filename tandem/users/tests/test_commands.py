"""`tandem user create` from the command line."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tandem.audit.models import AuditEntry
from tandem.users.models import Role, Side, Team, User

REPOSITORY = Path(__file__).resolve().parents[3]


def run_user_command(*arguments: str) -> str:
    out = StringIO()
    call_command("user", *arguments, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_create_makes_a_user_in_a_new_team_on_the_roles_side():
    output = run_user_command(
        "create", "--email", "Nina@Example.com", "--role", "sdr", "--team", "Inbound",
        "--password", "correct-horse-battery-9", "--name", "Nina Novak",
    )  # fmt: skip

    user = User.objects.get()
    assert (user.email, user.role, user.full_name) == ("nina@example.com", Role.SDR, "Nina Novak")
    assert (user.team.name, user.team.side) == ("Inbound", Side.SALES)
    assert user.check_password("correct-horse-battery-9")
    assert output == "Created user nina@example.com (SDR, team Inbound).\n"
    assert AuditEntry.objects.filter(actor_label="System: tandem user create").count() == 2


@pytest.mark.django_db
def test_create_joins_an_existing_team():
    marketing = Team.objects.create(name="Marketing", side=Side.MARKETING)

    run_user_command("create", "--email", "mo@example.com", "--role", "marketing_manager", "--team", "Marketing")

    assert User.objects.get().team == marketing
    assert Team.objects.count() == 1


@pytest.mark.django_db
def test_create_without_password_points_to_forgot_password():
    output = run_user_command("create", "--email", "rita@example.com", "--role", "revops")

    user = User.objects.get()
    assert not user.has_usable_password()
    assert user.team is None
    assert output.splitlines()[1] == (
        'No password was set: the user can choose one with the "Forgot password" link on the sign-in page.'
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--email", "not-an-email", "--role", "sdr"],
         "email: 'not-an-email' is not a valid email address."),
        (["--email", "ok@example.com", "--role", "wizard"],
         "role: Unknown role 'wizard'; expected one of marketing, sdr, ae, marketing_manager, "
         "sales_manager, revops, leadership."),
        (["--email", "ok@example.com", "--role", "sdr", "--password", "short"],
         "password: This password is too short. It must contain at least 8 characters."),
    ],
)  # fmt: skip
def test_create_refuses_bad_input_naming_the_field_and_creates_nothing(arguments, message):
    with pytest.raises(CommandError) as error:
        run_user_command("create", *arguments, "--team", "Inbound")

    assert str(error.value) == message
    assert User.objects.count() == 0
    assert Team.objects.count() == 0
    assert AuditEntry.objects.count() == 0


@pytest.mark.django_db
def test_create_refuses_a_second_user_with_the_same_email():
    run_user_command("create", "--email", "sam@example.com", "--role", "sdr")

    with pytest.raises(CommandError, match="email: A user with email 'sam@example.com' already"):
        run_user_command("create", "--email", "SAM@example.com", "--role", "ae")

    assert User.objects.get().role == Role.SDR


@pytest.mark.parametrize(
    ("arguments", "field"),
    [(["--email", "nope", "--role", "sdr"], "email"),
     (["--email", "ok@example.com", "--role", "wizard"], "role")],
)  # fmt: skip
def test_the_tandem_command_exits_1_with_the_field_and_no_traceback(tmp_path, arguments, field):
    environment = {**os.environ, "TANDEM_DATA_DIR": str(tmp_path)}
    environment.pop("DATABASE_URL", None)

    finished = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tandem.cli", "user", "create", *arguments],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert finished.returncode == 1
    assert finished.stderr.startswith(f"CommandError: {field}: ")
    assert "Traceback" not in finished.stderr
