"""Running a published contract version: everyone's fit and engagement scores, then MQL qualification."""

import datetime as dt

import numpy as np
from django.utils import timezone

from tandem.audit.actors import Actor
from tandem.contract.models import ContractVersion
from tandem.contract.qualification import people_qualify_all
from tandem.contract.tiers import accounts_tier_all
from tandem.lib.rules import FitRules, facts_for_people, fit_rules_parse, fit_score
from tandem.scoring.rules import engagement_rules_parse
from tandem.scoring.services import FitScores, scores_recompute_all

READ_CHUNK = 20_000


def fit_scores_all(rules: FitRules, *, as_of: dt.datetime) -> FitScores:
    """Every person's fit score under `rules`: people read in chunks, accounts once, each touchpoint
    aggregate the rules need in one grouped query for everyone."""
    ids: list[int] = []
    scores: list[int] = []
    for person_id, facts in facts_for_people(rules, as_of=as_of, chunk_size=READ_CHUNK):
        ids.append(person_id)
        scores.append(fit_score(rules, facts)[0])
    return FitScores(person_id=np.asarray(ids, dtype=np.int64), fit_score=np.asarray(scores, dtype=np.int16))


def contract_execute(*, version: ContractVersion, as_of: dt.datetime | None = None) -> dict:
    """Rescore everyone under `version` and move those its MQL rule now holds for; returns the counts."""
    as_of = as_of or timezone.now()
    document = version.document
    tiers_changed = accounts_tier_all(version=version, as_of=as_of)
    fit = fit_scores_all(fit_rules_parse(document["fit"]["rules"]), as_of=as_of)
    run = scores_recompute_all(
        rules=engagement_rules_parse(document["engagement"]),
        as_of=as_of,
        contract_version=version.number,
        fit=fit,
        by=Actor.rule(f"contract v{version.number} scoring"),
    )
    moved = people_qualify_all(version=version)
    return {
        "people": len(fit.person_id),
        "engagement_changed": run.people_changed,
        "new_mqls": moved,
        "accounts_changed_tier": tiers_changed,
    }
