"""The full rescore on PostgreSQL: rules matched in SQL, scores moved by binary COPY.

No Python object is made per row:
- out: (person id, touchpoint id, rule index, occurred at) for every (touchpoint, rule) match, each
  column as one bytea of binary values that numpy reads directly;
- in: (person id, score) by binary COPY (fixed-size records numpy builds) into a temporary table,
  then one UPDATE ... FROM for changed scores.
"""

import datetime as dt
import json
import time

import numpy as np
import psycopg
from django.db import connection
from psycopg import sql

from tandem.campaigns.models import Campaign
from tandem.crm.models import Person
from tandem.engagement.models import Touchpoint
from tandem.scoring import engine
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


def matches_query(rules: EngagementRules, *, as_of: dt.datetime) -> sql.Composable:
    """One scan of the touchpoints giving a row per (touchpoint, matching rule)."""
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


def read_matches(rules: EngagementRules, *, as_of: dt.datetime) -> dict[str, np.ndarray]:
    """The matches as arrays: person_id, touchpoint_id, rule_index, occurred_at_us.

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
    query = sql.SQL(
        "SELECT string_agg(int8send(m.person_id), ''::bytea), string_agg(int8send(m.id), ''::bytea), "
        "string_agg(int2send(m.rule_index::int2), ''::bytea), string_agg(timestamptz_send(m.occurred_at), ''::bytea) "
        "FROM ({}) m"
    ).format(matches_query(rules, as_of=as_of))
    connection.ensure_connection()
    # Django's cursors bind on the client, which cannot ask for binary results; this one can.
    with psycopg.Cursor(connection.connection) as raw:
        raw.execute("SET LOCAL jit = off")
        raw.execute(query, binary=True)
        person_ids, touchpoint_ids, rule_indexes, occurred = raw.fetchone()
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


SCORE_RECORD = np.dtype(
    [("fields", ">i2"), ("person_length", ">i4"), ("person_id", ">i8"), ("score_length", ">i4"), ("score", ">i2")]
)


def write_scores(person_id: np.ndarray, score: np.ndarray, *, column: str = "engagement_score", others=0) -> int:
    """Set `column` from (person_id, score) in one UPDATE ... FROM; `others` for everyone else
    (None leaves them alone). Only rows whose value changes are written. Returns how many changed."""
    block = np.zeros(len(person_id), dtype=SCORE_RECORD)
    block["fields"] = 2
    block["person_length"] = 8
    block["person_id"] = person_id
    block["score_length"] = 2
    block["score"] = score
    person_table = sql.Identifier(Person._meta.db_table)
    target = sql.Identifier(column)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute("DROP TABLE IF EXISTS scoring_new_scores")
        raw.execute("CREATE TEMPORARY TABLE scoring_new_scores (person_id bigint, score smallint) ON COMMIT DROP")
        _copy_in(raw, sql.SQL("COPY scoring_new_scores FROM STDIN (FORMAT binary)"), [block.tobytes()])
        # The key keeps the anti-join below cheap even when the planner's statistics predate this
        # transaction's own updates (it then expects one row and picks a nested loop).
        raw.execute("ALTER TABLE scoring_new_scores ADD PRIMARY KEY (person_id)")
        raw.execute("ANALYZE scoring_new_scores")
        raw.execute(
            sql.SQL(
                "UPDATE {person} p SET {target} = s.score FROM scoring_new_scores s "
                "WHERE p.id = s.person_id AND p.{target} <> s.score"
            ).format(person=person_table, target=target)
        )
        changed = raw.rowcount
        if others is not None:
            raw.execute(
                sql.SQL(
                    "UPDATE {person} p SET {target} = {others} WHERE p.{target} <> {others} "
                    "AND NOT EXISTS (SELECT 1 FROM scoring_new_scores s WHERE s.person_id = p.id)"
                ).format(person=person_table, target=target, others=sql.Literal(others))
            )
            changed += raw.rowcount
        raw.execute("DROP TABLE scoring_new_scores")
    return changed


# Seconds of each step of the latest full rescore in this process, for benchmarks and logs.
last_step_seconds: dict[str, float] = {}


def recompute_all(rules: EngagementRules, *, as_of: dt.datetime, fit):
    """Match, score and write every person; returns (ScoreResult, engagement scores changed)."""
    last_step_seconds.clear()
    started = time.perf_counter()

    def step(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        last_step_seconds[name] = round(now - started, 3)
        started = now

    matches = read_matches(rules, as_of=as_of)
    step("read_matches")
    result = engine.score_lines(rules, as_of_us=engine.to_microseconds(as_of), **matches)
    del matches
    step("score")
    changed = write_scores(result.person_id, result.engagement_score)
    step("write_scores")
    if fit is not None:
        write_scores(fit.person_id, fit.fit_score, column="fit_score", others=None)
        step("write_fit_scores")
    return result, changed


def rule_match_condition(rule, campaigns: list[tuple[int, str]]) -> sql.Composable:
    """The SQL condition on touchpoints `t` for one engagement rule, as the full rescore matches it;
    `campaigns` are every campaign's (id, name)."""
    ids = [pk for pk, name in campaigns if campaign_name_matches(rule.campaign, name)] if rule.campaign else []
    return _rule_condition(rule, ids)
