"""Who may change what in the shared record. Everyone signed in may read it."""

from tandem.crm.models import Account, LifecycleStage, Opportunity, Person
from tandem.users.models import Role, Side


def _is_writer(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role != Role.LEADERSHIP)


def _manages(user, owner) -> bool:
    """A manager may change what the members of their teams own."""
    if not user.is_manager or owner is None:
        return False
    if owner.pk == user.pk:
        return True
    return owner.team_id is not None and owner.team.manager_id == user.pk


def _may_change_owned(user, owner) -> bool:
    if not _is_writer(user):
        return False
    if user.role == Role.REVOPS:
        return True
    if owner is None:
        # Unowned records are everyone's to work on.
        return True
    return owner.pk == user.pk or _manages(user, owner)


def can_create_record(user) -> bool:
    """Every role but the read-only leadership role creates records."""
    return _is_writer(user)


def can_edit_account(user, account: Account) -> bool:
    return _may_change_owned(user, account.owner)


def can_edit_person(user, person: Person) -> bool:
    return _may_change_owned(user, person.owner)


def can_edit_opportunity(user, opportunity: Opportunity) -> bool:
    if not _is_writer(user):
        return False
    if user.side == Side.MARKETING:
        return False
    return _may_change_owned(user, opportunity.owner)


def can_delete(user, record) -> bool:
    """Deleting is for RevOps and for the managers of the record's owner."""
    if not _is_writer(user):
        return False
    if user.role == Role.REVOPS:
        return True
    owner = getattr(record, "owner", None)
    return _manages(user, owner)


def can_move_stage(user, person: Person, to_stage: LifecycleStage) -> bool:
    """Marketing moves people through marketing's stages, sales through sales' stages."""
    if not can_edit_person(user, person):
        return False
    if user.role == Role.REVOPS or to_stage.side == "both":
        return True
    return user.side == to_stage.side


def can_edit_activity(user, activity) -> bool:
    if not _is_writer(user):
        return False
    if user.role == Role.REVOPS or (activity.user_id == user.pk):
        return True
    return _manages(user, activity.user)
