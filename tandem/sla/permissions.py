"""Who may see the SLA reports and the breach log."""

from tandem.users.models import Role


def _is_active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_view_sla_reports(user) -> bool:
    """Managers, RevOps and leadership see compliance and everyone's breaches."""
    return _is_active(user) and (user.is_manager or user.role in (Role.REVOPS, Role.LEADERSHIP))


def can_view_breach_log(user) -> bool:
    """Everyone signed in sees the breach log: reps their own breaches, the others all of them."""
    return _is_active(user)
