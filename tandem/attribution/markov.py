"""The data-driven model: a Markov chain over the journeys, with removal effects solved exactly.

States are start, one state per sequence of the last `order` channels seen (shorter at a journey's
beginning), and the two absorbing states conversion and null. Every journey walks start -> its states ->
conversion (as many times as it converted) or null (as many times as it did not); the transition
probabilities are the walked counts divided by each state's total way out.

With Q the transitions between transient states and r each state's probability of converting next, the
probability of converting from each state is x = (I - Q)^-1 r: the absorbing chain's fundamental matrix,
applied by solving one sparse linear system (no simulation, no sampling). The chance of converting from
start is P = p0 . x, where p0 is where journeys begin.

Removing a channel sends every journey that reaches a state containing it to null: those states are
dropped from the system, which is solved again. The removal effect is 1 - P_without / P; a channel's
credit is its removal effect's share of the sum of all removal effects, times the total conversions.
Value is attributed the same way with r replaced by each state's expected conversion value next (the
walked conversion value divided by the state's total way out), so value credit follows value paths.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

from tandem.attribution.journeys import Journeys

MAX_ORDER = 3


@dataclass
class MarkovResult:
    """What the chain says: removal effects and credit per channel, and the chain's size."""

    order: int
    conversion_probability: float
    removal_effects: np.ndarray  # per channel, on conversions
    value_removal_effects: np.ndarray  # per channel, on value
    conversions: np.ndarray  # credit per channel
    value: np.ndarray  # value credit per channel
    states: int
    transitions: int


def _state_keys(journeys: Journeys, order: int) -> tuple[np.ndarray, int]:
    """Each touch's state: the touch's channel and up to `order - 1` before it, as one integer; and the base."""
    base = journeys.channel_count + 1
    channel = journeys.channel.astype(np.int64) + 1
    if order == 1:
        return channel - 1, base
    position, _ = journeys.positions()
    key = channel.copy()
    for back in range(1, order):
        earlier = np.zeros_like(channel)
        earlier[back:] = channel[:-back]
        key += np.where(position >= back, earlier, 0) * base**back
    return key, base


def _channels_in_states(state_keys: np.ndarray, base: int, order: int, channels: int) -> sparse.csr_matrix:
    """A states x channels incidence: which channels each state's sequence contains."""
    if order == 1:
        rows = np.arange(len(state_keys))
        return sparse.csr_matrix((np.ones(len(rows)), (rows, state_keys)), shape=(len(state_keys), channels))
    rows, columns = [], []
    remaining = state_keys.copy()
    for _ in range(order):
        digit = remaining % base
        present = digit > 0
        rows.append(np.nonzero(present)[0])
        columns.append(digit[present] - 1)
        remaining //= base
    row = np.concatenate(rows)
    incidence = sparse.csr_matrix(
        (np.ones(len(row)), (row, np.concatenate(columns))), shape=(len(state_keys), channels)
    )
    incidence.data[:] = 1.0
    return incidence


def markov_attribution(journeys: Journeys, *, order: int = 1) -> MarkovResult:
    """Removal effects and credit per channel from the absorbing chain of `order` (1 to 3)."""
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"the Markov order must be 1 to {MAX_ORDER}, got {order}")
    channels = journeys.channel_count
    walked = journeys.conversions + journeys.nulls
    # Journeys without touches, or never walked, tell nothing about channels.
    usable = (journeys.lengths > 0) & (walked > 0)
    if not usable.all():
        journeys = _subset(journeys, usable)
        walked = walked[usable]
    if journeys.count == 0:
        zeros = np.zeros(channels)
        return MarkovResult(order, 0.0, zeros, zeros.copy(), zeros.copy(), zeros.copy(), 0, 0)

    keys, base = _state_keys(journeys, order)
    if order == 1:
        state = keys
        state_keys = np.arange(channels, dtype=np.int64)
    else:
        state_keys, state = np.unique(keys, return_inverse=True)
    size = len(state_keys)
    journey = journeys.journey_of_touch()
    weight = walked[journey]

    first = journeys.offsets[:-1]
    last = journeys.offsets[1:] - 1
    starts = np.bincount(state[first], weights=walked, minlength=size)
    to_conversion = np.bincount(state[last], weights=journeys.conversions, minlength=size)
    to_value = np.bincount(state[last], weights=journeys.value, minlength=size)
    to_null = np.bincount(state[last], weights=journeys.nulls, minlength=size)

    # A touch moves on to the next touch unless it is its journey's last.
    moves_on = np.ones(len(state), dtype=bool)
    moves_on[last] = False
    source, target, moved = state[moves_on], state[np.nonzero(moves_on)[0] + 1], weight[moves_on]
    counts = sparse.coo_matrix((moved, (source, target)), shape=(size, size)).tocsr()
    counts.sum_duplicates()
    way_out = np.asarray(counts.sum(axis=1)).ravel() + to_conversion + to_null
    scale = np.divide(1.0, way_out, out=np.zeros(size), where=way_out > 0)
    transition = sparse.diags(scale) @ counts
    right_hand = np.column_stack([to_conversion * scale, to_value * scale])
    start = starts / starts.sum()

    def reach(keep: np.ndarray | None) -> np.ndarray:
        """[P(conversion), E(value)] from start, with only the states in `keep` (all when None)."""
        if keep is None:
            system, rhs, begin = sparse.identity(size, format="csc") - transition, right_hand, start
        else:
            if not keep.any():
                return np.zeros(2)
            kept = transition[keep][:, keep]
            system = sparse.identity(kept.shape[0], format="csc") - kept
            rhs, begin = right_hand[keep], start[keep]
        solution = splu(sparse.csc_matrix(system)).solve(np.ascontiguousarray(rhs))
        return begin @ solution

    full = reach(None)
    incidence = _channels_in_states(state_keys, base, order, channels).tocsc()
    removal = np.zeros((channels, 2))
    present = np.bincount(journeys.channel, minlength=channels) > 0
    for channel in np.nonzero(present)[0]:
        contains = incidence[:, channel].toarray().ravel() > 0
        without = reach(~contains)
        removal[channel] = np.divide(full - without, full, out=np.zeros(2), where=full > 0)
    removal = np.clip(removal, 0.0, None)
    total_conversions = float(journeys.conversions.sum())
    total_value = float(journeys.value.sum())
    sums = removal.sum(axis=0)
    shares = np.divide(removal, sums, out=np.zeros_like(removal), where=sums > 0)
    return MarkovResult(
        order=order,
        conversion_probability=float(full[0]),
        removal_effects=removal[:, 0],
        value_removal_effects=removal[:, 1],
        conversions=shares[:, 0] * total_conversions,
        value=shares[:, 1] * total_value,
        states=size,
        transitions=int(counts.nnz),
    )


def _subset(journeys: Journeys, keep: np.ndarray) -> Journeys:
    """The journeys where `keep` is true, same channel numbering."""
    touch_keep = np.repeat(keep, journeys.lengths)
    lengths = journeys.lengths[keep]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    return Journeys(
        channel=journeys.channel[touch_keep],
        offsets=offsets,
        conversions=journeys.conversions[keep],
        value=journeys.value[keep],
        nulls=journeys.nulls[keep],
        channel_names=journeys.channel_names,
        days_before=journeys.days_before[touch_keep] if journeys.days_before is not None else None,
    )
