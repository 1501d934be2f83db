"""The packed form of a month of stage entries (StageEntryBlock): columns of numbers, one array each.

Plain data in and out (rows as tuples, arrays as numpy), so that packing and reading can be tested alone.
"""

import datetime as dt
from typing import NamedTuple

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


class EntryRow(NamedTuple):
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


def pack(rows: list[EntryRow] | list[tuple]) -> dict:
    """The block's fields for these entries (EntryRow or tuples in its order): each column as bytes, and the
    names behind the codes."""
    (
        person_ids,
        entered_at,
        previous_at,
        next_at,
        customer_at,
        furthest,
        owner_ids,
        team_ids,
        icp_tiers,
        industries,
        regions,
    ) = (list(values) for values in zip(*rows, strict=True)) if rows else ([] for _ in range(11))
    industry_names, region_names = sorted(set(industries)), sorted(set(regions))
    industry_code = {name: code for code, name in enumerate(industry_names)}
    region_code = {name: code for code, name in enumerate(region_names)}
    values = {
        "person_ids": person_ids,
        "entered": [moment.timestamp() for moment in entered_at],
        "previous": [_seconds(moment) for moment in previous_at],
        "next_days": [_days(entered, reached) for entered, reached in zip(entered_at, next_at, strict=True)],
        "customer_days": [_days(entered, reached) for entered, reached in zip(entered_at, customer_at, strict=True)],
        "furthest": furthest,
        "owner_ids": [NONE if value is None else value for value in owner_ids],
        "team_ids": [NONE if value is None else value for value in team_ids],
        "icp_tiers": [NONE if value is None else value for value in icp_tiers],
        "industries": [industry_code[name] for name in industries],
        "regions": [region_code[name] for name in regions],
    }
    fields = {name: np.asarray(values[name], dtype=dtype).tobytes() for name, dtype in COLUMNS.items()}
    fields["size"] = len(rows)
    fields["labels"] = {"industry": industry_names, "region": region_names}
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
