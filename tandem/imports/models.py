"""Import runs and saved column mappings."""

from django.conf import settings
from django.db import models


class ImportStatus(models.TextChoices):
    DRAFT = "draft", "Being set up"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (ImportStatus.QUEUED, ImportStatus.RUNNING, ImportStatus.CANCELLING)


class LoadPath(models.TextChoices):
    """How a run stores its rows, decided when it starts and kept, so that a restarted run goes the same way."""

    UNDECIDED = "", "Not decided yet"
    ORDINARY = "ordinary", "Row by row into the tables"
    BULK = "bulk", "New records staged, then loaded at once (tandem.imports.bulkload)"


class ImportPhase(models.TextChoices):
    READING = "", "Reading the file"
    FINISHING = "finishing", "Loading the staged records and rebuilding indexes"


class ImportRun(models.Model):
    """One file being imported: its mapping, progress, checkpoint and counts."""

    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.DRAFT)
    file_path = models.CharField(max_length=1000)
    original_filename = models.CharField(max_length=255)
    file_format = models.CharField(max_length=10, blank=True)
    encoding = models.CharField(max_length=30, blank=True)
    delimiter = models.CharField(max_length=2, blank=True)
    sheet = models.CharField(max_length=100, blank=True)
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Progress: `position` of `progress_total` (bytes of a CSV, rows of a workbook).
    progress_total = models.BigIntegerField(default=0)
    position = models.BigIntegerField(default=0)
    # Checkpoint: every record up to this line is committed, with its errors in the report.
    line_done = models.BigIntegerField(default=0)
    error_file_bytes = models.BigIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    created_count = models.BigIntegerField(default=0)
    updated_count = models.BigIntegerField(default=0)
    unchanged_count = models.BigIntegerField(default=0)
    rejected_count = models.BigIntegerField(default=0)
    duplicate_count = models.BigIntegerField(default=0)
    accounts_created_count = models.BigIntegerField(default=0)
    notes = models.JSONField(default=dict, blank=True, help_text="Counted remarks, e.g. rows without an account.")
    error_file = models.CharField(max_length=1000, blank=True)
    failure = models.TextField(blank=True)
    load_path = models.CharField(max_length=10, choices=LoadPath.choices, default=LoadPath.UNDECIDED, blank=True)
    phase = models.CharField(max_length=20, choices=ImportPhase.choices, default=ImportPhase.READING, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"Import #{self.pk} of {self.kind} from {self.original_filename}"

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.progress_total:
            return 0
        return min(99, int(self.position * 100 / self.progress_total))

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows_read,
            "created": self.created_count,
            "updated": self.updated_count,
            "unchanged": self.unchanged_count,
            "rejected": self.rejected_count,
            "duplicates": self.duplicate_count,
            "accounts_created": self.accounts_created_count,
        }


class SavedMapping(models.Model):
    """A column mapping kept under a name, to reuse for the next file of the same shape."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="saved_mapping_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"
