"""Reads of engagement: the channel rules in force, UTM data quality, sessions and timelines."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import yaml
from django.db.models import Count, Q

from tandem.contract.document import default_source
from tandem.engagement.channels import ChannelClassifier, ChannelRules, channel_rules_parse
from tandem.engagement.models import Touchpoint

RULES_CACHE_SECONDS = 30
SESSION_GAP = dt.timedelta(minutes=30)


def default_channels_section() -> dict:
    """The channels section of the contract a workspace starts with."""
    return yaml.safe_load(default_source())["channels"]


def channels_section() -> tuple[dict, int | None]:
    """The channels section in force and the contract version it comes from (None: the default)."""
    from tandem.contract.selectors import active_version

    try:
        version = active_version()
    except Exception:  # noqa: BLE001 - no contract yet: classify by the defaults
        return default_channels_section(), None
    section = (version.document or {}).get("channels")
    return (section, version.number) if section else (default_channels_section(), version.number)


class _ClassifierCache:
    """The classifier for the contract in force, read again at most every 30 seconds per process."""

    def __init__(self):
        self.read_at = -1e9
        self.version: int | None = -1
        self.classifier: ChannelClassifier | None = None

    def get(self) -> ChannelClassifier:
        if self.classifier is None or time.monotonic() - self.read_at > RULES_CACHE_SECONDS:
            section, version = channels_section()
            if self.classifier is None or version != self.version:
                self.classifier = ChannelClassifier(channel_rules_parse(section))
                self.version = version
            self.read_at = time.monotonic()
        return self.classifier

    def is_fresh(self, margin_seconds: float = 1) -> bool:
        """Whether `get` will answer from memory for at least `margin_seconds` more."""
        return self.classifier is not None and time.monotonic() - self.read_at < RULES_CACHE_SECONDS - margin_seconds

    def forget(self) -> None:
        self.read_at = -1e9
        self.classifier = None


classifier_cache = _ClassifierCache()


def channel_classifier() -> ChannelClassifier:
    """The classifier of the contract in force (cached per process for 30 seconds)."""
    return classifier_cache.get()


@dataclass
class TagProblem:
    """One UTM problem: what is wrong, with which value, and how many touchpoints have it."""

    kind: str  # missing, inconsistent, unknown
    field: str
    value: str
    touchpoints: int
    detail: str = ""


@dataclass
class UtmReport:
    """UTM data quality over a period: every problem found and the totals it is out of."""

    start: dt.datetime
    end: dt.datetime
    touchpoints: int = 0
    tagged: int = 0
    problems: list[TagProblem] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[TagProblem]:
        return [problem for problem in self.problems if problem.kind == kind]


def utm_problems(
    rows: list[tuple[str, str, str, int]], *, rules: ChannelRules, campaign_keys: set[str]
) -> list[TagProblem]:
    """The problems in grouped UTM tags: rows of (utm_source, utm_medium, utm_campaign, touchpoints).

    Missing: a source without a medium, a medium without a source, source and medium without a
    campaign. Inconsistent: one value written several ways (case, spaces, - and _). Unknown: a
    medium no channel rule names, a campaign tag no campaign has.
    """
    problems: list[TagProblem] = []
    missing: Counter = Counter()
    spellings: dict[tuple[str, str], Counter] = defaultdict(Counter)
    unknown_medium: Counter = Counter()
    unknown_campaign: Counter = Counter()
    known_media = rules.known_values("utm_medium")
    for source, medium, campaign, count in rows:
        if source and not medium:
            missing[("utm_medium", f"source {source}")] += count
        if medium and not source:
            missing[("utm_source", f"medium {medium}")] += count
        if source and medium and not campaign:
            missing[("utm_campaign", f"{source} / {medium}")] += count
        for name, value in (("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign)):
            if value:
                spellings[(name, value.strip().lower().replace("-", "_").replace(" ", "_"))][value] += count
        if medium and medium.strip().lower() not in known_media:
            unknown_medium[medium] += count
        if campaign and campaign.strip().lower() not in campaign_keys:
            unknown_campaign[campaign] += count
    for (name, value), count in missing.most_common():
        problems.append(TagProblem("missing", name, value, count, f"{name} is empty where {value} is set"))
    for (name, _key), forms in sorted(spellings.items()):
        if len(forms) > 1:
            written = ", ".join(f"'{form}' ({n})" for form, n in forms.most_common())
            problems.append(
                TagProblem("inconsistent", name, forms.most_common(1)[0][0], sum(forms.values()), f"written {written}")
            )
    for value, count in unknown_medium.most_common():
        problems.append(TagProblem("unknown", "utm_medium", value, count, "no channel rule names this medium"))
    for value, count in unknown_campaign.most_common():
        problems.append(TagProblem("unknown", "utm_campaign", value, count, "no campaign has this utm_campaign"))
    order = {"missing": 0, "inconsistent": 1, "unknown": 2}
    problems.sort(key=lambda problem: (order[problem.kind], -problem.touchpoints, problem.field, problem.value))
    return problems


def utm_report(*, start: dt.datetime, end: dt.datetime) -> UtmReport:
    """UTM data quality of the touchpoints that happened in [start, end)."""
    from tandem.campaigns.models import Campaign

    period = Touchpoint.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    report = UtmReport(start=start, end=end)
    report.touchpoints = period.count()
    tagged = period.filter(~Q(utm_source="") | ~Q(utm_medium="") | ~Q(utm_campaign=""))
    rows = list(tagged.values_list("utm_source", "utm_medium", "utm_campaign").annotate(n=Count("id")).order_by())
    report.tagged = sum(row[3] for row in rows)
    keys = set()
    for name, utm_campaign in Campaign.objects.values_list("name", "utm_campaign"):
        keys.add(name.strip().lower())
        if utm_campaign:
            keys.add(utm_campaign.strip().lower())
    section, _version = channels_section()
    report.problems = utm_problems(rows, rules=channel_rules_parse(section), campaign_keys=keys)
    return report


@dataclass
class Session:
    """Page views with no more than 30 minutes between one and the next."""

    started_at: dt.datetime
    ended_at: dt.datetime
    page_views: int
    first_url: str
    channel: str


def sessions_split(views: list[tuple[dt.datetime, str, str]], *, gap: dt.timedelta = SESSION_GAP) -> list[Session]:
    """Group page views (time, url, channel), in any order, into sessions: a gap over `gap` starts a new one."""
    sessions: list[Session] = []
    for moment, url, channel in sorted(views, key=lambda view: view[0]):
        if sessions and moment - sessions[-1].ended_at <= gap:
            sessions[-1].ended_at = moment
            sessions[-1].page_views += 1
        else:
            sessions.append(Session(moment, moment, 1, url, channel))
    return sessions


def person_sessions(*, person_id: int, limit: int = 5000) -> list[Session]:
    """A person's sessions of page views, newest first."""
    views = list(
        Touchpoint.objects.filter(person_id=person_id, type="page_view")
        .order_by("-occurred_at")
        .values_list("occurred_at", "url", "channel")[:limit]
    )
    return list(reversed(sessions_split(views)))


def snippet_html(*, key: str, base_url: str, consent_required: bool = False) -> str:
    """The script tag to paste into a website: Tandem's snippet with a write key."""
    from django.templatetags.static import static

    base = base_url.rstrip("/")
    consent = ' data-consent="required"' if consent_required else ""
    source = f"{base}{static('engagement/tandem.js')}"
    return f'<script src="{source}" data-key="{key}" data-endpoint="{base}"{consent} async></script>'


def write_keys():
    """The write keys, active first, with their allowed origins."""
    from tandem.integrations.models import ApiToken

    return ApiToken.objects.filter(is_write_key=True).order_by("revoked_at", "-created_at")
