"""A small purchase history of won deals for lifetime-value tests."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from tandem.crm.models import Opportunity, OpportunityStage
from tandem.crm.tests.factories import make_account, make_person

AS_OF = dt.date(2026, 6, 30)

# Per account: (close dates as days after 2025-01-01, amounts). Twelve customers, six buy again.
HISTORIES = [
    ([0, 40, 90, 200, 390], [1000, 1200, 900, 1500, 1100]),
    ([10, 300], [5000, 4000]),
    ([20], [800]),
    ([30, 31, 60], [300, 400, 350]),
    ([50], [2500]),
    ([100, 250, 400, 500], [700, 650, 720, 800]),
    ([150], [1200]),
    ([200, 210], [900, 1000]),
    ([260], [400]),
    ([300], [3000]),
    ([330, 480], [2000, 2600]),
    ([420], [1500]),
]
START = dt.date(2025, 1, 1)


def make_won_deal(*, account=None, person=None, close_date: dt.date, amount, stage_key: str = "closed_won"):
    """An opportunity written as closed (won by default) without the lifecycle side effects of the service."""
    stage = OpportunityStage.objects.get(key=stage_key)
    now = timezone.now()
    return Opportunity.objects.create(
        account=account,
        primary_person=person,
        name=f"Deal {close_date.isoformat()}",
        amount=Decimal(str(amount)),
        stage=stage,
        probability=stage.probability,
        forecast_category=stage.forecast_category,
        close_date=close_date,
        is_closed=stage.is_closed,
        is_won=stage.is_won,
        created_at=now,
        updated_at=now,
    )


def make_history():
    """Twelve accounts, each with a buyer as primary person of its won deals; returns (accounts, people)."""
    accounts, people = [], []
    for index, (days, amounts) in enumerate(HISTORIES):
        account = make_account(name=f"Customer {index}", domain=f"customer{index}.com")
        person = make_person(email=f"buyer@customer{index}.com", account=account)
        for day, amount in zip(days, amounts, strict=True):
            make_won_deal(account=account, person=person, close_date=START + dt.timedelta(days=day), amount=amount)
        accounts.append(account)
        people.append(person)
    return accounts, people
