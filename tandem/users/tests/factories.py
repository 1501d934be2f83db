from types import SimpleNamespace

import factory

from tandem.users.models import Role, Side, Team, User


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")
    side = Side.SALES


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Sequence(lambda n: f"User {n}")
    role = Role.MARKETING
    password = factory.django.Password("secret-pass-123")


def make_cast() -> SimpleNamespace:
    """alice the marketer, sam the SDR, erin the AE, their managers, rita RevOps, leo leadership."""
    marketing = TeamFactory(name="Marketing", side=Side.MARKETING)
    sales = TeamFactory(name="Sales", side=Side.SALES)
    cast = SimpleNamespace(
        marketer=UserFactory(
            email="alice@example.com", full_name="Alice Marketer", role=Role.MARKETING, team=marketing
        ),
        sdr=UserFactory(email="sam@example.com", full_name="Sam SDR", role=Role.SDR, team=sales),
        ae=UserFactory(email="erin@example.com", full_name="Erin AE", role=Role.AE, team=sales),
        marketing_manager=UserFactory(
            email="mona@example.com", full_name="Mona Manager", role=Role.MARKETING_MANAGER, team=marketing
        ),
        sales_manager=UserFactory(
            email="stan@example.com", full_name="Stan Manager", role=Role.SALES_MANAGER, team=sales
        ),
        revops=UserFactory(email="rita@example.com", full_name="Rita RevOps", role=Role.REVOPS),
        leadership=UserFactory(email="leo@example.com", full_name="Leo CRO", role=Role.LEADERSHIP),
    )
    marketing.manager = cast.marketing_manager
    marketing.save()
    sales.manager = cast.sales_manager
    sales.save()
    cast.teams = SimpleNamespace(marketing=marketing, sales=sales)
    return cast
