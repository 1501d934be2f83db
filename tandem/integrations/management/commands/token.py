"""`tandem token create|list|revoke`: API tokens for integrations, from the command line."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tandem.audit.actors import Actor
from tandem.integrations.selectors import token_get_by_prefix, token_list
from tandem.integrations.services import token_create, token_revoke
from tandem.lib.tabular_output import FORMATS, write_rows
from tandem.lib.validation_messages import describe_validation_error
from tandem.users.selectors import user_first_active_revops, user_get_by_email

LIST_COLUMNS = (
    "prefix",
    "name",
    "kind",
    "user",
    "rate_per_minute",
    "created_at",
    "last_used_at",
    "status",
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise CommandError(f"rate-per-minute: expected a whole number of at least 1, got '{text}'.")
    return value


class Command(BaseCommand):
    help = "Manage API tokens: token create --name N [--write-key], token list, token revoke PREFIX."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        create = actions.add_parser("create", help="Create a token and print its secret once.")
        create.add_argument("--name", required=True, help="Which integration uses the token.")
        create.add_argument(
            "--write-key",
            action="store_true",
            help="A public write key for the website snippet: it can only send events.",
        )
        create.add_argument(
            "--origin",
            action="append",
            metavar="URL",
            help="For a write key: a web origin browsers may send events from (repeat for more).",
        )
        create.add_argument(
            "--user",
            metavar="EMAIL",
            help="The user the token acts as (default: the first active RevOps user).",
        )
        create.add_argument(
            "--rate-per-minute",
            metavar="N",
            help="Requests per minute this token may make (default: TANDEM_API_RATE_PER_MINUTE).",
        )

        listing = actions.add_parser("list", help="List tokens (never their secrets).")
        listing.add_argument("--all", action="store_true", help="Include revoked tokens.")
        listing.add_argument("--format", choices=FORMATS, default="table", dest="output_format")

        revoke = actions.add_parser("revoke", help="Revoke a token by its prefix.")
        revoke.add_argument("prefix", help="The token's prefix as shown by `token list`.")

    def handle(self, *args, **options):
        {"create": self.create, "list": self.list, "revoke": self.revoke}[options["action"]](options)

    def create(self, options):
        rate = options["rate_per_minute"]
        rate = _positive_int(rate) if rate is not None else None
        if options["user"]:
            user = user_get_by_email(options["user"])
            if user is None:
                raise CommandError(f"user: no user with email '{options['user']}'.")
            if not user.is_active:
                raise CommandError(f"user: '{user.email}' is deactivated.")
        else:
            user = user_first_active_revops()
            if user is None:
                raise CommandError(
                    "user: there is no active RevOps user for the token to act as; create one "
                    "with `tandem user create --role revops ...` or pass --user EMAIL."
                )
        try:
            issued = token_create(
                by=Actor.system("tandem token create"),
                user=user,
                name=options["name"],
                is_write_key=options["write_key"],
                rate_limit_per_minute=rate,
                allowed_origins=options["origin"],
            )
        except ValidationError as error:
            raise CommandError(describe_validation_error(error)) from None

        token = issued.token
        kind = "write key" if token.is_write_key else "API token"
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {kind} '{token.name}' (prefix {token.prefix}), acting as {user.email}, "
                f"{token.rate_limit_per_minute} requests per minute."
            )
        )
        self.stdout.write(issued.secret)
        self.stdout.write(
            self.style.WARNING("Copy the secret now: it is stored only as a hash and cannot be shown again.")
        )

    def list(self, options):
        rows = [
            {
                "prefix": token.prefix,
                "name": token.name,
                "kind": "write key" if token.is_write_key else "api",
                "user": token.user.email,
                "rate_per_minute": token.rate_limit_per_minute,
                "created_at": token.created_at,
                "last_used_at": token.last_used_at,
                "status": "active" if token.is_active else "revoked",
            }
            for token in token_list(include_revoked=options["all"])
        ]
        write_rows(self.stdout, rows, LIST_COLUMNS, options["output_format"])

    def revoke(self, options):
        token = token_get_by_prefix(options["prefix"])
        if token is None:
            raise CommandError(f"prefix: no token with prefix '{options['prefix']}'.")
        was_active = token.is_active
        token_revoke(by=Actor.system("tandem token revoke"), token=token)
        if was_active:
            self.stdout.write(self.style.SUCCESS(f"Revoked token '{token.name}' ({token.prefix})."))
        else:
            self.stdout.write(f"Token '{token.name}' ({token.prefix}) was already revoked.")
