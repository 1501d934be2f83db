"""Touchpoints: every marketing or sales interaction with a person or an anonymous visitor."""

from django.db import models

from tandem.campaigns.models import Channel


class TouchpointType(models.TextChoices):
    PAGE_VIEW = "page_view", "Page view"
    FORM_SUBMIT = "form_submit", "Form submit"
    EMAIL_SENT = "email_sent", "Email sent"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    AD_CLICK = "ad_click", "Ad click"
    WEBINAR = "webinar", "Webinar"
    EVENT = "event", "Event"
    CONTENT_DOWNLOAD = "content_download", "Content download"
    MEETING_BOOKED = "meeting_booked", "Meeting booked"
    CHAT = "chat", "Chat"
    CALL = "call", "Call"
    SALES_EMAIL = "sales_email", "Sales email"


class Touchpoint(models.Model):
    """One interaction, tied to a person or to an anonymous visitor stitched to one later."""

    person = models.ForeignKey(
        "crm.Person", null=True, blank=True, on_delete=models.CASCADE, related_name="touchpoints"
    )
    anonymous_id = models.CharField(max_length=100, blank=True)
    type = models.CharField(max_length=30, choices=TouchpointType.choices)
    channel = models.CharField(max_length=30, choices=Channel.choices, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="touchpoints"
    )
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    referrer = models.URLField(max_length=2000, blank=True)
    occurred_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    client_event_id = models.CharField(max_length=100, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["person", "-occurred_at"]),
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["anonymous_id"], condition=~models.Q(anonymous_id=""), name="touchpoint_anon_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"
