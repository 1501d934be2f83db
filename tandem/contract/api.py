"""API of the revenue contract: read versions and their diffs, write drafts, propose, decide."""

import datetime as dt
from typing import Any, Literal

from django.http import Http404
from ninja import Field, Router, Schema, Status

from tandem.contract import selectors, services
from tandem.contract.document import MAX_SOURCE_CHARS, parse_source
from tandem.contract.models import ContractVersion
from tandem.lib.http_api import Input

router = Router(tags=["Revenue contract"])


class ProblemOut(Schema):
    path: str
    line: int | None
    message: str


class DecisionOut(Schema):
    side: str
    decision: str
    note: str
    at: dt.datetime
    user_email: str

    @staticmethod
    def resolve_user_email(approval) -> str:
        return approval.user.email


class VersionOut(Schema):
    number: int
    status: str
    summary: str
    is_valid: bool
    based_on: int | None
    restored_from: int | None
    created_by_email: str | None
    created_at: dt.datetime
    proposed_at: dt.datetime | None
    published_at: dt.datetime | None
    decisions: list[DecisionOut]

    @staticmethod
    def resolve_based_on(version) -> int | None:
        return version.based_on.number if version.based_on_id else None

    @staticmethod
    def resolve_restored_from(version) -> int | None:
        return version.restored_from.number if version.restored_from_id else None

    @staticmethod
    def resolve_created_by_email(version) -> str | None:
        return version.created_by.email if version.created_by_id else None

    @staticmethod
    def resolve_decisions(version) -> list:
        return list(version.approvals.all())


class VersionDetailOut(VersionOut):
    source: str
    document: dict[str, Any]
    problems: list[ProblemOut]


class SourceIn(Input):
    source: str = Field(max_length=MAX_SOURCE_CHARS, description="The contract as YAML.")
    summary: str = Field("", max_length=300, description="What this version changes, in a sentence.")


class CheckIn(Input):
    source: str = Field(max_length=MAX_SOURCE_CHARS)


class CheckOut(Schema):
    is_valid: bool
    problems: list[ProblemOut]


class ProposeIn(Input):
    summary: str | None = Field(None, max_length=300)


class DecisionIn(Input):
    decision: Literal["approve", "reject"]
    note: str = Field("", max_length=2000, description="Required when rejecting.")


class ChangeOut(Schema):
    path: str
    before: Any
    after: Any


class DiffOut(Schema):
    old: int
    new: int
    added_lines: int
    removed_lines: int
    lines: list[tuple[str, str]]
    changes: list[ChangeOut]


def _version(number: int) -> ContractVersion:
    try:
        return selectors.version_get(number)
    except ContractVersion.DoesNotExist:
        raise Http404(f"Contract version {number} not found") from None


@router.get("/contract", response=VersionDetailOut)
def get_active_contract(request):
    """The version in force."""
    return _version(selectors.active_version().number)


@router.get("/contract/versions", response=list[VersionOut])
def list_versions(request):
    return list(selectors.version_list())


@router.get("/contract/versions/{number}", response=VersionDetailOut)
def get_version(request, number: int):
    return _version(number)


@router.post("/contract/check", response=CheckOut)
def check_source(request, payload: CheckIn):
    """Validate a YAML document without saving it: every problem with its path and line."""
    _, problems = parse_source(payload.source)
    return {"is_valid": not problems, "problems": [problem.as_dict() for problem in problems]}


@router.post("/contract/versions", response={201: VersionDetailOut})
def create_draft(request, payload: SourceIn):
    """Start a draft from a YAML document (a draft may hold problems; it cannot be proposed with them)."""
    version = services.contract_draft_create(by=request.user, source=payload.source, summary=payload.summary)
    return Status(201, _version(version.number))


@router.put("/contract/versions/{number}", response=VersionDetailOut)
def update_draft(request, number: int, payload: SourceIn):
    version = services.contract_draft_update(
        by=request.user, version=_version(number), source=payload.source, summary=payload.summary
    )
    return _version(version.number)


@router.post("/contract/versions/{number}/propose", response=VersionDetailOut)
def propose(request, number: int, payload: ProposeIn):
    services.contract_propose(by=request.user, version=_version(number), summary=payload.summary)
    return _version(number)


@router.post("/contract/versions/{number}/decisions", response=VersionDetailOut)
def decide(request, number: int, payload: DecisionIn):
    """A marketing or sales lead approves or rejects; both sides' approval puts the version in force."""
    services.contract_decide(by=request.user, version=_version(number), decision=payload.decision, note=payload.note)
    return _version(number)


@router.post("/contract/versions/{number}/withdraw", response=VersionDetailOut)
def withdraw(request, number: int):
    services.contract_withdraw(by=request.user, version=_version(number))
    return _version(number)


@router.post("/contract/versions/{number}/restore", response={201: VersionDetailOut})
def restore(request, number: int):
    """Propose a new version with the text of an earlier one."""
    version = services.contract_restore(by=request.user, version=_version(number))
    return Status(201, _version(version.number))


@router.get("/contract/versions/{number}/diff/{other}", response=DiffOut)
def diff(request, number: int, other: int):
    """What changes from version `other` to version `number`."""
    result = selectors.version_diff(_version(other), _version(number))
    return {
        "old": other,
        "new": number,
        "added_lines": result.added,
        "removed_lines": result.removed,
        "lines": result.lines,
        "changes": [{"path": path, "before": before, "after": after} for path, before, after in result.changes],
    }
