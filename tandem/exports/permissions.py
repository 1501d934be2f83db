"""Who may export lists. Everyone signed in reads the shared record, so everyone may export it."""


def can_export(user) -> bool:
    """Any active, signed-in user (or the user an API token acts for) may export any list."""
    return bool(user and user.is_authenticated and user.is_active)
