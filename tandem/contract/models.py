"""The revenue contract: one versioned document of shared definitions that Tandem executes."""

from django.conf import settings
from django.db import models


class Contract(models.Model):
    """The workspace's revenue contract; its published version is the rulebook in force."""

    name = models.CharField(max_length=120, default="Revenue contract")
    active_version = models.ForeignKey(
        "contract.ContractVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PROPOSED = "proposed", "Proposed"
    PUBLISHED = "published", "Published"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ContractVersion(models.Model):
    """One version of the contract: its YAML source as written, the parsed document and its workflow state."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    source = models.TextField(help_text="The YAML document as its author wrote it.")
    document = models.JSONField(default=dict, blank=True, help_text="The parsed document; empty while invalid.")
    problems = models.JSONField(default=list, blank=True, help_text="Validation problems: path, line, message.")
    summary = models.CharField(max_length=300, blank=True, help_text="What this version changes, in a sentence.")
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    restored_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["contract", "number"], name="unique_contract_version_number")]

    def __str__(self) -> str:
        return f"v{self.number}"

    @property
    def is_valid(self) -> bool:
        return bool(self.document) and not self.problems


class Decision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class ContractApproval(models.Model):
    """A lead's decision on a proposed version, for their side (marketing or sales)."""

    version = models.ForeignKey(ContractVersion, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=20)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "side"], name="one_decision_per_side")]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.user} for {self.side}"


class GlossaryTerm(models.Model):
    """A defined word of a contract version: what it means, which team owns it, the rule it points to."""

    version = models.ForeignKey(ContractVersion, on_delete=models.CASCADE, related_name="glossary")
    position = models.PositiveSmallIntegerField()
    term = models.CharField(max_length=80)
    definition = models.TextField()
    owner = models.CharField(max_length=20)
    rule = models.CharField(max_length=120, blank=True, help_text="Path of the section that defines it, e.g. mql.")

    class Meta:
        ordering = ["version", "position"]
        constraints = [models.UniqueConstraint(fields=["version", "term"], name="unique_glossary_term")]

    def __str__(self) -> str:
        return self.term
