"""The model on plain arrays: AUC, folds, encoding, training with calibration, scores and factors."""

import numpy as np
import pytest

from tandem.predict import engine


def test_auc_counts_ties_as_half():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
    # Pairs (positive beats negative): 0.35>0.1; 0.8 beats all 3; 0.4 beats 0.1 and ties two 0.4s.
    assert engine.roc_auc(labels, scores) == pytest.approx((1 + 3 + 1 + 0.5 + 0.5) / 9)


def test_auc_refuses_a_single_outcome():
    with pytest.raises(ValueError, match="both outcomes"):
        engine.roc_auc(np.array([1, 1]), np.array([0.2, 0.3]))


def test_folds_spread_each_outcome_evenly():
    labels = np.array([1] * 10 + [0] * 25)
    folds = engine.stratified_folds(labels, 5, seed=3)
    assert [int((folds[labels == 1] == fold).sum()) for fold in range(5)] == [2, 2, 2, 2, 2]
    assert [int((folds[labels == 0] == fold).sum()) for fold in range(5)] == [5, 5, 5, 5, 5]


def test_columns_are_typed_and_useless_ones_set_aside_with_a_reason():
    size = 40
    columns = {
        "custom.visits": [str(index % 7) for index in range(size)],
        "source": ["Web" if index % 3 else "Ads" for index in range(size)],
        "custom.lead_number": [str(1000 + index) for index in range(size)],
        "custom.magazine": ["No"] * size,
        "custom.empty": [None] * size,
        "custom.rare": [f"value {index % 20}" for index in range(size)],
    }
    specs, excluded = engine.features_infer(columns)
    assert specs == [
        engine.FeatureSpec("custom.visits", engine.NUMERIC),
        engine.FeatureSpec("source", engine.CATEGORICAL, ("Web", "Ads")),
    ]
    assert {item.name: item.reason for item in excluded} == {
        "custom.lead_number": "an identifier: a different value for every person",
        "custom.magazine": "the same value for every decided person who has one",
        "custom.empty": "no decided person has a value",
        "custom.rare": "no value occurs 10 times among decided people",
    }
    matrix = engine.features_encode(specs, {"custom.visits": ["3", None, "x"], "source": ["Ads", "Web", "Fax"]})
    assert matrix[:, 0][:1].tolist() == [3.0]
    assert np.isnan(matrix[1, 0]) and np.isnan(matrix[2, 0])
    # An unseen level without an (other) level is missing.
    assert matrix[:2, 1].tolist() == [1.0, 0.0] and np.isnan(matrix[2, 1])


def _synthetic(rows: int, seed: int = 0):
    generator = np.random.default_rng(seed)
    signal = generator.normal(size=rows)
    noise = generator.normal(size=rows)
    channel = generator.integers(0, 3, size=rows).astype(np.float64)
    logit = 2.0 * signal + np.where(channel == 2, 1.0, 0.0) - 0.5
    labels = (generator.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    return np.column_stack([signal, noise, channel]), labels


def test_training_cross_validates_calibrates_and_explains():
    features, labels = _synthetic(3000)
    trained = engine.model_train(
        features, labels, categorical=[2], folds=4, params=engine.TrainingParams(rounds=60, threads=1)
    )
    assert trained.folds == 4 and len(trained.fold_aucs) == 4
    assert trained.cv_auc > 0.85
    assert (trained.positives, trained.negatives) == (int(labels.sum()), int(3000 - labels.sum()))
    # Isotonic calibration is monotone and within [0, 1].
    assert trained.calibration.probability == sorted(trained.calibration.probability)
    assert trained.calibration.probability[0] >= 0.0 and trained.calibration.probability[-1] <= 1.0
    assert sum(row["people"] for row in trained.calibration_bins) == 3000
    assert trained.gain_curve[-1]["gain"] == pytest.approx(1.0)
    assert trained.gain_curve[0]["lift"] > 2.0
    assert trained.importance.index(max(trained.importance)) == 0

    scorer = engine.Scorer(trained.model_text, trained.calibration, threads=1)
    batch = scorer.score(np.array([[3.0, 0.0, 2.0], [-3.0, 0.0, 0.0]]), top=2)
    assert batch.score[0] > 85 and batch.score[1] < 10
    assert batch.score.tolist() == np.rint(batch.probability * 100).astype(int).tolist()
    # The strongest push up for the first is its high signal; the strongest push down for the second its low one.
    assert batch.up_features[0, 0] == 0 and batch.up_values[0, 0] > 1.0
    assert batch.down_features[1, 0] == 0 and batch.down_values[1, 0] < -1.0


def test_factors_are_only_those_pushing_that_way():
    values = np.array([[0.5, -0.2, 0.1], [-0.3, -0.1, -0.4]])
    up, up_values = engine._top_columns(values, 2, largest=True)
    down, down_values = engine._top_columns(values, 2, largest=False)
    assert up.tolist() == [[0, 2], [-1, -1]]
    assert up_values.tolist() == [[0.5, 0.1], [0.0, 0.0]]
    assert down.tolist() == [[1, -1], [2, 0]]
    assert down_values.tolist() == [[-0.2, 0.0], [-0.4, -0.3]]


def test_large_histories_cross_validate_on_a_stratified_sample():
    features, labels = _synthetic(3000, seed=4)
    trained = engine.model_train(
        features,
        labels,
        categorical=[2],
        folds=3,
        params=engine.TrainingParams(rounds=20, threads=1),
        cv_sample_rows=1200,
    )
    assert trained.cv_rows == 1200
    assert sum(row["people"] for row in trained.calibration_bins) == 1200
    assert (trained.positives, trained.negatives) == (int(labels.sum()), int(3000 - labels.sum()))
    sample = engine._stratified_sample(labels, 1200, seed=1)
    assert abs(labels[sample].mean() - labels.mean()) < 0.001
