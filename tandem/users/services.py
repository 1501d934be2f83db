"""Writes to users and teams."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from tandem.audit.services import audit_record
from tandem.users.models import Role, Side, Team, User


@transaction.atomic
def team_get_or_create(*, by, name: str, side: str, manager: User | None = None) -> Team:
    """The team with this name, created if needed."""
    if side not in Side.values:
        raise ValidationError({"side": f"Unknown side '{side}'; expected one of {', '.join(Side.values)}."})
    team, created = Team.objects.get_or_create(name=name.strip(), defaults={"side": side, "manager": manager})
    if created:
        audit_record(
            by=by,
            action="create",
            instance=team,
            after={"name": team.name, "side": side},
            summary=f"Created team {team.name}",
        )
    return team


@transaction.atomic
def user_create(
    *,
    by,
    email: str,
    role: str,
    password: str | None = None,
    full_name: str = "",
    team: Team | None = None,
    check_password: bool = True,
) -> User:
    """Create a user who can sign in with the password (or set one through a reset link)."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": f"'{email}' is not a valid email address."}) from None
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role '{role}'; expected one of {', '.join(Role.values)}."})
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": f"A user with email '{email}' already exists."})
    user = User(email=email, role=role, full_name=full_name.strip(), team=team)
    if password:
        if check_password:
            try:
                validate_password(password, user)
            except ValidationError as error:
                raise ValidationError({"password": error.messages}) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.is_staff = role == Role.REVOPS
    user.save()
    audit_record(
        by=by,
        action="create",
        instance=user,
        after={"email": email, "role": role, "team": team.pk if team else None},
        summary=f"Created user {email}",
    )
    return user
