import datetime as dt

import pytest

from tandem.audit.models import AuditEntry
from tandem.crm.models import Person
from tandem.lib.bulk_insert import BulkInserter, allocate_ids

pytestmark = pytest.mark.django_db

AWKWARD_TEXT = 'tab\there, new\nline, back\\slash, "quote", carriage\rreturn, ünïcødé, \\N'


def test_rows_written_in_bulk_read_back_as_the_orm_writes_them():
    at = dt.datetime(2025, 3, 4, 5, 6, 7, 891, tzinfo=dt.UTC)
    fields = {
        "first_name": AWKWARD_TEXT,
        "last_name": "",
        "title": "\\.",
        "predictive_score": -32768,
        "consent_email": False,
        "consent_tracking": True,
        "custom_fields": {"segment": "SMB", "nested": {"list": [1, 2.5, None, "x\ty"]}, "tab": "a\tb"},
        "lifecycle_stage_id": "lead",
        "lead_status_id": None,
        "stage_entered_at": at,
        "last_activity_at": at,
        "created_at": at,
        "updated_at": at,
        "import_fingerprint": -(2**63),
        "import_row_count": 3,
    }
    person_id = allocate_ids(Person, 1)[0]
    BulkInserter().write(Person, [{"id": person_id, "email": "bulk@example.com", **fields}])
    Person.objects.create(email="orm@example.com", **fields)

    bulk = Person.objects.values(*fields).get(email="bulk@example.com")
    orm = Person.objects.values(*fields).get(email="orm@example.com")
    assert bulk == orm
    assert bulk["first_name"] == AWKWARD_TEXT
    assert bulk["custom_fields"]["nested"] == {"list": [1, 2.5, None, "x\ty"]}
    assert bulk["created_at"] == at


def test_json_columns_keep_nulls_and_values_that_are_not_objects():
    at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rows = [
        {"at": at, "actor_label": "bulk", "action": "test", "entity_type": "t", "entity_id": 1, "before": None},
        {"at": at, "actor_label": "bulk", "action": "test", "entity_type": "t", "entity_id": 2, "before": "text"},
        {"at": at, "actor_label": "bulk", "action": "test", "entity_type": "t", "entity_id": 3, "before": [1, "a"]},
    ]
    BulkInserter().write(AuditEntry, rows)
    stored = dict(AuditEntry.objects.filter(action="test").values_list("entity_id", "before"))
    assert stored == {1: None, 2: "text", 3: [1, "a"]}
    assert AuditEntry.objects.filter(action="test", before__isnull=True).count() == 1


def test_times_and_json_are_stored_as_django_would_however_often_they_repeat():
    import datetime as dt
    import json
    from zoneinfo import ZoneInfo

    from tandem.lib.bulk_insert import _JsonText, _TimeText

    times = _TimeText()
    berlin = dt.datetime(2024, 5, 1, 11, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    utc = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC)
    later = dt.datetime(2024, 5, 2, 9, 30, tzinfo=dt.UTC)
    naive = dt.datetime(2024, 5, 3, 8, 0)
    sequence = [berlin, utc, later, berlin, naive, later, later, None, utc]
    assert [times(value) for value in sequence] == [
        "2024-05-01 09:30:00",
        "2024-05-01 09:30:00",
        "2024-05-02 09:30:00",
        "2024-05-01 09:30:00",
        "2024-05-03 08:00:00",
        "2024-05-02 09:30:00",
        "2024-05-02 09:30:00",
        None,
        "2024-05-01 09:30:00",
    ]
    texts = _JsonText()
    for value in [{"a": "1"}, {"a": 1}, {"a": True}, {"a": "1"}, {"b": "x", "a": "ü"}, {"a": "ü", "b": "x"}, [1], None]:
        assert texts(value) == (None if value is None else json.dumps(value))


def test_json_objects_of_every_shape_read_back_as_json_dumps_writes_them():
    import json

    at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    shapes = [
        {"segment": "SMB", "product": 'Zoë\'s "suite"\t\\'},
        {"segment": "SMB", "product": 'Zoë\'s "suite"\t\\'},  # remembered the second time
        {"import_run": 7, "line": 12, "file": "people.csv"},
        {"flag": True, "none": None, "small": 1.5},
        {1: "numeric key"},
        {"big": 2**70},
        {"nested": {"list": [1, 2.5, None, "x"]}},
        {},
    ]
    rows = [
        {"at": at, "actor_label": "bulk", "action": "shapes", "entity_type": "t", "entity_id": number, "before": shape}
        for number, shape in enumerate(shapes)
    ]
    BulkInserter().write(AuditEntry, rows)
    stored = dict(AuditEntry.objects.filter(action="shapes").values_list("entity_id", "before"))
    assert stored == {number: json.loads(json.dumps(shape)) for number, shape in enumerate(shapes)}
