"""ICP tiers from the contract: each account is in the first tier whose condition it meets."""

import pytest

from tandem.audit.models import AuditEntry
from tandem.contract import services
from tandem.contract.document import default_source
from tandem.contract.execution import contract_execute
from tandem.contract.tiers import accounts_tier_all
from tandem.crm import services as crm_services
from tandem.crm.models import Account
from tandem.crm.tests.factories import make_account

pytestmark = pytest.mark.django_db

TIER_ONE = (
    '{tier: 1, when: \'account.industry in ["Software", "Financial services"]'
    " and account.employee_count between 200 and 5000'}"
)


def test_an_account_takes_the_first_tier_it_meets_when_created_and_when_changed(
    cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        big_software = make_account(name="Big", domain="big.test", industry="Software", employee_count=800)
        small = make_account(name="Small", domain="small.test", industry="Software", employee_count=60)
        tiny = make_account(name="Tiny", domain="tiny.test", industry="Software", employee_count=5)
    assert [Account.objects.get(pk=a.pk).icp_tier for a in (big_software, small, tiny)] == [1, 2, None]

    with django_capture_on_commit_callbacks(execute=True):
        crm_services.account_update(by=cast.revops, account=tiny, changes={"employee_count": 300})
    assert Account.objects.get(pk=tiny.pk).icp_tier == 1
    entry = AuditEntry.objects.filter(action="icp_tier", entity_id=tiny.pk).get()
    assert (entry.before, entry.after, entry.summary) == (
        {"icp_tier": None},
        {"icp_tier": 1},
        "ICP tier 1 under contract v1",
    )


def test_publishing_new_tiers_moves_every_account_and_says_so_once(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        retail = make_account(name="Shop", domain="shop.test", industry="Retail", employee_count=900)
    assert Account.objects.get(pk=retail.pk).icp_tier == 2
    source = default_source().replace(TIER_ONE, TIER_ONE.replace('"Financial services"', '"Retail"'))
    assert source != default_source()
    draft = services.contract_draft_create(by=cast.marketer, source=source, summary="Retail is tier 1 now")
    services.contract_propose(by=cast.marketer, version=draft)
    services.contract_decide(by=cast.marketing_manager, version=draft, decision="approve")
    with django_capture_on_commit_callbacks(execute=True):
        services.contract_decide(by=cast.sales_manager, version=draft, decision="approve")
    assert Account.objects.get(pk=retail.pk).icp_tier == 1
    summary = AuditEntry.objects.get(action="icp_tiers").summary
    assert summary == "1 accounts changed ICP tier under contract v2: 1 to tier 1"
    assert accounts_tier_all(version=services.contract_get().active_version) == 0


def test_a_contract_without_tiers_leaves_tiers_to_people(cast):
    account = make_account(name="Kept", domain="kept.test", industry="Retail", employee_count=9)
    Account.objects.filter(pk=account.pk).update(icp_tier=3)
    version = services.contract_get().active_version
    version.document["icp"]["tiers"] = []
    assert contract_execute(version=version)["accounts_changed_tier"] == 0
    assert Account.objects.get(pk=account.pk).icp_tier == 3


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('title contains "VP"', "it can read only account.* fields, not title"),
        ("count(form_submit, last 30 days) >= 1", "it cannot count touchpoints"),
    ],
)
def test_a_tier_on_person_fields_or_touchpoints_is_refused_at_its_path(condition, message):
    from tandem.contract.document import parse_source

    source = default_source().replace(TIER_ONE, "{tier: 1, when: '" + condition + "'}")
    _, problems = parse_source(source)
    assert [(problem.path, message in problem.message) for problem in problems] == [("icp.tiers[0].when", True)]
