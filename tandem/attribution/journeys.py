"""Journeys as plain arrays: every touch's channel id, laid end to end, with offsets (CSR layout).

Journey j's touches are `channel[offsets[j]:offsets[j + 1]]`, oldest first. A journey carries how many
conversions it ended in, their value and how many times it ended without converting ("null"), so one
row can stand for one person (1 / 0) or for an aggregated path of a public data set (e.g. 3 conversions,
5 nulls). `days_before` is each touch's age in days at the journey's end, used by time decay.
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Journeys:
    """Many journeys over `len(channel_names)` channels; see the module docstring for the layout."""

    channel: np.ndarray  # int32, one per touch
    offsets: np.ndarray  # int64, len = journeys + 1
    conversions: np.ndarray  # float64, one per journey
    value: np.ndarray  # float64, one per journey: the conversions' total value
    nulls: np.ndarray  # float64, one per journey
    channel_names: list[str]
    days_before: np.ndarray | None = None  # float64, one per touch; None: each step back is one day
    _lengths: np.ndarray | None = field(default=None, repr=False)
    _journey_of_touch: np.ndarray | None = field(default=None, repr=False)
    _positions: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _touch_totals: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.offsets) == 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.channel):
            raise ValueError("offsets must start at 0 and end at the number of touches")
        journeys = len(self.offsets) - 1
        for name in ("conversions", "value", "nulls"):
            if len(getattr(self, name)) != journeys:
                raise ValueError(f"{name} must hold one number per journey")
        if self.days_before is not None and len(self.days_before) != len(self.channel):
            raise ValueError("days_before must hold one number per touch")

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        if self._lengths is None:
            self._lengths = np.diff(self.offsets)
        return self._lengths

    @property
    def channel_count(self) -> int:
        return len(self.channel_names)

    def journey_of_touch(self) -> np.ndarray:
        """For each touch, the index of its journey."""
        if self._journey_of_touch is None:
            self._journey_of_touch = np.repeat(np.arange(self.count, dtype=np.int64), self.lengths)
        return self._journey_of_touch

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """For each touch: its 0-based position in its journey, and its journey's length."""
        if self._positions is None:
            lengths = self.lengths
            starts = np.repeat(self.offsets[:-1], lengths)
            self._positions = (np.arange(len(self.channel), dtype=np.int64) - starts, np.repeat(lengths, lengths))
        return self._positions

    def touch_totals(self) -> tuple[np.ndarray, np.ndarray]:
        """For each touch, its journey's conversions and value."""
        if self._touch_totals is None:
            self._touch_totals = (np.repeat(self.conversions, self.lengths), np.repeat(self.value, self.lengths))
        return self._touch_totals

    @classmethod
    def from_lists(
        cls,
        paths: list[list[str]],
        *,
        conversions: list[float],
        value: list[float] | None = None,
        nulls: list[float] | None = None,
        days_before: list[list[float]] | None = None,
        channel_names: list[str] | None = None,
    ) -> "Journeys":
        """Journeys from lists of channel names (small data, tests); channels numbered in order of first use."""
        names = list(channel_names or [])
        index = {name: number for number, name in enumerate(names)}
        channel = []
        for path in paths:
            for name in path:
                if name not in index:
                    index[name] = len(names)
                    names.append(name)
                channel.append(index[name])
        lengths = [len(path) for path in paths]
        offsets = np.zeros(len(paths) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(lengths)
        conversion_array = np.asarray(conversions, dtype=np.float64)
        return cls(
            channel=np.asarray(channel, dtype=np.int32),
            offsets=offsets,
            conversions=conversion_array,
            value=np.asarray(value if value is not None else [0.0] * len(paths), dtype=np.float64),
            nulls=np.asarray(nulls, dtype=np.float64) if nulls is not None else (conversion_array == 0).astype(float),
            channel_names=names,
            days_before=(
                np.asarray([day for days in days_before for day in days], dtype=np.float64)
                if days_before is not None
                else None
            ),
        )
