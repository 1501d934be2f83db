"""A workspace with a decided history: converted and disqualified people with a telling custom field."""

import datetime as dt

import time_machine

from tandem.audit.actors import Actor
from tandem.crm import services as crm

SYSTEM = Actor.system("tests")
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def make_history(*, converted: int, disqualified: int, open_people: int = 0, late_note: bool = False) -> list:
    """People created on START, decided ten days later; with `late_note`, sales adds a note to each afterwards."""
    people = []
    with time_machine.travel(START, tick=False):
        for index in range(converted + disqualified + open_people):
            is_converted = index < converted
            # Budget tells the outcome nine times in ten; visits are noise.
            budget = "high" if is_converted == (index % 10 != 0) else "low"
            people.append(
                crm.person_create(
                    by=SYSTEM,
                    email=f"person{index}@example.org",
                    first_name=f"Person {index}",
                    lifecycle_stage="lead",
                    source="Web" if index % 2 else "Ads",
                    custom_fields={"budget": budget, "visits": str(index % 7)},
                )
            )
    with time_machine.travel(START + dt.timedelta(days=10), tick=False):
        for index, person in enumerate(people[: converted + disqualified]):
            stage = "customer" if index < converted else "disqualified"
            crm.lifecycle_transition(person=person, to_stage=stage, by=SYSTEM, reason="decided")
    if late_note:
        with time_machine.travel(START + dt.timedelta(days=20), tick=False):
            for index, person in enumerate(people[: converted + disqualified]):
                person.refresh_from_db()
                note = "signed" if index < converted else "no budget"
                crm.person_update(
                    by=SYSTEM, person=person, changes={"custom_fields": {**person.custom_fields, "sales_note": note}}
                )
    return people
