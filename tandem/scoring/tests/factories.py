import datetime as dt

from tandem.engagement.models import Touchpoint
from tandem.scoring.engine import TouchpointBatch
from tandem.scoring.rules import engagement_rules_parse

AS_OF = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC)


def days_ago(days: float) -> dt.datetime:
    return AS_OF - dt.timedelta(days=days)


def rules_of(*rules, decay=None, groups=None):
    section = {"rules": list(rules)}
    if decay is not None:
        section["decay"] = decay
    if groups is not None:
        section["groups"] = groups
    return engagement_rules_parse(section)


def batch_of(*touchpoints) -> TouchpointBatch:
    """Touchpoints as dicts: id, person, type, days (ago), and optional url, campaign, properties."""
    return TouchpointBatch.from_rows(
        (
            point["id"],
            point.get("person", 1),
            point["type"],
            point.get("url", ""),
            point.get("campaign", ""),
            days_ago(point["days"]),
            point.get("properties", {}),
        )
        for point in touchpoints
    )


def make_touchpoint(person, type, days, **fields) -> Touchpoint:
    return Touchpoint.objects.create(person=person, type=type, occurred_at=days_ago(days), **fields)


def set_scores(person, *, fit: int | None = None, engagement: int | None = None) -> None:
    """Give a person these scores in the score table, as a rescore would."""
    from tandem.scoring.models import PersonScore

    values = {"fit_score": fit, "engagement_score": engagement}
    PersonScore.objects.update_or_create(
        person_id=getattr(person, "pk", person), defaults={k: v for k, v in values.items() if v is not None}
    )


def scores_by(key: str = "email", score: str = "engagement_score") -> dict:
    """{person key: their score} for everyone, read from the score table."""
    from tandem.crm.models import Person

    return dict(Person.objects.values_list(key, f"scores__{score}"))
