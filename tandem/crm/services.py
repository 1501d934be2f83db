"""Writes to the shared record: one function per business action, each audited."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tandem.audit.actors import Actor, as_actor
from tandem.audit.services import apply_changes, audit_record, snapshot
from tandem.crm.defaults import FREE_MAIL_DOMAINS
from tandem.crm.models import (
    Account,
    AccountDomain,
    AccountMatch,
    Activity,
    LeadStatus,
    LifecycleStage,
    LifecycleTransition,
    MatchMethod,
    Opportunity,
    OpportunityStage,
    OpportunityStageChange,
    Person,
    StageChange,
)
from tandem.scoring.models import PersonScore

ACCOUNT_FIELDS = [
    "name",
    "domain",
    "industry",
    "employee_count",
    "annual_revenue",
    "country",
    "region",
    "owner",
    "icp_tier",
    "is_target_account",
    "external_id",
]
PERSON_FIELDS = [
    "email",
    "first_name",
    "last_name",
    "title",
    "phone",
    "account",
    "lead_status",
    "owner",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "buying_role",
    "consent_email",
    "consent_tracking",
    "custom_fields",
    "external_id",
]
OPPORTUNITY_FIELDS = [
    "account",
    "primary_person",
    "name",
    "amount",
    "currency",
    "stage",
    "probability",
    "forecast_category",
    "close_date",
    "owner",
    "lost_reason",
    "source_campaign",
    "external_id",
]
ACTIVITY_FIELDS = ["kind", "subject", "body", "occurred_at", "due_at", "is_done"]


# ---------------------------------------------------------------- normalisation


def normalize_email(email: str) -> str:
    """Trim and lower-case an email address; refuse one that is not an address."""
    value = (email or "").strip().lower()
    if not value:
        raise ValidationError({"email": "Email is required."})
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError({"email": f"'{email}' is not a valid email address."}) from None
    return value


def normalize_domain(domain: str) -> str:
    """Reduce 'https://www.Acme.com/about' to 'acme.com'."""
    value = (domain or "").strip().lower()
    for prefix in ("https://", "http://"):
        value = value.removeprefix(prefix)
    value = value.split("/")[0].split("?")[0].removeprefix("www.").rstrip(".")
    if value and ("." not in value or " " in value or len(value) > 253):
        raise ValidationError({"domain": f"'{domain}' is not a domain name (expected e.g. acme.com)."})
    return value


def email_domain(email: str | None) -> str:
    return email.rsplit("@", 1)[-1].lower() if email and "@" in email else ""


def _clean(instance, *, exclude=()):
    """Run the model's field validation and re-raise with field names intact."""
    instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)


def _check_unique(model, field: str, value, *, instance=None, case_insensitive=False):
    if value in (None, ""):
        return
    lookup = {f"{field}__iexact" if case_insensitive else field: value}
    query = model.objects.filter(**lookup)
    if instance is not None and instance.pk:
        query = query.exclude(pk=instance.pk)
    if query.exists():
        label = model._meta.verbose_name
        raise ValidationError({field: f"A {label} with {field} '{value}' already exists."})


def _decimal(value, field: str):
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({field: f"'{value}' is not a number."}) from None


# ---------------------------------------------------------------- accounts


def _sync_primary_domain(account: Account) -> None:
    if account.domain:
        taken = AccountDomain.objects.filter(domain=account.domain).exclude(account=account).first()
        if taken:
            raise ValidationError(
                {"domain": f"The domain '{account.domain}' already belongs to account #{taken.account_id}."}
            )
        AccountDomain.objects.get_or_create(account=account, domain=account.domain)


@transaction.atomic
def account_create(*, by, name: str, domain: str = "", **fields) -> Account:
    """Create an account; people with an email at its domain are matched to it afterwards."""
    now = timezone.now()
    if "annual_revenue" in fields:
        fields["annual_revenue"] = _decimal(fields["annual_revenue"], "annual_revenue")
    unknown = sorted(set(fields) - set(ACCOUNT_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Unknown field."))
    account = Account(
        name=(name or "").strip(), domain=normalize_domain(domain), created_at=now, updated_at=now, **fields
    )
    if account.external_id == "":
        account.external_id = None
    _clean(account)
    _check_unique(Account, "external_id", account.external_id)
    account.save()
    _sync_primary_domain(account)
    audit_record(
        by=by,
        action="create",
        instance=account,
        after=snapshot(account, ACCOUNT_FIELDS),
        summary=f"Created account {account.name}",
    )
    if account.domain:
        from tandem.crm.tasks import match_people_to_account

        transaction.on_commit(lambda: match_people_to_account(account.pk))
    _queue_icp_tier(account.pk)
    return account


def _queue_icp_tier(account_id: int) -> None:
    """The contract in force puts the account in its ICP tier once the change is committed."""
    from tandem.contract.tasks import account_tier_changed

    transaction.on_commit(lambda: account_tier_changed(account_id))


@transaction.atomic
def account_update(*, by, account: Account, changes: dict) -> Account:
    """Change an account's fields."""
    changes = dict(changes)
    if "domain" in changes:
        changes["domain"] = normalize_domain(changes["domain"])
    if "annual_revenue" in changes:
        changes["annual_revenue"] = _decimal(changes["annual_revenue"], "annual_revenue")
    if changes.get("external_id") == "":
        changes["external_id"] = None
    before, after = apply_changes(account, changes, ACCOUNT_FIELDS)
    if not after:
        return account
    _clean(account)
    _check_unique(Account, "external_id", account.external_id, instance=account)
    account.updated_at = timezone.now()
    account.save()
    if "domain" in after:
        _sync_primary_domain(account)
    audit_record(
        by=by, action="update", instance=account, before=before, after=after, summary="Changed " + ", ".join(after)
    )
    if set(after) - {"icp_tier", "owner", "owner_id"}:
        _queue_icp_tier(account.pk)
    return account


@transaction.atomic
def account_delete(*, by, account: Account) -> None:
    """Delete an account that has no opportunities; its people stay, unlinked."""
    if account.opportunities.exists():
        raise ValidationError({"account": "This account has opportunities; delete or move them first."})
    audit_record(
        by=by,
        action="delete",
        instance=account,
        before=snapshot(account, ACCOUNT_FIELDS),
        summary=f"Deleted account {account.name}",
    )
    account.delete()


# ---------------------------------------------------------------- account matching


def account_for_email(email: str) -> tuple[Account | None, str]:
    """The account whose domain (or a parent of it) matches the email's domain; free mail never matches."""
    domain = email_domain(email)
    if not domain or domain in FREE_MAIL_DOMAINS:
        return None, ""
    labels = domain.split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    found = {
        row.domain: row.account for row in AccountDomain.objects.filter(domain__in=candidates).select_related("account")
    }
    for candidate in candidates:
        if candidate in found:
            return found[candidate], candidate
    return None, ""


def _record_match(*, person, account, method, by, domain="") -> AccountMatch:
    actor = as_actor(by)
    match = AccountMatch.objects.create(
        person=person,
        account=account,
        previous_account_id=person.account_id,
        method=method,
        matched_domain=domain,
        matched_at=timezone.now(),
        matched_by=actor.user,
    )
    before = {"account": person.account_id}
    person.account = account
    person.updated_at = timezone.now()
    person.save(update_fields=["account", "updated_at"])
    audit_record(
        by=by,
        action="match_account",
        instance=person,
        before=before,
        after={"account": account.pk},
        summary=f"Linked to {account.name} ({match.get_method_display()}" + (f": {domain})" if domain else ")"),
    )
    return match


@transaction.atomic
def person_match_account(*, person: Person, by=None) -> AccountMatch | None:
    """Link a person without an account to the account their email domain belongs to."""
    if person.account_id is not None:
        return None
    account, domain = account_for_email(person.email)
    if account is None:
        return None
    return _record_match(
        person=person,
        account=account,
        method=MatchMethod.EMAIL_DOMAIN,
        by=by or Actor.rule("Email domain match"),
        domain=domain,
    )


@transaction.atomic
def person_set_account(*, person: Person, account: Account | None, by) -> AccountMatch | None:
    """Link a person to an account by hand (or unlink with None)."""
    if account is None:
        before = {"account": person.account_id}
        person.account = None
        person.updated_at = timezone.now()
        person.save(update_fields=["account", "updated_at"])
        audit_record(
            by=by,
            action="unlink_account",
            instance=person,
            before=before,
            after={"account": None},
            summary="Unlinked from account",
        )
        return None
    if person.account_id == account.pk:
        return None
    return _record_match(person=person, account=account, method=MatchMethod.MANUAL, by=by)


@transaction.atomic
def account_match_undo(*, match: AccountMatch, by) -> Person:
    """Undo a match: the person goes back to the account they had before it."""
    match = AccountMatch.objects.select_for_update().get(pk=match.pk)
    if match.undone_at is not None:
        raise ValidationError({"match": "This match was already undone."})
    person = Person.objects.select_for_update().get(pk=match.person_id)
    if person.account_id != match.account_id:
        raise ValidationError({"match": "The person has been linked to another account since."})
    actor = as_actor(by)
    before = {"account": person.account_id}
    person.account_id = match.previous_account_id
    person.updated_at = timezone.now()
    person.save(update_fields=["account", "updated_at"])
    match.undone_at = timezone.now()
    match.undone_by = actor.user
    match.save(update_fields=["undone_at", "undone_by"])
    audit_record(
        by=by,
        action="undo_account_match",
        instance=person,
        before=before,
        after={"account": person.account_id},
        summary="Undid account match",
    )
    return person


def match_people_to_account(*, account: Account) -> int:
    """Link every unlinked person whose email is at one of the account's domains."""
    matched = 0
    domains = list(account.domains.values_list("domain", flat=True))
    if not domains:
        return 0
    condition = Q()
    for domain in domains:
        condition |= Q(email__iendswith=f"@{domain}") | Q(email__iendswith=f".{domain}")
    for person in Person.objects.filter(condition, account__isnull=True).iterator():
        if person_match_account(person=person) is not None:
            matched += 1
    return matched


# ---------------------------------------------------------------- people


def _resolve_lead_status(value):
    if value in (None, ""):
        return None
    key = value.pk if isinstance(value, LeadStatus) else str(value)
    if not LeadStatus.objects.filter(pk=key).exists():
        keys = ", ".join(LeadStatus.objects.values_list("key", flat=True))
        raise ValidationError({"lead_status": f"Unknown lead status '{value}'; expected one of {keys}."})
    return key


def resolve_stage(value, field: str = "lifecycle_stage") -> LifecycleStage:
    if isinstance(value, LifecycleStage):
        return value
    stage = LifecycleStage.objects.filter(pk=str(value or "")).first()
    if stage is None:
        keys = ", ".join(LifecycleStage.objects.values_list("key", flat=True))
        raise ValidationError({field: f"Unknown stage '{value}'; expected one of {keys}."})
    return stage


@transaction.atomic
def person_create(
    *, by, email: str, lifecycle_stage="lead", reason: str = "", at: dt.datetime | None = None, **fields
) -> Person:
    """Create a person, record their first stage, and link them to their company's account."""
    now = at or timezone.now()
    unknown = sorted(set(fields) - set(PERSON_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Unknown field."))
    email = normalize_email(email)
    stage = resolve_stage(lifecycle_stage)
    fields["lead_status"] = _resolve_lead_status(fields.get("lead_status"))
    if fields.get("external_id") == "":
        fields["external_id"] = None
    status = fields.pop("lead_status") or stage.lead_status_on_entry_id
    person = Person(
        email=email,
        lifecycle_stage=stage,
        lead_status_id=status,
        stage_entered_at=now,
        last_activity_at=now,
        created_at=now,
        updated_at=now,
        **fields,
    )
    _clean(person, exclude=["custom_fields"])
    _check_unique(Person, "email", email, case_insensitive=True)
    _check_unique(Person, "external_id", person.external_id)
    person.save()
    # Scores start at 0 in their own row (tandem.scoring), which lists sorted by score join.
    PersonScore.objects.create(person=person)
    actor = as_actor(by)
    StageChange.objects.create(
        person=person,
        from_stage=None,
        to_stage=stage,
        at=now,
        actor_type=actor.type,
        actor_user=actor.user,
        actor_label=actor.display,
        reason=reason or "Created",
    )
    _stage_change_recorded()
    audit_record(
        by=by,
        action="create",
        instance=person,
        after=snapshot(person, ["email", "lifecycle_stage", *PERSON_FIELDS[1:]]),
        summary=f"Created {person}",
    )
    if person.account_id is None:
        person_match_account(person=person)
    return person


@transaction.atomic
def person_update(*, by, person: Person, changes: dict) -> Person:
    """Change a person's fields; stage moves go through lifecycle_transition instead."""
    changes = dict(changes)
    if "lifecycle_stage" in changes:
        raise ValidationError({"lifecycle_stage": "Use the stage transition to change the stage."})
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
    if "lead_status" in changes:
        changes["lead_status"] = _resolve_lead_status(changes["lead_status"])
    if changes.get("external_id") == "":
        changes["external_id"] = None
    account_before = person.account_id
    before, after = apply_changes(person, changes, PERSON_FIELDS)
    if not after:
        return person
    _clean(person, exclude=["custom_fields"])
    if "email" in after:
        _check_unique(Person, "email", person.email, instance=person, case_insensitive=True)
    _check_unique(Person, "external_id", person.external_id, instance=person)
    person.updated_at = timezone.now()
    person.save()
    audit_record(
        by=by, action="update", instance=person, before=before, after=after, summary="Changed " + ", ".join(after)
    )
    if "account" in after and person.account_id is not None:
        AccountMatch.objects.create(
            person=person,
            account_id=person.account_id,
            previous_account_id=account_before,
            method=MatchMethod.MANUAL,
            matched_at=timezone.now(),
            matched_by=as_actor(by).user,
        )
    return person


@transaction.atomic
def person_delete(*, by, person: Person) -> None:
    """Delete a person and their history."""
    audit_record(
        by=by,
        action="delete",
        instance=person,
        before=snapshot(person, ["email", "lifecycle_stage", *PERSON_FIELDS[1:]]),
        summary=f"Deleted {person}",
    )
    person.delete()


# ---------------------------------------------------------------- lifecycle


def allowed_next_stages(current_stage_key: str | None) -> list[LifecycleStage]:
    """The stages a record in `current_stage_key` may move to."""
    if current_stage_key is None:
        return list(LifecycleStage.objects.all())
    keys = LifecycleTransition.objects.filter(from_stage_id=current_stage_key).values("to_stage_id")
    return list(LifecycleStage.objects.filter(pk__in=keys))


def _stage_change_recorded() -> None:
    # The analysis pages' rollup counts it on the worker a few seconds after the commit.
    from tandem.analytics.services import stage_entries_catch_up_on_commit

    stage_entries_catch_up_on_commit()


@transaction.atomic
def lifecycle_transition(
    *,
    to_stage,
    by,
    person: Person | None = None,
    account: Account | None = None,
    reason: str = "",
    evidence: dict | None = None,
    contract_version: int | None = None,
    at: dt.datetime | None = None,
) -> StageChange:
    """Move a person or an account to another lifecycle stage, if the lifecycle allows the move.

    Writes the StageChange with its actor, reason and evidence, keeps the lead status consistent
    with the new stage, and audits the change.
    """
    if (person is None) == (account is None):
        raise ValueError("pass exactly one of person or account")
    stage = resolve_stage(to_stage, "to_stage")
    model = Person if person is not None else Account
    subject = model.objects.select_for_update().get(pk=(person or account).pk)
    current = subject.lifecycle_stage_id
    if current == stage.pk:
        raise ValidationError({"to_stage": f"Already in stage {stage.name}."})
    if current is not None and not LifecycleTransition.objects.filter(from_stage_id=current, to_stage=stage).exists():
        allowed = ", ".join(s.key for s in allowed_next_stages(current)) or "none"
        raise ValidationError({"to_stage": f"Moving from {current} to {stage.key} is not allowed; allowed: {allowed}."})
    now = at or timezone.now()
    actor = as_actor(by)
    change = StageChange.objects.create(
        person=subject if model is Person else None,
        account=subject if model is Account else None,
        from_stage_id=current,
        to_stage=stage,
        at=now,
        actor_type=actor.type,
        actor_user=actor.user if actor.user is not None and actor.user.pk else None,
        actor_label=actor.display,
        reason=(reason or "").strip()[:500],
        contract_version=contract_version,
        evidence=evidence or {},
    )
    if model is Person:
        _stage_change_recorded()
    before = {"lifecycle_stage": current}
    after = {"lifecycle_stage": stage.pk}
    subject.lifecycle_stage = stage
    update_fields = ["lifecycle_stage"]
    if model is Person:
        subject.stage_entered_at = now
        subject.updated_at = timezone.now()
        update_fields += ["stage_entered_at", "updated_at"]
        if stage.lead_status_on_entry_id and subject.lead_status_id != stage.lead_status_on_entry_id:
            before["lead_status"] = subject.lead_status_id
            after["lead_status"] = stage.lead_status_on_entry_id
            subject.lead_status_id = stage.lead_status_on_entry_id
            update_fields.append("lead_status")
    else:
        subject.updated_at = timezone.now()
        update_fields.append("updated_at")
    subject.save(update_fields=update_fields)
    if person is not None:
        person.lifecycle_stage = subject.lifecycle_stage
        person.lead_status_id = subject.lead_status_id
        person.stage_entered_at = subject.stage_entered_at
    else:
        account.lifecycle_stage = subject.lifecycle_stage
    audit_record(
        by=by,
        action="stage_change",
        instance=subject,
        before=before,
        after=after,
        summary=f"Stage {current or '—'} → {stage.key}" + (f": {reason}" if reason else ""),
    )
    if model is Person and stage.pk == "mql":
        # Every new MQL is handed to sales: routed on the worker once this move commits.
        from tandem.handoff.services import handoff_route_queue

        handoff_route_queue(person_id=subject.pk)
    return change


def _advance_by_rule(person: Person | None, to_stage_key: str, label: str, evidence: dict) -> None:
    """Move a person forward automatically when a sales event implies it; never backward."""
    if person is None:
        return
    allowed = LifecycleTransition.objects.filter(
        from_stage_id=person.lifecycle_stage_id, to_stage_id=to_stage_key, kind="forward"
    ).exists()
    if allowed:
        lifecycle_transition(
            person=person, to_stage=to_stage_key, by=Actor.rule(label), reason=label, evidence=evidence
        )


# ---------------------------------------------------------------- opportunities


def _resolve_opportunity_stage(value) -> OpportunityStage:
    if isinstance(value, OpportunityStage):
        return value
    stage = OpportunityStage.objects.filter(pk=str(value or "")).first()
    if stage is None:
        keys = ", ".join(OpportunityStage.objects.values_list("key", flat=True))
        raise ValidationError({"stage": f"Unknown opportunity stage '{value}'; expected one of {keys}."})
    return stage


def _apply_stage_defaults(opportunity: Opportunity, stage: OpportunityStage, explicit: set[str]):
    opportunity.stage = stage
    if "probability" not in explicit:
        opportunity.probability = stage.probability
    if "forecast_category" not in explicit or stage.is_closed:
        opportunity.forecast_category = stage.forecast_category
    opportunity.is_closed = stage.is_closed
    opportunity.is_won = stage.is_won
    opportunity.closed_at = timezone.now() if stage.is_closed else None


def _record_opportunity_stage(opportunity, from_stage_id, by, reason=""):
    actor = as_actor(by)
    OpportunityStageChange.objects.create(
        opportunity=opportunity,
        from_stage_id=from_stage_id,
        to_stage=opportunity.stage,
        amount=opportunity.amount,
        at=timezone.now(),
        actor_type=actor.type,
        actor_user=actor.user,
        actor_label=actor.display,
        reason=reason,
    )


@transaction.atomic
def opportunity_create(*, by, account: Account, name: str, stage="discovery", close_date, **fields) -> Opportunity:
    """Open an opportunity; its primary person moves to the Opportunity stage."""
    now = timezone.now()
    unknown = sorted(set(fields) - set(OPPORTUNITY_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Unknown field."))
    if "amount" in fields:
        fields["amount"] = _decimal(fields["amount"], "amount") or Decimal(0)
    if fields.get("external_id") == "":
        fields["external_id"] = None
    explicit = {key for key, value in fields.items() if value is not None}
    fields = {key: value for key, value in fields.items() if value is not None}
    opportunity = Opportunity(
        account=account, name=(name or "").strip(), close_date=close_date, created_at=now, updated_at=now, **fields
    )
    _apply_stage_defaults(opportunity, _resolve_opportunity_stage(stage), explicit)
    _clean(opportunity)
    _check_unique(Opportunity, "external_id", opportunity.external_id)
    opportunity.save()
    _record_opportunity_stage(opportunity, None, by, "Created")
    audit_record(
        by=by,
        action="create",
        instance=opportunity,
        after=snapshot(opportunity, OPPORTUNITY_FIELDS),
        summary=f"Created {opportunity.name}",
    )
    evidence = {"opportunity_id": opportunity.pk}
    _advance_by_rule(opportunity.primary_person, "opportunity", "Opportunity created", evidence)
    if opportunity.is_won:
        _advance_by_rule(opportunity.primary_person, "customer", "Opportunity won", evidence)
    return opportunity


@transaction.atomic
def opportunity_update(*, by, opportunity: Opportunity, changes: dict, reason: str = "") -> Opportunity:
    """Change an opportunity; a stage change is recorded in its stage history."""
    changes = dict(changes)
    if "amount" in changes:
        changes["amount"] = _decimal(changes["amount"], "amount") or Decimal(0)
    if changes.get("external_id") == "":
        changes["external_id"] = None
    stage_before = opportunity.stage_id
    new_stage = _resolve_opportunity_stage(changes.pop("stage")) if "stage" in changes else None
    before, after = apply_changes(opportunity, changes, OPPORTUNITY_FIELDS)
    if new_stage is not None and new_stage.pk != stage_before:
        snap = snapshot(opportunity, ["probability", "forecast_category"])
        _apply_stage_defaults(opportunity, new_stage, set(changes))
        before.update({"stage": stage_before, **{k: v for k, v in snap.items() if k not in before}})
        after.update({"stage": new_stage.pk, **snapshot(opportunity, ["probability", "forecast_category"])})
    if not after:
        return opportunity
    _clean(opportunity)
    _check_unique(Opportunity, "external_id", opportunity.external_id, instance=opportunity)
    opportunity.updated_at = timezone.now()
    opportunity.save()
    if "stage" in after:
        _record_opportunity_stage(opportunity, stage_before, by, reason)
        if opportunity.is_won:
            _advance_by_rule(
                opportunity.primary_person, "customer", "Opportunity won", {"opportunity_id": opportunity.pk}
            )
    audit_record(
        by=by, action="update", instance=opportunity, before=before, after=after, summary="Changed " + ", ".join(after)
    )
    return opportunity


@transaction.atomic
def opportunity_delete(*, by, opportunity: Opportunity) -> None:
    """Delete an opportunity and its stage history."""
    audit_record(
        by=by,
        action="delete",
        instance=opportunity,
        before=snapshot(opportunity, OPPORTUNITY_FIELDS),
        summary=f"Deleted {opportunity.name}",
    )
    opportunity.delete()


# ---------------------------------------------------------------- activities


def _touch_person(person_id: int | None, at: dt.datetime) -> None:
    if person_id is None:
        return
    Person.objects.filter(pk=person_id, last_activity_at__lt=at).update(last_activity_at=at)


@transaction.atomic
def activity_create(
    *,
    by,
    kind: str,
    subject: str,
    person=None,
    account=None,
    opportunity=None,
    occurred_at: dt.datetime | None = None,
    body: str = "",
    due_at=None,
    is_done: bool = True,
) -> Activity:
    """Log a call, email, meeting, note or task on a person, account or opportunity."""
    if person is None and account is None and opportunity is None:
        raise ValidationError({"person": "An activity needs a person, an account or an opportunity."})
    if account is None and person is not None:
        account = person.account
    if account is None and opportunity is not None:
        account = opportunity.account
    now = timezone.now()
    actor = as_actor(by)
    activity = Activity(
        kind=kind,
        subject=(subject or "").strip(),
        body=body,
        occurred_at=occurred_at or now,
        due_at=due_at,
        is_done=is_done,
        user=actor.user,
        person=person,
        account=account,
        opportunity=opportunity,
        created_at=now,
    )
    _clean(activity)
    activity.save()
    _touch_person(activity.person_id, activity.occurred_at)
    audit_record(
        by=by,
        action="create",
        instance=activity,
        after=snapshot(activity, ["kind", "subject", "person", "account", "opportunity"]),
        summary=f"Logged {activity.get_kind_display().lower()}: {activity.subject}",
    )
    return activity


@transaction.atomic
def activity_update(*, by, activity: Activity, changes: dict) -> Activity:
    """Change an activity (e.g. complete a task)."""
    before, after = apply_changes(activity, changes, ACTIVITY_FIELDS)
    if not after:
        return activity
    _clean(activity)
    activity.save()
    _touch_person(activity.person_id, activity.occurred_at)
    audit_record(
        by=by, action="update", instance=activity, before=before, after=after, summary="Changed " + ", ".join(after)
    )
    return activity


@transaction.atomic
def activity_delete(*, by, activity: Activity) -> None:
    """Delete an activity."""
    audit_record(
        by=by,
        action="delete",
        instance=activity,
        before=snapshot(activity, ["kind", "subject", "person", "account", "opportunity"]),
        summary=f"Deleted {activity}",
    )
    activity.delete()
