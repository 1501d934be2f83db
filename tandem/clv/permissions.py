"""Who may refit the lifetime-value models. Everyone signed in reads the values."""

from tandem.users.models import Role

REFITTING_ROLES = {Role.REVOPS, Role.MARKETING_MANAGER, Role.SALES_MANAGER}


def can_refit_clv(user) -> bool:
    """RevOps and the two teams' managers refit the models and replace the stored values."""
    return bool(user and user.is_authenticated and user.is_active and user.role in REFITTING_ROLES)
