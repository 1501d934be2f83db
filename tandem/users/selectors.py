"""Reads of users and teams."""

from django.db.models import Case, IntegerField, QuerySet, Value, When

from tandem.users.models import Role, User

DEMO_EMAIL_DOMAIN = "demo.tandem.test"


def user_get_by_email(email: str) -> User | None:
    """The user with this email (case-insensitive), or None."""
    return User.objects.filter(email__iexact=(email or "").strip()).first()


def user_first_active_revops() -> User | None:
    """The longest-standing active RevOps user: who acts for the operator by default."""
    return User.objects.filter(role=Role.REVOPS, is_active=True).order_by("date_joined", "pk").first()


def demo_users() -> QuerySet[User]:
    """Active users of the generated demo company, RevOps first."""
    revops_first = Case(When(role=Role.REVOPS, then=Value(0)), default=Value(1), output_field=IntegerField())
    return User.objects.filter(email__iendswith=f"@{DEMO_EMAIL_DOMAIN}", is_active=True).order_by(
        revops_first, "date_joined", "pk"
    )
