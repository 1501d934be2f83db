"""`tandem scoring rescore` and `tandem scoring ledger`."""

import json

import pytest
from django.core.management import CommandError, call_command

from tandem.crm.models import Person
from tandem.crm.tests.factories import make_person
from tandem.scoring.models import ScoringRun
from tandem.scoring.tests.factories import AS_OF, make_touchpoint


def test_rescore_from_a_json_section_then_print_the_ledger(db, tmp_path, capsys):
    person = make_person(email="pat@acme.com")
    make_touchpoint(person, "form_submit", 30)
    rules = tmp_path / "engagement.json"
    section = {
        "decay": {"half_life_days": 30},
        "rules": [{"name": "Demo form", "touchpoint": "form_submit", "points": 25}],
    }
    rules.write_text(json.dumps({"engagement": section}))
    call_command(
        "scoring",
        "rescore",
        "--rules",
        str(rules),
        "--contract-version",
        "4",
        "--as-of",
        AS_OF.isoformat(),
        "--format",
        "json",
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary == [
        {
            "contract_version": 4,
            "as_of": "2025-06-30T12:00:00+00:00",
            "people_scored": 1,
            "people_changed": 1,
            "ledger_lines": 1,
            "seconds": summary[0]["seconds"],
        }
    ]
    assert Person.objects.select_related("scores").get().engagement_score == 13  # 12.5 rounds half up
    assert ScoringRun.objects.get().contract_version == 4
    call_command(
        "scoring",
        "ledger",
        "--person",
        str(person.pk),
        "--rules",
        str(rules),
        "--as-of",
        AS_OF.isoformat(),
        "--format",
        "csv",
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "rule_name,touchpoint_type,given_at,points,capped_by,value_now",
        "Demo form,Form submit,2025-05-31T12:00:00+00:00,25,,12.5",
    ]


def test_rescore_reports_a_bad_section_by_path(db, tmp_path):
    rules = tmp_path / "engagement.json"
    rules.write_text(json.dumps({"rules": [{"name": "Big", "touchpoint": "chat", "points": 500}]}))
    with pytest.raises(CommandError, match=r"^engagement.rules\[0\].points: expected an integer between -100 and 100$"):
        call_command("scoring", "rescore", "--rules", str(rules), "--contract-version", "1")
    assert not ScoringRun.objects.exists()


def test_ledger_of_a_missing_person(db):
    with pytest.raises(CommandError, match="^--person: there is no person with id 404.$"):
        call_command("scoring", "ledger", "--person", "404")
