"""Reading a batch column by column gives every row exactly what reading it alone gives."""

import pytest

from tandem.imports.mapping import Mapping, build_plan
from tandem.imports.reading import Record
from tandem.imports.services import RowReader

HEADER = ["Email", "First Name", "Create Date", "Lifecycle Stage", "Fit Score", "custom.segment", "Properties"]
ROWS = [
    ["ann@acme.com", " Ann ", "2024-01-05", "lead", "10", "SMB", ""],
    ["not-an-email", "Bo", "someday", "prospect", "ten", "", '{"a": 1}'],
    ["", "", "", "", "", "", ""],
    ["cy@acme.com", "n/a", "2024-01-05 10:30", "Marketing Qualified Lead", "", "N/A", "[1]"],
    ["'=dy@acme.com", "'=Dy", "2024-13-45", "hot", "7", "Enterprise", "{bad"],
    ["ann@acme.com", "Ann", "2024-01-05", "lead", "10", "SMB", ""],
    ["eve@acme.com", "   ", "2024-01-06", "customer", "99999", "Mid-Market", ""],
]


def reader_for(mapping: Mapping) -> RowReader:
    sample = [row for row in ROWS if row[0]]
    return RowReader(build_plan(mapping, HEADER, sample, _choices()))


def _choices():
    from tandem.imports.choices import load_choice_lists

    return load_choice_lists()


def as_tuples(rows):
    return [(row.line, row.raw, row.values, row.custom, row.errors) for row in rows]


@pytest.mark.django_db
@pytest.mark.parametrize("cache_size", [4096, 1])
def test_a_batch_reads_as_its_rows_read_one_by_one(monkeypatch, cache_size):
    monkeypatch.setattr("tandem.imports.services.CELL_CACHE_SIZE", cache_size)
    mapping = Mapping(
        kind="people",
        columns={"Properties": "custom.properties"},
        values={"lifecycle_stage": {"hot": "opportunity"}},
        templates={"last_name": "{First Name}-family"},
        defaults={"source": "Import"},
        blank_values=["n/a"],
    )
    records = [Record(line=number, values=list(row)) for number, row in enumerate(ROWS, start=2)]
    # Twice, so that the second batch is read from what the columns remember.
    for _ in range(2):
        alone = as_tuples([reader_for(mapping).read(record) for record in records])
        batch_reader = reader_for(mapping)
        assert as_tuples(batch_reader.read_many(records)) == alone
        assert as_tuples(batch_reader.read_many(records)) == alone
        assert [list(row[2]) for row in as_tuples(batch_reader.read_many(records))] == [list(r[2]) for r in alone]
    errors = {row[0]: row[4] for row in alone}
    assert [where for where, _ in errors[3]] == ["Email", "Create Date", "Lifecycle Stage", "Fit Score"]
    assert errors[2] == []


@pytest.mark.django_db
def test_rows_of_another_width_are_read_one_by_one():
    reader = reader_for(Mapping(kind="people"))
    records = [Record(line=2, values=list(ROWS[0])), Record(line=3, values=["bo@acme.com"] + [""] * 7)]
    rows = reader.read_many(records)
    assert [row.values.get("email") for row in rows] == ["ann@acme.com", "bo@acme.com"]
