"""API tokens: created with a secret shown once, stored as a hash, revoked, rate-limited."""

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tandem.audit.services import audit_record
from tandem.integrations.models import ApiToken

TOKEN_PREFIX = "tdm_"  # noqa: S105 - a public marker, not a secret


def _hash(secret: str) -> str:
    # Tokens are 256 bits of randomness, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def origins_clean(origins) -> str:
    """Web origins (scheme://host[:port]) one a line, lower case; a bad one is refused by name."""
    cleaned = []
    for origin in origins or []:
        value = origin.strip().rstrip("/").lower()
        if not value:
            continue
        if not re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", value):
            raise ValidationError(
                {"allowed_origins": f"'{origin[:100]}' is not a web origin such as https://www.example.com."}
            )
        cleaned.append(value)
    return "\n".join(dict.fromkeys(cleaned))


@transaction.atomic
def token_create(
    *,
    by,
    user,
    name: str,
    is_write_key: bool = False,
    rate_limit_per_minute: int | None = None,
    allowed_origins: list[str] | None = None,
) -> IssuedToken:
    """Create a token acting as `user`; the returned secret is never stored and cannot be shown again.

    A write key may list the web origins browsers may send events from (`allowed_origins`).
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A token needs a name that says which integration uses it."})
    origins = origins_clean(allowed_origins)
    if origins and not is_write_key:
        raise ValidationError({"allowed_origins": "Only a write key is used from browsers; API tokens are secret."})
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        name=name[:100],
        prefix=prefix,
        secret_hash=_hash(secret),
        is_write_key=is_write_key,
        user=user,
        rate_limit_per_minute=rate_limit_per_minute or settings.API_DEFAULT_RATE_PER_MINUTE,
        allowed_origins=origins,
        created_at=timezone.now(),
    )
    audit_record(
        by=by,
        action="create",
        instance=token,
        after={"name": token.name, "prefix": prefix, "is_write_key": is_write_key, "allowed_origins": origins},
        summary=f"Created API token {token.name}",
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def token_revoke(*, by, token: ApiToken) -> ApiToken:
    """Revoke a token; requests with it are refused from now on."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            by=by,
            action="revoke",
            instance=token,
            before={"revoked_at": None},
            after={"revoked_at": token.revoked_at.isoformat()},
            summary=f"Revoked API token {token.name}",
        )
    return token


def token_authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, or None."""
    if not secret.startswith(TOKEN_PREFIX) or secret.count("_") < 2:
        return None
    prefix = secret[len(TOKEN_PREFIX) :].split("_", 1)[0]
    token = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True).select_related("user").first()
    if token is None or not secrets.compare_digest(token.secret_hash, _hash(secret)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_rate_check(token: ApiToken, *, now: float | None = None, counters: BaseCache | None = None) -> int:
    """Count one request against the token's budget for this minute.

    Returns 0 when the request may go ahead, or the seconds to wait until the budget renews.
    Each token has its own counter, so one busy integration cannot starve another. `counters`
    is the cache that holds them (default: Django's default cache).
    """
    counters = cache if counters is None else counters
    now = time.time() if now is None else now
    window = int(now // 60)
    key = f"api-rate:{token.pk}:{window}"
    if counters.add(key, 1, timeout=120):
        used = 1
    else:
        try:
            used = counters.incr(key)
        except ValueError:
            counters.set(key, 1, timeout=120)
            used = 1
    if used > token.rate_limit_per_minute:
        return max(1, int((window + 1) * 60 - now))
    return 0
