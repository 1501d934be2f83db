"""attribution_markov: the order-1 Markov model on 1,000,000 journeys over 12 channels, seconds.

    python bench/attribution_markov.py                 # 1,000,000 journeys (the issue's size): seconds
    python bench/attribution_markov.py --journeys N    # another size

The engine alone, on plain arrays (no database): the journeys are generated with a fixed seed, 1 to 8
touches each over 12 channels, converting with a chance that grows with the channels they touch, so
that removal effects differ. The figure is the median of RUNS runs of the exact removal-effect
computation (transition counts, one sparse solve for the whole chain and one per channel removed),
against 4 s: the C++ ChannelAttribution package needs about 4.1 s for a random estimate of the same.
"""

import argparse
import os
import statistics
import sys
import time

from _common import ROOT, discard_result, write_result

BENCHMARK = "attribution_markov"
TARGET_SECONDS = 4.0
JOURNEYS = 1_000_000
CHANNELS = 12
RUNS = 3
SEED = 7


def synthetic_journeys(journey_count: int, *, channels: int = CHANNELS, seed: int = SEED):
    """Journeys of 1-8 touches over `channels` channels, converting more often through some channels."""
    import numpy as np

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tandem.attribution.journeys import Journeys

    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 9, size=journey_count)
    offsets = np.zeros(journey_count + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    popularity = rng.dirichlet(np.ones(channels) * 2)
    channel = rng.choice(channels, size=int(offsets[-1]), p=popularity).astype(np.int32)
    lift = np.linspace(0.01, 0.12, channels)
    journey = np.repeat(np.arange(journey_count), lengths)
    chance = np.minimum(0.9, np.bincount(journey, weights=lift[channel], minlength=journey_count))
    converted = (rng.random(journey_count) < chance).astype(np.float64)
    value = converted * rng.gamma(2.0, 500.0, size=journey_count)
    days_before = rng.gamma(1.5, 6.0, size=int(offsets[-1]))
    return Journeys(
        channel=channel,
        offsets=offsets,
        conversions=converted,
        value=value,
        nulls=1.0 - converted,
        channel_names=[f"channel_{index + 1}" for index in range(channels)],
        days_before=days_before,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journeys", type=int, default=JOURNEYS)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    discard_result(BENCHMARK)
    journeys = synthetic_journeys(args.journeys)
    from tandem.attribution.markov import markov_attribution

    timings, cpu_timings = [], []
    for _ in range(args.runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = markov_attribution(journeys, order=1)
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu_started)
    print(
        f"{journeys.count:,} journeys, {len(journeys.channel):,} touches; P(conversion) "
        f"{result.conversion_probability:.4f}; removal effects "
        + ", ".join(f"{effect:.3f}" for effect in result.removal_effects)
    )
    write_result(
        benchmark=BENCHMARK,
        metric="seconds for order-1 Markov removal effects (median)",
        value=statistics.median(timings),
        unit="s",
        target=TARGET_SECONDS,
        params={
            "cpu_seconds_median": round(statistics.median(cpu_timings), 3),
            "load_average": round(os.getloadavg()[0], 1),
            "journeys": journeys.count,
            "touches": int(len(journeys.channel)),
            "channels": CHANNELS,
            "runs": args.runs,
        },
        database="none (engine on arrays)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
