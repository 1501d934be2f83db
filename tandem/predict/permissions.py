"""Who may train, roll back and configure the predictive score. Everyone signed in reads the card and scores."""

from tandem.users.models import Role


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_view_predictions(user) -> bool:
    """The score and its factors are part of the shared record."""
    return _active(user)


def can_manage_model(user) -> bool:
    """RevOps / admin trains, rolls back and changes the settings: the model changes everyone's score."""
    return _active(user) and (user.role == Role.REVOPS or user.is_superuser)
