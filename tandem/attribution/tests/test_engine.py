"""Every rule-based model against hand-computed shares, including the short-journey edge cases."""

import numpy as np
import pytest

from tandem.attribution.engine import (
    HEURISTIC_KEYS,
    MODEL_KEYS,
    AttributionSettings,
    attribute,
    attribute_all,
    model_catalogue,
)
from tandem.attribution.journeys import Journeys

FIVE = [["a", "b", "c", "d", "e"]]
SETTINGS = AttributionSettings(half_life_days=7, custom_first=0.5, custom_middle=0.0, custom_last=0.25)

# One converting journey of five touches on five channels, worth 1,000: each channel's credit is its touch's share.
EXPECTED_FIVE = {
    "first_touch": [1, 0, 0, 0, 0],
    "last_touch": [0, 0, 0, 0, 1],
    "linear": [0.2, 0.2, 0.2, 0.2, 0.2],
    "u_shaped": [0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4],
    # keys: first, middle (position 2), last; the other two split 10%
    "w_shaped": [0.3, 0.05, 0.3, 0.05, 0.3],
    # keys: first, position 1 (a third), position 2 (two thirds, floored), last; the fourth touch gets the 10%
    "full_path": [0.225, 0.225, 0.225, 0.1, 0.225],
    # 28, 21, 14, 7 and 0 days before: 1/16, 1/8, 1/4, 1/2, 1 out of 31/16
    "time_decay": [1 / 31, 2 / 31, 4 / 31, 8 / 31, 16 / 31],
    "j_shaped": [0.2, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.6],
    "inverse_j": [0.6, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.2],
    # 0.5 first, 0 middle, 0.25 last, scaled to add up to 1
    "custom": [2 / 3, 0, 0, 0, 1 / 3],
}


def five_touch_journey() -> Journeys:
    return Journeys.from_lists(FIVE, conversions=[1], value=[1000], days_before=[[28, 21, 14, 7, 0]])


@pytest.mark.parametrize("model", HEURISTIC_KEYS)
def test_each_rule_based_model_splits_a_five_touch_journey_as_computed_by_hand(model):
    credit = attribute(five_touch_journey(), model_catalogue(SETTINGS)[model])
    assert credit.channel_names == ["a", "b", "c", "d", "e"]
    np.testing.assert_allclose(credit.conversions, EXPECTED_FIVE[model], rtol=0, atol=1e-12)
    np.testing.assert_allclose(credit.value, np.array(EXPECTED_FIVE[model]) * 1000, rtol=0, atol=1e-9)


def test_the_cell_sums_give_the_same_credit_as_touch_by_touch():
    journeys = five_touch_journey()
    together = {credit.model.key: credit for credit in attribute_all(journeys, settings=SETTINGS)}
    for key in HEURISTIC_KEYS:
        alone = attribute(journeys, model_catalogue(SETTINGS)[key], keep_touch_weights=True)
        np.testing.assert_allclose(together[key].conversions, alone.conversions, rtol=0, atol=1e-12)
        assert alone.touch_weights.sum() == pytest.approx(1.0)


# Short journeys: shares a journey has no touch for are not given away; the others are scaled up.
EDGE_CASES = {
    # model: (one touch, two touches, three touches, four touches)
    "u_shaped": ([1], [0.5, 0.5], [0.4, 0.2, 0.4], [0.4, 0.1, 0.1, 0.4]),
    "j_shaped": ([1], [0.25, 0.75], [0.2, 0.2, 0.6], [0.2, 0.1, 0.1, 0.6]),
    "inverse_j": ([1], [0.75, 0.25], [0.6, 0.2, 0.2], [0.6, 0.1, 0.1, 0.2]),
    "w_shaped": ([1], [0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.3, 0.3, 0.1, 0.3]),
    "full_path": ([1], [0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.25, 0.25, 0.25, 0.25]),
    "first_touch": ([1], [1, 0], [1, 0, 0], [1, 0, 0, 0]),
    "last_touch": ([1], [0, 1], [0, 0, 1], [0, 0, 0, 1]),
    "linear": ([1], [0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.25, 0.25, 0.25, 0.25]),
}


@pytest.mark.parametrize("model", sorted(EDGE_CASES))
def test_short_journeys_scale_up_the_shares_they_have(model):
    paths = [["p1"], ["p1", "p2"], ["p1", "p2", "p3"], ["p1", "p2", "p3", "p4"]]
    journeys = Journeys.from_lists(paths, conversions=[1, 1, 1, 1], value=[0, 0, 0, 0])
    credit = attribute(journeys, model_catalogue()[model], keep_touch_weights=True)
    expected = [share for shares in EDGE_CASES[model] for share in shares]
    np.testing.assert_allclose(credit.touch_weights, expected, rtol=0, atol=1e-12)


def test_time_decay_without_times_counts_each_step_back_as_a_day():
    journeys = Journeys.from_lists([["a", "b", "c"]], conversions=[2], value=[70])
    settings = AttributionSettings(half_life_days=1)
    credit = attribute(journeys, model_catalogue(settings)["time_decay"])
    # 2 and 1 steps back with a one-day half-life: 1/4, 1/2, 1 out of 7/4
    np.testing.assert_allclose(credit.conversions, [2 / 7, 4 / 7, 8 / 7], rtol=0, atol=1e-12)
    np.testing.assert_allclose(credit.value, [10, 20, 40], rtol=0, atol=1e-9)


def test_time_decay_of_touches_years_old_does_not_underflow():
    journeys = Journeys.from_lists([["a", "b"]], conversions=[1], value=[0], days_before=[[40_007, 40_000]])
    credit = attribute(journeys, model_catalogue()["time_decay"])
    np.testing.assert_allclose(credit.conversions, [1 / 3, 2 / 3], rtol=0, atol=1e-12)


def test_a_custom_model_of_zero_weights_splits_equally():
    settings = AttributionSettings(custom_first=0, custom_middle=0, custom_last=0)
    credit = attribute(Journeys.from_lists([["a", "b", "c"]], conversions=[3]), model_catalogue(settings)["custom"])
    np.testing.assert_allclose(credit.conversions, [1, 1, 1], rtol=0, atol=1e-12)


def test_repeated_channels_add_up_and_non_converting_journeys_give_nothing():
    journeys = Journeys.from_lists(
        [["email", "ads", "email"], ["ads"]], conversions=[1, 0], value=[300, 0], nulls=[0, 4]
    )
    credit = attribute(journeys, model_catalogue()["linear"])
    assert credit.channel_names == ["email", "ads"]
    np.testing.assert_allclose(credit.conversions, [2 / 3, 1 / 3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(credit.value, [200, 100], rtol=0, atol=1e-9)


def test_every_model_is_described_with_its_weights_and_short_journeys():
    catalogue = model_catalogue(AttributionSettings(half_life_days=10, markov_order=2))
    assert list(catalogue) == list(MODEL_KEYS)
    assert catalogue["u_shaped"].weights == "40% first touch, 40% last touch, 20% shared by the touches between."
    assert catalogue["u_shaped"].short_journeys == "One touch: 100%. Two touches: 50% / 50%."
    assert catalogue["time_decay"].settings == {"half_life_days": 10}
    assert catalogue["time_decay"].weights.startswith("A touch's weight halves for every 10 days")
    assert catalogue["markov"].settings == {"order": 2}
    assert catalogue["custom"].weights.startswith("30% first touch, 30% last touch, 40% shared")
    assert all(spec.weights and spec.short_journeys for spec in catalogue.values())


def test_unknown_models_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        attribute_all(five_touch_journey(), models=["nope"])
    with pytest.raises(ValueError, match="half_life_days"):
        AttributionSettings(half_life_days=0)
    with pytest.raises(ValueError, match="markov_order"):
        AttributionSettings(markov_order=4)


def test_journeys_refuse_offsets_that_do_not_match_the_touches():
    with pytest.raises(ValueError, match="offsets"):
        Journeys(
            channel=np.array([0, 1], dtype=np.int32),
            offsets=np.array([0, 1], dtype=np.int64),
            conversions=np.array([1.0]),
            value=np.array([0.0]),
            nulls=np.array([0.0]),
            channel_names=["a", "b"],
        )
