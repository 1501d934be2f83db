"""Exports: a record of every list that left Tandem as a file, who took it and with which filters."""

from django.conf import settings
from django.db import models


class ExportKind(models.TextChoices):
    ACCOUNTS = "accounts", "Accounts"
    PEOPLE = "people", "People"
    OPPORTUNITIES = "opportunities", "Opportunities"
    TOUCHPOINTS = "touchpoints", "Touchpoints"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel workbook (XLSX)"


class Export(models.Model):
    """One export of a list: who, which list, which filters, how many rows went out."""

    kind = models.CharField(max_length=20, choices=ExportKind.choices)
    file_format = models.CharField(max_length=10, choices=ExportFormat.choices)
    filters = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveBigIntegerField(default=0)
    # False when the export stopped early (a closed connection, an error): row_count rows still left.
    is_complete = models.BooleanField(default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.row_count} {self.kind} as {self.file_format} by {self.actor_label}"
