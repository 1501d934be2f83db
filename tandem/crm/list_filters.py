"""The query strings of the people and opportunity lists, read one way by the list pages and their exports.

The scorecard's drill-down links (tandem/analytics) write these same parameters, so that a number on the
scorecard opens exactly the records behind it.
"""

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone

from tandem.crm.selectors import HANDOFF_FILTERS, AccountFilters, OpportunityFilters, PersonFilters


def int_or_none(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def amount_or_none(value):
    """A non-negative amount from a query parameter (e.g. clv_min), or None when absent or not a number."""
    try:
        amount = Decimal(value) if value not in (None, "") else None
    except (ArithmeticError, ValueError):
        return None
    return amount if amount is not None and amount.is_finite() and 0 <= amount < 10**14 else None


def owner_filter(query: QueryDict, user) -> tuple[int | None, bool]:
    """`owner=me`, `owner=none` (unowned) or a user id."""
    value = query.get("owner", "")
    if value == "me":
        return user.pk, False
    if value == "none":
        return None, True
    return int_or_none(value), False


def _ids(query: QueryDict) -> list[int]:
    text = query.get("ids", "")
    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()][:1000]
    except ValueError:
        raise ValidationError({"ids": "expected record ids separated by commas, e.g. 12,40,41."}) from None


def _date(query: QueryDict, name: str) -> dt.date | None:
    text = query.get(name, "")
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError({name: f"expected a date as YYYY-MM-DD, got '{text[:20]}'."}) from None


def _moment(query: QueryDict, name: str) -> dt.datetime | None:
    """A date as the start of that day in the workspace's time zone."""
    day = _date(query, name)
    return None if day is None else timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _segment(query: QueryDict) -> dict:
    return {
        "team_id": int_or_none(query.get("team")),
        "icp_tier": int_or_none(query.get("icp_tier")),
        "industry": query.get("industry", "")[:100],
        "region": query.get("region", "")[:50],
        "campaign_id": int_or_none(query.get("campaign")),
        "channel": query.get("channel", "")[:30],
    }


def person_filters(query: QueryDict, user) -> PersonFilters:
    """The people list's filters from its query string; a malformed value raises ValidationError naming it."""
    owner_id, is_unowned = owner_filter(query, user)
    handoff = query.get("handoff", "")
    if handoff and handoff not in HANDOFF_FILTERS:
        raise ValidationError({"handoff": f"expected one of {', '.join(HANDOFF_FILTERS)}, got '{handoff[:20]}'."})
    return PersonFilters(
        stages=[stage for stage in query.getlist("stage") if stage],
        lead_status=query.get("lead_status", ""),
        owner_id=owner_id,
        is_unowned=is_unowned,
        account_id=int_or_none(query.get("account")),
        search=query.get("q", "")[:100],
        clv_min=amount_or_none(query.get("clv_min")),
        ids=_ids(query),
        entered_stage=query.get("entered", "")[:40],
        entered_from=_moment(query, "entered_from"),
        entered_until=_moment(query, "entered_until"),
        reached_stage=query.get("reached", "")[:40],
        handoff=handoff,
        handoff_from=_moment(query, "handoff_from"),
        handoff_until=_moment(query, "handoff_until"),
        **_segment(query),
    )


def account_filters(query: QueryDict, user) -> AccountFilters:
    """The accounts list's filters from its query string (the page and its exports read them alike)."""
    return AccountFilters(
        search=query.get("q", "")[:100],
        owner_id=owner_filter(query, user)[0],
        industry=query.get("industry", ""),
        region=query.get("region", ""),
        is_target_account=True if query.get("target") == "1" else None,
        icp_tier=int_or_none(query.get("icp_tier")),
        clv_min=amount_or_none(query.get("clv_min")),
    )


def opportunity_filters(query: QueryDict, user) -> OpportunityFilters:
    """The opportunity list's filters from its query string; a malformed value raises ValidationError naming it."""
    return OpportunityFilters(
        search=query.get("q", "")[:100],
        stages=[stage for stage in query.getlist("stage") if stage],
        owner_id=owner_filter(query, user)[0],
        account_id=int_or_none(query.get("account")),
        is_open={"open": True, "closed": False}.get(query.get("status", "")),
        forecast_category=query.get("forecast_category", ""),
        ids=_ids(query),
        is_won={"won": True, "lost": False}.get(query.get("outcome", "")),
        close_from=_date(query, "close_from"),
        close_until=_date(query, "close_until"),
        is_first_win=query.get("first_win") == "1",
        **_segment(query),
    )


def describe(filters) -> list[str]:
    """The drill-down filters that are set, in words, for the list page's heading."""
    parts = []
    if getattr(filters, "entered_stage", ""):
        window = _window_words(filters.entered_from, filters.entered_until)
        parts.append(f"entered {filters.entered_stage}{window}")
        if filters.reached_stage:
            parts.append(f"then reached {filters.reached_stage} or later")
    if getattr(filters, "handoff", ""):
        parts.append(
            f"hand-off {filters.handoff.replace('_', ' ')}{_window_words(filters.handoff_from, filters.handoff_until)}"
        )
    if getattr(filters, "is_won", None) is not None:
        parts.append("won" if filters.is_won else "lost")
    if getattr(filters, "is_first_win", False):
        parts.append("first win of the account (new customer)")
    if getattr(filters, "close_from", None) or getattr(filters, "close_until", None):
        parts.append(f"closing{_window_words(filters.close_from, filters.close_until)}")
    for name in ("team_id", "icp_tier", "industry", "region", "campaign_id", "channel"):
        value = getattr(filters, name, None)
        if value not in (None, ""):
            parts.append(f"{name.removesuffix('_id').replace('_', ' ')} {value}")
    if filters.ids:
        parts.append(f"{len(filters.ids)} chosen records")
    return parts


def _window_words(start, end) -> str:
    def day(value):
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()

    if start and end:
        return f" from {day(start)} to before {day(end)}"
    if start:
        return f" from {day(start)}"
    if end:
        return f" before {day(end)}"
    return ""
