"""Reads of API tokens."""

from django.db.models import QuerySet

from tandem.integrations.models import ApiToken
from tandem.integrations.services import TOKEN_PREFIX


def token_list(*, include_revoked: bool = False) -> QuerySet[ApiToken]:
    """Tokens, newest first, with the user each acts as."""
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    return tokens if include_revoked else tokens.filter(revoked_at__isnull=True)


def token_get_by_prefix(prefix: str) -> ApiToken | None:
    """The token whose prefix is given, or whose full secret is given; None if there is none."""
    prefix = prefix.strip()
    if prefix.startswith(TOKEN_PREFIX):
        prefix = prefix[len(TOKEN_PREFIX) :].split("_", 1)[0]
    return ApiToken.objects.select_related("user").filter(prefix=prefix).first()
