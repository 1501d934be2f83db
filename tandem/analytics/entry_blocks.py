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


def merge(block: dict, rows: list[EntryRow] | list[tuple], *, dropping) -> dict:
    """A block's fields (as `pack` gives them; columns as bytes or memoryviews) with every entry of the
    `dropping` people taken out and `rows` put in: the fields `pack` gives for the block's entries
    ordered by entry time, then person, then as given (the order of a block built whole).

    What a new stage change costs: the block is patched in numpy instead of packed again from all its
    entries.
    """
    old = {name: column(block[name], name) for name in COLUMNS}
    keep = ~np.isin(old["person_ids"], np.fromiter(dropping, dtype=np.int64))
    added = pack(rows)
    new = {name: column(added[name], name) for name in COLUMNS}
    merged = {name: np.concatenate([old[name][keep], new[name]]) for name in COLUMNS}
    labels = {}
    for kind, name in (("industry", "industries"), ("region", "regions")):
        old_names = list((block.get("labels") or {}).get(kind, []))
        new_names = added["labels"][kind]
        kept_codes = np.unique(old[name][keep])
        names = sorted({old_names[code] for code in kept_codes.tolist()} | set(new_names))
        code = {label: index for index, label in enumerate(names)}
        # The codes of the kept entries and of the new ones, renumbered for the new list of names.
        old_to = np.array([code.get(label, NONE) for label in old_names] or [NONE], dtype=COLUMNS[name])
        new_to = np.array([code[label] for label in new_names] or [NONE], dtype=COLUMNS[name])
        merged[name] = np.concatenate([old_to[old[name][keep]], new_to[new[name]]]).astype(COLUMNS[name])
        labels[kind] = names
    order = np.lexsort((merged["person_ids"], merged["entered"]))  # stable: ties keep their order
    fields = {name: np.ascontiguousarray(merged[name][order]).tobytes() for name in COLUMNS}
    fields["size"] = int(order.size)
    fields["labels"] = labels
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
