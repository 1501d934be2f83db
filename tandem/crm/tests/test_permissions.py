"""The permission helpers, checked against the standard cast of users."""

import pytest

from tandem.campaigns.permissions import can_edit_campaign
from tandem.crm import permissions
from tandem.crm.models import LifecycleStage
from tandem.crm.tests.factories import make_account, make_opportunity, make_person
from tandem.users.permissions import can_manage_tokens, can_manage_users

pytestmark = pytest.mark.django_db

EVERYONE = ["marketer", "sdr", "ae", "marketing_manager", "sales_manager", "revops", "leadership"]


def _who(cast, check) -> list[str]:
    return [name for name in EVERYONE if check(getattr(cast, name))]


def test_everyone_but_leadership_creates_records(cast):
    assert _who(cast, permissions.can_create_record) == EVERYONE[:-1]


def test_reps_edit_what_they_own_and_managers_their_teams(cast):
    owned_by_ae = make_person(email="a@x.io", owner=cast.ae)
    assert _who(cast, lambda user: permissions.can_edit_person(user, owned_by_ae)) == ["ae", "sales_manager", "revops"]
    owned_by_marketer = make_person(email="b@x.io", owner=cast.marketer)
    assert _who(cast, lambda user: permissions.can_edit_person(user, owned_by_marketer)) == [
        "marketer",
        "marketing_manager",
        "revops",
    ]


def test_unowned_people_are_everyones_to_work_except_leadership(cast):
    unowned = make_person(email="c@x.io")
    assert _who(cast, lambda user: permissions.can_edit_person(user, unowned)) == EVERYONE[:-1]


def test_stage_moves_follow_the_side_that_owns_the_stage(cast):
    person = make_person(email="d@x.io")
    mql = LifecycleStage.objects.get(pk="mql")
    sal = LifecycleStage.objects.get(pk="sal")
    recycled = LifecycleStage.objects.get(pk="recycled")
    assert _who(cast, lambda user: permissions.can_move_stage(user, person, mql)) == [
        "marketer",
        "marketing_manager",
        "revops",
    ]
    assert _who(cast, lambda user: permissions.can_move_stage(user, person, sal)) == [
        "sdr",
        "ae",
        "sales_manager",
        "revops",
    ]
    assert _who(cast, lambda user: permissions.can_move_stage(user, person, recycled)) == EVERYONE[:-1]


def test_only_sales_and_revops_edit_opportunities(cast):
    opportunity = make_opportunity(make_account(), owner=cast.ae)
    assert _who(cast, lambda user: permissions.can_edit_opportunity(user, opportunity)) == [
        "ae",
        "sales_manager",
        "revops",
    ]


def test_deleting_is_for_revops_and_the_owners_manager(cast):
    person = make_person(email="e@x.io", owner=cast.sdr)
    assert _who(cast, lambda user: permissions.can_delete(user, person)) == ["sales_manager", "revops"]


def test_campaigns_are_marketings(cast):
    assert _who(cast, can_edit_campaign) == ["marketer", "marketing_manager", "revops"]


def test_users_and_tokens_are_managed_by_revops(cast):
    assert _who(cast, can_manage_users) == ["revops"]
    assert _who(cast, can_manage_tokens) == ["revops"]


def test_inactive_users_change_nothing(cast):
    cast.revops.is_active = False
    person = make_person(email="f@x.io")
    assert not permissions.can_edit_person(cast.revops, person)
    assert not permissions.can_create_record(cast.revops)
