"""The SLA report's arithmetic on plain arrays: response-time buckets, histograms and their percentiles.

A month of hand-offs becomes, per rep (team, segment, policy), counts of met / breached / pending and
a histogram of response times in business minutes over fixed buckets; a report sums the months it
covers and reads medians and p90s off the summed histograms. Histograms travel as little-endian
uint32 bytes, so a report over two years of sixty reps decodes them in one numpy call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# (start, end, width) in business minutes: a minute wide below two business hours, then 5, 30 and
# 240 minutes; one last open-ended bucket from 12,000 minutes (200 business hours) on.
RESPONSE_BUCKETS = ((0, 120, 1), (120, 480, 5), (480, 2400, 30), (2400, 12000, 240))
_LOWS = np.concatenate([np.arange(start, end, width, dtype=np.float64) for start, end, width in RESPONSE_BUCKETS])
BUCKET_LOWS = np.append(_LOWS, float(RESPONSE_BUCKETS[-1][1]))
BUCKET_HIGHS = np.append(_LOWS[1:], [float(RESPONSE_BUCKETS[-1][1])] * 2)
BUCKET_COUNT = len(BUCKET_LOWS)
HISTOGRAM_DTYPE = np.dtype("<u4")
STATUSES = ("met", "breached", "pending")


def bucket_indices(minutes: np.ndarray) -> np.ndarray:
    """The bucket of each response time (business minutes, >= 0)."""
    return np.searchsorted(BUCKET_LOWS, np.maximum(minutes, 0.0), side="right") - 1


@dataclass(frozen=True)
class GroupFigures:
    """One key's month: hand-offs by SLA status and the histogram of answered ones."""

    key: str
    handoffs: int
    met: int
    breached: int
    pending: int
    histogram: np.ndarray  # BUCKET_COUNT counts


def rollup_groups(keys: Sequence[str], statuses: Sequence[str], minutes: Sequence[float | None]) -> list[GroupFigures]:
    """Counts and histograms per key of a month's hand-offs (one entry per hand-off in each sequence)."""
    if not keys:
        return []
    unique, inverse = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    status_index = np.array([STATUSES.index(status) for status in statuses], dtype=np.int64)
    counts = np.zeros((len(unique), len(STATUSES)), dtype=np.int64)
    np.add.at(counts, (inverse, status_index), 1)
    values = np.array([np.nan if value is None else value for value in minutes], dtype=np.float64)
    answered = ~np.isnan(values)
    histograms = np.zeros((len(unique), BUCKET_COUNT), dtype=np.int64)
    np.add.at(histograms, (inverse[answered], bucket_indices(values[answered])), 1)
    return [
        GroupFigures(
            key=str(key),
            handoffs=int(counts[row].sum()),
            met=int(counts[row, 0]),
            breached=int(counts[row, 1]),
            pending=int(counts[row, 2]),
            histogram=histograms[row],
        )
        for row, key in enumerate(unique)
    ]


def histogram_bytes(histogram: np.ndarray) -> bytes:
    return np.asarray(histogram, dtype=HISTOGRAM_DTYPE).tobytes()


def histograms_from_bytes(blobs: Sequence[bytes]) -> np.ndarray:
    """Stack stored histograms into a (len(blobs), BUCKET_COUNT) array."""
    if not blobs:
        return np.zeros((0, BUCKET_COUNT), dtype=np.int64)
    return np.frombuffer(b"".join(bytes(blob) for blob in blobs), dtype=HISTOGRAM_DTYPE).reshape(-1, BUCKET_COUNT)


def histogram_percentile(histogram: np.ndarray, fraction: float) -> float | None:
    """A percentile as PostgreSQL's percentile_cont computes it, on bucketed values.

    The values of a bucket are taken as evenly spread inside it; the percentile interpolates between
    the two values around its rank, so it is exact to the width of their buckets.
    """
    total = int(histogram.sum())
    if not total:
        return None
    cumulative = np.cumsum(histogram)
    rank = fraction * (total - 1)
    lower = int(np.floor(rank))
    upper = min(lower + 1, total - 1)
    low_value, high_value = _value_at(histogram, cumulative, lower), _value_at(histogram, cumulative, upper)
    return float(low_value + (high_value - low_value) * (rank - lower))


def _value_at(histogram: np.ndarray, cumulative: np.ndarray, position: int) -> float:
    """The `position`-th smallest value (0-based), its bucket's values spread evenly inside it."""
    index = int(np.searchsorted(cumulative, position, side="right"))
    before = int(cumulative[index - 1]) if index else 0
    low, high = BUCKET_LOWS[index], BUCKET_HIGHS[index]
    return float(low + (high - low) * (position - before + 0.5) / int(histogram[index]))
