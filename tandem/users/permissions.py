"""Who may manage users, teams and integrations."""

from tandem.users.models import Role


def can_manage_users(user) -> bool:
    return bool(user and user.is_authenticated and user.role == Role.REVOPS)


def can_manage_tokens(user) -> bool:
    return bool(user and user.is_authenticated and user.role == Role.REVOPS)
