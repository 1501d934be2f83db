"""An export imported into an empty database gives back the same records."""

import pytest

from tandem.crm.models import Account, Opportunity, Person
from tandem.crm.selectors import AccountFilters, OpportunityFilters, PersonFilters
from tandem.engagement.models import Touchpoint
from tandem.exports import services
from tandem.exports.selectors import TouchpointFilters
from tandem.exports.tests.factories import EXPORTER, export_csv, make_records
from tandem.imports.mapping import Mapping
from tandem.imports.services import import_run_create, import_run_execute

pytestmark = pytest.mark.django_db

# In the order an empty database takes them: accounts before the people and deals that name them.
LISTS = [
    ("accounts", AccountFilters()),
    ("people", PersonFilters()),
    ("opportunities", OpportunityFilters()),
    ("touchpoints", TouchpointFilters()),
]


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


def _records(rows: list[list[str]]) -> list[list[str]]:
    """The rows without the id column (ids are each database's own), in a stable order."""
    header, *data = rows
    assert header[0] == "id"
    return [header[1:], *sorted(row[1:] for row in data)]


def _export_import_export(cast, tmp_path, file_format: str, mapping_columns: dict) -> tuple[dict, dict]:
    make_records(cast)
    before = {kind: _records(export_csv(kind, filters)) for kind, filters in LISTS}
    files = {kind: tmp_path / f"{kind}.{file_format}" for kind, _ in LISTS}
    for kind, filters in LISTS:
        services.export_write(by=EXPORTER, kind=kind, filters=filters, file_format=file_format, target=str(files[kind]))
    Touchpoint.objects.all().delete()
    Opportunity.objects.all().delete()
    Person.objects.all().delete()
    Account.objects.all().delete()

    for kind, _ in LISTS:
        mapping = Mapping(kind=kind, columns=mapping_columns)
        run = import_run_create(by=cast.revops, kind=kind, path=files[kind], mapping=mapping)
        run = import_run_execute(run_id=run.pk)
        assert (kind, run.status, run.created_count, run.rejected_count) == (kind, "done", 2, 0)

    return before, {kind: _records(export_csv(kind, filters)) for kind, filters in LISTS}


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_an_export_imported_into_an_empty_database_gives_back_the_same_records(cast, tmp_path, file_format):
    before, after = _export_import_export(cast, tmp_path, file_format, {"id": None})

    assert after["accounts"] == before["accounts"]
    assert after["people"] == before["people"]
    assert after["opportunities"] == before["opportunities"]
    # A touchpoint without an event id gets one from the importer, so that importing it again adds nothing.
    header, *touchpoints = after["touchpoints"]
    generated = [row[0] for row in touchpoints if row[0].startswith("import-")]
    assert len(generated) == 1
    assert [header, *sorted(["", *row[1:]] if row[0] in generated else row for row in touchpoints)] == before[
        "touchpoints"
    ]


def test_the_automatic_mapping_skips_the_tandem_id_column(cast, tmp_path):
    before, after = _export_import_export(cast, tmp_path, "csv", {})

    assert after["accounts"] == before["accounts"]
