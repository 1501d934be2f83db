"""Rule-based attribution on plain arrays: each touch of a journey gets a weight, the weights sum to 1.

Every rule-based model is one of three shapes (docs/attribution.md shows each with examples):

- position: shares for the first touch, the last touch and the touches between (split equally between
  them). First touch (1/0/0), last touch (0/0/1), U-shaped (0.4/0.2/0.4), J-shaped (0.2/0.2/0.6),
  inverse J (0.6/0.2/0.2) and custom weights are all this shape. Linear is its own simple case.
- key touches: each key touch gets `key_share`, the other touches split `rest_share` equally.
  W-shaped: keys first, middle ((L - 1) // 2) and last, 0.3 each, 0.1 for the rest. Full path: keys
  first, (L - 1) // 3, the later third and last, 0.225 each, 0.1 for the rest.
- time decay: weight 0.5 ^ (days before the journey's end / half-life), normalised per journey.

Short journeys (the edge cases): a journey has no role for a share it lacks (a two-touch journey has no
middle, a three-touch journey has only three key touches), and such a share is not given to anyone: the
shares the journey does have are scaled up in proportion until they add to 1. So one touch always gets
100%; with two touches U-shaped gives 50/50, J-shaped 25/75, W-shaped and full path 50/50; with three
touches W-shaped and full path give a third each; with four touches full path gives a quarter each.
"""

import numpy as np

from tandem.attribution.journeys import Journeys


def _per_journey_sum(journeys: Journeys, values: np.ndarray) -> np.ndarray:
    """Sum of a per-touch array over each journey (0 for empty journeys)."""
    sums = np.zeros(journeys.count, dtype=np.float64)
    nonempty = journeys.lengths > 0
    if len(values):
        sums[nonempty] = np.add.reduceat(values, journeys.offsets[:-1][nonempty])
    return sums


def linear_weights(position: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Every touch the same share."""
    return 1.0 / length


def position_weights(
    position: np.ndarray, length: np.ndarray, *, first: float, middle: float, last: float
) -> np.ndarray:
    """Shares for the first touch, the touches between (split equally) and the last touch.

    One touch gets everything. Two touches have no middle: they get first / (first + last) and
    last / (first + last). Longer journeys give the middle share to the touches between, equally.
    """
    between = np.maximum(length - 2, 1)
    raw = np.where(position == 0, first, np.where(position == length - 1, last, middle / between))
    total = np.where(length == 1, 1.0, first + last + np.where(length > 2, middle, 0.0))
    weights = np.where(length == 1, 1.0, raw / np.where(total > 0, total, 1.0))
    # All shares zero (a custom model of zeros) leaves nothing to scale: fall back to equal shares.
    return np.where(total > 0, weights, 1.0 / length)


def key_positions(length: np.ndarray, key_count: int) -> list[np.ndarray]:
    """The positions of the key touches of journeys of `length` touches (3 keys: W-shaped, 4: full path).

    The first and last touch are keys; the others sit at the thirds (4 keys) or the middle (3 keys), kept
    distinct from each other and from the ends. A journey with fewer touches than keys has only its ends
    and, from three touches, its middle touches as keys (the caller scales the shares up).
    """
    last = length - 1
    if key_count == 3:
        middle = np.clip(last // 2, 1, np.maximum(last - 1, 1))
        return [np.zeros_like(length), middle, last]
    lead = np.clip(last // 3, 1, np.maximum(last - 1, 1))
    opportunity = np.maximum(lead + 1, np.minimum(last - 1, (2 * last) // 3))
    return [np.zeros_like(length), lead, opportunity, last]


def key_touch_weights(
    position: np.ndarray, length: np.ndarray, *, key_share: float, rest_share: float, key_count: int
) -> np.ndarray:
    """Key touches get `key_share` each, the others split `rest_share`; short journeys scaled (module doc)."""
    is_key = np.zeros(len(position), dtype=bool)
    for key in key_positions(length, key_count):
        is_key |= (position == key) & (key < length)
    keys_present = np.minimum(length, key_count)
    others = length - keys_present
    raw = np.where(is_key, key_share, rest_share / np.maximum(others, 1))
    total = keys_present * key_share + np.where(others > 0, rest_share, 0.0)
    return raw / total


def time_decay_weights(journeys: Journeys, *, half_life_days: float) -> np.ndarray:
    """0.5 ^ (age / half-life), normalised per journey; ages are days before the journey's end.

    Without recorded times (a path file), each step back from the last touch counts as one day.
    """
    if journeys.days_before is not None:
        age = journeys.days_before
    else:
        position, length = journeys.positions()
        age = (length - 1 - position).astype(np.float64)
    if len(age) == 0:
        return age.astype(np.float64)
    # Measure from each journey's newest touch so that old journeys do not underflow to zero.
    nonempty = journeys.lengths > 0
    newest = np.zeros(journeys.count, dtype=np.float64)
    newest[nonempty] = np.minimum.reduceat(age, journeys.offsets[:-1][nonempty])
    relative = age - np.repeat(newest, journeys.lengths)
    raw = np.exp2(-relative / half_life_days)
    return raw / np.repeat(_per_journey_sum(journeys, raw), journeys.lengths)


def credit_from_weights(journeys: Journeys, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conversions and value per channel: each touch passes its weight of its journey's totals on."""
    touch_conversions, touch_value = journeys.touch_totals()
    size = journeys.channel_count
    conversions = np.bincount(journeys.channel, weights=weights * touch_conversions, minlength=size)
    value = np.bincount(journeys.channel, weights=weights * touch_value, minlength=size)
    return conversions[:size], value[:size]


class PositionCells:
    """Touches summed by (channel, journey length, position): position-only models then need no per-touch work.

    Cell (length L, position p) is number L * (L - 1) / 2 + p. `conversions[c, cell]` and `value[c, cell]`
    hold the totals of the journeys whose touch at that cell was on channel c; a model's credit per channel is
    then these sums times the model's weight of each cell, exactly as if every touch were weighed alone.
    """

    def __init__(self, journeys: Journeys):
        lengths = journeys.lengths
        longest = int(lengths.max()) if len(lengths) else 0
        self.cell_count = longest * (longest + 1) // 2
        cell_length = np.repeat(np.arange(1, longest + 1), np.arange(1, longest + 1))
        self.length = cell_length
        self.position = np.arange(self.cell_count) - cell_length * (cell_length - 1) // 2
        first_cell = lengths * (lengths - 1) // 2 - journeys.offsets[:-1]
        cell = np.arange(len(journeys.channel), dtype=np.int64) + np.repeat(first_cell, lengths)
        key = journeys.channel.astype(np.int64) * self.cell_count + cell
        size = journeys.channel_count * self.cell_count
        touch_conversions, touch_value = journeys.touch_totals()
        self.conversions = np.bincount(key, weights=touch_conversions, minlength=size).reshape(-1, self.cell_count)
        self.value = np.bincount(key, weights=touch_value, minlength=size).reshape(-1, self.cell_count)

    @staticmethod
    def fits(journeys: Journeys) -> bool:
        """Whether the cells are few enough to be worth it (long journeys make many cells)."""
        longest = int(journeys.lengths.max()) if journeys.count else 0
        if longest == 0 or journeys.channel_count == 0:
            return False
        return journeys.channel_count * longest * (longest + 1) // 2 <= max(1_000_000, len(journeys.channel))

    def credit(self, cell_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.conversions @ cell_weights, self.value @ cell_weights
