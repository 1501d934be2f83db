"""Helpers of the hand-off tests: a routing section in force, MQLs, reps."""

import datetime as dt

from tandem.contract.services import contract_get
from tandem.crm.models import Person
from tandem.crm.services import lifecycle_transition
from tandem.crm.tests.factories import SYSTEM, make_account, make_person
from tandem.users.models import Role
from tandem.users.tests.factories import UserFactory


def use_routing(section: dict) -> None:
    """Put this routing section in the contract in force (checked like a published one would be)."""
    from tandem.handoff.routing import routing_parse

    version = contract_get().active_version
    routing_parse(section, document=version.document)
    version.document = {**version.document, "routing": section}
    version.save(update_fields=["document"])


def use_cooling_off(days: int) -> None:
    version = contract_get().active_version
    version.document = {**version.document, "mql": {**version.document["mql"], "recycled_cooling_off_days": days}}
    version.save(update_fields=["document"])


def make_rep(email: str, team, role=Role.SDR, **fields):
    return UserFactory(email=email, full_name=email.split("@")[0].title(), role=role, team=team, **fields)


def make_mql(email: str, *, account=None, owner=None, **fields) -> Person:
    """A person moved to MQL through the lifecycle service (routing is left to the test)."""
    segment = fields.pop("segment", None)
    person = make_person(email=email, stage="lead", account=account, owner=owner, **fields)
    lifecycle_transition(person=person, to_stage="mql", by=SYSTEM, evidence={"rule": "mql", "segment": segment})
    return person


def make_company(name: str, **fields):
    domain = name.lower().replace(" ", "") + ".test"
    return make_account(name=name, domain=domain, **fields)


MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
