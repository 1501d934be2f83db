"""`tandem user create`: add a user from the command line, for operators and scripts."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tandem.audit.actors import Actor
from tandem.lib.validation_messages import describe_validation_error
from tandem.users.models import ROLE_SIDES, Role
from tandem.users.services import team_get_or_create, user_create


class Command(BaseCommand):
    help = "Create users: user create --email E --role R [--team T] [--password P] [--name N]."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Create a user who can sign in.")
        create.add_argument("--email", required=True, help="Sign-in email address.")
        create.add_argument("--role", required=True, help=f"One of: {', '.join(Role.values)}.")
        create.add_argument("--team", help="Team name; created on the role's side (marketing/sales/...) if new.")
        create.add_argument(
            "--password",
            help="Initial password. Without it the user sets one via 'Forgot password'.",
        )
        create.add_argument("--name", default="", help="Full name shown in the app.")

    def handle(self, *args, **options):
        if options["action"] == "create":
            self.create(options)

    def create(self, options):
        by = Actor.system("tandem user create")
        role = options["role"]
        try:
            with transaction.atomic():
                team = None
                # An unknown role gets its own error from user_create, so no team is made for it.
                if options["team"] and role in Role.values:
                    team = team_get_or_create(by=by, name=options["team"], side=ROLE_SIDES[Role(role)])
                user = user_create(
                    by=by,
                    email=options["email"],
                    role=role,
                    password=options["password"],
                    full_name=options["name"],
                    team=team,
                )
        except ValidationError as error:
            raise CommandError(describe_validation_error(error)) from None

        team_text = f", team {user.team.name}" if user.team else ""
        self.stdout.write(self.style.SUCCESS(f"Created user {user.email} ({user.get_role_display()}{team_text})."))
        if not options["password"]:
            self.stdout.write(
                'No password was set: the user can choose one with the "Forgot password" link on the sign-in page.'
            )
