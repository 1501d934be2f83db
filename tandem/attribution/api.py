"""`GET /api/v1/attribution`: credit, value, cost, ROI and the closed loop per campaign and channel."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from tandem.attribution import permissions
from tandem.attribution.engine import MODEL_KEYS
from tandem.attribution.periods import PeriodError, period_parse
from tandem.attribution.reports import attribution_report
from tandem.attribution.selectors import CONVERSIONS
from tandem.lib.http_api import Input

router = Router()


class AttributionQuery(Input):
    model: str = Field("all", description=f"A model ({', '.join(MODEL_KEYS)}), or all.")
    conversion: str = Field("closed_won", description=f"What is attributed: {', '.join(CONVERSIONS)}.")
    from_date: str | None = Field(None, alias="from", description="First day, YYYY-MM-DD (default: a year before to).")
    to_date: str | None = Field(None, alias="to", description="Last day, YYYY-MM-DD (default: today).")


class ModelOut(Schema):
    key: str
    label: str
    weights: str
    short_journeys: str
    settings: dict


class CreditOut(Schema):
    conversions: float
    value: float
    roi: float | None


class ClosedLoopOut(Schema):
    mqls: int
    accepted: int
    rejected: int
    pending: int
    acceptance_rate: float | None
    rejection_reasons: dict[str, int]
    reached_sql: int
    onward_rate: float | None


class RowOut(Schema):
    campaign_id: int | None = None
    name: str
    channel: str
    cost: float
    credit: dict[str, CreditOut]
    closed_loop: ClosedLoopOut


class AttributionOut(Schema):
    conversion: str
    label: str
    from_date: str = Field(..., alias="from")
    to_date: str = Field(..., alias="to")
    lookback_days: int
    conversions: float
    value: float
    journeys: int
    unattributed: int
    models: list[ModelOut]
    campaigns: list[RowOut]
    channels: list[RowOut]


def _row(row, report) -> dict:
    return {
        "campaign_id": row.campaign_id,
        "name": row.name,
        "channel": row.channel,
        "cost": row.cost,
        "credit": {
            spec.key: {
                "conversions": row.conversions[spec.key],
                "value": row.value[spec.key],
                "roi": row.roi(spec.key) if report.has_value else None,
            }
            for spec in report.models
        },
        "closed_loop": row.closed_loop.as_dict(),
    }


@router.get("/attribution", response=AttributionOut, by_alias=True, tags=["Attribution"])
def get_attribution(request, query: Query[AttributionQuery]):
    """Every campaign's and channel's credit under one model (or all), with cost, ROI and the closed loop."""
    if not permissions.can_view_attribution(request.user):
        raise PermissionDenied("Your account cannot read attribution.")
    if query.model != "all" and query.model not in MODEL_KEYS:
        raise ValidationError(
            {"model": f"'{query.model[:40]}' is not a model; expected all or one of {', '.join(MODEL_KEYS)}."}
        )
    if query.conversion not in CONVERSIONS:
        raise ValidationError(
            {"conversion": f"'{query.conversion[:40]}' is not a conversion; expected one of {', '.join(CONVERSIONS)}."}
        )
    try:
        start, end = period_parse(query.from_date, query.to_date, today=timezone.now().date())
    except PeriodError as error:
        raise ValidationError({error.field: error.message}) from error
    report = attribution_report(
        conversion=query.conversion, start=start, end=end, models=None if query.model == "all" else [query.model]
    )
    return {
        "conversion": report.conversion,
        "label": report.label,
        "from": start.date().isoformat(),
        "to": (end - timezone.timedelta(days=1)).date().isoformat(),
        "lookback_days": report.policy.lookback_days,
        "conversions": report.conversions_total,
        "value": report.value_total,
        "journeys": report.journeys,
        "unattributed": report.unattributed,
        "models": [
            {
                "key": s.key,
                "label": s.label,
                "weights": s.weights,
                "short_journeys": s.short_journeys,
                "settings": s.settings,
            }
            for s in report.models
        ],
        "campaigns": [_row(row, report) for row in report.campaigns],
        "channels": [_row(row, report) for row in report.channels],
    }
