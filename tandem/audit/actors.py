"""Who or what performs a change: a signed-in user, a contract rule, an import or the system."""

from dataclasses import dataclass
from typing import Any

from django.db import models


class ActorType(models.TextChoices):
    USER = "user", "User"
    RULE = "rule", "Rule"
    IMPORT = "import", "Import"
    SYSTEM = "system", "System"
    API = "api", "API"


@dataclass(frozen=True)
class Actor:
    """The author of a change, carried into audit entries and stage history."""

    type: str
    user: Any = None
    label: str = ""

    @classmethod
    def of_user(cls, user) -> "Actor":
        return cls(type=ActorType.USER, user=user, label=str(user))

    @classmethod
    def rule(cls, label: str) -> "Actor":
        return cls(type=ActorType.RULE, label=label)

    @classmethod
    def importer(cls, label: str = "import", user=None) -> "Actor":
        return cls(type=ActorType.IMPORT, user=user, label=label)

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(type=ActorType.SYSTEM, label=label)

    @property
    def display(self) -> str:
        if self.type == ActorType.USER:
            return self.label
        return f"{self.get_type_display()}: {self.label}" if self.label else self.get_type_display()

    def get_type_display(self) -> str:
        return ActorType(self.type).label


def as_actor(by) -> Actor:
    """Accept either an Actor or a user and return an Actor."""
    if isinstance(by, Actor):
        return by
    return Actor.of_user(by)
