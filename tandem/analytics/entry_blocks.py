"""The packed form of a month of stage entries (StageEntryBlock): columns of numbers, one array each.

Plain data in and out (rows as tuples, arrays as numpy), so that packing and reading can be tested alone.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np

SECONDS_PER_DAY = 86_400.0
NONE = -1
COLUMNS = {
    "person_ids": "<i8",
    "entered": "<f8",
    "previous": "<f8",
    "next_days": "<f8",
    "customer_days": "<f8",
    "furthest": "<i2",
    "owner_ids": "<i8",
    "team_ids": "<i8",
    "icp_tiers": "<i2",
    "industries": "<i2",
    "regions": "<i2",
}


@dataclass(frozen=True)
class EntryRow:
    """One stage entry as the rollup keeps it."""

    person_id: int
    entered_at: dt.datetime
    previous_entry_at: dt.datetime | None
    next_reached_at: dt.datetime | None
    customer_reached_at: dt.datetime | None
    furthest_position: int
    owner_id: int | None
    team_id: int | None
    icp_tier: int | None
    industry: str
    region: str


def _seconds(moment: dt.datetime | None) -> float:
    return moment.timestamp() if moment is not None else np.nan


def _days(entered: dt.datetime, reached: dt.datetime | None) -> float:
    # As kpis.cohort_conversion computes it: from the two moments in seconds.
    return (reached.timestamp() - entered.timestamp()) / SECONDS_PER_DAY if reached is not None else np.nan


def pack(rows: list[EntryRow]) -> dict:
    """The block's fields for these entries: each column as bytes, and the names behind the codes."""
    industries = sorted({row.industry for row in rows})
    regions = sorted({row.region for row in rows})
    industry_code = {name: code for code, name in enumerate(industries)}
    region_code = {name: code for code, name in enumerate(regions)}
    values = {
        "person_ids": [row.person_id for row in rows],
        "entered": [row.entered_at.timestamp() for row in rows],
        "previous": [_seconds(row.previous_entry_at) for row in rows],
        "next_days": [_days(row.entered_at, row.next_reached_at) for row in rows],
        "customer_days": [_days(row.entered_at, row.customer_reached_at) for row in rows],
        "furthest": [row.furthest_position for row in rows],
        "owner_ids": [NONE if row.owner_id is None else row.owner_id for row in rows],
        "team_ids": [NONE if row.team_id is None else row.team_id for row in rows],
        "icp_tiers": [NONE if row.icp_tier is None else row.icp_tier for row in rows],
        "industries": [industry_code[row.industry] for row in rows],
        "regions": [region_code[row.region] for row in rows],
    }
    fields = {name: np.asarray(values[name], dtype=dtype).tobytes() for name, dtype in COLUMNS.items()}
    fields["size"] = len(rows)
    fields["labels"] = {"industry": industries, "region": regions}
    return fields


def column(raw, name: str) -> np.ndarray:
    """One column of a block read back (bytes or memoryview, as the database driver gives them)."""
    return np.frombuffer(bytes(raw), dtype=COLUMNS[name])


def code_of(labels: dict, kind: str, name: str) -> int:
    """The code of an industry or region in one block; NONE when no entry of the block has it."""
    try:
        return labels.get(kind, []).index(name)
    except ValueError:
        return NONE
