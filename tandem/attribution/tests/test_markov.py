"""The Markov model: removal effects solved from the absorbing chain, against hand-computed answers."""

import numpy as np
import pytest

from tandem.attribution.journeys import Journeys
from tandem.attribution.markov import markov_attribution


def published_example() -> Journeys:
    """start>c1>c2>c3>conversion, start>c1>null, start>c2>c3>null."""
    return Journeys.from_lists([["c1", "c2", "c3"], ["c1"], ["c2", "c3"]], conversions=[1, 0, 0], value=[100, 0, 0])


def test_the_published_three_path_example():
    result = markov_attribution(published_example())
    assert result.conversion_probability == pytest.approx(1 / 3, abs=1e-12)
    np.testing.assert_allclose(result.removal_effects, [0.5, 1.0, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.conversions, [0.2, 0.4, 0.4], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.value, [20, 40, 40], rtol=0, atol=1e-9)
    assert (result.states, result.transitions) == (3, 2)


def test_removal_effects_of_a_second_hand_computed_chain():
    # start->a 1, start->b 2, a->b 1, b->conversion 2, b->null 1: P = 2/3.
    # Without a: 2/3 * 2/3 = 4/9, effect 1/3; without b: 0, effect 1. Credit 1/4 and 3/4 of 2 conversions.
    journeys = Journeys.from_lists([["a", "b"], ["b"]], conversions=[1, 1], value=[30, 90], nulls=[0, 1])
    result = markov_attribution(journeys)
    assert result.conversion_probability == pytest.approx(2 / 3, abs=1e-12)
    np.testing.assert_allclose(result.removal_effects, [1 / 3, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.conversions, [0.5, 1.5], rtol=0, atol=1e-12)
    # Value: b's expected value next is 120/3 = 40; from start 40. Without a: 2/3 * 40 = 80/3, effect 1/3.
    np.testing.assert_allclose(result.value_removal_effects, [1 / 3, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.value, [30, 90], rtol=0, atol=1e-9)


def test_a_higher_order_remembers_where_a_journey_came_from():
    # a>b converts, c>b does not. Order 1 cannot tell the two b's apart; order 2 can.
    journeys = Journeys.from_lists([["a", "b"], ["c", "b"]], conversions=[1, 0], value=[10, 0])
    first = markov_attribution(journeys, order=1)
    np.testing.assert_allclose(first.removal_effects, [0.5, 1.0, 0.5], rtol=0, atol=1e-12)
    np.testing.assert_allclose(first.conversions, [0.25, 0.5, 0.25], rtol=0, atol=1e-12)
    second = markov_attribution(journeys, order=2)
    np.testing.assert_allclose(second.removal_effects, [1.0, 1.0, 0.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(second.conversions, [0.5, 0.5, 0.0], rtol=0, atol=1e-12)
    assert second.states == 4


def test_order_three_on_the_published_example_needs_every_channel_of_the_converting_path():
    result = markov_attribution(published_example(), order=3)
    np.testing.assert_allclose(result.removal_effects, [1.0, 1.0, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.conversions, [1 / 3, 1 / 3, 1 / 3], rtol=0, atol=1e-12)


def test_a_channel_repeated_in_a_row_does_not_change_order_one_removal_effects():
    looped = Journeys.from_lists(
        [["c1", "c1", "c2", "c3", "c3"], ["c1"], ["c2", "c3"]], conversions=[1, 0, 0], value=[100, 0, 0]
    )
    np.testing.assert_allclose(markov_attribution(looped).removal_effects, [0.5, 1.0, 1.0], rtol=0, atol=1e-12)


def test_journeys_without_touches_or_conversions_give_no_credit():
    journeys = Journeys.from_lists([[], ["a"]], conversions=[3, 0], value=[10, 0], nulls=[0, 5])
    result = markov_attribution(journeys)
    assert result.conversion_probability == 0.0
    assert result.conversions.tolist() == [0.0]
    assert result.removal_effects.tolist() == [0.0]


def test_orders_outside_one_to_three_are_refused():
    with pytest.raises(ValueError, match="order must be 1 to 3, got 4"):
        markov_attribution(published_example(), order=4)
