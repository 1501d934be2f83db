"""Writes to the revenue contract: drafts, proposals, decisions, publishing and restoring, each audited."""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from tandem.audit.services import audit_record
from tandem.contract.document import ContractInvalid, Problem, default_source, parse_source
from tandem.contract.models import (
    Contract,
    ContractApproval,
    ContractVersion,
    Decision,
    GlossaryTerm,
    VersionStatus,
)
from tandem.contract.permissions import LEAD_SIDES, can_draft_contract, can_withdraw, decision_refusal
from tandem.contract.tasks import contract_published
from tandem.crm.models import LeadStatus, LifecycleStage, LifecycleTransition, Person, StageChange


def contract_get() -> Contract:
    """The workspace's contract, created with the default version in force if there is none yet."""
    contract = Contract.objects.select_related("active_version").order_by("pk").first()
    if contract is not None:
        return contract
    with transaction.atomic():
        contract = Contract.objects.create()
        now = timezone.now()
        source = default_source()
        document, problems = parse_source(source)
        version = ContractVersion.objects.create(
            contract=contract,
            number=1,
            status=VersionStatus.PUBLISHED,
            source=source,
            document=document,
            problems=[problem.as_dict() for problem in problems],
            summary="The default contract.",
            created_at=now,
            updated_at=now,
            published_at=now,
        )
        _rebuild_glossary(version)
        contract.active_version = version
        contract.save(update_fields=["active_version"])
    return contract


def _next_number(contract: Contract) -> int:
    Contract.objects.select_for_update().filter(pk=contract.pk).first()
    return (contract.versions.aggregate(top=Max("number"))["top"] or 0) + 1


def _rebuild_glossary(version: ContractVersion) -> None:
    GlossaryTerm.objects.filter(version=version).delete()
    terms = (version.document or {}).get("glossary") or []
    GlossaryTerm.objects.bulk_create(
        GlossaryTerm(
            version=version,
            position=index,
            term=entry["term"].strip(),
            definition=entry["definition"].strip(),
            owner=entry["owner"],
            rule=entry.get("rule") or "",
        )
        for index, entry in enumerate(terms)
    )


def _store_source(version: ContractVersion, source: str) -> None:
    document, problems = parse_source(source)
    version.source = source
    version.document = document if not problems else {}
    version.problems = [problem.as_dict() for problem in problems]


def _require_drafter(by) -> None:
    if not can_draft_contract(by):
        raise PermissionDenied("Only marketing ops, managers and RevOps write contract drafts.")


@transaction.atomic
def contract_draft_create(*, by, source: str | None = None, summary: str = "", based_on=None) -> ContractVersion:
    """Start a new draft, a copy of the version in force unless a source is given."""
    _require_drafter(by)
    contract = contract_get()
    based_on = based_on or contract.active_version
    now = timezone.now()
    version = ContractVersion(
        contract=contract,
        number=_next_number(contract),
        status=VersionStatus.DRAFT,
        summary=summary.strip()[:300],
        based_on=based_on,
        created_by=by,
        created_at=now,
        updated_at=now,
    )
    _store_source(version, source if source is not None else based_on.source)
    version.save()
    _rebuild_glossary(version)
    audit_record(
        by=by,
        action="contract_draft",
        instance=version,
        after={"number": version.number, "based_on": based_on.number if based_on else None},
        summary=f"Draft v{version.number} of the revenue contract",
    )
    return version


@transaction.atomic
def contract_draft_update(*, by, version: ContractVersion, source: str, summary: str | None = None) -> ContractVersion:
    """Save a draft's source; a draft may be saved with problems, but not proposed with them."""
    _require_drafter(by)
    version = ContractVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.DRAFT:
        raise ContractInvalid([Problem("", f"v{version.number} is {version.status}; only a draft can be edited.")])
    before = {"source_lines": len(version.source.splitlines()), "summary": version.summary}
    _store_source(version, source)
    if summary is not None:
        version.summary = summary.strip()[:300]
    version.updated_at = timezone.now()
    version.save()
    _rebuild_glossary(version)
    audit_record(
        by=by,
        action="contract_draft_edit",
        instance=version,
        before=before,
        after={"source_lines": len(source.splitlines()), "summary": version.summary, "problems": len(version.problems)},
        summary=f"Edited draft v{version.number}",
    )
    return version


def publish_problems(document: dict) -> list[Problem]:
    """What would stop a valid document from being put in force against today's data."""
    problems = []
    stages = (document.get("lifecycle") or {}).get("stages") or []
    known_statuses = set(LeadStatus.objects.values_list("key", flat=True))
    for index, stage in enumerate(stages):
        status = stage.get("lead_status_on_entry")
        if status and status not in known_statuses:
            problems.append(
                Problem(
                    f"lifecycle.stages[{index}].lead_status_on_entry",
                    f"unknown lead status '{status}'; the lead statuses are {', '.join(sorted(known_statuses))}.",
                )
            )
    kept = {stage["key"] for stage in stages}
    for key in LifecycleStage.objects.exclude(pk__in=kept).values_list("pk", flat=True):
        people = Person.objects.filter(lifecycle_stage_id=key).count()
        history = StageChange.objects.filter(to_stage_id=key).count()
        if people or history:
            problems.append(
                Problem(
                    "lifecycle.stages",
                    f"stage '{key}' cannot be removed: {people:,} people are in it and {history:,} stage changes "
                    "lead to it. Keep it (it may become a side stage) or move those people first.",
                )
            )
    return problems


@transaction.atomic
def contract_propose(*, by, version: ContractVersion, summary: str | None = None) -> ContractVersion:
    """Put a valid draft up for approval by one marketing lead and one sales lead."""
    _require_drafter(by)
    version = ContractVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.DRAFT:
        raise ContractInvalid([Problem("", f"v{version.number} is {version.status}; only a draft can be proposed.")])
    if summary is not None:
        version.summary = summary.strip()[:300]
    if version.problems or not version.document:
        raise ContractInvalid([Problem(**problem) for problem in version.problems] or [Problem("", "empty document")])
    problems = publish_problems(version.document)
    if problems:
        raise ContractInvalid(problems)
    if not version.summary:
        raise ContractInvalid([Problem("summary", "say in a sentence what this proposal changes and why.")])
    now = timezone.now()
    version.status = VersionStatus.PROPOSED
    version.proposed_by = by
    version.proposed_at = now
    version.updated_at = now
    version.save()
    audit_record(
        by=by,
        action="contract_propose",
        instance=version,
        before={"status": VersionStatus.DRAFT},
        after={"status": VersionStatus.PROPOSED},
        summary=f"Proposed v{version.number}: {version.summary}",
    )
    side = LEAD_SIDES.get(by.role)
    if side is not None:
        # A lead's proposal speaks for their side; the other side's lead still has to approve.
        ContractApproval.objects.create(
            version=version, user=by, side=side, decision=Decision.APPROVE, note="Proposed it.", at=now
        )
        audit_record(
            by=by,
            action="contract_approve",
            instance=version,
            after={"side": side, "decision": Decision.APPROVE, "note": "Proposed it."},
            summary=f"Approved v{version.number} for {side} by proposing it",
        )
    return version


@transaction.atomic
def contract_decide(*, by, version: ContractVersion, decision: str, note: str = "") -> ContractVersion:
    """A marketing or sales lead approves or rejects a proposal; with both sides' approval it is published."""
    version = ContractVersion.objects.select_for_update().get(pk=version.pk)
    refusal = decision_refusal(by, version)
    if refusal:
        raise PermissionDenied(refusal)
    if decision not in Decision.values:
        raise ContractInvalid([Problem("decision", f"expected one of {', '.join(Decision.values)}.")])
    if decision == Decision.REJECT and not note.strip():
        raise ContractInvalid([Problem("note", "a rejection needs a note saying why.")])
    now = timezone.now()
    side = LEAD_SIDES[by.role]
    ContractApproval.objects.create(version=version, user=by, side=side, decision=decision, note=note.strip(), at=now)
    audit_record(
        by=by,
        action=f"contract_{decision}",
        instance=version,
        after={"side": side, "decision": decision, "note": note.strip()},
        summary=f"{Decision(decision).label} v{version.number} for {side}",
    )
    if decision == Decision.REJECT:
        version.status = VersionStatus.REJECTED
        version.decided_at = now
        version.updated_at = now
        version.save()
        return version
    approvals = version.approvals.filter(decision=Decision.APPROVE).aggregate(sides=Count("side", distinct=True))
    if approvals["sides"] == len(set(LEAD_SIDES.values())):
        _publish(version, by=by, at=now)
    return version


def _publish(version: ContractVersion, *, by, at) -> None:
    """Put a version in force: the lifecycle tables follow it and follow-up work is queued."""
    problems = publish_problems(version.document)
    if problems or not version.is_valid:
        raise ContractInvalid(problems or [Problem(**problem) for problem in version.problems])
    contract = Contract.objects.select_for_update().get(pk=version.contract_id)
    previous = contract.active_version
    _sync_lifecycle(version.document["lifecycle"])
    if previous is not None:
        ContractVersion.objects.filter(pk=previous.pk).update(status=VersionStatus.SUPERSEDED, updated_at=at)
    version.status = VersionStatus.PUBLISHED
    version.decided_at = at
    version.published_at = at
    version.updated_at = at
    version.save()
    contract.active_version = version
    contract.save(update_fields=["active_version"])
    audit_record(
        by=by,
        action="contract_publish",
        instance=version,
        before={"active_version": previous.number if previous else None},
        after={"active_version": version.number},
        summary=f"v{version.number} of the revenue contract is in force",
    )
    transaction.on_commit(lambda: contract_published(version.pk))


def _sync_lifecycle(lifecycle: dict) -> None:
    """Make the lifecycle tables say what the document says: stages upserted, transitions replaced."""
    statuses = set(LeadStatus.objects.values_list("key", flat=True))
    keys = []
    for position, stage in enumerate(lifecycle["stages"], start=1):
        keys.append(stage["key"])
        status = stage.get("lead_status_on_entry")
        LifecycleStage.objects.update_or_create(
            key=stage["key"],
            defaults={
                "name": stage["name"],
                "position": position,
                "is_side_stage": bool(stage.get("side_stage", False)),
                "side": stage.get("side", "both"),
                "lead_status_on_entry_id": status if status in statuses else None,
                "description": stage.get("entry_criteria") or "",
            },
        )
    LifecycleTransition.objects.all().delete()
    moves = []
    for transition in lifecycle["transitions"]:
        sources = transition["from"] if isinstance(transition["from"], list) else [transition["from"]]
        targets = transition["to"] if isinstance(transition["to"], list) else [transition["to"]]
        moves += [
            LifecycleTransition(from_stage_id=source, to_stage_id=target, kind=transition["kind"])
            for source in sources
            for target in targets
        ]
    LifecycleTransition.objects.bulk_create(moves)
    LifecycleStage.objects.exclude(pk__in=keys).delete()


@transaction.atomic
def contract_withdraw(*, by, version: ContractVersion) -> ContractVersion:
    """The proposer (or RevOps) takes a proposal back before it is decided."""
    version = ContractVersion.objects.select_for_update().get(pk=version.pk)
    if not can_withdraw(by, version):
        raise PermissionDenied("Only the proposer or RevOps withdraws a proposal that is still awaiting decisions.")
    version.status = VersionStatus.WITHDRAWN
    version.decided_at = version.updated_at = timezone.now()
    version.save()
    audit_record(
        by=by,
        action="contract_withdraw",
        instance=version,
        before={"status": VersionStatus.PROPOSED},
        after={"status": VersionStatus.WITHDRAWN},
        summary=f"Withdrew proposal v{version.number}",
    )
    return version


@transaction.atomic
def contract_restore(*, by, version: ContractVersion) -> ContractVersion:
    """Restoring an earlier version proposes a new version with its text; the usual approvals put it in force."""
    _require_drafter(by)
    contract = contract_get()
    draft = contract_draft_create(
        by=by,
        source=version.source,
        summary=f"Restore v{version.number}",
        based_on=contract.active_version,
    )
    draft.restored_from = version
    draft.save(update_fields=["restored_from"])
    if draft.problems:
        return draft
    return contract_propose(by=by, version=draft)
