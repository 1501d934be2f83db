"""predict_score: people per second scored in batch by the predictive lead score's model.

    python bench/predict_score.py                 # 1,000,000 people x 30 features
    python bench/predict_score.py --people 200000

A model is trained first, untimed, on synthetic people (20 numeric fields with missing values and
10 categorical ones, outcomes drawn from a known logistic rule) with the product's default settings.
Timed: `Scorer.probabilities` over every person — the booster's raw score through the isotonic
calibration, what the 0-100 score is made of — median of RUNS runs, against 200,000 people/s.
The top factors (SHAP values from LightGBM's pred_contrib) are far costlier per person; their rate
on a slice is reported beside the figure (params.explained_people_per_second), not hidden in it.
The CPU seconds are reported too: on a shared machine the wall clock also counts other people's work.
No database is used.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np
from _common import ROOT, BenchmarkError, discard_result, write_result

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tandem.predict import engine  # noqa: E402

BENCHMARK = "predict_score"
TARGET_PEOPLE_PER_SECOND = 200_000
PEOPLE = 1_000_000
TRAINING_PEOPLE = 50_000
EXPLAINED_PEOPLE = 20_000
RUNS = 3


def synthetic_people(people: int, *, seed: int, numeric: int = 20, categorical: int = 10):
    """Features (numeric with 10% missing, then categorical codes) and outcomes from a known logistic rule."""
    generator = np.random.default_rng(seed)
    numbers = generator.normal(size=(people, numeric))
    numbers[generator.random((people, numeric)) < 0.1] = np.nan
    codes = generator.integers(0, 8, size=(people, categorical)).astype(np.float64)
    weights = np.random.default_rng(0).normal(size=numeric) * 0.4
    logit = np.nan_to_num(numbers) @ weights + (codes[:, 0] == 3) * 1.0 - (codes[:, 1] == 5) * 0.8 - 0.7
    labels = (generator.random(people) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    return np.column_stack([numbers, codes]), labels, list(range(numeric, numeric + categorical))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=PEOPLE)
    parser.add_argument("--runs", type=int, default=RUNS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    discard_result(BENCHMARK)
    features, labels, categorical = synthetic_people(TRAINING_PEOPLE, seed=1)
    trained = engine.model_train(features, labels, categorical=categorical, folds=2)
    scorer = engine.Scorer(trained.model_text, trained.calibration)
    people, _, _ = synthetic_people(args.people, seed=2)
    timings, cpu = [], []
    for _ in range(args.runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        probabilities = scorer.probabilities(people)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    if not (probabilities.shape == (args.people,) and np.all((probabilities >= 0) & (probabilities <= 1))):
        raise BenchmarkError("the scores are not probabilities for every person")
    explained = people[:EXPLAINED_PEOPLE]
    started = time.perf_counter()
    batch = scorer.score(explained)
    explained_seconds = time.perf_counter() - started
    if not np.allclose(batch.probability, probabilities[:EXPLAINED_PEOPLE]):
        raise BenchmarkError("the explained scores differ from the batch scores")
    seconds = statistics.median(timings)
    threads = engine.usable_threads(args.people)
    write_result(
        benchmark=BENCHMARK,
        metric="people_per_second",
        value=args.people / seconds,
        unit="people/s",
        target=TARGET_PEOPLE_PER_SECOND,
        params={
            "people": args.people,
            "features": people.shape[1],
            "trees": trained.params["rounds"],
            "leaves_per_tree": trained.params["num_leaves"],
            "threads": threads,
            "runs": args.runs,
            "seconds": round(seconds, 3),
            "people_per_cpu_second": round(args.people / statistics.median(cpu), 1),
            "explained_people_per_second": round(EXPLAINED_PEOPLE / explained_seconds, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        database="none",
        higher_is_better=True,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as error:
        print(f"{BENCHMARK}: {error}", file=sys.stderr)
        sys.exit(1)
