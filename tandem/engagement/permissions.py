"""Who may send events, merge people and see the tracking settings."""

from tandem.users.models import Role


def _is_writer(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role != Role.LEADERSHIP)


def can_send_events(user) -> bool:
    """A token's user must be able to write records: events create people and touchpoints."""
    return _is_writer(user)


def can_merge_people(user) -> bool:
    """Merging deletes one of the two records, so it is for RevOps and managers."""
    return _is_writer(user) and (user.role == Role.REVOPS or user.is_manager)


def can_view_tracking(user) -> bool:
    """Everyone signed in may see the snippet and the UTM report."""
    return bool(user and user.is_authenticated and user.is_active)
