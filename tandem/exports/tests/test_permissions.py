"""Who may export: everyone signed in reads the shared record, so everyone may export it."""

import pytest
from django.contrib.auth.models import AnonymousUser

from tandem.exports.permissions import can_export

pytestmark = pytest.mark.django_db

EVERYONE = ["marketer", "sdr", "ae", "marketing_manager", "sales_manager", "revops", "leadership"]


def test_every_signed_in_role_may_export(cast):
    assert [name for name in EVERYONE if can_export(getattr(cast, name))] == EVERYONE


def test_nobody_signed_out_or_deactivated_may_export(cast):
    cast.ae.is_active = False

    assert can_export(AnonymousUser()) is False
    assert can_export(None) is False
    assert can_export(cast.ae) is False
