"""attribution_heuristics: every rule-based model together on 1,000,000 journeys over 12 channels, seconds.

    python bench/attribution_heuristics.py                 # 1,000,000 journeys (the issue's size)
    python bench/attribution_heuristics.py --journeys N

The same generated journeys as attribution_markov. The figure is the median of RUNS runs of all ten
rule-based models (first, last, linear, U, W, full path, time decay, J, inverse J, custom), credit and
value per channel, one after the other on one fresh copy of the journeys, against 2 s.
"""

import argparse
import os
import statistics
import sys
import time

from _common import discard_result, write_result
from attribution_markov import CHANNELS, JOURNEYS, RUNS, synthetic_journeys

BENCHMARK = "attribution_heuristics"
TARGET_SECONDS = 2.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journeys", type=int, default=JOURNEYS)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    discard_result(BENCHMARK)
    from tandem.attribution.engine import HEURISTIC_KEYS, attribute_all
    from tandem.attribution.journeys import Journeys

    generated = synthetic_journeys(args.journeys)
    timings, cpu_timings = [], []
    for _ in range(args.runs):
        # A fresh object each run, so that no cached positions from the last run are reused.
        journeys = Journeys(
            channel=generated.channel,
            offsets=generated.offsets,
            conversions=generated.conversions,
            value=generated.value,
            nulls=generated.nulls,
            channel_names=generated.channel_names,
            days_before=generated.days_before,
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        credits = attribute_all(journeys, models=HEURISTIC_KEYS)
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu_started)
    total = float(generated.conversions.sum())
    for credit in credits:
        assert abs(float(credit.conversions.sum()) - total) < 1e-6 * max(1.0, total), credit.model.key
    print(f"{generated.count:,} journeys, {len(generated.channel):,} touches, {len(credits)} models")
    write_result(
        benchmark=BENCHMARK,
        metric="seconds for all rule-based models (median)",
        value=statistics.median(timings),
        unit="s",
        target=TARGET_SECONDS,
        params={
            "cpu_seconds_median": round(statistics.median(cpu_timings), 3),
            "load_average": round(os.getloadavg()[0], 1),
            "journeys": generated.count,
            "touches": int(len(generated.channel)),
            "channels": CHANNELS,
            "models": len(credits),
            "runs": args.runs,
        },
        database="none (engine on arrays)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
