"""Reading the path format of public attribution tools into journeys.

One line per path: `path;total_conversions;total_conversion_value;total_null`, channels in the path
separated by ` > `, e.g. `email > paid_search > direct;3;420.5;12`. A first line naming the columns is
skipped; blank lines are ignored. Every problem is reported with its line number.
"""

from collections.abc import Iterable

import numpy as np

from tandem.attribution.journeys import Journeys

HEADER = ("path", "total_conversions", "total_conversion_value", "total_null")
MAX_PROBLEMS = 20


class PathFileError(ValueError):
    """A path file that cannot be read, with each bad line named."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_PROBLEMS]
        more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__("\n".join(shown) + more)


def _number(text: str, column: str, line_number: int, problems: list[str]) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        problems.append(f"line {line_number}: {column} must be a number, got '{text.strip()[:40]}'.")
        return 0.0
    if not np.isfinite(value) or value < 0:
        problems.append(f"line {line_number}: {column} must be a number of 0 or more, got '{text.strip()[:40]}'.")
        return 0.0
    return value


def read_paths(lines: Iterable[str]) -> Journeys:
    """Journeys from the lines of a path file; raises PathFileError naming every bad line."""
    names: list[str] = []
    index: dict[str, int] = {}
    channel: list[int] = []
    lengths: list[int] = []
    conversions: list[float] = []
    value: list[float] = []
    nulls: list[float] = []
    problems: list[str] = []
    for line_number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n").lstrip("\ufeff")
        if not line.strip():
            continue
        fields = line.split(";")
        if line_number == 1 and tuple(field.strip().lower() for field in fields) == HEADER:
            continue
        if len(fields) != 4:
            problems.append(
                f"line {line_number}: expected 4 fields separated by ';' "
                f"(path;total_conversions;total_conversion_value;total_null), got {len(fields)}."
            )
            continue
        steps = [step.strip() for step in fields[0].split(">")]
        if not fields[0].strip() or any(not step for step in steps):
            problems.append(
                f"line {line_number}: the path has an empty channel name (channels are separated by ' > ')."
            )
            continue
        converted = _number(fields[1], "total_conversions", line_number, problems)
        worth = _number(fields[2], "total_conversion_value", line_number, problems)
        missed = _number(fields[3], "total_null", line_number, problems)
        for step in steps:
            if step not in index:
                index[step] = len(names)
                names.append(step)
            channel.append(index[step])
        lengths.append(len(steps))
        conversions.append(converted)
        value.append(worth)
        nulls.append(missed)
    if problems:
        raise PathFileError(problems)
    if not lengths:
        raise PathFileError(["the file holds no paths (expected lines like 'a > b;1;10.0;2')."])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    return Journeys(
        channel=np.asarray(channel, dtype=np.int32),
        offsets=offsets,
        conversions=np.asarray(conversions, dtype=np.float64),
        value=np.asarray(value, dtype=np.float64),
        nulls=np.asarray(nulls, dtype=np.float64),
        channel_names=names,
    )
