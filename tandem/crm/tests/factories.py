import datetime as dt

from tandem.audit.actors import Actor
from tandem.crm import services

SYSTEM = Actor.system("tests")


def make_account(name="Acme", domain="acme.com", **fields):
    return services.account_create(by=SYSTEM, name=name, domain=domain, **fields)


def make_person(email="pat@acme.com", stage="lead", **fields):
    return services.person_create(by=SYSTEM, email=email, lifecycle_stage=stage, **fields)


def make_opportunity(account, name="Acme deal", stage="discovery", amount="1000", **fields):
    fields.setdefault("close_date", dt.date(2026, 12, 31))
    return services.opportunity_create(by=SYSTEM, account=account, name=name, stage=stage, amount=amount, **fields)
