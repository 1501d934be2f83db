"""API tokens for integrations, each stored hashed and with its own rate budget."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token for one integration; only a hash of the secret is kept."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    is_write_key = models.BooleanField(default=False, help_text="A public write key may only send events.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The token acts with this user's permissions.",
    )
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    allowed_origins = models.TextField(
        blank=True,
        help_text="For a write key: the web origins (https://www.example.com) browsers may send from, one a line.",
    )
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def origins(self) -> frozenset[str]:
        """The allowed origins, normalised (lower case, no trailing slash)."""
        return frozenset(line.strip().rstrip("/").lower() for line in self.allowed_origins.splitlines() if line.strip())

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
