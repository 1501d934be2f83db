"""The full rescore on PostgreSQL: rules matched in SQL, scores moved by binary COPY.

No Python object is made per row:
- out: (person id, touchpoint id, rule index, occurred at) for every (touchpoint, rule) match, each
  column as one bytea of binary values that numpy reads directly;
- in: the narrow score table (PersonScore), read out as binary columns, merged with the new scores
  in numpy and loaded again whole by binary COPY (fixed-size records numpy builds).
"""

import datetime as dt
import json

import numpy as np
import psycopg
from django.db import connection
from psycopg import sql

from tandem.campaigns.models import Campaign
from tandem.crm.models import Person
from tandem.engagement.models import Touchpoint
from tandem.lib.index_rebuild import indexes_drop
from tandem.lib.step_timer import StepTimer
from tandem.scoring import engine
from tandem.scoring.models import PersonScore
from tandem.scoring.rules import EngagementRules, campaign_name_matches

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
POSTGRES_EPOCH_US = engine.to_microseconds(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
NO_CAMPAIGN = -1


def _rule_condition(rule, campaign_ids: list[int]) -> sql.Composable:
    parts = [sql.SQL("t.type = {}").format(sql.Literal(rule.touchpoint))]
    if rule.url is not None:
        # lower() under the "C" collation folds ASCII letters only, like the engine's ascii_lower().
        parts.append(sql.SQL('lower(t.url COLLATE "C") LIKE {}').format(sql.Literal(rule.url.like_pattern())))
    if rule.campaign:
        parts.append(sql.SQL("t.campaign_id = ANY({})").format(sql.Literal(campaign_ids or [NO_CAMPAIGN])))
    for key, value in rule.properties:
        parts.append(sql.SQL("t.properties -> {} = {}::jsonb").format(sql.Literal(key), sql.Literal(json.dumps(value))))
    return sql.SQL(" AND ").join(parts)


def matches_query(rules: EngagementRules, *, as_of: dt.datetime, person_ids=None) -> sql.Composable:
    """One scan of the touchpoints (of `person_ids` when given) giving a row per (touchpoint, matching rule)."""
    campaigns = list(Campaign.objects.values_list("id", "name"))
    conditions = []
    for index, rule in enumerate(rules.rules):
        ids = [pk for pk, name in campaigns if campaign_name_matches(rule.campaign, name)] if rule.campaign else []
        conditions.append(sql.SQL("({}, {})").format(sql.Literal(index), _rule_condition(rule, ids)))
    lower_bound = sql.SQL("")
    if rules.decay.window_days is not None:
        lower_bound = sql.SQL("AND t.occurred_at >= {}").format(
            sql.Literal(as_of - dt.timedelta(days=rules.decay.window_days))
        )
    if person_ids is not None:
        lower_bound = sql.SQL("{} AND t.person_id = ANY({}::bigint[])").format(
            lower_bound, sql.Literal([int(person_id) for person_id in person_ids])
        )
    return sql.SQL(
        "SELECT t.person_id, t.id, m.rule_index, t.occurred_at FROM {table} t "
        "CROSS JOIN LATERAL (VALUES {conditions}) AS m(rule_index, is_match) "
        "WHERE m.is_match AND t.person_id IS NOT NULL AND t.type = ANY({types}) "
        "AND t.occurred_at <= {as_of} {lower_bound}"
    ).format(
        table=sql.Identifier(Touchpoint._meta.db_table),
        conditions=sql.SQL(", ").join(conditions),
        types=sql.Literal(sorted({rule.touchpoint for rule in rules.rules})),
        as_of=sql.Literal(as_of),
        lower_bound=lower_bound,
    )


def read_matches(rules: EngagementRules, *, as_of: dt.datetime, person_ids=None) -> dict[str, np.ndarray]:
    """The matches (of `person_ids` when given) as arrays: person_id, touchpoint_id, rule_index, occurred_at_us.

    Each column comes back as one bytea of big-endian binary values (PostgreSQL's own send
    functions, concatenated), which numpy reads in one step: no Python object per row. A bytea
    holds up to 1 GB, so this reads up to 130 million matches at once.
    """
    empty = {
        "person_id": np.empty(0, np.int64),
        "touchpoint_id": np.empty(0, np.int64),
        "rule_index": np.empty(0, np.int32),
        "occurred_at_us": np.empty(0, np.int64),
    }
    if not rules.rules:
        return empty
    # The values are turned into binary in the inner query, which parallel workers run (scanning and
    # matching, the bulk of the work); only the concatenation is left to one process, as PostgreSQL
    # before 16 cannot combine partial string_agg results.
    query = sql.SQL(
        "SELECT string_agg(m.person_id, ''::bytea), string_agg(m.id, ''::bytea), "
        "string_agg(m.rule_index, ''::bytea), string_agg(m.occurred_at, ''::bytea) "
        "FROM (SELECT int8send(x.person_id) AS person_id, int8send(x.id) AS id, "
        "int2send(x.rule_index::int2) AS rule_index, timestamptz_send(x.occurred_at) AS occurred_at FROM ({}) x) m"
    ).format(matches_query(rules, as_of=as_of, person_ids=person_ids))
    connection.ensure_connection()
    # Django's cursors bind on the client, which cannot ask for binary results; this one can.
    with psycopg.Cursor(connection.connection) as raw:
        raw.execute("SET LOCAL jit = off")
        # Rows handed from the workers to the leader cost next to nothing here: tell the planner so,
        # or it keeps the whole scan in one process (measured a quarter to a third slower).
        raw.execute("SET LOCAL parallel_tuple_cost = 0")
        raw.execute(query, binary=True)
        person_ids, touchpoint_ids, rule_indexes, occurred = raw.fetchone()
        raw.execute("RESET parallel_tuple_cost")
    if person_ids is None:
        return empty
    return {
        "person_id": np.frombuffer(person_ids, dtype=">i8").astype(np.int64),
        "touchpoint_id": np.frombuffer(touchpoint_ids, dtype=">i8").astype(np.int64),
        "rule_index": np.frombuffer(rule_indexes, dtype=">i2").astype(np.int32),
        "occurred_at_us": np.frombuffer(occurred, dtype=">i8").astype(np.int64) + POSTGRES_EPOCH_US,
    }


def _copy_in(cursor, statement: sql.Composable, blocks) -> None:
    with cursor.copy(statement) as copy:
        copy.write(COPY_SIGNATURE)
        for block in blocks:
            copy.write(block)
        copy.write(COPY_TRAILER)


PERSON_SCORE_RECORD = np.dtype(
    [
        ("fields", ">i2"),
        ("person_length", ">i4"),
        ("person_id", ">i8"),
        ("fit_length", ">i4"),
        ("fit_score", ">i2"),
        ("engagement_length", ">i4"),
        ("engagement_score", ">i2"),
        ("version_length", ">i4"),
        ("contract_version", ">i4"),
        ("computed_length", ">i4"),
        ("computed_at", ">i8"),
    ]
)


def _read_person_scores(raw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(person ids ascending, fit scores, engagement scores) of the score table, as binary columns."""
    raw.execute(
        sql.SQL(
            "SELECT string_agg(int8send(person_id), ''::bytea), string_agg(int2send(fit_score), ''::bytea), "
            "string_agg(int2send(engagement_score), ''::bytea) FROM {}"
        ).format(sql.Identifier(PersonScore._meta.db_table)),
        binary=True,
    )
    ids, fits, engagements = raw.fetchone()
    if ids is None:
        return np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0, np.int16)
    ids = np.frombuffer(ids, dtype=">i8").astype(np.int64)
    # The table is loaded in key order, so this sort usually finds its work done.
    order = np.argsort(ids, kind="stable")
    return (
        ids[order],
        np.frombuffer(fits, dtype=">i2").astype(np.int16)[order],
        np.frombuffer(engagements, dtype=">i2").astype(np.int16)[order],
    )


def _read_person_ids(raw) -> np.ndarray:
    """Every person's id, ascending."""
    raw.execute(
        sql.SQL("SELECT string_agg(int8send(id), ''::bytea) FROM {}").format(sql.Identifier(Person._meta.db_table)),
        binary=True,
    )
    (ids,) = raw.fetchone()
    if ids is None:
        return np.empty(0, np.int64)
    return np.sort(np.frombuffer(ids, dtype=">i8").astype(np.int64))


def _spread(ids: np.ndarray, values: np.ndarray, onto: np.ndarray, default: np.ndarray) -> np.ndarray:
    """`default` with the values of `ids` placed where those ids sit in `onto` (sorted, holding all of them)."""
    result = default.copy()
    if len(ids):
        result[np.searchsorted(onto, ids)] = values
    return result


def write_scores(
    person_id: np.ndarray, score: np.ndarray, *, contract_version: int, computed_at: dt.datetime, fit=None
) -> int:
    """Rewrite the score table whole: engagement from (person_id, score) and 0 for everyone else; fit
    from `fit` (a FitScores) where given, else as it was. Returns how many engagement scores changed.

    The table's rows are read out and merged with the new scores in numpy, then the table is
    truncated and reloaded by binary COPY in key order, its indexes built after the load: a rewrite
    of a narrow table, so no person row is touched. The table is locked (score-sorted lists and
    refreshes wait) from the truncation to the commit, a second or two at a million people.
    """
    table = PersonScore._meta.db_table
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as raw:
        old_ids, old_fit, old_engagement = _read_person_scores(raw)
        # One row per person: people with no row yet get one, rows of people deleted behind the
        # application's back go.
        ids = _read_person_ids(raw)
        keep = np.isin(old_ids, ids, assume_unique=True)
        old_ids, old_fit, old_engagement = old_ids[keep], old_fit[keep], old_engagement[keep]
        person_id = np.asarray(person_id, dtype=np.int64)
        fit_ids = np.empty(0, np.int64) if fit is None else np.asarray(fit.person_id, dtype=np.int64)
        zeros = np.zeros(len(ids), dtype=np.int16)
        engagement_before = _spread(old_ids, old_engagement, ids, zeros)
        engagement = _spread(person_id, np.asarray(score, dtype=np.int16), ids, zeros)
        fit_score = _spread(old_ids, old_fit, ids, zeros)
        if fit is not None:
            fit_score = _spread(fit_ids, np.asarray(fit.fit_score, dtype=np.int16), ids, fit_score)
        changed = int(np.count_nonzero(engagement != engagement_before))

        block = np.zeros(len(ids), dtype=PERSON_SCORE_RECORD)
        block["fields"] = 5
        block["person_length"] = 8
        block["person_id"] = ids
        block["fit_length"] = 2
        block["fit_score"] = fit_score
        block["engagement_length"] = 2
        block["engagement_score"] = engagement
        block["version_length"] = 4
        block["contract_version"] = contract_version
        block["computed_length"] = 8
        block["computed_at"] = engine.to_microseconds(computed_at) - POSTGRES_EPOCH_US

        raw.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
        restore = indexes_drop(raw, table)
        _copy_in(
            raw,
            sql.SQL(
                "COPY {} (person_id, fit_score, engagement_score, contract_version, computed_at) "
                "FROM STDIN (FORMAT binary)"
            ).format(sql.Identifier(table)),
            [block.tobytes()],
        )
        for statement in restore:
            raw.execute(statement)
    return changed


# Seconds of each step of the latest full rescore in this process, for benchmarks and logs.
last_step_seconds: dict[str, float] = {}


def recompute_all(rules: EngagementRules, *, as_of: dt.datetime, contract_version: int, fit):
    """Match, score and write every person; returns (ScoreResult, engagement scores changed)."""
    step = StepTimer(last_step_seconds)
    matches = read_matches(rules, as_of=as_of)
    step("read_matches")
    result = engine.score_lines(rules, as_of_us=engine.to_microseconds(as_of), **matches)
    del matches
    step("score")
    changed = write_scores(
        result.person_id, result.engagement_score, contract_version=contract_version, computed_at=as_of, fit=fit
    )
    step("write_scores")
    return result, changed


def rule_match_condition(rule, campaigns: list[tuple[int, str]]) -> sql.Composable:
    """The SQL condition on touchpoints `t` for one engagement rule, as the full rescore matches it;
    `campaigns` are every campaign's (id, name)."""
    ids = [pk for pk, name in campaigns if campaign_name_matches(rule.campaign, name)] if rule.campaign else []
    return _rule_condition(rule, ids)
