"""Contract pages: the document, the editor with live checks, proposals with diff and decisions, history."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tandem.contract import services
from tandem.contract.document import default_source
from tandem.contract.models import ContractVersion, VersionStatus

pytestmark = pytest.mark.django_db

RAISED = default_source().replace("engagement_score_at_least: 40", "engagement_score_at_least: 50")


def test_every_contract_page_renders(client, cast):
    draft = services.contract_draft_create(by=cast.marketer, source=RAISED, summary="Raise the bar")
    client.force_login(cast.ae)
    for url in [
        reverse("contract:detail"),
        reverse("contract:history"),
        reverse("contract:version-detail", args=[1]),
        reverse("contract:version-detail", args=[draft.number]),
        reverse("contract:compare") + f"?from=1&to={draft.number}",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(reverse("contract:detail")).content.decode()
    assert "fit score is at least 60" in page
    assert "Not our ICP" in page


def test_the_yaml_downloads_as_written(client, cast):
    client.force_login(cast.ae)
    response = client.get(reverse("contract:version-yaml", args=[1]))
    assert response["Content-Disposition"] == 'attachment; filename="tandem-contract-v1.yaml"'
    assert response.content.decode() == default_source()


def test_live_check_lists_problems_with_lines(client, cast):
    client.force_login(cast.marketer)
    response = client.post(reverse("contract:draft-check"), {"source": "mql: {fit_score_at_least: 101}"})
    page = response.content.decode()
    assert "mql.fit_score_at_least" in page and "expected a whole number from 0 to 100, got 101." in page
    ok = client.post(reverse("contract:draft-check"), {"source": default_source()}).content.decode()
    assert "No problems" in ok


def test_import_yaml_file_starts_a_draft(client, cast):
    client.force_login(cast.marketer)
    upload = SimpleUploadedFile("contract.yaml", RAISED.encode(), content_type="application/yaml")
    response = client.post(reverse("contract:draft-import"), {"file": upload})
    draft = ContractVersion.objects.get(number=2)
    assert response.url == reverse("contract:version-detail", args=[2])
    assert (draft.status, draft.document["mql"]["engagement_score_at_least"]) == (VersionStatus.DRAFT, 50)


def test_a_file_that_is_not_utf8_is_refused_with_a_message(client, cast):
    client.force_login(cast.marketer)
    upload = SimpleUploadedFile("contract.yaml", b"\xff\xfe\x00binary", content_type="application/yaml")
    response = client.post(reverse("contract:draft-import"), {"file": upload}, follow=True)
    assert "is not UTF-8 text" in response.content.decode()
    assert ContractVersion.objects.filter(number=2).exists() is False


def test_save_and_propose_then_decide_through_the_pages(client, cast):
    draft = services.contract_draft_create(by=cast.marketer)
    client.force_login(cast.marketer)
    client.post(
        reverse("contract:draft-save", args=[draft.number]),
        {"source": RAISED, "summary": "Raise the bar", "then": "propose"},
    )
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PROPOSED
    client.force_login(cast.sales_manager)
    page = client.get(reverse("contract:version-detail", args=[draft.number])).content.decode()
    assert "mql.engagement_score_at_least" in page and "Approve" in page
    client.post(reverse("contract:version-decide", args=[draft.number]), {"decision": "approve"})
    client.force_login(cast.marketing_manager)
    response = client.post(
        reverse("contract:version-decide", args=[draft.number]), {"decision": "approve"}, follow=True
    )
    assert f"v{draft.number} is now the contract in force" in response.content.decode()
    assert services.contract_get().active_version.number == draft.number


def test_a_rep_gets_403_deciding(client, cast):
    draft = services.contract_draft_create(by=cast.marketer, source=RAISED, summary="x")
    services.contract_propose(by=cast.marketer, version=draft)
    client.force_login(cast.ae)
    response = client.post(reverse("contract:version-decide", args=[draft.number]), {"decision": "approve"})
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PROPOSED
