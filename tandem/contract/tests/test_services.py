"""Contract versions: draft, propose, one lead of each side approves, published; refusals change nothing."""

import pytest
from django.core.exceptions import PermissionDenied

from tandem.audit.models import AuditEntry
from tandem.contract import services
from tandem.contract.document import ContractInvalid, default_source
from tandem.contract.models import ContractApproval, ContractVersion, VersionStatus
from tandem.crm.models import LifecycleStage, LifecycleTransition
from tandem.crm.tests.factories import make_person

pytestmark = pytest.mark.django_db

RAISED = default_source().replace("engagement_score_at_least: 40", "engagement_score_at_least: 50")


def _proposal(cast, source=RAISED, by=None):
    draft = services.contract_draft_create(by=by or cast.marketing_manager, source=source, summary="Raise MQL bar")
    return services.contract_propose(by=by or cast.marketing_manager, version=draft)


def test_the_default_contract_is_in_force_from_the_start():
    contract = services.contract_get()
    assert contract.active_version.number == 1
    assert contract.active_version.status == VersionStatus.PUBLISHED
    assert contract.active_version.is_valid
    assert contract.active_version.glossary.filter(term="MQL", rule="mql").exists()


def test_a_draft_copies_the_version_in_force(cast):
    draft = services.contract_draft_create(by=cast.marketer)
    assert (draft.number, draft.status, draft.based_on.number) == (2, VersionStatus.DRAFT, 1)
    assert draft.source == services.contract_get().active_version.source
    assert AuditEntry.objects.filter(action="contract_draft", entity_id=draft.pk).count() == 1


def test_reps_and_leadership_cannot_draft(cast):
    services.contract_get()
    for user in (cast.sdr, cast.ae, cast.leadership):
        with pytest.raises(PermissionDenied):
            services.contract_draft_create(by=user)
    assert ContractVersion.objects.count() == 1


def test_a_draft_with_problems_is_saved_but_cannot_be_proposed(cast):
    draft = services.contract_draft_create(by=cast.marketer, summary="Typo")
    draft = services.contract_draft_update(
        by=cast.marketer, version=draft, source=RAISED.replace("fit_score_at_least: 60", "fit_score_at_least: 600")
    )
    assert draft.problems[0]["path"] == "mql.fit_score_at_least"
    assert draft.document == {}
    with pytest.raises(ContractInvalid) as raised:
        services.contract_propose(by=cast.marketer, version=draft)
    assert raised.value.problems[0].path == "mql.fit_score_at_least"
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT


def test_both_leads_approve_and_the_version_is_published(cast):
    proposal = _proposal(cast, by=cast.marketer)
    services.contract_decide(by=cast.marketing_manager, version=proposal, decision="approve")
    proposal.refresh_from_db()
    assert proposal.status == VersionStatus.PROPOSED
    services.contract_decide(by=cast.sales_manager, version=proposal, decision="approve", note="fine by sales")
    proposal.refresh_from_db()
    contract = services.contract_get()
    assert proposal.status == VersionStatus.PUBLISHED
    assert contract.active_version_id == proposal.pk
    assert contract.active_version.document["mql"]["engagement_score_at_least"] == 50
    assert ContractVersion.objects.get(number=1).status == VersionStatus.SUPERSEDED
    assert list(AuditEntry.objects.filter(entity_id=proposal.pk).values_list("action", flat=True).order_by("id")) == [
        "contract_draft",
        "contract_propose",
        "contract_approve",
        "contract_approve",
        "contract_publish",
    ]


def test_a_leads_proposal_counts_as_their_sides_approval_but_never_alone(cast):
    proposal = _proposal(cast)  # by the marketing manager
    assert list(proposal.approvals.values_list("user__email", "side", "decision")) == [
        ("mona@example.com", "marketing", "approve")
    ]
    proposal.refresh_from_db()
    assert proposal.status == VersionStatus.PROPOSED
    with pytest.raises(PermissionDenied, match="You proposed this version"):
        services.contract_decide(by=cast.marketing_manager, version=proposal, decision="approve")
    assert ContractApproval.objects.count() == 1
    services.contract_decide(by=cast.sales_manager, version=proposal, decision="approve")
    proposal.refresh_from_db()
    assert proposal.status == VersionStatus.PUBLISHED
    assert list(AuditEntry.objects.filter(entity_id=proposal.pk).values_list("action", flat=True).order_by("id")) == [
        "contract_draft",
        "contract_propose",
        "contract_approve",
        "contract_approve",
        "contract_publish",
    ]


def test_two_approvals_from_one_side_do_not_publish(cast):
    other_sales_lead = type(cast.sales_manager).objects.create_user(
        email="sue@example.com", role="sales_manager", team=cast.teams.sales
    )
    proposal = _proposal(cast, by=cast.marketer)
    services.contract_decide(by=cast.sales_manager, version=proposal, decision="approve")
    with pytest.raises(PermissionDenied, match="The sales side has already decided"):
        services.contract_decide(by=other_sales_lead, version=proposal, decision="approve")
    proposal.refresh_from_db()
    assert proposal.status == VersionStatus.PROPOSED
    assert services.contract_get().active_version.number == 1


def test_reps_cannot_approve(cast):
    proposal = _proposal(cast)
    for user in (cast.ae, cast.sdr, cast.marketer, cast.revops, cast.leadership):
        with pytest.raises(PermissionDenied, match="Only a marketing manager or a sales manager"):
            services.contract_decide(by=user, version=proposal, decision="approve")
    assert ContractApproval.objects.count() == 1  # the proposing marketing manager's own


def test_a_rejection_needs_a_note_and_ends_the_proposal(cast):
    proposal = _proposal(cast, by=cast.marketer)
    with pytest.raises(ContractInvalid, match="a rejection needs a note"):
        services.contract_decide(by=cast.sales_manager, version=proposal, decision="reject")
    assert ContractApproval.objects.count() == 0
    services.contract_decide(by=cast.sales_manager, version=proposal, decision="reject", note="Too few MQLs for Q4")
    proposal.refresh_from_db()
    assert proposal.status == VersionStatus.REJECTED
    with pytest.raises(PermissionDenied):
        services.contract_decide(by=cast.marketing_manager, version=proposal, decision="approve")


def test_publishing_makes_the_lifecycle_tables_follow_the_document(cast):
    source = (
        default_source()
        .replace(
            "    - {key: churned, name: Churned,",
            "    - {key: nurture, name: Nurture, side: marketing, side_stage: true}\n"
            "    - {key: churned, name: Churned,",
        )
        .replace(
            "    - {from: churned, to: [opportunity, customer], kind: reopen}",
            "    - {from: churned, to: [opportunity, customer], kind: reopen}\n"
            "    - {from: lead, to: nurture, kind: recycle}",
        )
    )
    proposal = _proposal(cast, source=source, by=cast.marketer)
    services.contract_decide(by=cast.marketing_manager, version=proposal, decision="approve")
    services.contract_decide(by=cast.sales_manager, version=proposal, decision="approve")
    assert LifecycleStage.objects.get(key="nurture").is_side_stage is True
    assert LifecycleTransition.objects.filter(from_stage_id="lead", to_stage_id="nurture", kind="recycle").exists()
    # The default lifecycle's 47 moves, and the new one.
    assert LifecycleTransition.objects.count() == 48


def test_a_stage_people_are_in_cannot_be_removed(cast):
    make_person(email="p@acme.test", stage="evangelist")
    source = (
        default_source()
        .replace(
            "    - {key: evangelist, name: Evangelist, side: sales, "
            'entry_criteria: "A customer who refers others or speaks for us."}\n',
            "",
        )
        .replace(
            "[lead, mql, sal, sql, opportunity, customer, evangelist]", "[lead, mql, sal, sql, opportunity, customer]"
        )
        .replace("[mql, sal, sql, opportunity, customer, evangelist]", "[mql, sal, sql, opportunity, customer]")
        .replace("[sal, sql, opportunity, customer, evangelist]", "[sal, sql, opportunity, customer]")
        .replace("[sql, opportunity, customer, evangelist]", "[sql, opportunity, customer]")
        .replace("[opportunity, customer, evangelist]", "[opportunity, customer]")
        .replace("[customer, evangelist]", "[customer]")
        .replace("    - {from: customer, to: [evangelist], kind: forward}\n", "")
        .replace(
            "    - {from: [customer], to: churned, kind: churn}", "    - {from: customer, to: churned, kind: churn}"
        )
    )
    draft = services.contract_draft_create(by=cast.marketer, source=source, summary="Drop evangelist")
    assert draft.problems == []
    with pytest.raises(ContractInvalid, match="stage 'evangelist' cannot be removed: 1 people are in it"):
        services.contract_propose(by=cast.marketer, version=draft)
    assert LifecycleStage.objects.filter(key="evangelist").exists()


def test_restoring_proposes_the_old_text_as_a_new_version(cast):
    proposal = _proposal(cast, by=cast.marketer)
    services.contract_decide(by=cast.marketing_manager, version=proposal, decision="approve")
    services.contract_decide(by=cast.sales_manager, version=proposal, decision="approve")
    first = ContractVersion.objects.get(number=1)
    restored = services.contract_restore(by=cast.revops, version=first)
    assert (restored.number, restored.status, restored.restored_from_id) == (3, VersionStatus.PROPOSED, first.pk)
    assert restored.source == first.source
    services.contract_decide(by=cast.marketing_manager, version=restored, decision="approve")
    services.contract_decide(by=cast.sales_manager, version=restored, decision="approve")
    assert services.contract_get().active_version.document["mql"]["engagement_score_at_least"] == 40


def test_only_the_proposer_or_revops_withdraws(cast):
    proposal = _proposal(cast, by=cast.marketer)
    with pytest.raises(PermissionDenied):
        services.contract_withdraw(by=cast.sales_manager, version=proposal)
    services.contract_withdraw(by=cast.marketer, version=proposal)
    proposal.refresh_from_db()
    assert proposal.status == VersionStatus.WITHDRAWN
