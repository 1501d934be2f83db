"""Background work of scoring: thin entry points that call services."""

import datetime as dt

from django.utils import timezone
from huey.contrib.djhuey import db_task

from tandem.scoring import services
from tandem.scoring.rules import engagement_rules_parse


@db_task(retries=3, retry_delay=5)
def score_person_refresh(person_id: int, engagement_section: dict, contract_version: int, as_of: str = "") -> int:
    """Refresh one person's engagement score after a new touchpoint; safe to run twice.

    Takes the contract's engagement section as plain data (tasks are serialised); `as_of` is an
    ISO time, empty for the moment the task runs.
    """
    rules = engagement_rules_parse(engagement_section)
    moment = dt.datetime.fromisoformat(as_of) if as_of else timezone.now()
    return services.score_person_refresh(
        person_id=person_id, rules=rules, as_of=moment, contract_version=contract_version
    )


@db_task(retries=3, retry_delay=5)
def touchpoints_recorded(person_ids: list[int]) -> int:
    """Refresh these people's engagement scores under the contract in force, now; what new touchpoints queue.

    One batch for everyone one transaction touched. Those whose new scores cross the MQL thresholds
    become MQL right away (and are handed to sales). Safe to run twice. Returns how many moved to MQL.
    """
    return _touchpoints_recorded(person_ids)


@db_task(retries=3, retry_delay=5)
def touchpoint_recorded(person_id: int) -> int:
    """One person's refresh, as queued before refreshes were batched; runs the batched path."""
    return _touchpoints_recorded([person_id])


def _touchpoints_recorded(person_ids: list[int]) -> int:
    from tandem.contract.qualification import people_qualify
    from tandem.contract.selectors import active_version

    version = active_version()
    services.scores_refresh_people(
        person_ids=person_ids,
        rules=engagement_rules_parse(version.document["engagement"]),
        as_of=timezone.now(),
        contract_version=version.number,
    )
    return people_qualify(person_ids=person_ids, version=version)
