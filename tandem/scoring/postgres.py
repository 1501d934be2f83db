"""The full rescore on PostgreSQL: rules matched in SQL, every row moved by binary COPY.

No Python object is made per row:
- out: (person id, touchpoint id, rule index, occurred at) for every (touchpoint, rule) match, each
  column as one bytea of binary values that numpy reads directly;
- in, by binary COPY (rows of fixed-width columns are fixed-size records numpy can build): the
  ledger lines, one block per rule (its name is the one variable-width column, so it goes last
  and each block is again fixed-size), with ids given in the engine's canonical order;
- in: (person id, score) into a temporary table, then one UPDATE ... FROM for changed scores.
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
from tandem.scoring.models import ScoreLedgerEntry
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


def _ledger_block(rules, result, positions: np.ndarray, ids, name: bytes, *, scored_at_us, version):
    """COPY rows for the lines at `positions`; without `ids` the table numbers them in stream order."""
    decay = rules.decay
    fields = [("fields", ">i2")]
    if ids is not None:
        fields += [("id_length", ">i4"), ("id", ">i8")]
    fields += [
        ("person_length", ">i4"),
        ("person_id", ">i8"),
        ("touchpoint_length", ">i4"),
        ("touchpoint_id", ">i8"),
        ("points_length", ">i4"),
        ("points", ">i2"),
        ("capped_length", ">i4"),
        ("capped_by", ">i2"),
        ("given_length", ">i4"),
        ("given_at", ">i8"),
        ("value_length", ">i4"),
        ("value", ">f8"),
        ("scored_length", ">i4"),
        ("scored_at", ">i8"),
        ("version_length", ">i4"),
        ("contract_version", ">i4"),
        ("half_life_length", ">i4"),
    ]
    if decay.half_life_days is not None:
        fields.append(("half_life_days", ">f8"))
    fields.append(("window_length", ">i4"))
    if decay.window_days is not None:
        fields.append(("window_days", ">i2"))
    fields += [("name_length", ">i4"), ("name", f"S{len(name)}")]
    block = np.zeros(len(positions), dtype=np.dtype(fields))
    lines = result.lines
    block["fields"] = 12 if ids is not None else 11
    if ids is not None:
        block["id_length"] = 8
        block["id"] = ids
    for column, size in (
        ("person", 8),
        ("touchpoint", 8),
        ("points", 2),
        ("capped", 2),
        ("given", 8),
        ("value", 8),
        ("scored", 8),
        ("version", 4),
    ):
        block[f"{column}_length"] = size
    block["person_id"] = lines.person_id[positions]
    block["touchpoint_id"] = lines.touchpoint_id[positions]
    block["points"] = lines.points[positions]
    block["capped_by"] = lines.capped_by[positions]
    block["given_at"] = lines.given_at_us[positions] - POSTGRES_EPOCH_US
    block["value"] = lines.value[positions]
    block["scored_at"] = scored_at_us - POSTGRES_EPOCH_US
    block["contract_version"] = version
    if decay.half_life_days is not None:
        block["half_life_length"] = 8
        block["half_life_days"] = decay.half_life_days
    else:
        block["half_life_length"] = -1
    if decay.window_days is not None:
        block["window_length"] = 2
        block["window_days"] = decay.window_days
    else:
        block["window_length"] = -1
    block["name_length"] = len(name)
    block["name"] = name
    return block.tobytes()


def _copy_in(cursor, statement: sql.Composable, blocks) -> None:
    with cursor.copy(statement) as copy:
        copy.write(COPY_SIGNATURE)
        for block in blocks:
            copy.write(block)
        copy.write(COPY_TRAILER)


def _rule_blocks(rules, result, *, scored_at_us: int, version: int, with_ids: bool):
    # Lines are in canonical order, rule first, so each rule's lines are one slice.
    boundaries = np.searchsorted(result.lines.rule_index, np.arange(len(rules.rules) + 1))
    for index, rule in enumerate(rules.rules):
        positions = np.arange(boundaries[index], boundaries[index + 1])
        if len(positions):
            yield _ledger_block(
                rules,
                result,
                positions,
                positions + 1 if with_ids else None,
                rule.name.encode(),
                scored_at_us=scored_at_us,
                version=version,
            )


def append_ledger(rules: EngagementRules, result: engine.ScoreResult, *, scored_at: dt.datetime, version: int) -> None:
    """Add lines by COPY in canonical order; the table numbers them, so ids keep that order."""
    if not len(result.lines):
        return
    table = ScoreLedgerEntry._meta.db_table
    blocks = _rule_blocks(
        rules, result, scored_at_us=engine.to_microseconds(scored_at), version=version, with_ids=False
    )
    with connection.cursor() as cursor:
        _copy_in(
            cursor.cursor,
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, (*_LEDGER_COLUMNS, "rule_name")))
            ),
            blocks,
        )


def write_ledger(rules: EngagementRules, result: engine.ScoreResult, *, scored_at: dt.datetime, version: int) -> None:
    """Replace every ledger line: TRUNCATE, then COPY the lines with ids in canonical order."""
    table = ScoreLedgerEntry._meta.db_table
    count = len(result.lines)
    scored_at_us = engine.to_microseconds(scored_at)

    # ids 1..n follow the canonical order, which keeps the primary key appended in order and lets a
    # person's lines ordered by id replay the engine's sum.
    def blocks():
        return _rule_blocks(rules, result, scored_at_us=scored_at_us, version=version, with_ids=True)

    columns = ("id", *_LEDGER_COLUMNS, "rule_name")
    with connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.Identifier(table)))
        # Building the indexes once after the load is three times faster than updating them per row;
        # TRUNCATE already holds the table's exclusive lock, so nobody sees it without them.
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
        _copy_in(
            raw,
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            ),
            blocks(),
        )
        for _index_name, definition, constraint_name in indexes:
            if constraint_name:
                raw.execute(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (id)").format(
                        sql.Identifier(table), sql.Identifier(constraint_name)
                    )
                )
            else:
                raw.execute(definition)
        if count:
            raw.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), {})").format(
                    sql.Literal(table), sql.Literal(count)
                )
            )


_LEDGER_COLUMNS = (
    "person_id",
    "touchpoint_id",
    "points",
    "capped_by",
    "given_at",
    "value",
    "scored_at",
    "contract_version",
    "half_life_days",
    "window_days",
)

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
    write_ledger(rules, result, scored_at=as_of, version=contract_version)
    step("write_ledger")
    changed = write_scores(result.person_id, result.engagement_score)
    step("write_scores")
    if fit is not None:
        write_scores(fit.person_id, fit.fit_score, column="fit_score", others=None)
        step("write_fit_scores")
    return result, changed
