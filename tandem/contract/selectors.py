"""Reads of the revenue contract: versions, their decisions, diffs and glossary."""

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from tandem.contract.document import changed_paths, source_diff
from tandem.contract.models import ContractApproval, ContractVersion, GlossaryTerm, VersionStatus
from tandem.contract.services import contract_get


def active_version() -> ContractVersion:
    """The version in force."""
    return contract_get().active_version


def active_document() -> dict:
    """The document in force, as plain data."""
    return active_version().document


def version_list() -> QuerySet[ContractVersion]:
    return (
        ContractVersion.objects.filter(contract=contract_get())
        .select_related("created_by", "proposed_by", "based_on", "restored_from")
        .prefetch_related(Prefetch("approvals", queryset=ContractApproval.objects.select_related("user")))
        .order_by("-number")
    )


def version_get(number: int) -> ContractVersion:
    return version_list().get(number=number)


def open_proposals() -> QuerySet[ContractVersion]:
    return version_list().filter(status=VersionStatus.PROPOSED)


def glossary(version: ContractVersion) -> QuerySet[GlossaryTerm]:
    return GlossaryTerm.objects.filter(version=version).order_by("position")


@dataclass(frozen=True)
class VersionDiff:
    """Two versions side by side: the changed lines of their sources and the changed settings."""

    old: ContractVersion
    new: ContractVersion
    lines: list[tuple[str, str]]
    changes: list[tuple[str, object, object]]

    @property
    def added(self) -> int:
        return sum(1 for kind, _ in self.lines if kind == "+")

    @property
    def removed(self) -> int:
        return sum(1 for kind, _ in self.lines if kind == "-")


def version_diff(old: ContractVersion, new: ContractVersion) -> VersionDiff:
    """What changes from `old` to `new`."""
    lines = source_diff(old.source, new.source, old_label=f"v{old.number}", new_label=f"v{new.number}")
    changes = changed_paths(old.document, new.document) if old.document and new.document else []
    return VersionDiff(old=old, new=new, lines=lines, changes=changes)
