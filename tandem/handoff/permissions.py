"""Who may do what with hand-offs. Everyone signed in may read them."""

from tandem.users.models import Role

SALES_REPS = (Role.SDR, Role.AE)


def _is_active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def _manages_team(user, team_id) -> bool:
    return user.role == Role.SALES_MANAGER and team_id is not None and user.managed_teams.filter(pk=team_id).exists()


def can_decide_handoff(user, handoff) -> bool:
    """Only sales accepts or rejects: the assignee, a rep of the team for a queued one, or the team's manager."""
    if not _is_active(user) or user.role not in (*SALES_REPS, Role.SALES_MANAGER):
        return False
    if handoff.assignee_id is not None and handoff.assignee_id == user.pk:
        return True
    if user.role == Role.SALES_MANAGER:
        assignee_team = handoff.assignee.team_id if handoff.assignee_id else None
        return _manages_team(user, handoff.team_id) or _manages_team(user, assignee_team)
    # A hand-off waiting in a team queue is for any rep of that team to take.
    return handoff.assignee_id is None and handoff.team_id is not None and handoff.team_id == user.team_id


def can_reassign_handoff(user, handoff) -> bool:
    """The team's sales manager (or the assignee's) and RevOps reassign."""
    if not _is_active(user):
        return False
    if user.role == Role.REVOPS:
        return True
    if user.role != Role.SALES_MANAGER:
        return False
    assignee_team = handoff.assignee.team_id if handoff.assignee_id else None
    return _manages_team(user, handoff.team_id) or _manages_team(user, assignee_team)


def can_manage_time_off(user, for_user) -> bool:
    """Users record their own time off; their manager and RevOps record anyone's."""
    if not _is_active(user) or user.role == Role.LEADERSHIP:
        return False
    if user.pk == for_user.pk or user.role == Role.REVOPS:
        return True
    return user.is_manager and for_user.team_id is not None and user.managed_teams.filter(pk=for_user.team_id).exists()


def can_set_mql_goal(user) -> bool:
    """Marketing managers and RevOps set marketing's MQL goals."""
    return _is_active(user) and user.role in (Role.MARKETING_MANAGER, Role.REVOPS)


def can_view_team(user) -> bool:
    """Managers, RevOps and leadership see a team's hand-offs."""
    return _is_active(user) and (user.is_manager or user.role in (Role.REVOPS, Role.LEADERSHIP))
