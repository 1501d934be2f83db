"""The scorecard over the public Maven CRM pipeline, imported with the importer as users would."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from tandem.users.models import User

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
MAVEN = ROOT.parent / "shared" / "datasets" / "maven_crm_sales"
EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


def _import(capsys, kind: str, path: Path, mapping: str) -> dict:
    try:
        call_command("import", kind, str(path), "--mapping", str(EXAMPLES / mapping), "--format", "json")
    except SystemExit as exit_:
        assert exit_.code == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.skipif(not MAVEN.is_dir(), reason=f"the Maven CRM dataset is not beside this clone ({MAVEN} is absent)")
def test_the_maven_pipeline_gives_the_published_win_rate_and_won_revenue(cast, client, capsys):
    _import(capsys, "users", MAVEN / "sales_teams.csv", "maven-sales-teams.json")
    _import(capsys, "accounts", MAVEN / "accounts.csv", "maven-accounts.json")
    deals = _import(capsys, "opportunities", MAVEN / "sales_pipeline.csv", "maven-pipeline.json")
    assert (deals["created"], deals["rejected"]) == (8800, 0)
    client.force_login(cast.leadership)
    response = client.get(reverse("analytics:scorecard"), {"period": "2017"})
    tiles = {view["tile"].key: view for view in response.context["tiles"]}
    win_rate = tiles["win_rate"]["tile"]
    assert round(win_rate.value, 4) == 0.6315
    assert (win_rate.parts["won"], win_rate.parts["lost"]) == (4238, 2473)
    assert tiles["won_revenue"]["tile"].value == 10_005_534
    assert tiles["won_revenue"]["display"] == "10,005,534 USD"
    assert tiles["win_rate"]["display"] == "63.2%"
    # One sales team's own figures, by the team filter.
    team = User.objects.get(full_name="Moses Frase").team
    filtered = client.get(reverse("analytics:scorecard"), {"period": "2017", "team": team.pk})
    team_tiles = {view["tile"].key: view["tile"] for view in filtered.context["tiles"]}
    assert 0 < team_tiles["won_revenue"].value < 10_005_534
    drilled = client.get(tiles["won_revenue"]["drill_url"])
    assert drilled.context["win_rate"].won_count == 4238
