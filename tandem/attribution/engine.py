"""Every attribution model by name, with its weights described, run on plain arrays (no database).

`model_catalogue(settings)` lists the models with the weights and settings each one uses, worded for the
page; `attribute(journeys, model)` gives one model's credit per channel; `attribute_all` runs several.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from tandem.attribution import heuristics
from tandem.attribution.journeys import Journeys
from tandem.attribution.markov import MAX_ORDER, markov_attribution

MODEL_KEYS = (
    "first_touch",
    "last_touch",
    "linear",
    "u_shaped",
    "w_shaped",
    "full_path",
    "time_decay",
    "j_shaped",
    "inverse_j",
    "custom",
    "markov",
)
HEURISTIC_KEYS = MODEL_KEYS[:-1]


@dataclass(frozen=True)
class AttributionSettings:
    """The settings of the models that have any; the contract's attribution section sets them."""

    half_life_days: float = 7.0
    custom_first: float = 0.3
    custom_middle: float = 0.4
    custom_last: float = 0.3
    markov_order: int = 1

    def __post_init__(self) -> None:
        if not self.half_life_days > 0:
            raise ValueError("half_life_days must be above 0")
        if min(self.custom_first, self.custom_middle, self.custom_last) < 0:
            raise ValueError("custom weights must not be negative")
        if not 1 <= self.markov_order <= MAX_ORDER:
            raise ValueError(f"markov_order must be 1 to {MAX_ORDER}")


@dataclass(frozen=True)
class ModelSpec:
    """One model: its key, its name, how it splits credit (worded for people) and its settings."""

    key: str
    label: str
    weights: str
    short_journeys: str
    settings: dict = field(default_factory=dict)


@dataclass
class ModelCredit:
    """One model's answer: conversions and value credited to each channel (same order as channel_names)."""

    model: ModelSpec
    channel_names: list[str]
    conversions: np.ndarray
    value: np.ndarray
    removal_effects: np.ndarray | None = None
    touch_weights: np.ndarray | None = None  # rule-based models: each touch's share of its journey

    def rows(self) -> list[dict]:
        """One row per channel: channel, conversions, value (and the removal effect for Markov)."""
        rows = []
        for index, name in enumerate(self.channel_names):
            row = {"channel": name, "conversions": float(self.conversions[index]), "value": float(self.value[index])}
            if self.removal_effects is not None:
                row["removal_effect"] = float(self.removal_effects[index])
            rows.append(row)
        return rows


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def model_catalogue(settings: AttributionSettings | None = None) -> dict[str, ModelSpec]:
    """Every model by key, worded for the page and the docs, with the settings in force."""
    settings = settings or AttributionSettings()
    two_touch = "One touch: 100%. Two touches: {}."
    custom_total = settings.custom_first + settings.custom_middle + settings.custom_last
    custom_pair = settings.custom_first + settings.custom_last
    custom_two = (
        f"{_percent(settings.custom_first / custom_pair)} / {_percent(settings.custom_last / custom_pair)}"
        if custom_pair > 0
        else "50% / 50%"
    )
    specs = [
        ModelSpec("first_touch", "First touch", "100% to the first touch.", "Any length: the first touch."),
        ModelSpec("last_touch", "Last touch", "100% to the last touch.", "Any length: the last touch."),
        ModelSpec("linear", "Linear", "Every touch an equal share.", "Any length: 1 / number of touches each."),
        ModelSpec(
            "u_shaped",
            "U-shaped",
            "40% first touch, 40% last touch, 20% shared by the touches between.",
            two_touch.format("50% / 50%"),
            {"first": 0.4, "middle": 0.2, "last": 0.4},
        ),
        ModelSpec(
            "w_shaped",
            "W-shaped",
            "30% first touch, 30% the middle touch, 30% last touch, 10% shared by the others.",
            two_touch.format("50% / 50%") + " Three touches: a third each.",
            {"key_touches": 3, "key_share": 0.3, "rest_share": 0.1},
        ),
        ModelSpec(
            "full_path",
            "Full path",
            "22.5% each to the first touch, the touches a third and two thirds of the way, and the last "
            "touch; 10% shared by the others.",
            two_touch.format("50% / 50%") + " Three touches: a third each. Four touches: a quarter each.",
            {"key_touches": 4, "key_share": 0.225, "rest_share": 0.1},
        ),
        ModelSpec(
            "time_decay",
            "Time decay",
            f"A touch's weight halves for every {settings.half_life_days:g} days before the conversion; "
            "weights scaled to add up to 100%.",
            "One touch: 100%. Path files without times: each step back counts as one day.",
            {"half_life_days": settings.half_life_days},
        ),
        ModelSpec(
            "j_shaped",
            "J-shaped",
            "20% first touch, 60% last touch, 20% shared by the touches between.",
            two_touch.format("25% / 75%"),
            {"first": 0.2, "middle": 0.2, "last": 0.6},
        ),
        ModelSpec(
            "inverse_j",
            "Inverse J",
            "60% first touch, 20% last touch, 20% shared by the touches between.",
            two_touch.format("75% / 25%"),
            {"first": 0.6, "middle": 0.2, "last": 0.2},
        ),
        ModelSpec(
            "custom",
            "Custom positions",
            f"{_percent(settings.custom_first / custom_total if custom_total else 0)} first touch, "
            f"{_percent(settings.custom_last / custom_total if custom_total else 0)} last touch, "
            f"{_percent(settings.custom_middle / custom_total if custom_total else 0)} shared by the touches "
            "between (the contract's weights, scaled to 100%).",
            two_touch.format(custom_two),
            {"first": settings.custom_first, "middle": settings.custom_middle, "last": settings.custom_last},
        ),
        ModelSpec(
            "markov",
            "Data-driven (Markov)",
            f"Order-{settings.markov_order} Markov chain over converting and non-converting journeys; each "
            "channel's credit is its removal effect's share, solved exactly from the absorbing chain.",
            "Journeys without touches are not attributed; repeated touches of one channel count as steps.",
            {"order": settings.markov_order},
        ),
    ]
    return {spec.key: spec for spec in specs}


def position_model_weights(position: np.ndarray, length: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Shares of touches at `position` of journeys of `length`, for a model that looks at positions only."""
    if spec.key == "first_touch":
        return heuristics.position_weights(position, length, first=1.0, middle=0.0, last=0.0)
    if spec.key == "last_touch":
        return heuristics.position_weights(position, length, first=0.0, middle=0.0, last=1.0)
    if spec.key == "linear":
        return heuristics.linear_weights(position, length)
    if spec.key in ("u_shaped", "j_shaped", "inverse_j", "custom"):
        shares = spec.settings
        return heuristics.position_weights(
            position, length, first=shares["first"], middle=shares["middle"], last=shares["last"]
        )
    if spec.key in ("w_shaped", "full_path"):
        shares = spec.settings
        return heuristics.key_touch_weights(
            position,
            length,
            key_share=shares["key_share"],
            rest_share=shares["rest_share"],
            key_count=shares["key_touches"],
        )
    raise ValueError(f"'{spec.key}' is not a position model")


def touch_weights(journeys: Journeys, spec: ModelSpec) -> np.ndarray:
    """Each touch's share of its journey under a rule-based model."""
    if spec.key == "time_decay":
        return heuristics.time_decay_weights(journeys, half_life_days=spec.settings["half_life_days"])
    if spec.key == "markov":
        raise ValueError("the Markov model gives credit per channel, not per touch")
    position, length = journeys.positions()
    return position_model_weights(position, length, spec)


def attribute(
    journeys: Journeys,
    spec: ModelSpec,
    *,
    keep_touch_weights: bool = False,
    cells: heuristics.PositionCells | None = None,
) -> ModelCredit:
    """One model's credit per channel; `cells` (of these journeys) spares position models the per-touch work."""
    if spec.key == "markov":
        result = markov_attribution(journeys, order=spec.settings["order"])
        return ModelCredit(spec, journeys.channel_names, result.conversions, result.value, result.removal_effects)
    if cells is not None and spec.key != "time_decay" and not keep_touch_weights:
        conversions, value = cells.credit(position_model_weights(cells.position, cells.length, spec))
        return ModelCredit(spec, journeys.channel_names, conversions, value)
    weights = touch_weights(journeys, spec)
    conversions, value = heuristics.credit_from_weights(journeys, weights)
    return ModelCredit(
        spec, journeys.channel_names, conversions, value, touch_weights=weights if keep_touch_weights else None
    )


def attribute_all(
    journeys: Journeys, *, settings: AttributionSettings | None = None, models: Iterable[str] | None = None
) -> list[ModelCredit]:
    """Several models' credit (all of them by default), in catalogue order."""
    catalogue = model_catalogue(settings)
    keys = list(models) if models is not None else list(catalogue)
    unknown = [key for key in keys if key not in catalogue]
    if unknown:
        raise ValueError(f"unknown model '{unknown[0]}'; the models are {', '.join(catalogue)}")
    position_models = [key for key in keys if key not in ("time_decay", "markov")]
    cells = (
        heuristics.PositionCells(journeys)
        if len(position_models) > 1 and heuristics.PositionCells.fits(journeys)
        else None
    )
    return [attribute(journeys, catalogue[key], cells=cells) for key in keys]
