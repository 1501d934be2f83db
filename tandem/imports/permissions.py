"""Who may import files into the shared record.

Imports write many records at once, under no record owner's eye, so they are for the people who
run the data: RevOps imports every kind (users too, which only RevOps manages), and the marketing
and sales managers import records — accounts, people, opportunities and touchpoints. Reps,
marketers and the read-only leadership role do not import.
"""

from tandem.users.models import MANAGER_ROLES, Role

RECORD_KINDS = ("accounts", "people", "opportunities", "touchpoints")


def _is_active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def importable_kinds(user) -> tuple[str, ...]:
    """The kinds of record this user may import, in the order imports should run."""
    if not _is_active(user):
        return ()
    if user.role == Role.REVOPS:
        return ("users", *RECORD_KINDS)
    if user.role in MANAGER_ROLES:
        return RECORD_KINDS
    return ()


def can_import(user, kind: str | None = None) -> bool:
    """May import files (of `kind`, when given)."""
    kinds = importable_kinds(user)
    return bool(kinds) if kind is None else kind in kinds


def can_view_import(user, run) -> bool:
    """Those who import see every import and its error report (which holds the file's cells)."""
    return can_import(user)


def can_cancel_import(user, run) -> bool:
    """The one who started an import, or RevOps, may stop it."""
    if not can_import(user):
        return False
    return user.role == Role.REVOPS or run.created_by_id == user.pk
