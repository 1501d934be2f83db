"""Who may do what on the scorecard: everyone reads it; RevOps and leadership set the revenue target."""

from tandem.users.models import Role


def can_view_scorecard(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_set_revenue_target(user) -> bool:
    return can_view_scorecard(user) and (user.role in (Role.REVOPS, Role.LEADERSHIP) or user.is_superuser)


def can_share_view(user) -> bool:
    """Shared views appear for everyone, so only managers, RevOps and leadership publish them."""
    return can_view_scorecard(user) and (
        user.role in (Role.REVOPS, Role.LEADERSHIP, Role.MARKETING_MANAGER, Role.SALES_MANAGER) or user.is_superuser
    )


def can_delete_view(user, view) -> bool:
    return view.owner_id == user.pk or user.role == Role.REVOPS
