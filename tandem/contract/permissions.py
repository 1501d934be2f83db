"""Who may draft, propose and decide on versions of the revenue contract. Everyone signed in reads it."""

from tandem.contract.models import ContractVersion, VersionStatus
from tandem.users.models import Role, Side

DRAFTING_ROLES = {Role.MARKETING, Role.MARKETING_MANAGER, Role.SALES_MANAGER, Role.REVOPS}
# A contract change needs one marketing lead and one sales lead.
LEAD_SIDES = {Role.MARKETING_MANAGER: Side.MARKETING, Role.SALES_MANAGER: Side.SALES}


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_draft_contract(user) -> bool:
    """Marketing ops, the two teams' managers and RevOps write drafts and proposals."""
    return _active(user) and user.role in DRAFTING_ROLES


def can_edit_draft(user, version: ContractVersion) -> bool:
    return can_draft_contract(user) and version.status == VersionStatus.DRAFT


def decision_refusal(user, version: ContractVersion) -> str:
    """Why `user` may not approve or reject `version`, or "" when they may."""
    if not _active(user):
        return "Sign in to decide on a proposal."
    if version.status != VersionStatus.PROPOSED:
        return f"v{version.number} is {version.get_status_display().lower()}, not a proposal awaiting a decision."
    side = LEAD_SIDES.get(user.role)
    if side is None:
        return "Only a marketing manager or a sales manager decides on contract proposals."
    if version.proposed_by_id == user.pk:
        return "You proposed this version, which counts as your side's approval; a lead of the other side decides."
    if any(approval.side == side for approval in version.approvals.all()):
        return f"The {side} side has already decided on v{version.number}."
    return ""


def can_decide(user, version: ContractVersion) -> bool:
    return decision_refusal(user, version) == ""


def can_withdraw(user, version: ContractVersion) -> bool:
    return (
        _active(user)
        and version.status == VersionStatus.PROPOSED
        and (version.proposed_by_id == user.pk or user.role == Role.REVOPS)
    )
