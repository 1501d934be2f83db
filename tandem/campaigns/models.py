"""Campaigns and the people who are members of them."""

from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    ORGANIC_SOCIAL = "organic_social", "Organic social"
    PAID_SOCIAL = "paid_social", "Paid social"
    EMAIL = "email", "Email"
    REFERRAL = "referral", "Referral"
    DIRECT = "direct", "Direct"
    EVENTS = "events", "Events"
    PARTNER = "partner", "Partner"
    OUTBOUND_SALES = "outbound_sales", "Outbound sales"
    CONTENT = "content", "Content"


class CampaignType(models.TextChoices):
    WEBINAR = "webinar", "Webinar"
    EVENT = "event", "Event / trade show"
    EMAIL = "email", "Email program"
    ADS = "ads", "Advertising"
    CONTENT = "content", "Content / gated asset"
    OUTBOUND = "outbound", "Outbound sequence"
    PARTNER = "partner", "Partner program"
    OTHER = "other", "Other"


class Campaign(models.Model):
    """A marketing or sales program with a cost, a period and a goal."""

    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=30, choices=Channel.choices)
    type = models.CharField(max_length=30, choices=CampaignType.choices, default=CampaignType.OTHER)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_campaigns",
    )
    goal = models.CharField(max_length=300, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-start_date", "name"]

    def __str__(self) -> str:
        return self.name


class MemberStatus(models.TextChoices):
    TARGETED = "targeted", "Targeted"
    SENT = "sent", "Sent"
    RESPONDED = "responded", "Responded"
    REGISTERED = "registered", "Registered"
    ATTENDED = "attended", "Attended"


class CampaignMember(models.Model):
    """A person's membership of a campaign and how far they responded."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey("crm.Person", on_delete=models.CASCADE, related_name="campaign_memberships")
    status = models.CharField(max_length=20, choices=MemberStatus.choices, default=MemberStatus.TARGETED)
    responded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "person"], name="unique_campaign_member")]

    def __str__(self) -> str:
        return f"{self.person_id} in {self.campaign_id}"
