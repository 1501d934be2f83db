"""predict_train: seconds to train the predictive lead score on 1,000,000 people x 30 features.

    python bench/predict_train.py                 # 1,000,000 people (minutes)
    python bench/predict_train.py --people 200000

Synthetic people as in predict_score (20 numeric fields with missing values, 10 categorical ones,
outcomes from a known logistic rule). Timed: `engine.model_train` exactly as `tandem predict train`
runs it — 5-fold cross-validation (on a stratified sample of 200,000 when there are more), isotonic
calibration on the out-of-fold scores, the gain and calibration tables and the final model on every
person. One run (it takes minutes), against 120 s. The cross-validated AUC must come out above 0.7,
or no figure is recorded. CPU seconds and the machine's load are reported beside the figure.
No database is used.
"""

import argparse
import os
import sys
import time

from _common import ROOT, BenchmarkError, discard_result, write_result
from predict_score import synthetic_people

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tandem.predict import engine  # noqa: E402

BENCHMARK = "predict_train"
TARGET_SECONDS = 120.0
PEOPLE = 1_000_000


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=PEOPLE)
    parser.add_argument("--folds", type=int, default=5)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    discard_result(BENCHMARK)
    features, labels, categorical = synthetic_people(args.people, seed=1)
    started, started_cpu = time.perf_counter(), time.process_time()
    trained = engine.model_train(features, labels, categorical=categorical, folds=args.folds)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - started_cpu
    if trained.cv_auc < 0.7:
        raise BenchmarkError(f"cross-validated AUC {trained.cv_auc:.3f} is below 0.7: the model learnt nothing")
    write_result(
        benchmark=BENCHMARK,
        metric="seconds",
        value=seconds,
        unit="s",
        target=TARGET_SECONDS,
        params={
            "people": args.people,
            "features": features.shape[1],
            "folds": args.folds,
            "cv_rows": trained.cv_rows,
            "rounds": trained.params["rounds"],
            "threads": engine.usable_threads(args.people),
            "cv_auc": round(trained.cv_auc, 4),
            "cpu_seconds": round(cpu_seconds, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        database="none",
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as error:
        print(f"{BENCHMARK}: {error}", file=sys.stderr)
        sys.exit(1)
