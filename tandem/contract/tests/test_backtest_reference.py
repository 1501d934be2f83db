"""The fast backtest gives exactly what scoring everyone at every checkpoint gives, on a varied history.

The history is random but fixed (a seed): touchpoints of every scored kind, some on a checkpoint to
the microsecond, some sharing a moment, some before the lookback or after the end; stage paths
through MQL to customer, rejections with reasons (blank, padded), people recycled who come back,
people with no stage history and people created after the end.
"""

import datetime as dt
import random

import pytest

from tandem.campaigns.models import Campaign
from tandem.contract.backtest import LOOKBACK_DAYS, contract_backtest
from tandem.contract.document import default_source, parse_source
from tandem.contract.models import ContractVersion
from tandem.contract.tests.backtest_reference import reference_backtest
from tandem.crm.models import StageChange
from tandem.crm.tests.factories import make_account, make_person
from tandem.engagement.models import Touchpoint

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
START = NOW - dt.timedelta(days=365)
CHECKPOINTS = [START + dt.timedelta(days=7 * (index + 1)) for index in range(52)] + [NOW]
REASONS = ["Hand-off rejected: No budget", "  Hand-off rejected: Bad timing  ", "", "Duplicate"]
EXTRA_RULES = """    - {name: Meeting booked, touchpoint: meeting_booked, points: 40}
    - {name: Q3 webinar, touchpoint: webinar, campaign: q3 webinar, points: 20, cap: 20}
    - {name: Unsubscribed, touchpoint: email_click, properties: {action: unsubscribe}, points: -30, cap: 30}"""


def _version(number: int, *changes: tuple[str, str]) -> ContractVersion:
    source = default_source()
    for old, new in changes:
        assert old in source
        source = source.replace(old, new)
    document, problems = parse_source(source)
    assert not problems, problems
    return ContractVersion(number=number, source=source, document=document, problems=[])


DEFAULT = _version(1)
EASIER = _version(
    2,
    ("fit_score_at_least: 60", "fit_score_at_least: 50"),
    ("engagement_score_at_least: 40", "engagement_score_at_least: 25"),
    ("    - {name: Meeting booked, touchpoint: meeting_booked, points: 40}", EXTRA_RULES),
)
WINDOW = _version(
    3,
    ("decay: {half_life_days: 30}", "decay: {window_days: 45}"),
    ("engagement_score_at_least: 40", "engagement_score_at_least: 30"),
)
SHORT_WINDOW = _version(
    4,
    ("decay: {half_life_days: 30}", "decay: {window_days: 5}"),
    ("engagement_score_at_least: 40", "engagement_score_at_least: 30"),
)
SEGMENTS = _version(
    5,
    ("engagement_score_at_least: 40", "engagement_score_at_least: 0"),
    (
        "  from_stages: [subscriber, lead, recycled]",
        "  from_stages: [subscriber, lead, recycled]\n"
        "  when: 'not email ends with \"@gmail.com\"'\n"
        "  segments:\n"
        "    - {name: Big, when: 'account.employee_count between 1000 and 5000', fit_score_at_least: 40,"
        " engagement_score_at_least: 20}",
    ),
)
FAST_DECAY = _version(
    6,
    ("decay: {half_life_days: 30}", "decay: {half_life_days: 3}"),
    ("engagement_score_at_least: 40", "engagement_score_at_least: 20"),
    ("    - {name: Meeting booked, touchpoint: meeting_booked, points: 40}", EXTRA_RULES),
)

STEPS = [("sal", "mql"), ("sql", "sal"), ("opportunity", "sql"), ("customer", "opportunity")]
ANY_FIT = _version(7, ("fit_score_at_least: 60", "fit_score_at_least: 0"))
KINDS = [
    ("form_submit", ""),
    ("page_view", "https://acme.example/pricing"),
    ("page_view", "https://acme.example/Pricing?plan=team"),
    ("page_view", "https://acme.example/careers"),
    ("page_view", "https://acme.example/product/a"),
    ("webinar", ""),
    ("email_click", ""),
    ("email_open", ""),
    ("meeting_booked", ""),
    ("content_download", ""),
    ("email_sent", ""),
]


def _moment(rng: random.Random, low: dt.datetime, high: dt.datetime) -> dt.datetime:
    roll = rng.random()
    if roll < 0.2:
        return rng.choice(CHECKPOINTS)  # on a checkpoint to the microsecond
    return low + (high - low) * rng.random()


def _change(person, from_stage, to_stage, at, reason="") -> None:
    StageChange.objects.create(
        person=person,
        from_stage_id=from_stage,
        to_stage_id=to_stage,
        at=at,
        actor_type="system",
        actor_label="Test",
        reason=reason,
    )


@pytest.fixture
def varied_history(db):
    rng = random.Random(20261101)
    webinars = [
        Campaign.objects.create(name=name, channel="webinar", created_at=NOW, updated_at=NOW)
        for name in ("Q3 Webinar ", "Partner webinar")
    ]
    accounts = [
        make_account(name=name, domain=f"{name.lower()}.com", industry=industry, employee_count=size, region=region)
        for name, industry, size, region in (
            ("Acme", "Software", 500, "North America"),
            ("Globex", "Financial services", 3000, "EMEA"),
            ("Initech", "Retail", 40, "APAC"),
        )
    ]
    titles = ["VP Marketing", "Head of Growth", "Analyst", "Director of Sales", "Intern"]
    touchpoints = []
    for number in range(120):
        created = NOW - dt.timedelta(days=rng.uniform(-20, 500))  # a few after the end
        person = make_person(
            email=f"person{number}@{rng.choice(['acme.com', 'gmail.com', 'globex.com'])}",
            account=rng.choice([*accounts, None]),
            title=rng.choice(titles),
            buying_role=rng.choice(["", "Champion", "Decision maker"]),
            at=created,
        )
        # Most people's touchpoints bunch around one moment, as a buying journey does; sales follows.
        burst = NOW - dt.timedelta(days=rng.uniform(0, 450))
        if rng.random() < 0.1:
            StageChange.objects.filter(person=person).delete()  # no stage history at all
        elif rng.random() < 0.8:
            at = rng.choice(CHECKPOINTS) if rng.random() < 0.2 else burst + dt.timedelta(days=rng.uniform(0, 30))
            _change(person, "lead", "mql", at)
            for stage, previous in STEPS:
                if rng.random() < 0.25:
                    _change(person, previous, rng.choice(["recycled", "disqualified"]), at, rng.choice(REASONS))
                    if rng.random() < 0.5:
                        at += dt.timedelta(days=rng.uniform(0, 90))
                        _change(person, "recycled", "lead", at)
                    break
                if rng.random() < 0.15:
                    break
                at += dt.timedelta(days=rng.choice([0, 0, rng.uniform(0, 40)]))
                _change(person, previous, stage, at)
        for _ in range(rng.randint(0, 30)):
            kind, url = rng.choice(KINDS)
            if rng.random() < 0.6:
                occurred = burst + dt.timedelta(days=rng.uniform(-20, 20))
            else:
                occurred = _moment(rng, START - dt.timedelta(days=LOOKBACK_DAYS + 30), NOW + dt.timedelta(days=10))
            properties = {"action": "unsubscribe"} if kind == "email_click" and rng.random() < 0.3 else {}
            campaign = rng.choice(webinars) if kind == "webinar" else None
            copies = 2 if rng.random() < 0.1 else 1  # two touchpoints at the same moment
            touchpoints += [
                Touchpoint(
                    person=person, type=kind, url=url, campaign=campaign, properties=properties, occurred_at=occurred
                )
                for _ in range(copies)
            ]
    Touchpoint.objects.bulk_create(touchpoints)


def _same(fast, slow) -> None:
    assert (fast.start, fast.end, fast.months) == (slow.start, slow.end, slow.months)
    assert (fast.people, fast.touchpoints) == (slow.people, slow.touchpoints)
    for side in ("current", "proposed"):
        mine, theirs = getattr(fast, side), getattr(slow, side)
        assert mine.version == theirs.version
        assert mine.mqls == theirs.mqls, side
        assert mine.reached == theirs.reached, side
        assert (mine.rejected, mine.reasons) == (theirs.rejected, theirs.reasons), side
        assert mine.by_month == theirs.by_month, side
        assert list(mine.by_month) == list(theirs.by_month), side


@pytest.mark.parametrize(
    ("current", "proposed"),
    [(DEFAULT, EASIER), (WINDOW, SHORT_WINDOW), (SEGMENTS, FAST_DECAY), (ANY_FIT, DEFAULT)],
    ids=["half-life", "windows", "segments-and-fast-decay", "any-fit"],
)
def test_the_backtest_matches_scoring_everyone_at_every_checkpoint(varied_history, current, proposed):
    fast = contract_backtest(proposed=proposed, current=current, months=12, end=NOW)
    slow = reference_backtest(proposed=proposed, current=current, months=12, end=NOW)
    _same(fast, slow)
    assert slow.current.mqls and slow.proposed.mqls
    assert slow.current.mqls != slow.proposed.mqls


def test_the_history_holds_what_the_comparison_needs(varied_history):
    fast = contract_backtest(proposed=EASIER, current=DEFAULT, months=12, end=NOW)
    assert fast.proposed.rejected and fast.proposed.reached.get("customer")
    assert "no reason given" in dict(fast.proposed.reasons)


def test_a_shorter_window_replays_fewer_months(varied_history):
    fast = contract_backtest(proposed=EASIER, current=DEFAULT, months=3, end=NOW)
    _same(fast, reference_backtest(proposed=EASIER, current=DEFAULT, months=3, end=NOW))
    assert set(fast.proposed.by_month) <= {"2026-08", "2026-09", "2026-10", "2026-11"}
