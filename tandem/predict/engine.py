"""The predictive lead score's model on plain arrays: encoding, training, calibration, scoring, factors.

Nothing here touches the database. Columns come in as sequences of plain values (None when
missing); the model is a LightGBM booster kept as text, its calibration a monotone step curve
fitted on out-of-fold predictions, so that a stored model can be scored and explained again
anywhere (docs/predict.md).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

NUMERIC = "numeric"
CATEGORICAL = "categorical"
# A column is numeric when at least this share of its present values read as numbers.
NUMERIC_SHARE = 0.98
# Categorical levels seen fewer times than this in training are pooled into OTHER.
MIN_LEVEL_COUNT = 10
MAX_LEVELS = 200
OTHER = "(other)"
TOP_FACTORS = 3
# Below this many rows one thread is faster than several: the threads mostly wait for each other.
SMALL_DATA_ROWS = 100_000
# Cross-validation runs on at most this many rows (a stratified sample); the final model on all.
CV_SAMPLE_ROWS = 200_000


def usable_threads(rows: int, asked: int = 0) -> int:
    """Threads to give LightGBM: as asked, else one for small data and every core this process may use."""
    if asked > 0:
        return asked
    if rows < SMALL_DATA_ROWS:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: its name, whether numeric or categorical, and the categorical levels in code order."""

    name: str
    kind: str
    levels: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "levels": list(self.levels)}

    @classmethod
    def from_dict(cls, data: Mapping) -> FeatureSpec:
        return cls(name=data["name"], kind=data["kind"], levels=tuple(data.get("levels", ())))


@dataclass(frozen=True)
class Exclusion:
    """A column that is not used, and why, in words for the model card."""

    name: str
    reason: str


def _as_number(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    try:
        number = float(str(value).strip().replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _is_missing(value) -> bool:
    return value is None or value == ""


def _as_level(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def features_infer(columns: Mapping[str, Sequence]) -> tuple[list[FeatureSpec], list[Exclusion]]:
    """Decide each column's kind and levels from training values; set aside columns that cannot help.

    A column is left out when no decided person has a value, when every value is the same, or when
    it is an identifier (a different value for every person who has one).
    """
    specs, excluded = [], []
    for name, values in columns.items():
        present = [value for value in values if not _is_missing(value)]
        if not present:
            excluded.append(Exclusion(name, "no decided person has a value"))
            continue
        numbers = [_as_number(value) for value in present]
        numeric_count = sum(number is not None for number in numbers)
        distinct = Counter(_as_level(value) for value in present)
        if len(distinct) == 1:
            excluded.append(Exclusion(name, "the same value for every decided person who has one"))
            continue
        is_numeric = numeric_count >= NUMERIC_SHARE * len(present)
        is_integer_like = is_numeric and all(number is None or float(number).is_integer() for number in numbers)
        if len(distinct) == len(present) and len(present) >= 20 and (not is_numeric or is_integer_like):
            excluded.append(Exclusion(name, "an identifier: a different value for every person"))
            continue
        if is_numeric:
            specs.append(FeatureSpec(name, NUMERIC))
            continue
        common = [level for level, count in distinct.most_common(MAX_LEVELS) if count >= MIN_LEVEL_COUNT]
        if not common:
            excluded.append(Exclusion(name, f"no value occurs {MIN_LEVEL_COUNT} times among decided people"))
            continue
        if len(common) < len(distinct):
            common.append(OTHER)
        specs.append(FeatureSpec(name, CATEGORICAL, tuple(common)))
    return specs, excluded


def features_encode(specs: Sequence[FeatureSpec], columns: Mapping[str, Sequence]) -> np.ndarray:
    """A float matrix (people x features): numbers as they are, levels as codes, NaN when missing."""
    length = len(next(iter(columns.values()))) if columns else 0
    matrix = np.full((length, len(specs)), np.nan, dtype=np.float64)
    for index, spec in enumerate(specs):
        values = columns.get(spec.name)
        if values is None:
            continue
        if spec.kind == NUMERIC:
            matrix[:, index] = [np.nan if (number := _as_number(value)) is None else number for value in values]
            continue
        codes = {level: code for code, level in enumerate(spec.levels)}
        other = codes.get(OTHER, np.nan)
        matrix[:, index] = [np.nan if _is_missing(value) else codes.get(_as_level(value), other) for value in values]
    return matrix


def describe_value(spec: FeatureSpec, value: float) -> str:
    """A feature's encoded value in words, as the record page shows it."""
    if math.isnan(value):
        return "missing"
    if spec.kind == CATEGORICAL:
        code = int(value)
        return spec.levels[code] if 0 <= code < len(spec.levels) else OTHER
    return f"{value:g}"


@dataclass(frozen=True)
class TrainingParams:
    """LightGBM settings: small trees, strong leaf minimum, a fixed number of rounds."""

    rounds: int = 100
    learning_rate: float = 0.15
    num_leaves: int = 7
    min_data_in_leaf: int = 50
    lambda_l2: float = 1.0
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.9
    max_bin: int = 255
    seed: int = 1
    threads: int = 0  # 0: chosen by the size of the data (usable_threads)

    def lightgbm(self) -> dict:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "lambda_l2": self.lambda_l2,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "max_bin": self.max_bin,
            "cat_smooth": 10,
            "min_data_per_group": 20,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": self.threads,
            "verbose": -1,
        }


@dataclass
class Calibration:
    """A monotone map from the booster's raw score to a probability (isotonic, on out-of-fold scores)."""

    raw: list[float]
    probability: list[float]

    def apply(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, np.asarray(self.raw), np.asarray(self.probability))


@dataclass
class TrainedModel:
    """What a training run produced: the booster as text, its calibration and the cross-validated evidence."""

    model_text: str
    calibration: Calibration
    folds: int
    cv_auc: float
    fold_aucs: list[float]
    out_of_fold_auc: float
    positives: int
    negatives: int
    cv_rows: int
    calibration_bins: list[dict]
    gain_curve: list[dict]
    importance: list[float]
    seconds: float
    params: dict = field(default_factory=dict)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties counted half."""
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("the AUC needs both outcomes")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average ranks over runs of equal scores.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(scores)]))
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per row, each outcome spread evenly over the folds in a seeded random order."""
    generator = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    for outcome in (0, 1):
        rows = np.flatnonzero(labels == outcome)
        generator.shuffle(rows)
        assignment[rows] = np.arange(len(rows)) % folds
    return assignment


def _stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Row numbers of a random sample of `size` rows with the same share of each outcome, in order."""
    generator = np.random.default_rng(seed)
    picked = []
    for outcome in (0, 1):
        rows = np.flatnonzero(labels == outcome)
        take = max(1, round(size * len(rows) / len(labels)))
        picked.append(generator.choice(rows, size=min(take, len(rows)), replace=False))
    return np.sort(np.concatenate(picked))


def calibration_fit(raw: np.ndarray, labels: np.ndarray) -> Calibration:
    """Isotonic regression of outcome on raw score, kept as its step points for np.interp."""
    from sklearn.isotonic import IsotonicRegression

    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    isotonic.fit(raw, labels.astype(np.float64))
    return Calibration(
        raw=[float(value) for value in isotonic.X_thresholds_],
        probability=[float(value) for value in isotonic.y_thresholds_],
    )


def calibration_bins(probability: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean predicted against observed conversion in equal-width probability bins (the calibration plot)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, probability, side="right") - 1, 0, bins - 1)
    rows = []
    for number in range(bins):
        members = index == number
        count = int(members.sum())
        if count:
            rows.append(
                {
                    "low": float(edges[number]),
                    "high": float(edges[number + 1]),
                    "people": count,
                    "predicted": float(probability[members].mean()),
                    "observed": float(labels[members].mean()),
                }
            )
    return rows


def gain_curve(probability: np.ndarray, labels: np.ndarray, steps: int = 10) -> list[dict]:
    """Share of all conversions found in the top x% of people by score, and the lift over random."""
    order = np.argsort(-probability, kind="mergesort")
    found = np.cumsum(labels[order])
    total = max(1, int(labels.sum()))
    rows = []
    for step in range(1, steps + 1):
        share = step / steps
        top = max(1, round(share * len(labels)))
        gain = float(found[top - 1] / total)
        rows.append({"share": share, "gain": gain, "lift": gain / share})
    return rows


def model_train(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    categorical: Sequence[int] = (),
    folds: int = 5,
    params: TrainingParams | None = None,
    cv_sample_rows: int = CV_SAMPLE_ROWS,
) -> TrainedModel:
    """Cross-validate, calibrate on the out-of-fold scores, then fit the final booster on every row.

    With more than `cv_sample_rows` rows, the folds are drawn from a stratified random sample of that
    many: the AUC and the calibration are as good an estimate, at a fraction of the time.
    """
    started = time.perf_counter()
    params = params or TrainingParams()
    labels = np.asarray(labels, dtype=np.float64)
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if len(labels) > cv_sample_rows:
        sample = _stratified_sample(labels, cv_sample_rows, params.seed)
    else:
        sample = np.arange(len(labels))
    # Small histories get smaller leaves, or a fold would have too few rows to split at all.
    leaf = min(params.min_data_in_leaf, max(5, len(labels) // 50))
    lightgbm_params = {
        **params.lightgbm(),
        "min_data_in_leaf": leaf,
        "min_data_per_group": min(20, leaf),
        "num_threads": usable_threads(len(labels), params.threads),
    }
    import lightgbm  # imported when a model is trained or loaded: web processes start without it

    # Binned once; each fold's training set is a subset of the same bins.
    everyone = lightgbm.Dataset(
        features, labels, categorical_feature=list(categorical), free_raw_data=False, params=lightgbm_params
    ).construct()
    sample_labels = labels[sample]
    fold_of = stratified_folds(sample_labels, folds, params.seed)
    out_of_fold = np.empty(len(sample), dtype=np.float64)
    fold_aucs = []
    for fold in range(folds):
        held_out = fold_of == fold
        training = everyone.subset(sample[~held_out].tolist())
        booster = lightgbm.train(lightgbm_params, training, num_boost_round=params.rounds)
        out_of_fold[held_out] = booster.predict(features[sample[held_out]], raw_score=True)
        fold_aucs.append(roc_auc(sample_labels[held_out], out_of_fold[held_out]))
    calibration = calibration_fit(out_of_fold, sample_labels)
    calibrated = calibration.apply(out_of_fold)
    final = lightgbm.train(lightgbm_params, everyone, num_boost_round=params.rounds)
    gains = final.feature_importance(importance_type="gain")
    total_gain = float(gains.sum()) or 1.0
    return TrainedModel(
        model_text=final.model_to_string(),
        calibration=calibration,
        folds=folds,
        cv_auc=float(np.mean(fold_aucs)),
        fold_aucs=[float(value) for value in fold_aucs],
        out_of_fold_auc=roc_auc(sample_labels, out_of_fold),
        positives=int(labels.sum()),
        negatives=int(len(labels) - labels.sum()),
        cv_rows=len(sample),
        calibration_bins=calibration_bins(calibrated, sample_labels),
        gain_curve=gain_curve(calibrated, sample_labels),
        importance=[float(value) / total_gain for value in gains],
        seconds=time.perf_counter() - started,
        params=asdict(params),
    )


@dataclass
class ScoredBatch:
    """Scores of a batch of people and, per person, the features pushing the score up and down most."""

    probability: np.ndarray  # calibrated, 0..1
    score: np.ndarray  # 0..100 integers
    up_features: np.ndarray  # (people, TOP_FACTORS) feature indices, -1 where there is none
    up_values: np.ndarray  # log-odds contributions
    down_features: np.ndarray
    down_values: np.ndarray


class Scorer:
    """A stored model made ready to score: the booster from its text and the calibration curve."""

    def __init__(self, model_text: str, calibration: Calibration, *, threads: int = 0):
        import lightgbm

        self.booster = lightgbm.Booster(model_str=model_text)
        self.calibration = calibration
        self.threads = threads

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities only, without factors: the booster's raw score through the calibration."""
        threads = usable_threads(len(features), self.threads)
        return self.calibration.apply(self.booster.predict(features, raw_score=True, num_threads=threads))

    def score(self, features: np.ndarray, *, top: int = TOP_FACTORS) -> ScoredBatch:
        """Probabilities, 0-100 scores and the top `top` factors each way (SHAP values) for every row."""
        threads = usable_threads(len(features), self.threads)
        contributions = self.booster.predict(features, pred_contrib=True, num_threads=threads)
        raw = contributions.sum(axis=1)  # the SHAP values and the bias add up to the raw score
        probability = self.calibration.apply(raw)
        per_feature = contributions[:, :-1]
        top = min(top, per_feature.shape[1])
        up_features, up_values = _top_columns(per_feature, top, largest=True)
        down_features, down_values = _top_columns(per_feature, top, largest=False)
        return ScoredBatch(
            probability=probability,
            score=np.rint(probability * 100).astype(np.int16),
            up_features=up_features,
            up_values=up_values,
            down_features=down_features,
            down_values=down_values,
        )


def _top_columns(values: np.ndarray, top: int, *, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the `top` largest (or most negative) values per row; -1 where the sign is wrong."""
    signed = values if largest else -values
    if top == 0:
        empty = np.empty((len(values), 0))
        return empty.astype(np.int64), empty
    columns = np.argpartition(-signed, top - 1, axis=1)[:, :top] if signed.shape[1] > top else None
    if columns is None:
        columns = np.tile(np.arange(signed.shape[1]), (len(values), 1))
    picked = np.take_along_axis(signed, columns, axis=1)
    order = np.argsort(-picked, axis=1, kind="stable")
    columns = np.take_along_axis(columns, order, axis=1)
    picked = np.take_along_axis(picked, order, axis=1)
    columns = np.where(picked > 0, columns, -1)
    return columns, np.where(picked > 0, picked if largest else -picked, 0.0)
