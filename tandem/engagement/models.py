"""Touchpoints: every marketing or sales interaction with a person or an anonymous visitor."""

from django.db import models

from tandem.campaigns.models import Channel


class TouchpointType(models.TextChoices):
    PAGE_VIEW = "page_view", "Page view"
    FORM_SUBMIT = "form_submit", "Form submit"
    EMAIL_SENT = "email_sent", "Email sent"
    EMAIL_DELIVERED = "email_delivered", "Email delivered"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    EMAIL_BOUNCE = "email_bounce", "Email bounce"
    EMAIL_UNSUBSCRIBE = "email_unsubscribe", "Email unsubscribe"
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

    # No index of its own: the (person, -occurred_at) index serves every lookup by person.
    person = models.ForeignKey(
        "crm.Person", null=True, blank=True, on_delete=models.CASCADE, related_name="touchpoints", db_index=False
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
    # Unique through TouchpointKey: a unique constraint on the month-partitioned PostgreSQL table
    # would have to include occurred_at, which a retry may not repeat exactly.
    client_event_id = models.CharField(max_length=100, null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["person", "-occurred_at"]),  # one person's timeline
            models.Index(fields=["occurred_at"]),  # all touchpoints in a period
            models.Index(fields=["anonymous_id"], condition=~models.Q(anonymous_id=""), name="touchpoint_anon_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


class TouchpointKey(models.Model):
    """A client event id already stored: what makes a retried event a no-op, across all partitions."""

    client_event_id = models.CharField(max_length=100, primary_key=True)
    occurred_at = models.DateTimeField(help_text="When its touchpoint happened; retention drops old keys with it.")

    def __str__(self) -> str:
        return self.client_event_id


class Visitor(models.Model):
    """An anonymous id (the snippet's cookie, a device) known to belong to a person."""

    anonymous_id = models.CharField(max_length=100, primary_key=True)
    person = models.ForeignKey("crm.Person", on_delete=models.CASCADE, related_name="visitors")
    identified_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.anonymous_id} → {self.person_id}"


class PersonMerge(models.Model):
    """Two people found to be one: the merged person's history now belongs to the kept one."""

    kept_person = models.ForeignKey("crm.Person", on_delete=models.CASCADE, related_name="merges_kept")
    merged_person_id = models.BigIntegerField(help_text="The id of the person merged away (deleted).")
    merged_email = models.CharField(max_length=254, blank=True)
    merged_snapshot = models.JSONField(default=dict, help_text="The merged person's fields as they were.")
    moved_counts = models.JSONField(default=dict, help_text="How many records of each kind moved over.")
    merged_at = models.DateTimeField()
    merged_by_label = models.CharField(max_length=200)

    class Meta:
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"{self.merged_person_id} into {self.kept_person_id}"
