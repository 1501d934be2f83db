"""Users, their teams and their roles."""

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


class Side(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SALES = "sales", "Sales"
    REVOPS = "revops", "RevOps"
    LEADERSHIP = "leadership", "Leadership"


class Role(models.TextChoices):
    MARKETING = "marketing", "Marketer"
    SDR = "sdr", "SDR"
    AE = "ae", "Account executive"
    MARKETING_MANAGER = "marketing_manager", "Marketing manager"
    SALES_MANAGER = "sales_manager", "Sales manager"
    REVOPS = "revops", "RevOps / admin"
    LEADERSHIP = "leadership", "Leadership (read-all)"


ROLE_SIDES = {
    Role.MARKETING: Side.MARKETING,
    Role.MARKETING_MANAGER: Side.MARKETING,
    Role.SDR: Side.SALES,
    Role.AE: Side.SALES,
    Role.SALES_MANAGER: Side.SALES,
    Role.REVOPS: Side.REVOPS,
    Role.LEADERSHIP: Side.LEADERSHIP,
}
MANAGER_ROLES = {Role.MARKETING_MANAGER, Role.SALES_MANAGER}


class Team(models.Model):
    """A group of users on one side of the house, led by a manager."""

    name = models.CharField(max_length=100, unique=True)
    side = models.CharField(max_length=20, choices=Side.choices)
    manager = models.ForeignKey(
        "users.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("role", Role.REVOPS)
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractUser):
    """A person who signs in to Tandem; the role decides what they may change."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=30, choices=Role.choices, default=Role.MARKETING)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    time_zone = models.CharField(max_length=64, default="UTC")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["full_name", "email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def side(self) -> str:
        return ROLE_SIDES[Role(self.role)]

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGER_ROLES

    @property
    def is_revops(self) -> bool:
        return self.role == Role.REVOPS

    @property
    def is_read_only(self) -> bool:
        return self.role == Role.LEADERSHIP

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0]
