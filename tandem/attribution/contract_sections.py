"""The contract's attribution section: the lookback window and the settings of the models.

    attribution:
      lookback_days: 90          # touches this many days before a conversion count towards it
      default_model: w_shaped    # what the attribution page shows first
      time_decay: {half_life_days: 7}
      custom_weights: {first: 0.3, middle: 0.4, last: 0.3}
      markov: {order: 1}

Every entry is optional; a missing one takes the default above. The contract app checks the section
with `check_attribution` (registered in apps.py), so a bad value is refused at its path and line.
"""

from dataclasses import dataclass, field
from typing import Any

from tandem.attribution.engine import MODEL_KEYS, AttributionSettings
from tandem.attribution.markov import MAX_ORDER

DEFAULT_LOOKBACK_DAYS = 90
DEFAULT_MODEL = "w_shaped"
MAX_LOOKBACK_DAYS = 3650
ENTRIES = ("lookback_days", "default_model", "time_decay", "custom_weights", "markov")


@dataclass(frozen=True)
class AttributionPolicy:
    """What the contract says about attribution, with the defaults filled in."""

    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    default_model: str = DEFAULT_MODEL
    settings: AttributionSettings = field(default_factory=AttributionSettings)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _problems(section: Any) -> list[tuple[tuple, str]]:
    found: list[tuple[tuple, str]] = []
    if not isinstance(section, dict):
        return [((), f"expected a mapping with {', '.join(ENTRIES)}.")]
    for name in section:
        if name not in ENTRIES:
            found.append(((str(name),), f"unknown entry; expected one of {', '.join(ENTRIES)}."))
    lookback = section.get("lookback_days", DEFAULT_LOOKBACK_DAYS)
    if not (isinstance(lookback, int) and not isinstance(lookback, bool) and 1 <= lookback <= MAX_LOOKBACK_DAYS):
        found.append(
            (("lookback_days",), f"expected a whole number of days from 1 to {MAX_LOOKBACK_DAYS}, got {lookback!r}.")
        )
    model = section.get("default_model", DEFAULT_MODEL)
    if model not in MODEL_KEYS:
        found.append((("default_model",), f"expected one of {', '.join(MODEL_KEYS)}, got {model!r}."))
    decay = section.get("time_decay", {})
    if not isinstance(decay, dict) or set(decay) - {"half_life_days"}:
        found.append((("time_decay",), "expected a mapping with half_life_days."))
    elif "half_life_days" in decay and not (
        _is_number(decay["half_life_days"]) and 0 < decay["half_life_days"] <= 3650
    ):
        found.append(
            (("time_decay", "half_life_days"), f"expected a number of days above 0, got {decay['half_life_days']!r}.")
        )
    weights = section.get("custom_weights", {})
    if not isinstance(weights, dict) or set(weights) - {"first", "middle", "last"}:
        found.append((("custom_weights",), "expected a mapping with first, middle and last."))
    else:
        for name, value in weights.items():
            if not (_is_number(value) and value >= 0):
                found.append((("custom_weights", name), f"expected a weight of 0 or more, got {value!r}."))
    markov = section.get("markov", {})
    if not isinstance(markov, dict) or set(markov) - {"order"}:
        found.append((("markov",), "expected a mapping with order."))
    elif "order" in markov and markov["order"] not in range(1, MAX_ORDER + 1):
        found.append((("markov", "order"), f"expected 1 to {MAX_ORDER}, got {markov['order']!r}."))
    return found


def check_attribution(section: Any, path: tuple, report, document: dict) -> None:
    """Report every problem of the attribution section at its path."""
    for inner, message in _problems(section):
        report((*path, *inner), message)


def attribution_policy(document: dict | None) -> AttributionPolicy:
    """The policy of a contract document; defaults where the document says nothing (or is not valid)."""
    section = (document or {}).get("attribution")
    if section is None or _problems(section):
        return AttributionPolicy()
    decay = section.get("time_decay", {})
    weights = section.get("custom_weights", {})
    defaults = AttributionSettings()
    return AttributionPolicy(
        lookback_days=section.get("lookback_days", DEFAULT_LOOKBACK_DAYS),
        default_model=section.get("default_model", DEFAULT_MODEL),
        settings=AttributionSettings(
            half_life_days=float(decay.get("half_life_days", defaults.half_life_days)),
            custom_first=float(weights.get("first", defaults.custom_first)),
            custom_middle=float(weights.get("middle", defaults.custom_middle)),
            custom_last=float(weights.get("last", defaults.custom_last)),
            markov_order=int(section.get("markov", {}).get("order", defaults.markov_order)),
        ),
    )
