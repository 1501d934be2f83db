"""Channels: which marketing or sales channel a touchpoint came through, by the contract's rules.

The contract's `channels` section lists named referrer groups (search engines, social networks)
and rules tried in order; the first rule whose every condition holds gives the channel:

    channels:
      referrer_groups:
        search_engines: [google., bing.com, duckduckgo.com]
      rules:
        - {channel: paid_search, utm_medium: [cpc, ppc]}
        - {channel: organic_search, referrer: search_engines}
        - {channel: referral, referrer: any}
      default: direct

A rule may test `utm_medium`, `utm_source` (lists of values, compared ignoring case and
surrounding spaces), `type` (touchpoint types) and `referrer` (a group name, a list of host
parts, `any` for any outside referrer or `none` for no referrer). Classification works on plain
strings, memoised per distinct input, so a batch of events costs a dictionary lookup per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

CHANNELS = (
    "organic_search",
    "paid_search",
    "organic_social",
    "paid_social",
    "email",
    "referral",
    "direct",
    "events",
    "partner",
    "outbound_sales",
    "content",
)
RULE_KEYS = ("channel", "utm_medium", "utm_source", "type", "referrer")
REFERRER_SPECIAL = ("any", "none")


@dataclass(frozen=True)
class ChannelRule:
    """One rule: a channel and the conditions that must all hold for it."""

    channel: str
    utm_medium: frozenset[str] | None = None
    utm_source: frozenset[str] | None = None
    types: frozenset[str] | None = None
    referrer: str | tuple[str, ...] | None = None  # "any", "none", or host parts


@dataclass(frozen=True)
class ChannelRules:
    """The parsed `channels` section: rules in order and the channel when none matches."""

    rules: tuple[ChannelRule, ...]
    default: str = "direct"
    own_hosts: tuple[str, ...] = field(default=())

    def known_values(self, key: str) -> frozenset[str]:
        """Every value some rule names for `utm_medium` or `utm_source`."""
        values: set[str] = set()
        for rule in self.rules:
            values |= getattr(rule, key) or set()
        return frozenset(values)


def _normalise(value: str) -> str:
    return value.strip().lower()


def referrer_host(referrer: str) -> str:
    """The host of a referrer URL, lower case, without a leading www."""
    if not referrer:
        return ""
    try:
        host = urlsplit(referrer if "//" in referrer else f"//{referrer}").hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _host_matches(host: str, parts: tuple[str, ...]) -> bool:
    for part in parts:
        if part.endswith("."):  # "google." matches google.com, google.co.uk, news.google.de
            if host.startswith(part) or f".{part}" in f".{host}":
                return True
        elif host == part or host.endswith(f".{part}"):
            return True
    return False


def channel_rules_parse(section: Any) -> ChannelRules:
    """The `channels` section as rules; the section must have passed `check_channels`."""
    section = section or {}
    groups = {
        name: tuple(_normalise(str(part)) for part in parts)
        for name, parts in (section.get("referrer_groups") or {}).items()
    }
    rules = []
    for item in section.get("rules") or []:
        referrer = item.get("referrer")
        if isinstance(referrer, str):
            referrer = referrer if referrer in REFERRER_SPECIAL else groups.get(referrer, (_normalise(referrer),))
        elif isinstance(referrer, list):
            referrer = tuple(_normalise(str(part)) for part in referrer)

        def values(key, item=item):
            raw = item.get(key)
            return frozenset(_normalise(str(value)) for value in raw) if raw is not None else None

        rules.append(
            ChannelRule(
                channel=item["channel"],
                utm_medium=values("utm_medium"),
                utm_source=values("utm_source"),
                types=values("type"),
                referrer=referrer,
            )
        )
    own_hosts = tuple(_normalise(str(host)) for host in section.get("own_hosts") or ())
    return ChannelRules(rules=tuple(rules), default=section.get("default") or "direct", own_hosts=own_hosts)


class ChannelClassifier:
    """Classifies touchpoints by one set of rules, remembering the answer for each distinct input."""

    def __init__(self, rules: ChannelRules):
        self.rules = rules
        self.classify = lru_cache(maxsize=50_000)(self._classify)

    def _classify(self, type_: str, utm_source: str, utm_medium: str, referrer: str) -> str:
        source, medium = _normalise(utm_source), _normalise(utm_medium)
        host = referrer_host(referrer)
        if host and self.rules.own_hosts and _host_matches(host, self.rules.own_hosts):
            host = ""  # moving between one's own pages is not a referral
        for rule in self.rules.rules:
            if rule.types is not None and type_ not in rule.types:
                continue
            if rule.utm_medium is not None and medium not in rule.utm_medium:
                continue
            if rule.utm_source is not None and source not in rule.utm_source:
                continue
            if rule.referrer is not None:
                if rule.referrer == "any":
                    if not host:
                        continue
                elif rule.referrer == "none":
                    if host:
                        continue
                elif not host or not _host_matches(host, rule.referrer):
                    continue
            return rule.channel
        return self.rules.default


def check_channels(section: Any, path: tuple, report, document: dict) -> None:
    """Report every problem of a `channels` section at its path (a contract section check)."""
    if not isinstance(section, dict):
        report(path, "expected a mapping with referrer_groups, rules and default.")
        return
    for key in section:
        if key not in ("referrer_groups", "rules", "default", "own_hosts"):
            report((*path, key), "unknown key; expected referrer_groups, rules, default or own_hosts.")
    groups = section.get("referrer_groups") or {}
    if not isinstance(groups, dict):
        report((*path, "referrer_groups"), "expected a mapping of group name to a list of host parts.")
        groups = {}
    for name, parts in groups.items():
        if not isinstance(parts, list) or not all(isinstance(part, str) and part.strip() for part in parts):
            report((*path, "referrer_groups", str(name)), "expected a list of host parts such as google. or t.co.")
    own_hosts = section.get("own_hosts")
    if own_hosts is not None and (not isinstance(own_hosts, list) or not all(isinstance(h, str) for h in own_hosts)):
        report((*path, "own_hosts"), "expected a list of your own site's hosts.")
    default = section.get("default", "direct")
    if default not in CHANNELS:
        report((*path, "default"), f"unknown channel '{default}'; the channels are {', '.join(CHANNELS)}.")
    rules = section.get("rules")
    if not isinstance(rules, list):
        report((*path, "rules"), "expected a list of rules, each with a channel and conditions.")
        return
    from tandem.engagement.models import TouchpointType

    types = set(TouchpointType.values)
    for index, rule in enumerate(rules):
        where = (*path, "rules", index)
        if not isinstance(rule, dict):
            report(where, "expected a mapping with a channel and conditions.")
            continue
        for key in rule:
            if key not in RULE_KEYS:
                report((*where, key), f"unknown key; a rule has {', '.join(RULE_KEYS)}.")
        if rule.get("channel") not in CHANNELS:
            report(
                (*where, "channel"), f"unknown channel '{rule.get('channel')}'; the channels are {', '.join(CHANNELS)}."
            )
        for key in ("utm_medium", "utm_source", "type"):
            if key in rule and (not isinstance(rule[key], list) or not all(isinstance(v, str) for v in rule[key])):
                report((*where, key), "expected a list of values.")
        for value in rule.get("type") or []:
            if isinstance(value, str) and value not in types:
                report((*where, "type"), f"unknown touchpoint type '{value}'.")
        referrer = rule.get("referrer")
        if isinstance(referrer, str) and referrer not in REFERRER_SPECIAL and referrer not in groups:
            report((*where, "referrer"), f"'{referrer}' is neither any, none nor a referrer group of this section.")
        elif referrer is not None and not isinstance(referrer, str | list):
            report((*where, "referrer"), "expected any, none, a referrer group's name or a list of host parts.")
