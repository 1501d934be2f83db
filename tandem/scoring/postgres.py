"""The full rescore on PostgreSQL: rules matched in SQL, scores moved by binary COPY.

No Python object is made per row:
- out: (person id, touchpoint id, rule index, occurred at) for every (touchpoint, rule) match, each
  column as one bytea of binary values that numpy reads directly;
- in: (person id, score) by binary COPY (fixed-size records numpy builds) into a temporary table,
  from which the narrow score table (PersonScore) is rebuilt whole.
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


def _copy_scores(raw, table: str, person_id: np.ndarray, score: np.ndarray) -> None:
    """A temporary table `table` (person_id key, score) loaded by binary COPY."""
    block = np.zeros(len(person_id), dtype=SCORE_RECORD)
    block["fields"] = 2
    block["person_length"] = 8
    block["person_id"] = person_id
    block["score_length"] = 2
    block["score"] = score
    name = sql.Identifier(table)
    raw.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
    raw.execute(sql.SQL("CREATE TEMPORARY TABLE {} (person_id bigint, score smallint) ON COMMIT DROP").format(name))
    _copy_in(raw, sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(name), [block.tobytes()])
    # With a key and statistics the joins below hash instead of looping over a table thought empty.
    raw.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (person_id)").format(name))
    raw.execute(sql.SQL("ANALYZE {}").format(name))


def write_scores(
    person_id: np.ndarray, score: np.ndarray, *, contract_version: int, computed_at: dt.datetime, fit=None
) -> int:
    """Rewrite the score table whole: one row per person, engagement from (person_id, score), 0 for
    everyone else; fit from `fit` (a FitScores) where given, else as it was. Returns how many
    engagement scores changed.

    The new rows are built beside the table first; the table is then truncated and reloaded with
    its indexes built after the load, so it is locked (readers wait) only for that last second or two.
    """
    table = PersonScore._meta.db_table
    with connection.cursor() as cursor:
        raw = cursor.cursor
        _copy_scores(raw, "scoring_new_engagement", person_id, score)
        fit_join, fit_value = sql.SQL(""), sql.SQL("COALESCE(o.fit_score, 0)")
        if fit is not None:
            _copy_scores(raw, "scoring_new_fit", fit.person_id, fit.fit_score)
            fit_join = sql.SQL("LEFT JOIN scoring_new_fit f ON f.person_id = p.id")
            fit_value = sql.SQL("COALESCE(f.score, o.fit_score, 0)")
        raw.execute("DROP TABLE IF EXISTS scoring_rebuilt")
        raw.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE scoring_rebuilt ON COMMIT DROP AS "
                "SELECT p.id AS person_id, {fit_value}::smallint AS fit_score, "
                "COALESCE(n.score, 0)::smallint AS engagement_score, "
                "COALESCE(o.engagement_score, 0) <> COALESCE(n.score, 0) AS is_changed "
                "FROM {person} p LEFT JOIN {table} o ON o.person_id = p.id "
                "LEFT JOIN scoring_new_engagement n ON n.person_id = p.id {fit_join}"
            ).format(
                fit_value=fit_value,
                person=sql.Identifier(Person._meta.db_table),
                table=sql.Identifier(table),
                fit_join=fit_join,
            )
        )
        raw.execute("SELECT count(*) FILTER (WHERE is_changed) FROM scoring_rebuilt")
        changed = raw.fetchone()[0]
        raw.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
        indexes = _drop_indexes(raw, table)
        raw.execute(
            sql.SQL(
                "INSERT INTO {table} (person_id, fit_score, engagement_score, contract_version, computed_at) "
                "SELECT person_id, fit_score, engagement_score, {version}, {computed_at} FROM scoring_rebuilt "
                "ORDER BY person_id"
            ).format(
                table=sql.Identifier(table),
                version=sql.Literal(contract_version),
                computed_at=sql.Literal(computed_at),
            )
        )
        _restore_indexes(raw, table, indexes)
        raw.execute("DROP TABLE scoring_rebuilt")
    return changed


def _drop_indexes(raw, table: str) -> list[tuple[str, str, str | None]]:
    """Drop the table's indexes and key; returns what _restore_indexes needs to make them again.

    Building an index once after a load is several times faster than updating it row by row.
    """
    raw.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), c.conname FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid LEFT JOIN pg_constraint c ON c.conindid = i.oid "
        "WHERE x.indrelid = %s::regclass",
        [table],
    )
    indexes = raw.fetchall()
    for index_name, _, constraint_name in indexes:
        if constraint_name:
            raw.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.Identifier(table), sql.Identifier(constraint_name)
                )
            )
        else:
            raw.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index_name)))
    return indexes


def _restore_indexes(raw, table: str, indexes) -> None:
    for _index_name, definition, constraint_name in indexes:
        if constraint_name:
            raw.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (person_id)").format(
                    sql.Identifier(table), sql.Identifier(constraint_name)
                )
            )
        else:
            raw.execute(definition)


# Seconds of each step of the latest full rescore in this process, for benchmarks and logs.
last_step_seconds: dict[str, float] = {}


def recompute_all(rules: EngagementRules, *, as_of: dt.datetime, contract_version: int, fit):
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
