"""Reads of the predictive score: outcomes, feature columns as of a moment, the timing check, model versions.

The columns come back as plain lists keyed by feature name (`source`, `custom.tags`,
`account.industry`, `touchpoints.form_submit`) for tandem.predict.engine.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Min

from tandem.audit.models import AuditEntry
from tandem.crm.models import Account, Person, StageChange
from tandem.engagement.models import Touchpoint, TouchpointType
from tandem.predict.models import ModelKind, PredictedScore, PredictiveModel, PredictSettings

PERSON_FIELDS = ["source", "utm_source", "utm_medium", "utm_campaign", "title", "buying_role"]
PERSON_FLAGS = ["consent_email", "consent_tracking"]
ACCOUNT_FIELDS = ["industry", "employee_count", "annual_revenue", "country", "region", "icp_tier", "is_target_account"]
# Never features, whatever the settings say: they record the outcome, who works the person, or are scores
# recomputed now from inputs the model already reads.
ALWAYS_EXCLUDED = [
    ("lifecycle_stage", "records the outcome itself"),
    ("lead_status", "set by sales while working the person, up to the outcome"),
    ("owner", "assigned by sales while working the person"),
    ("fit_score", "a rule score recomputed now, after the outcome; the fields it reads are used instead"),
    ("engagement_score", "a rule score recomputed now, after the outcome; the touchpoints are counted instead"),
    ("predictive_score", "this model's own output"),
    ("email, name, phone, external_id", "identify the person; say nothing about intent"),
]
# A column is left out when at least this share of the decided people who have a value got it after their outcome.
LATE_SHARE = 0.05
# Up to this many people are read by id; more, by the range of their ids (no long IN lists).
SMALL_SET = 500


@dataclass
class Outcome:
    """A decided person: converted or not, and when that became known."""

    label: int
    at: dt.datetime


@dataclass
class Definition:
    """What counts as an outcome, as the settings and a run's options say."""

    positive_stages: list[str]
    negative_stages: list[str]
    open_negative_after_days: int | None = None


@dataclass
class TimingCheck:
    """Per column: how many decided people have a value and how many of those got it after their outcome."""

    with_value: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    late: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def late_columns(self) -> dict[str, str]:
        """Columns set after the outcome too often to be used, each with the reason for the card."""
        found = {}
        for name, late in self.late.items():
            having = max(self.with_value.get(name, 0), late)
            if late and late >= LATE_SHARE * having:
                found[name] = (
                    f"set after the outcome was known for {late:,} of {having:,} decided people who have it "
                    f"({late / having:.0%})"
                )
        return found


def settings_get() -> PredictSettings:
    """The workspace's predictive settings, created with the defaults on first use."""
    found = PredictSettings.objects.order_by("pk").first()
    return found if found is not None else PredictSettings.objects.create()


def active_model() -> PredictiveModel | None:
    return PredictiveModel.objects.filter(is_active=True).first()


def model_versions() -> list[PredictiveModel]:
    """Every version, newest first, without the model text."""
    return list(PredictiveModel.objects.defer("model_text").order_by("-number"))


def person_prediction(*, person_id: int) -> PredictedScore | None:
    return PredictedScore.objects.select_related("model").filter(person_id=person_id).first()


def excluded_by_pattern(names: Iterable[str], patterns: Sequence[str]) -> dict[str, str]:
    """Column names matched by the exclusion list (names or shell patterns such as `custom.asymmetrique_*`)."""
    found = {}
    for name in names:
        for pattern in patterns:
            if fnmatch.fnmatchcase(name, pattern):
                found[name] = f"on the exclusion list ({pattern})"
                break
    return found


def outcomes(definition: Definition, *, now: dt.datetime) -> dict[int, Outcome]:
    """Every decided person: positive at their first entry to a positive stage, negative at their entry to a
    negative stage (or, if set, when open past the waiting period); the rest are still open."""
    decided: dict[int, Outcome] = {}
    first_positive = (
        StageChange.objects.filter(person__isnull=False, to_stage_id__in=definition.positive_stages)
        .values("person_id")
        .annotate(first=Min("at"))
        .values_list("person_id", "first")
    )
    for person_id, at in first_positive.iterator(chunk_size=10_000):
        decided[person_id] = Outcome(1, at)
    current = Person.objects.values_list("pk", "lifecycle_stage_id", "stage_entered_at", "created_at")
    cutoff = None
    if definition.open_negative_after_days is not None:
        cutoff = now - dt.timedelta(days=definition.open_negative_after_days)
    positive, negative = set(definition.positive_stages), set(definition.negative_stages)
    for person_id, stage, entered_at, created_at in current.iterator(chunk_size=10_000):
        if person_id in decided:
            continue
        if stage in positive:
            decided[person_id] = Outcome(1, entered_at)
        elif stage in negative:
            decided[person_id] = Outcome(0, entered_at)
        elif cutoff is not None and created_at <= cutoff:
            decided[person_id] = Outcome(0, now)
    return decided


def _id_filter(field: str, ids: Sequence[int]) -> dict:
    """A few ids by value; many by the range they span (a chunk of a rescore reads only its own rows)."""
    if len(ids) <= SMALL_SET:
        return {f"{field}__in": list(ids)}
    return {f"{field}__gte": min(ids), f"{field}__lte": max(ids)}


def _plain(value):
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return None
    return value


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def feature_columns(
    person_ids: Sequence[int],
    *,
    as_of: dt.datetime,
    outcome_at: dict[int, dt.datetime] | None = None,
    timing: TimingCheck | None = None,
) -> dict[str, list]:
    """Feature columns of `person_ids` (in that order): person and account fields, custom fields and touchpoint
    counts by type. With `outcome_at`, touchpoints count up to each person's outcome and each field is taken as
    it was then, rewound through the audit log; `timing` collects how often a field was set afterwards."""
    position = {person_id: index for index, person_id in enumerate(person_ids)}
    size = len(person_ids)
    columns: dict[str, list] = {}

    def column(name: str) -> list:
        found = columns.get(name)
        if found is None:
            found = columns[name] = [None] * size
        return found

    account_of = [None] * size
    names = ["pk", "account_id", "phone", "custom_fields", *PERSON_FIELDS, *PERSON_FLAGS]
    rows = Person.objects.filter(**_id_filter("pk", person_ids))
    for row in rows.values_list(*names).iterator(chunk_size=10_000):
        index = position.get(row[0])
        if index is None:
            continue
        account_of[index] = row[1]
        column("has_phone")[index] = bool(row[2])
        for key, value in (row[3] or {}).items():
            column(f"custom.{key}")[index] = _plain(value)
        for offset, name in enumerate(PERSON_FIELDS + PERSON_FLAGS, start=4):
            column(name)[index] = row[offset]

    account_ids = {account_id for account_id in account_of if account_id is not None}
    accounts = {}
    if account_ids:
        for row in Account.objects.filter(pk__in=account_ids).values("pk", "custom_fields", *ACCOUNT_FIELDS).iterator():
            accounts[row.pop("pk")] = row
    account_columns = {f"account.{name}" for name in ACCOUNT_FIELDS}
    for key in {key for account in accounts.values() for key in (account["custom_fields"] or {})}:
        account_columns.add(f"account.custom.{key}")
    for name in sorted(account_columns):
        column(name)
    for index, account_id in enumerate(account_of):
        account = accounts.get(account_id)
        if account is None:
            continue
        for name in ACCOUNT_FIELDS:
            value = account[name]
            columns[f"account.{name}"][index] = (
                float(value) if name == "annual_revenue" and value is not None else value
            )
        for key, value in (account["custom_fields"] or {}).items():
            columns[f"account.custom.{key}"][index] = _plain(value)

    if outcome_at is not None:
        _rewind(columns, person_ids, position, account_of, outcome_at, timing or TimingCheck())
    _touchpoint_counts(columns, person_ids, position, as_of=as_of, outcome_at=outcome_at)
    return columns


def _rewind(columns, person_ids, position, account_of, outcome_at, timing: TimingCheck) -> None:
    """Put back each field as it was at the person's outcome, from audit entries written after it."""
    for name, values in columns.items():
        timing.with_value[name] += sum(not _empty(value) for value in values)
    earliest = min(outcome_at.values())
    # The oldest `before` after the outcome is the value the field had at the outcome.
    as_then: dict[tuple[int, str], object] = {}
    entries = AuditEntry.objects.filter(
        entity_type="crm.person", action="update", at__gt=earliest, **_id_filter("entity_id", person_ids)
    )
    for person_id, at, before, after in entries.order_by("at", "pk").values_list("entity_id", "at", "before", "after"):
        if person_id not in position or at <= outcome_at.get(person_id, at):
            continue
        for name, value in _changed_columns(before or {}, after or {}, ""):
            as_then.setdefault((person_id, name), value)
    people_of_account = defaultdict(list)
    for person_id, account_id in zip(person_ids, account_of, strict=True):
        if account_id is not None:
            people_of_account[account_id].append(person_id)
    if people_of_account:
        account_entries = AuditEntry.objects.filter(entity_type="crm.account", action="update", at__gt=earliest)
        for account_id, at, before, after in account_entries.order_by("at", "pk").values_list(
            "entity_id", "at", "before", "after"
        ):
            for person_id in people_of_account.get(account_id, ()):
                if at <= outcome_at[person_id]:
                    continue
                for name, value in _changed_columns(before or {}, after or {}, "account."):
                    as_then.setdefault((person_id, name), value)
    for (person_id, name), value in as_then.items():
        values = columns.get(name)
        if values is None:
            continue
        index = position[person_id]
        if not _empty(values[index]):
            timing.late[name] += 1
        values[index] = None if _empty(value) else _plain(value)


def _changed_columns(before: dict, after: dict, prefix: str):
    """(column, value before) of each feature column an audit entry changed."""
    for key in after:
        if key == "custom_fields":
            old, new = before.get(key) or {}, after.get(key) or {}
            for custom_key in set(old) | set(new):
                if old.get(custom_key) != new.get(custom_key):
                    yield f"{prefix}custom.{custom_key}", old.get(custom_key)
        elif key == "phone" and not prefix:
            yield "has_phone", bool(before.get(key))
        elif before.get(key) != after.get(key):
            yield f"{prefix}{key}", before.get(key)


def _touchpoint_counts(columns, person_ids, position, *, as_of, outcome_at) -> None:
    """Touchpoints of each type before each person's outcome (or `as_of`), and in all."""
    size = len(person_ids)
    types = [choice.value for choice in TouchpointType]
    counts = {kind: [0] * size for kind in types}
    total = [0] * size
    touchpoints = Touchpoint.objects.filter(occurred_at__lte=as_of, **_id_filter("person_id", person_ids))
    if outcome_at is None:
        grouped = touchpoints.values("person_id", "type").annotate(count=Count("pk"))
        for person_id, kind, count in grouped.values_list("person_id", "type", "count").iterator(chunk_size=10_000):
            index = position.get(person_id)
            if index is not None and kind in counts:
                counts[kind][index] += count
                total[index] += count
    else:
        rows = touchpoints.values_list("person_id", "type", "occurred_at")
        for person_id, kind, occurred_at in rows.iterator(chunk_size=10_000):
            index = position.get(person_id)
            if index is None or occurred_at >= outcome_at[person_id] or kind not in counts:
                continue
            counts[kind][index] += 1
            total[index] += 1
    for kind in types:
        columns[f"touchpoints.{kind}"] = counts[kind]
    columns["touchpoints.total"] = total


def people_ids() -> list[int]:
    return list(Person.objects.order_by("pk").values_list("pk", flat=True))


def fallback_in_force() -> bool:
    model = active_model()
    return model is None or model.kind == ModelKind.RULE_FALLBACK
