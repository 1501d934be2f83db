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
def touchpoint_recorded(person_id: int) -> int:
    """Refresh a person's engagement score under the contract in force, now; what a new touchpoint queues.

    A person whose new score crosses the MQL thresholds becomes MQL right away (and is handed to sales).
    """
    from tandem.contract.qualification import person_qualify
    from tandem.contract.selectors import active_version
    from tandem.crm.models import Person

    version = active_version()
    changed = services.score_person_refresh(
        person_id=person_id,
        rules=engagement_rules_parse(version.document["engagement"]),
        as_of=timezone.now(),
        contract_version=version.number,
    )
    person = Person.objects.filter(pk=person_id).first()
    if person is not None:
        person_qualify(person=person, version=version)
    return changed
