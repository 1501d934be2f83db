"""Generate a believable B2B software company for demos and benchmarks.

`demo_generate` is a loader, like an importer: it writes with bulk_create in batches and streams
people through in batches so that a million of them load in bounded memory. Everything random
comes from one `random.Random(seed)` and seeded Faker instances, and every timestamp is derived
from `now`, so the same seed and `now` give the same data.
"""

import datetime as dt
import math
import random
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone
from faker import Faker

from tandem.audit.actors import Actor, ActorType
from tandem.audit.models import AuditEntry
from tandem.campaigns.models import Campaign, CampaignMember, Channel, MemberStatus
from tandem.crm.models import (
    Account,
    AccountDomain,
    AccountMatch,
    Activity,
    ActivityKind,
    LifecycleStage,
    LifecycleTransition,
    MatchMethod,
    Opportunity,
    OpportunityStage,
    OpportunityStageChange,
    Person,
    StageChange,
)
from tandem.demo.vocabulary import (
    AE_TERRITORIES,
    BUYING_ROLES,
    CAMPAIGNS,
    CHURN_REASONS,
    DEMO_USERS,
    DISQUALIFY_REASONS,
    EVENTS,
    FREE_MAIL,
    INDUSTRIES,
    LEGAL_SUFFIXES,
    LOST_REASONS,
    NAME_CORES,
    NAME_PREFIXES,
    OPPORTUNITY_STAGE_NOTES,
    PAID_SEARCH_TERMS,
    QUALIFY_REASONS,
    RECYCLE_REASONS,
    REGIONS,
    SITE_PAGES,
    TITLES,
    WEBINARS,
)
from tandem.engagement.models import Touchpoint, TouchpointType
from tandem.lib.bulk_insert import BulkInserter
from tandem.scoring.models import PersonScore
from tandem.users.models import Role, Side, Team, User

DEMO_PASSWORD = "tandem-demo"  # noqa: S105 - published sign-in for demo users
DEMO_EMAIL_DOMAIN = "demo.tandem.test"
WEBSITE = "https://demo.tandem.test"
BATCH_SIZE = 5000

Progress = Callable[[str, int, int], None]
_FAKERS: dict[str, Faker] = {}


class DemoRefusedError(Exception):
    """The database is not empty, so demo data would mix with real records."""


ENGAGEMENT_POINTS = {
    TouchpointType.PAGE_VIEW: 2,
    TouchpointType.EMAIL_OPEN: 1,
    TouchpointType.EMAIL_CLICK: 4,
    TouchpointType.FORM_SUBMIT: 10,
    TouchpointType.CONTENT_DOWNLOAD: 8,
    TouchpointType.WEBINAR: 15,
    TouchpointType.EVENT: 15,
    TouchpointType.AD_CLICK: 3,
    TouchpointType.CHAT: 6,
    TouchpointType.MEETING_BOOKED: 20,
}
MEMBER_STATUS_RANK = {
    MemberStatus.TARGETED: 0,
    MemberStatus.SENT: 1,
    MemberStatus.REGISTERED: 2,
    MemberStatus.RESPONDED: 3,
    MemberStatus.ATTENDED: 4,
}
# version, starts at this share of the window, fit threshold, engagement threshold
CONTRACT_VERSIONS = [(1, 0.0, 60, 40), (2, 0.4, 60, 45), (3, 0.75, 65, 40)]
MAIN_OPPORTUNITY_STAGES = ["discovery", "qualification", "solution", "proposal", "negotiation"]
COMPANY_TITLES = [title for title in TITLES if title[2] != "Other"]
OTHER_TITLES = [title for title in TITLES if title[2] == "Other"]


def _weighted(rng: random.Random, pairs):
    """Pick the first element of one (value, weight, ...) tuple, by weight."""
    total = sum(pair[1] for pair in pairs)
    point = rng.random() * total
    for pair in pairs:
        point -= pair[1]
        if point < 0:
            return pair
    return pairs[-1]


def _ascii_slug(text: str) -> str:
    text = text.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("ł", "l")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z]+", "", text)


def _clamp(value: float, low: int = 0, high: int = 100) -> int:
    return int(max(low, min(high, round(value))))


def _deal_amount(value: float) -> Decimal:
    """Deals are priced in steps of 500, between 5k and 250k."""
    return Decimal(min(250_000, max(5_000, round(value / 500) * 500)))


def _default_now() -> dt.datetime:
    today = timezone.now().astimezone(dt.UTC).date()
    return dt.datetime.combine(today, dt.time.min, tzinfo=dt.UTC)


# ---------------------------------------------------------------- plans held during a load


@dataclass
class _Account:
    id: int
    name: str
    domain: str
    industry: str
    employee_count: int
    region: str
    country: str
    utc_offset: int
    locale: str
    owner_id: int | None
    icp_tier: int | None
    is_target_account: bool
    created_at: dt.datetime


@dataclass
class _Campaign:
    id: int
    name: str
    kind: str
    channel: str
    start: dt.datetime
    end: dt.datetime
    utm_source: str
    utm_medium: str
    utm_campaign: str
    asset: str = ""


@dataclass
class _Batch:
    """Rows of one batch of people, written together and then dropped."""

    people: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    matches: list = field(default_factory=list)
    stage_changes: list = field(default_factory=list)
    opportunities: list = field(default_factory=list)
    opportunity_stage_changes: list = field(default_factory=list)
    members: list = field(default_factory=list)
    touchpoints: list = field(default_factory=list)
    activities: list = field(default_factory=list)


class _Generator:
    """Holds the random streams, reference data and counters of one demo load."""

    def __init__(
        self,
        *,
        seed,
        people,
        accounts,
        months,
        now,
        touchpoints_per_person,
        activities_per_person,
        batch_size,
        progress,
    ):
        self.rng = random.Random(seed)
        self.seed = seed
        self.people_total = people
        self.accounts_total = accounts
        self.now = now
        self.start = now - dt.timedelta(days=round(months * 30.44))
        self.span_seconds = (now - self.start).total_seconds()
        self.touchpoints_per_person = touchpoints_per_person
        self.activity_scale = activities_per_person / 2.0
        self.batch_size = batch_size
        self.progress = progress or (lambda step, done, total: None)
        self.fakers: dict[str, Faker] = {}
        self.writer = BulkInserter()
        self.counts = dict.fromkeys(
            [
                "users",
                "teams",
                "accounts",
                "account_domains",
                "account_matches",
                "campaigns",
                "people",
                "person_scores",
                "stage_changes",
                "opportunities",
                "opportunities_won",
                "opportunities_lost",
                "opportunity_stage_changes",
                "campaign_members",
                "touchpoints",
                "activities",
            ],
            0,
        )
        self.stage_counts: dict[str, int] = {}

    # ------------------------------------------------------------ helpers

    def faker(self, locale: str) -> Faker:
        """A Faker for the locale, seeded from the load's seed when first used in this load."""
        if locale not in self.fakers:
            if locale not in _FAKERS:
                _FAKERS[locale] = Faker(locale)  # slow to build, so kept for the next load
            fake = _FAKERS[locale]
            fake.seed_instance(self.seed * 1000 + len(self.fakers))
            self.fakers[locale] = fake
        return self.fakers[locale]

    def moment(self, share: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.span_seconds * share)

    def work_time(self, after: dt.datetime, days: float, utc_offset: int) -> dt.datetime:
        """A moment `days` after `after`, moved into working hours on a weekday, local time."""
        local = after + dt.timedelta(days=days, hours=utc_offset)
        day = local.date()
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        clock = dt.time(self.rng.randint(8, 17), self.rng.randrange(60), self.rng.randrange(60))
        result = dt.datetime.combine(day, clock, tzinfo=dt.UTC) - dt.timedelta(hours=utc_offset)
        if result <= after:
            result = after + dt.timedelta(minutes=self.rng.randint(10, 180))
        return result

    def any_time(self, after: dt.datetime, days: float) -> dt.datetime:
        return after + dt.timedelta(days=days, seconds=self.rng.randint(60, 3600))

    def contract_at(self, moment: dt.datetime):
        share = (moment - self.start).total_seconds() / self.span_seconds
        current = CONTRACT_VERSIONS[0]
        for version in CONTRACT_VERSIONS:
            if share >= version[1]:
                current = version
        return current

    # ------------------------------------------------------------ reference data

    def load_reference(self) -> None:
        self.allowed = set(LifecycleTransition.objects.values_list("from_stage_id", "to_stage_id"))
        self.status_on_entry = dict(LifecycleStage.objects.values_list("key", "lead_status_on_entry_id"))
        self.opportunity_stages = {stage.key: stage for stage in OpportunityStage.objects.all()}

    def create_users(self) -> None:
        password = make_password(DEMO_PASSWORD)
        teams = {}
        for name, side in [("Marketing", Side.MARKETING), ("Sales", Side.SALES)]:
            teams[name], created = Team.objects.get_or_create(name=name, defaults={"side": side})
            self.counts["teams"] += created
        self.users: dict[str, User] = {}
        for local, full_name, role, team in DEMO_USERS:
            email = f"{local}@{DEMO_EMAIL_DOMAIN}"
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create(
                    email=email,
                    full_name=full_name,
                    role=role,
                    password=password,
                    team=teams[team] if team else None,
                    is_staff=role == Role.REVOPS,
                )
                self.counts["users"] += 1
            self.users[local] = user
        for name, manager in [("Marketing", "mona.marketing-manager"), ("Sales", "sam.sales-manager")]:
            if teams[name].manager_id is None:
                teams[name].manager = self.users[manager]
                teams[name].save(update_fields=["manager"])
        self.sdrs = [user for user in self.users.values() if user.role == Role.SDR]
        self.sdr_ids = {user.pk for user in self.sdrs}
        self.aes = [user for user in self.users.values() if user.role == Role.AE]
        self.marketers = [user for user in self.users.values() if user.role in (Role.MARKETING, Role.MARKETING_MANAGER)]

    # ------------------------------------------------------------ accounts

    def create_accounts(self) -> None:
        rng = self.rng
        used_domains = set(AccountDomain.objects.values_list("domain", flat=True))
        next_id = (Account.objects.aggregate(models.Max("id"))["id__max"] or 0) + 1
        self.accounts: list[_Account] = []
        rows, domain_rows = [], []
        for index in range(self.accounts_total):
            region, _, countries = _weighted(rng, REGIONS)
            country, _, locale, utc_offset = _weighted(rng, countries)
            industry, _, fit_bonus, endings = _weighted(rng, INDUSTRIES)
            if rng.random() < 0.55:
                base = rng.choice(NAME_PREFIXES) + rng.choice(NAME_CORES)
            else:
                base = self.faker(locale).last_name().split()[0].split("-")[0]
            ending = rng.choice(endings)
            name = f"{base} {ending}"
            if rng.random() < 0.3:
                name += f" {LEGAL_SUFFIXES[country]}"
            slug = _ascii_slug(base) or "company"
            domain = self._unique_domain(
                [
                    slug,
                    f"{slug}{_ascii_slug(ending)}",
                    f"{slug}-{_ascii_slug(ending)}",
                    f"{slug}-{country.lower()}",
                    f"{slug}hq",
                ],
                used_domains,
            )
            segment = rng.random()
            if segment < 0.55:
                employees, size_bonus = self._log_uniform(11, 200), -5
            elif segment < 0.87:
                employees, size_bonus = self._log_uniform(201, 2000), 15
            else:
                employees, size_bonus = self._log_uniform(2001, 60000), 10
            revenue_per_employee = rng.uniform(90_000, 350_000) * (1.4 if industry == "Software" else 1)
            revenue = None if rng.random() < 0.1 else Decimal(round(employees * revenue_per_employee, -3))
            icp_score = fit_bonus + size_bonus + (5 if region in ("North America", "EMEA") else 0)
            icp_score += rng.uniform(-10, 10)
            tier = 1 if icp_score >= 20 else 2 if icp_score >= 8 else 3
            if rng.random() < 0.04:
                tier = None
            is_target = rng.random() < {1: 0.55, 2: 0.12}.get(tier, 0.01)
            owner = None
            if rng.random() < 0.92:
                owner = self.users[rng.choice(AE_TERRITORIES[region])]
            if rng.random() < 0.4:
                created = self.start - dt.timedelta(days=rng.uniform(1, 365))
            else:
                created = self.moment(rng.uniform(0, 0.85))
            account = _Account(
                id=next_id + index,
                name=name,
                domain=domain,
                industry=industry,
                employee_count=employees,
                region=region,
                country=country,
                utc_offset=utc_offset,
                locale=locale,
                owner_id=owner.pk if owner else None,
                icp_tier=tier,
                is_target_account=is_target,
                created_at=created,
            )
            self.accounts.append(account)
            rows.append(
                {
                    "id": account.id,
                    "name": name,
                    "domain": domain,
                    "industry": industry,
                    "employee_count": employees,
                    "annual_revenue": revenue,
                    "country": country,
                    "region": region,
                    "owner_id": account.owner_id,
                    "icp_tier": tier,
                    "is_target_account": is_target,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            domain_rows.append({"account_id": account.id, "domain": domain})
            if rng.random() < 0.08:
                alias = self._unique_domain([f"{slug}-{country.lower()}", f"{slug}group", f"{slug}app"], used_domains)
                domain_rows.append({"account_id": account.id, "domain": alias})
            if len(rows) >= self.batch_size and index + 1 < self.accounts_total:
                self._flush_accounts(rows, domain_rows)
                self.progress("accounts", index + 1, self.accounts_total)
        self._flush_accounts(rows, domain_rows)
        self.progress("accounts", self.accounts_total, self.accounts_total)

    def _flush_accounts(self, rows, domain_rows) -> None:
        self.writer.write(Account, rows)
        self.writer.write(AccountDomain, domain_rows)
        self.counts["accounts"] += len(rows)
        self.counts["account_domains"] += len(domain_rows)
        rows.clear()
        domain_rows.clear()

    def _log_uniform(self, low: int, high: int) -> int:
        return round(math.exp(self.rng.uniform(math.log(low), math.log(high))))

    @staticmethod
    def _unique_domain(names: list[str], used: set[str]) -> str:
        """The first free name under the reserved .example domain, numbered if all are taken."""
        for name in names:
            if f"{name}.example" not in used:
                used.add(f"{name}.example")
                return f"{name}.example"
        number = 2
        while f"{names[0]}{number}.example" in used:
            number += 1
        used.add(f"{names[0]}{number}.example")
        return f"{names[0]}{number}.example"

    # ------------------------------------------------------------ campaigns

    def create_campaigns(self) -> None:
        rng = self.rng
        specs = list(CAMPAIGNS)
        for index, title in enumerate(WEBINARS):
            share = (index + 0.5) / len(WEBINARS)
            cost = rng.randrange(2_000, 6_000, 500)
            specs.append((f"Webinar: {title}", "content", "webinar", "webinar", cost, share, share, "webinar", "email"))
        for index, (title, cost) in enumerate(EVENTS):
            share = (index + 0.7) / (len(EVENTS) + 0.5)
            specs.append((title, "events", "event", "event", cost, share, share, "event", "offline"))
        next_id = (Campaign.objects.aggregate(models.Max("id"))["id__max"] or 0) + 1
        rows = []
        self.campaigns: list[_Campaign] = []
        for index, (name, channel, kind_type, kind, cost, start_share, end_share, source, medium) in enumerate(specs):
            start = self.moment(start_share).replace(hour=0, minute=0, second=0)
            end = self.moment(end_share).replace(hour=0, minute=0, second=0)
            if kind in ("webinar", "event"):
                while start.weekday() >= 5:
                    start += dt.timedelta(days=1)
                name = f"{name} ({start:%b %Y})"
                end = start + dt.timedelta(days=1 if kind == "webinar" else 2)
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
            campaign = _Campaign(
                id=next_id + index,
                name=name,
                kind=kind,
                channel=channel,
                start=start,
                end=end,
                utm_source=source,
                utm_medium=medium,
                utm_campaign=slug if source else "",
                asset=name.split(": ", 1)[-1] if kind == "content" else "",
            )
            self.campaigns.append(campaign)
            owner = self.marketers[index % len(self.marketers)]
            rows.append(
                {
                    "id": campaign.id,
                    "name": name,
                    "channel": channel,
                    "type": kind_type,
                    "cost": Decimal(cost),
                    "start_date": start.date(),
                    "end_date": None if end_share == 1 and kind not in ("webinar", "event") else end.date(),
                    "owner_id": owner.pk,
                    "goal": self._campaign_goal(kind),
                    "utm_campaign": campaign.utm_campaign,
                    "created_at": start - dt.timedelta(days=14),
                    "updated_at": start - dt.timedelta(days=14),
                }
            )
        self.writer.write(Campaign, rows)
        self.counts["campaigns"] = len(rows)
        self.by_kind: dict[str, list[_Campaign]] = {}
        for campaign in self.campaigns:
            self.by_kind.setdefault(campaign.kind, []).append(campaign)

    @staticmethod
    def _campaign_goal(kind: str) -> str:
        return {
            "ads": "Generate MQLs from ICP accounts at under $400 per MQL",
            "email": "Re-engage known contacts; 25% open rate",
            "organic": "Grow organic sign-ups 20% per half-year",
            "partner": "Sourced pipeline from partners",
            "referral": "Customer-referred opportunities",
            "outbound": "Meetings booked with target accounts",
            "content": "Gated downloads from ICP roles",
            "webinar": "300 registrations, 40% attendance",
            "event": "Meetings booked at the booth",
        }[kind]

    def campaign_at(self, kind: str, moment: dt.datetime) -> _Campaign | None:
        active = [c for c in self.by_kind.get(kind, []) if c.start <= moment <= c.end]
        return self.rng.choice(active) if active else None

    def dated_campaign(self, kind: str, low: dt.datetime, high: dt.datetime) -> _Campaign | None:
        options = [c for c in self.by_kind.get(kind, []) if low <= c.start < high]
        return self.rng.choice(options) if options else None

    # ------------------------------------------------------------ people

    def people_quotas(self) -> list[int]:
        """How many of the people work at each account: bigger and targeted accounts have more."""
        at_accounts = round(self.people_total * 0.7) if self.accounts else 0
        weights = [
            account.employee_count**0.45
            * (2 if account.is_target_account else 1)
            * {1: 1.5, 2: 1.2}.get(account.icp_tier, 1.0)
            for account in self.accounts
        ]
        quotas = [0] * len(self.accounts)
        remaining = at_accounts
        if at_accounts >= len(self.accounts):
            quotas = [1] * len(self.accounts)
            remaining -= len(self.accounts)
        total = sum(weights) or 1
        shares = [remaining * weight / total for weight in weights]
        for index, share in enumerate(shares):
            quotas[index] += int(share)
        left = at_accounts - sum(quotas)
        by_fraction = sorted(range(len(shares)), key=lambda i: (shares[i] - int(shares[i]), -i), reverse=True)
        for index in by_fraction[:left]:
            quotas[index] += 1
        return quotas

    def person_slots(self) -> Iterator[_Account | None]:
        """Accounts in order, one slot per person, with free-mail people mixed in evenly."""
        quotas = self.people_quotas()
        at_accounts = sum(quotas)
        free = self.people_total - at_accounts
        rate = free / at_accounts if at_accounts else 0
        owed = 0.0
        emitted_free = 0
        for account, quota in zip(self.accounts, quotas, strict=True):
            for _ in range(quota):
                yield account
                owed += rate
                while owed >= 1 and emitted_free < free:
                    owed -= 1
                    emitted_free += 1
                    yield None
        for _ in range(free - emitted_free):
            yield None

    def create_people(self) -> None:
        next_person = (Person.objects.aggregate(models.Max("id"))["id__max"] or 0) + 1
        self.next_opportunity = (Opportunity.objects.aggregate(models.Max("id"))["id__max"] or 0) + 1
        batch = _Batch()
        local_parts: set[str] = set()
        current_account = None
        done = 0
        for slot in self.person_slots():
            if slot is not None and slot is not current_account:
                current_account, local_parts = slot, set()
            self.person(batch, next_person + done, done, slot, local_parts)
            done += 1
            if len(batch.people) >= self.batch_size and done < self.people_total:
                self.write(batch)
                batch = _Batch()
                self.progress("people", done, self.people_total)
        self.write(batch)
        self.progress("people", done, self.people_total)

    def person(
        self, batch: _Batch, person_id: int, sequence: int, account: _Account | None, local_parts: set[str]
    ) -> None:
        rng = self.rng
        if account is not None:
            region, country, locale, utc_offset = account.region, account.country, account.locale, account.utc_offset
        else:
            region, _, countries = _weighted(rng, REGIONS)
            country, _, locale, utc_offset = _weighted(rng, countries)
        fake = self.faker(locale)
        first_name, last_name = fake.first_name(), fake.last_name()
        first, last = _ascii_slug(first_name) or "alex", _ascii_slug(last_name) or "smith"
        if account is not None:
            email = self._work_email(first, last, account.domain, local_parts)
        else:
            domain = _weighted(rng, FREE_MAIL.get(country, FREE_MAIL["default"]))[0]
            pattern = rng.random()
            local = f"{first}.{last}" if pattern < 0.5 else f"{first}{last}" if pattern < 0.8 else f"{first[0]}{last}"
            email = f"{local}{sequence + 1}@{domain}"
        title, seniority, persona = rng.choice(COMPANY_TITLES)
        if account is None and rng.random() < 0.2:
            title, seniority, persona = rng.choice(OTHER_TITLES)

        lower = max(self.start, account.created_at) if account is not None else self.start
        created = lower + dt.timedelta(seconds=(self.now - lower).total_seconds() * rng.random() ** 0.75)
        imported = created < self.moment(0.06) and rng.random() < 0.5
        if imported:
            created = self.start + dt.timedelta(hours=rng.randint(9, 17))
        tier_fit = {1: 75, 2: 60, 3: 42}.get(account.icp_tier, 45) if account else 22
        fit = _clamp(tier_fit + (seniority - 1) * 6 + rng.gauss(0, 8) - (25 if persona == "Other" else 0))

        context = _PersonContext(
            id=person_id,
            account=account,
            utc_offset=utc_offset,
            region=region,
            fit=fit,
            first_name=first_name,
            created=created,
            status_on_entry=self.status_on_entry,
        )
        self.first_touch(context, imported, is_outbound=account is not None and rng.random() < 0.09)
        self.simulate(context, batch)
        touches = self.touchpoints(context, batch)
        self.activities(context, batch)

        created = context.created  # the first touch may have moved it to an event's date
        last_activity = max([created, *touches, *context.activity_times])
        engagement = self.engagement_score(context.engagement_events)
        stage_entered = context.moves[-1][2]
        predictive = None
        if rng.random() < 0.6:
            predictive = _clamp(0.5 * fit + 0.4 * engagement + rng.gauss(0, 10))
        batch.people.append(
            {
                "id": person_id,
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "title": title,
                "phone": fake.phone_number() if rng.random() < 0.6 else "",
                "account_id": account.id if account else None,
                "lifecycle_stage_id": context.stage,
                "lead_status_id": context.lead_status,
                "owner_id": context.owner_id,
                "source": context.source,
                "utm_source": context.utm[0],
                "utm_medium": context.utm[1],
                "utm_campaign": context.utm[2],
                "utm_term": context.utm[3],
                "utm_content": context.utm[4],
                "predictive_score": predictive,
                "buying_role": _weighted(rng, BUYING_ROLES)[0] if account else "",
                "consent_email": context.stage == "subscriber" or rng.random() < 0.75,
                "consent_tracking": rng.random() < 0.6,
                "custom_fields": {"persona": persona},
                "stage_entered_at": stage_entered,
                "last_activity_at": last_activity,
                "created_at": created,
                "updated_at": max(last_activity, stage_entered),
            }
        )
        batch.scores.append({"person_id": person_id, "fit_score": context.fit, "engagement_score": engagement})
        if account is not None:
            batch.matches.append(
                {
                    "person_id": person_id,
                    "account_id": account.id,
                    "method": MatchMethod.EMAIL_DOMAIN,
                    "matched_domain": account.domain,
                    "matched_at": created,
                }
            )
        for from_stage, to_stage, at, actor, reason, version, evidence in context.moves:
            batch.stage_changes.append(
                {
                    "person_id": person_id,
                    "from_stage_id": from_stage,
                    "to_stage_id": to_stage,
                    "at": at,
                    "actor_type": actor.type,
                    "actor_user_id": actor.user.pk if actor.user else None,
                    "actor_label": actor.display,
                    "reason": reason,
                    "contract_version": version,
                    "evidence": evidence,
                }
            )
        self.stage_counts[context.stage] = self.stage_counts.get(context.stage, 0) + 1

    def _work_email(self, first: str, last: str, domain: str, taken: set[str]) -> str:
        pattern = self.rng.random()
        options = [f"{first}.{last}", f"{first[0]}{last}", f"{first}", f"{first}.{last[0]}", f"{first}{last}"]
        if pattern < 0.2:
            options.insert(0, options.pop(1))
        local = next((option for option in options if option not in taken), None)
        number = 2
        while local is None:
            local = f"{first}.{last}{number}" if f"{first}.{last}{number}" not in taken else None
            number += 1
        taken.add(local)
        return f"{local}@{domain}"

    def first_touch(self, context: "_PersonContext", imported: bool, is_outbound: bool) -> None:
        """Where the person came from: source, UTM values, first stage and the touch that created them."""
        rng = self.rng
        if imported:
            context.source = "Import"
            stage = _weighted(rng, [("subscriber", 30), ("lead", 55), ("mql", 15)])[0]
            context.move(
                None, stage, context.created, Actor.importer("Legacy CRM migration"), "Imported from the previous CRM"
            )
            return
        if is_outbound:
            sdr = rng.choice(self.sdrs)
            context.owner_id = sdr.pk
            context.is_outbound = True
            context.source = "Outbound"
            campaign = self.campaign_at("outbound", context.created)
            context.first_campaign = campaign
            context.move(None, "lead", context.created, Actor.of_user(sdr), "Added from outbound prospecting")
            return
        channel = _weighted(
            rng,
            [
                ("organic", 24),
                ("ads", 26),
                ("content", 13),
                ("webinar", 9),
                ("event", 6),
                ("referral", 6),
                ("partner", 6),
                ("direct", 10),
            ],
        )[0]
        campaign = None
        if channel in ("webinar", "event"):
            campaign = self.dated_campaign(
                channel, context.created - dt.timedelta(days=90), min(self.now, context.created + dt.timedelta(days=30))
            )
            if campaign is None:
                channel = "organic"
            else:
                context.created = (
                    max(campaign.start - dt.timedelta(days=rng.uniform(0, 14)), self.start)
                    if channel == "webinar"
                    else campaign.start + dt.timedelta(hours=rng.randint(9, 17))
                )
        if campaign is None and channel != "direct":
            campaign = self.campaign_at(channel, context.created)
            if campaign is None:
                channel, campaign = "organic", self.campaign_at("organic", context.created)
        context.first_campaign = campaign
        context.source = {
            "organic": "Organic search",
            "ads": "Paid search" if campaign and campaign.utm_source == "google" else "Paid social",
            "content": "Content",
            "webinar": "Webinar",
            "event": "Event",
            "referral": "Customer referral",
            "partner": "Partner",
            "direct": "Direct",
        }[channel]
        if campaign is not None and campaign.utm_source:
            term = rng.choice(PAID_SEARCH_TERMS) if campaign.utm_source == "google" else ""
            content = f"variant-{rng.choice('abc')}" if campaign.kind == "ads" else ""
            context.utm = (campaign.utm_source, campaign.utm_medium, campaign.utm_campaign, term, content)
        form = {
            "content": "Content download",
            "webinar": "Webinar registration",
            "event": "Event badge scan",
            "referral": "Referral form",
            "partner": "Partner referral",
        }.get(channel)
        if form is None:
            form = _weighted(
                rng, [("Newsletter signup", 35), ("Contact us", 30), ("Pricing inquiry", 25), ("Demo request", 10)]
            )[0]
        context.form = form
        stage = "subscriber" if form == "Newsletter signup" else "lead"
        context.move(
            None,
            stage,
            context.created,
            Actor.rule(f"Form submit: {form}"),
            f"Created from the {form.lower()} form",
            evidence={"form": form},
        )
        if form == "Demo request":
            context.is_hand_raiser = True

    # ------------------------------------------------------------ lifecycle

    def simulate(self, context: "_PersonContext", batch: _Batch) -> None:
        """Walk the person through the lifecycle until they stop or the window ends."""
        rng = self.rng
        for _ in range(16):
            move = self.next_move(context)
            if move is None:
                return
            to_stage, at, actor, reason, evidence, version = move
            if at >= self.now or (context.stage, to_stage) not in self.allowed:
                return
            if to_stage == "opportunity":
                if not self.open_opportunity(context, batch, at):
                    return
                continue
            context.move(context.stage, to_stage, at, actor, reason, evidence, version)
            if to_stage in ("mql", "sal", "sql") and context.owner_id not in self.sdr_ids:
                context.owner_id = rng.choice(self.sdrs).pk  # routing hands the lead to an SDR
            if to_stage == "sal":
                context.lead_status = rng.choice(["attempting", "connected"])
            if to_stage == "customer" and context.account is not None and rng.random() < 0.2:
                self.expansion(context, batch, at)

    def next_move(self, context: "_PersonContext"):
        rng = self.rng
        stage, at, offset = context.stage, context.at, context.utc_offset
        roll = rng.random()
        sdr = self.user_by_id(context.owner_id) if context.owner_id else rng.choice(self.sdrs)
        fit = context.fit
        if stage == "subscriber":
            if roll < 0.45:
                return (
                    "lead",
                    self.any_time(at, rng.expovariate(1 / 45)),
                    Actor.rule("Form submit: Content download"),
                    "Filled in a gated form",
                    {"form": "Content download"},
                    None,
                )
            if roll < 0.51:
                return self.mql_move(context, self.any_time(at, rng.expovariate(1 / 60)))
            if roll < 0.53:
                return (
                    "disqualified",
                    self.work_time(at, rng.expovariate(1 / 30), offset),
                    Actor.of_user(sdr),
                    rng.choice(DISQUALIFY_REASONS),
                    {},
                    None,
                )
            return None
        if stage == "lead":
            if context.is_outbound:
                if roll < 0.3:
                    return (
                        "sql",
                        self.work_time(at, rng.expovariate(1 / 14), offset),
                        Actor.of_user(sdr),
                        "Meeting booked from an outbound sequence",
                        {},
                        None,
                    )
                if roll < 0.42:
                    return (
                        "disqualified",
                        self.work_time(at, rng.expovariate(1 / 10), offset),
                        Actor.of_user(sdr),
                        rng.choice(DISQUALIFY_REASONS),
                        {},
                        None,
                    )
                if roll < 0.7:
                    return (
                        "recycled",
                        self.work_time(at, rng.expovariate(1 / 21), offset),
                        Actor.of_user(sdr),
                        "No response after six attempts",
                        {},
                        None,
                    )
                return None
            if context.is_hand_raiser and not context.hand_raised:
                context.hand_raised = True
                if roll < 0.8:
                    return (
                        "sal",
                        at + dt.timedelta(minutes=rng.randint(1, 30)),
                        Actor.rule("Demo request routing"),
                        "Demo request: routed straight to sales",
                        {"form": "Demo request"},
                        None,
                    )
            p_mql = min(0.85, 0.2 + fit / 120)
            if roll < p_mql:
                return self.mql_move(context, self.any_time(at, rng.expovariate(1 / 25)))
            if roll < p_mql + 0.07:
                return (
                    "disqualified",
                    self.work_time(at, rng.expovariate(1 / 20), offset),
                    Actor.of_user(sdr),
                    rng.choice(DISQUALIFY_REASONS),
                    {},
                    None,
                )
            if roll < p_mql + 0.1:
                return (
                    "recycled",
                    self.any_time(at, rng.expovariate(1 / 60)),
                    Actor.rule("No engagement in 60 days"),
                    "No engagement in 60 days",
                    {"days_inactive": 60},
                    None,
                )
            return None
        if stage == "mql":
            if roll < 0.64:
                return (
                    "sal",
                    self.work_time(at, rng.expovariate(1 / 1.5), offset),
                    Actor.of_user(sdr),
                    "Accepted the hand-off",
                    {},
                    None,
                )
            if roll < 0.70:
                return (
                    "sql",
                    self.work_time(at, rng.expovariate(1 / 3), offset),
                    Actor.of_user(sdr),
                    "Qualified on the first call",
                    {},
                    None,
                )
            if roll < 0.78:
                days = rng.randint(14, 40)
                version = self.contract_at(at)[0]
                return (
                    "recycled",
                    self.any_time(at, days),
                    Actor.rule("SLA: no sales activity"),
                    (f"No sales activity in {days} days"),
                    {"days_inactive": days},
                    version,
                )
            if roll < 0.85:
                return (
                    "recycled",
                    self.work_time(at, rng.expovariate(1 / 7), offset),
                    Actor.of_user(sdr),
                    rng.choice(RECYCLE_REASONS),
                    {},
                    None,
                )
            if roll < 0.92:
                return (
                    "disqualified",
                    self.work_time(at, rng.expovariate(1 / 5), offset),
                    Actor.of_user(sdr),
                    rng.choice(DISQUALIFY_REASONS),
                    {},
                    None,
                )
            return None
        if stage == "sal":
            if roll < 0.58:
                return (
                    "sql",
                    self.work_time(at, rng.expovariate(1 / 12), offset),
                    Actor.of_user(sdr),
                    rng.choice(QUALIFY_REASONS),
                    {},
                    None,
                )
            if roll < 0.78:
                return (
                    "recycled",
                    self.work_time(at, rng.expovariate(1 / 25), offset),
                    Actor.of_user(sdr),
                    rng.choice(RECYCLE_REASONS),
                    {},
                    None,
                )
            if roll < 0.88:
                return (
                    "disqualified",
                    self.work_time(at, rng.expovariate(1 / 15), offset),
                    Actor.of_user(sdr),
                    rng.choice(DISQUALIFY_REASONS),
                    {},
                    None,
                )
            return None
        if stage == "sql":
            if context.account is None:
                if roll < 0.5:
                    return (
                        "recycled",
                        self.work_time(at, rng.expovariate(1 / 20), offset),
                        Actor.of_user(sdr),
                        rng.choice(RECYCLE_REASONS),
                        {},
                        None,
                    )
                if roll < 0.8:
                    return (
                        "disqualified",
                        self.work_time(at, rng.expovariate(1 / 20), offset),
                        Actor.of_user(sdr),
                        "No company behind the inquiry",
                        {},
                        None,
                    )
                return None
            if roll < 0.64:
                return "opportunity", self.work_time(at, rng.expovariate(1 / 10), offset), None, "", {}, None
            if roll < 0.8:
                return (
                    "recycled",
                    self.work_time(at, rng.expovariate(1 / 20), offset),
                    Actor.of_user(sdr),
                    rng.choice(RECYCLE_REASONS),
                    {},
                    None,
                )
            if roll < 0.86:
                return (
                    "disqualified",
                    self.work_time(at, rng.expovariate(1 / 20), offset),
                    Actor.of_user(sdr),
                    rng.choice(DISQUALIFY_REASONS),
                    {},
                    None,
                )
            return None
        if stage == "opportunity":
            return self.after_opportunity(context)
        if stage == "customer":
            if roll < 0.1:
                return (
                    "evangelist",
                    self.work_time(at, rng.expovariate(1 / 120), offset),
                    Actor.of_user(self.account_owner(context)),
                    "Agreed to be a reference customer",
                    {},
                    None,
                )
            if roll < 0.25:
                return (
                    "churned",
                    self.work_time(at, rng.uniform(60, 300), offset),
                    Actor.of_user(self.account_owner(context)),
                    rng.choice(CHURN_REASONS),
                    {},
                    None,
                )
            return None
        if stage == "evangelist":
            if roll < 0.04:
                return (
                    "churned",
                    self.work_time(at, rng.uniform(180, 420), offset),
                    Actor.of_user(self.account_owner(context)),
                    rng.choice(CHURN_REASONS),
                    {},
                    None,
                )
            return None
        if stage == "churned":
            if roll < 0.15 and context.account is not None:
                return "opportunity", self.work_time(at, rng.uniform(60, 200), offset), None, "", {}, None
            return None
        if stage == "recycled":
            if roll < 0.35:
                return self.mql_move(context, self.any_time(at, rng.expovariate(1 / 75)), reengaged=True)
            if roll < 0.45:
                return (
                    "lead",
                    self.any_time(at, rng.expovariate(1 / 90)),
                    Actor.rule("Nurture re-entry"),
                    "Re-entered nurture after the recycle period",
                    {},
                    None,
                )
            if roll < 0.5:
                return (
                    "disqualified",
                    self.work_time(at, rng.expovariate(1 / 60), offset),
                    Actor.of_user(sdr),
                    rng.choice(DISQUALIFY_REASONS),
                    {},
                    None,
                )
            return None
        if stage == "disqualified":
            if roll < 0.05:
                return (
                    "lead",
                    self.work_time(at, rng.expovariate(1 / 120), offset),
                    Actor.of_user(sdr),
                    "Re-opened: changed role and asked for a call",
                    {},
                    None,
                )
            return None
        return None

    def mql_move(self, context: "_PersonContext", at: dt.datetime, reengaged: bool = False):
        """The MQL rule fires: fit and engagement both at or above the contract's thresholds."""
        rng = self.rng
        version, _, fit_threshold, engagement_threshold = self.contract_at(at)
        if context.fit < fit_threshold:
            context.fit = fit_threshold + rng.randint(0, 8)
        engagement = engagement_threshold + int(rng.expovariate(1 / 12))
        context.mql_times.append(at)
        label = "Re-engaged" if reengaged else "MQL"
        reason = (
            f"{label}: fit {context.fit} >= {fit_threshold} and engagement {engagement} >= "
            f"{engagement_threshold} (contract v{version})"
        )
        evidence = {
            "fit": context.fit,
            "engagement": engagement,
            "threshold": fit_threshold,
            "engagement_threshold": engagement_threshold,
        }
        return "mql", at, Actor.rule("MQL threshold"), reason, evidence, version

    def after_opportunity(self, context: "_PersonContext"):
        rng = self.rng
        outcome, closed_at, lost_reason, opportunity_id = context.last_opportunity
        if outcome == "won":
            return (
                "customer",
                closed_at + dt.timedelta(minutes=1),
                Actor.rule("Opportunity won"),
                "Opportunity won",
                {"opportunity_id": opportunity_id},
                None,
            )
        if outcome == "lost":
            owner = Actor.of_user(self.user_by_id(context.owner_id))
            roll = rng.random()
            if roll < 0.75:
                return (
                    "recycled",
                    closed_at + dt.timedelta(minutes=5),
                    owner,
                    (f"Opportunity lost: {lost_reason}"),
                    {"opportunity_id": opportunity_id},
                    None,
                )
            if roll < 0.95:
                return (
                    "disqualified",
                    closed_at + dt.timedelta(minutes=5),
                    owner,
                    (f"Opportunity lost: {lost_reason}; not a fit"),
                    {"opportunity_id": opportunity_id},
                    None,
                )
        return None

    def account_owner(self, context: "_PersonContext") -> User:
        owner_id = context.account.owner_id if context.account else None
        return self.user_by_id(owner_id or context.owner_id) if (owner_id or context.owner_id) else self.aes[0]

    def user_by_id(self, user_id: int) -> User:
        if not hasattr(self, "_users_by_id"):
            self._users_by_id = {user.pk: user for user in self.users.values()}
        return self._users_by_id[user_id]

    # ------------------------------------------------------------ opportunities

    def open_opportunity(self, context: "_PersonContext", batch: _Batch, at: dt.datetime) -> bool:
        """Create the deal that moves the person to Opportunity, and play out its sales stages."""
        rng = self.rng
        account = context.account
        if account is None:
            return False
        ae = self.user_by_id(account.owner_id) if account.owner_id else rng.choice(self.aes)
        opportunity_id = self.next_opportunity
        self.next_opportunity += 1
        is_win_back = context.stage == "churned"
        context.move(
            context.stage,
            "opportunity",
            at,
            Actor.rule("Opportunity created"),
            "Opportunity created",
            {"opportunity_id": opportunity_id},
        )
        context.owner_id = ae.pk
        name = f"{account.name}: {'win-back' if is_win_back else 'new business'}"
        outcome, closed_at, lost_reason = self.opportunity(
            batch,
            opportunity_id,
            account,
            context,
            ae,
            at,
            name,
            self.deal_size(account),
            context.first_campaign,
        )
        context.last_opportunity = (outcome, closed_at, lost_reason, opportunity_id)
        return True

    def expansion(self, context: "_PersonContext", batch: _Batch, won_at: dt.datetime) -> None:
        """A customer account buys more later; the person stays a customer."""
        rng = self.rng
        at = self.work_time(won_at, rng.uniform(90, 300), context.utc_offset)
        if at >= self.now:
            return
        account = context.account
        ae = self.user_by_id(account.owner_id) if account.owner_id else rng.choice(self.aes)
        opportunity_id = self.next_opportunity
        self.next_opportunity += 1
        amount = _deal_amount(float(self.deal_size(account)) * 0.4)
        self.opportunity(
            batch, opportunity_id, account, context, ae, at, f"{account.name}: expansion", amount, None, win_bias=0.25
        )

    def deal_size(self, account: _Account) -> Decimal:
        employees = account.employee_count
        low, high = (
            (5_000, 30_000) if employees <= 200 else (20_000, 100_000) if employees <= 2000 else (60_000, 250_000)
        )
        return _deal_amount(math.exp(self.rng.uniform(math.log(low), math.log(high))))

    def opportunity(self, batch, opportunity_id, account, context, ae, created, name, amount, campaign, win_bias=0.0):
        rng = self.rng
        win_probability = {1: 0.36, 2: 0.28, 3: 0.2}.get(account.icp_tier, 0.22) + win_bias
        is_won = rng.random() < win_probability
        lost_at = None if is_won else _weighted(rng, [(1, 30), (2, 25), (3, 20), (4, 15), (5, 10)])[0]
        lost_reason = "" if is_won else _weighted(rng, LOST_REASONS)[0]
        ae_actor = Actor.of_user(ae)
        changes = [(None, "discovery", created, amount, "Created")]
        stage, at = "discovery", created
        for position, next_stage in enumerate([*MAIN_OPPORTUNITY_STAGES[1:], "closed"], start=2):
            if lost_at is not None and position > lost_at:
                next_stage = "closed_lost"
            elif next_stage == "closed":
                next_stage = "closed_won"
            elif rng.random() < 0.1:
                continue  # some deals skip a stage
            at = self.work_time(at, rng.expovariate(1 / 12) + 1, context.utc_offset)
            if at >= self.now:
                break
            if next_stage == "proposal" and rng.random() < 0.5:
                amount = _deal_amount(float(amount) * rng.uniform(0.85, 1.2))
            reason = (
                f"Lost: {lost_reason}" if next_stage == "closed_lost" else OPPORTUNITY_STAGE_NOTES.get(next_stage, "")
            )
            changes.append((stage, next_stage, at, amount, reason))
            stage = next_stage
            if stage in ("closed_won", "closed_lost"):
                break
        stage_row = self.opportunity_stages[stage]
        is_closed = stage_row.is_closed
        closed_at = changes[-1][2] if is_closed else None
        close_date = closed_at.date() if is_closed else (self.now + dt.timedelta(days=rng.randint(7, 120))).date()
        batch.opportunities.append(
            {
                "id": opportunity_id,
                "account_id": account.id,
                "primary_person_id": context.id,
                "name": name,
                "amount": amount,
                "currency": "USD",
                "stage_id": stage,
                "probability": stage_row.probability,
                "forecast_category": stage_row.forecast_category,
                "close_date": close_date,
                "owner_id": ae.pk,
                "is_closed": is_closed,
                "is_won": stage_row.is_won,
                "lost_reason": lost_reason if is_closed else "",
                "source_campaign_id": campaign.id if campaign else None,
                "closed_at": closed_at,
                "created_at": created,
                "updated_at": changes[-1][2],
            }
        )
        for from_stage, to_stage, moment, value, reason in changes:
            batch.opportunity_stage_changes.append(
                {
                    "opportunity_id": opportunity_id,
                    "from_stage_id": from_stage,
                    "to_stage_id": to_stage,
                    "amount": value,
                    "at": moment,
                    "actor_type": ae_actor.type,
                    "actor_user_id": ae.pk,
                    "actor_label": ae_actor.display,
                    "reason": reason,
                }
            )
        context.deals.append((opportunity_id, created, changes[-1][2], ae, stage))
        if is_closed:
            self.counts["opportunities_won" if stage_row.is_won else "opportunities_lost"] += 1
        outcome = "won" if stage_row.is_won else "lost" if is_closed else "open"
        return outcome, closed_at, lost_reason

    # ------------------------------------------------------------ touchpoints and activities

    def touchpoints(self, context: "_PersonContext", batch: _Batch) -> list[dt.datetime]:
        """Marketing interactions around the person's history; returns their times."""
        rng = self.rng
        created, now = context.created, self.now
        depth = {
            "subscriber": 0.5,
            "lead": 0.8,
            "mql": 1.3,
            "sal": 1.5,
            "sql": 1.6,
            "opportunity": 1.7,
            "customer": 1.6,
            "evangelist": 1.8,
            "recycled": 1.1,
            "disqualified": 0.6,
            "churned": 1.0,
        }
        mean = self.touchpoints_per_person * depth[context.furthest] / 1.12
        count = max(1, round(rng.expovariate(1 / mean))) if mean > 0 else 0
        end = now
        if context.stage == "disqualified":
            end = min(now, context.at + dt.timedelta(days=30))
        times = []
        first = context.first_campaign
        # The touch that identified the person comes first.
        if count:
            first_type = {
                "ads": TouchpointType.AD_CLICK,
                "content": TouchpointType.CONTENT_DOWNLOAD,
                "event": TouchpointType.EVENT,
                "outbound": TouchpointType.SALES_EMAIL,
            }.get(first.kind if first else "", TouchpointType.FORM_SUBMIT)
            times.append(self.touch(batch, context, first_type, created, first))
        # Engagement just before each MQL is what made the rule fire.
        for mql_at in context.mql_times:
            if len(times) < count:
                moment = mql_at - dt.timedelta(hours=rng.uniform(1, 72))
                if moment > created:
                    times.append(
                        self.touch(
                            batch, context, TouchpointType.CONTENT_DOWNLOAD, moment, self.campaign_at("content", moment)
                        )
                    )
        while len(times) < count:
            moment = created + dt.timedelta(seconds=(end - created).total_seconds() * rng.random())
            kind = _weighted(
                rng,
                [
                    ("page", 40),
                    ("email", 30),
                    ("ads", 6),
                    ("content", 6),
                    ("webinar", 5),
                    ("event", 2),
                    ("chat", 2),
                    ("sales", 4 if context.furthest_depth >= 4 else 0),
                ],
            )[0]
            times.append(self.random_touch(batch, context, kind, moment, end))
        return times

    def random_touch(self, batch, context, kind, moment, end) -> dt.datetime:
        rng = self.rng
        if kind == "email":
            campaign = self.campaign_at("email", moment)
            touch_type = _weighted(
                rng,
                [(TouchpointType.EMAIL_SENT, 20), (TouchpointType.EMAIL_OPEN, 55), (TouchpointType.EMAIL_CLICK, 25)],
            )[0]
            return self.touch(batch, context, touch_type, moment, campaign)
        if kind in ("webinar", "event"):
            campaign = self.dated_campaign(kind, context.created, end)
            if campaign is not None:
                when = campaign.start + dt.timedelta(
                    hours=rng.randint(14, 18) if kind == "webinar" else rng.randint(9, 40)
                )
                if when < self.now:
                    touch_type = TouchpointType.WEBINAR if kind == "webinar" else TouchpointType.EVENT
                    if kind == "webinar" and rng.random() < 0.35:
                        touch_type, when = TouchpointType.FORM_SUBMIT, when - dt.timedelta(days=rng.randint(2, 10))
                        when = max(when, context.created + dt.timedelta(minutes=5))
                    return self.touch(batch, context, touch_type, when, campaign)
            kind = "page"
        if kind == "ads":
            campaign = self.campaign_at("ads", moment)
            if campaign is not None:
                return self.touch(batch, context, TouchpointType.AD_CLICK, moment, campaign)
            kind = "page"
        if kind == "content":
            campaign = self.campaign_at("content", moment)
            if campaign is not None:
                return self.touch(batch, context, TouchpointType.CONTENT_DOWNLOAD, moment, campaign)
            kind = "page"
        if kind == "chat":
            return self.touch(batch, context, TouchpointType.CHAT, moment, None)
        if kind == "sales":
            return self.touch(batch, context, TouchpointType.MEETING_BOOKED, moment, None)
        campaign = self.campaign_at("organic", moment) if rng.random() < 0.5 else None
        return self.touch(batch, context, TouchpointType.PAGE_VIEW, moment, campaign)

    def touch(self, batch, context, touch_type, moment, campaign) -> dt.datetime:
        rng = self.rng
        moment = min(moment, self.now - dt.timedelta(seconds=1))
        utm = ("", "", "", "", "")
        url, referrer, properties, channel = "", "", {}, campaign.channel if campaign else Channel.DIRECT
        if campaign is not None and campaign.utm_source:
            utm = (campaign.utm_source, campaign.utm_medium, campaign.utm_campaign, "", "")
        if touch_type == TouchpointType.PAGE_VIEW:
            path, title = rng.choice(SITE_PAGES)
            url, properties = WEBSITE + path, {"title": title}
            if campaign is not None and campaign.kind == "organic":
                referrer, channel = "https://www.google.com/", Channel.ORGANIC_SEARCH
        elif touch_type == TouchpointType.AD_CLICK:
            url = f"{WEBSITE}/demo?utm_source={utm[0]}&utm_medium={utm[1]}&utm_campaign={utm[2]}"
            properties = {"ad": f"Variant {rng.choice('ABC')}"}
        elif touch_type in (TouchpointType.EMAIL_SENT, TouchpointType.EMAIL_OPEN, TouchpointType.EMAIL_CLICK):
            properties = {"email": f"{campaign.name if campaign else 'Newsletter'}: {moment:%B %Y}"}
            if touch_type == TouchpointType.EMAIL_CLICK:
                url = WEBSITE + rng.choice(SITE_PAGES)[0]
        elif touch_type == TouchpointType.CONTENT_DOWNLOAD:
            url, properties = f"{WEBSITE}/resources", {"asset": campaign.asset if campaign else "Product overview"}
        elif touch_type == TouchpointType.FORM_SUBMIT:
            form = "Webinar registration" if campaign and campaign.kind == "webinar" else context.form or "Contact us"
            url, properties = f"{WEBSITE}/forms", {"form": form}
        elif touch_type == TouchpointType.WEBINAR:
            properties = {"attended_minutes": rng.randint(10, 60)}
        elif touch_type == TouchpointType.EVENT:
            properties = {"badge_scanned": True}
        elif touch_type == TouchpointType.CHAT:
            url, properties, channel = WEBSITE + "/pricing", {"messages": rng.randint(2, 12)}, Channel.DIRECT
        elif touch_type in (TouchpointType.MEETING_BOOKED, TouchpointType.SALES_EMAIL):
            channel = Channel.OUTBOUND_SALES
        batch.touchpoints.append(
            {
                "person_id": context.id,
                "type": touch_type,
                "channel": channel,
                "campaign_id": campaign.id if campaign else None,
                "utm_source": utm[0],
                "utm_medium": utm[1],
                "utm_campaign": utm[2],
                "utm_term": utm[3],
                "utm_content": utm[4],
                "url": url,
                "referrer": referrer,
                "occurred_at": moment,
                "properties": properties,
            }
        )
        if touch_type in ENGAGEMENT_POINTS:
            context.engagement_events.append((touch_type, moment))
        if campaign is not None:
            status = {
                TouchpointType.WEBINAR: MemberStatus.ATTENDED,
                TouchpointType.EVENT: MemberStatus.ATTENDED,
                TouchpointType.FORM_SUBMIT: MemberStatus.REGISTERED
                if campaign.kind == "webinar"
                else MemberStatus.RESPONDED,
                TouchpointType.EMAIL_SENT: MemberStatus.SENT,
                TouchpointType.EMAIL_OPEN: MemberStatus.SENT,
                TouchpointType.SALES_EMAIL: MemberStatus.SENT,
                TouchpointType.PAGE_VIEW: MemberStatus.RESPONDED,
            }.get(touch_type, MemberStatus.RESPONDED)
            self.membership(batch, context, campaign, status, moment)
        return moment

    def membership(self, batch, context, campaign, status, moment) -> None:
        member = context.members.get(campaign.id)
        responded = moment if MEMBER_STATUS_RANK[status] >= MEMBER_STATUS_RANK[MemberStatus.RESPONDED] else None
        if member is None:
            member = {
                "campaign_id": campaign.id,
                "person_id": context.id,
                "status": status,
                "responded_at": responded,
                "created_at": moment,
            }
            context.members[campaign.id] = member
            batch.members.append(member)
            return
        if MEMBER_STATUS_RANK[status] > MEMBER_STATUS_RANK[member["status"]]:
            member["status"] = status
        if responded and (member["responded_at"] is None or responded < member["responded_at"]):
            member["responded_at"] = responded
        member["created_at"] = min(member["created_at"], moment)

    def activities(self, context: "_PersonContext", batch: _Batch) -> None:
        """Calls, emails, meetings and notes by the SDRs and AEs who worked the person."""
        rng = self.rng
        scale = self.activity_scale
        account_id = context.account.id if context.account else None
        first = context.first_name
        company = context.account.name if context.account else "your team"
        for index, (from_stage, to_stage, at, actor, _, _, _) in enumerate(context.moves):
            until = context.moves[index + 1][2] if index + 1 < len(context.moves) else self.now
            if to_stage == "sal" or (to_stage == "lead" and context.is_outbound and from_stage is None):
                sdr = context.user_for(self, actor)
                for _ in range(self.scaled(rng.randint(1, 4), scale)):
                    kind, subject = rng.choice(
                        [
                            (ActivityKind.CALL, "Intro call: no answer"),
                            (ActivityKind.CALL, "Intro call: left voicemail"),
                            (ActivityKind.EMAIL, f"Following up on your interest, {first}"),
                            (ActivityKind.EMAIL, f"Quick question about {company}'s pipeline reviews"),
                            (ActivityKind.CALL, "Connected: booked a discovery call"),
                        ]
                    )
                    self.activity(batch, context, kind, subject, sdr, at, until, account_id, None)
            elif to_stage == "sql":
                sdr = context.user_for(self, actor)
                self.activity(
                    batch,
                    context,
                    ActivityKind.MEETING,
                    f"Discovery call with {first}",
                    sdr,
                    at,
                    until,
                    account_id,
                    None,
                    before=True,
                )
                if rng.random() < scale:
                    self.activity(
                        batch,
                        context,
                        ActivityKind.NOTE,
                        "Qualification notes",
                        sdr,
                        at,
                        until,
                        account_id,
                        None,
                        body="Budget: approved for this half. Authority: VP sponsor. "
                        "Need: shared funnel reporting. Timeline: this quarter.",
                    )
        for opportunity_id, created, last_change, ae, stage in context.deals:
            end = last_change if stage in ("closed_won", "closed_lost") else self.now
            for _ in range(self.scaled(rng.randint(2, 6), scale)):
                kind, subject = rng.choice(
                    [
                        (ActivityKind.MEETING, "Product demo"),
                        (ActivityKind.MEETING, "Technical deep dive"),
                        (ActivityKind.MEETING, "Proposal walkthrough"),
                        (ActivityKind.CALL, "Check-in on the evaluation"),
                        (ActivityKind.EMAIL, "Proposal and order form"),
                        (ActivityKind.EMAIL, "Security questionnaire"),
                        (ActivityKind.NOTE, "Mutual action plan updated"),
                    ]
                )
                self.activity(batch, context, kind, subject, ae, created, end, account_id, opportunity_id)
            if stage not in ("closed_won", "closed_lost") and rng.random() < 0.7:
                self.task(batch, context, f"Follow up with {first} on next steps", ae, account_id, opportunity_id)
        if context.stage in ("sal", "sql") and rng.random() < 0.6:
            self.task(batch, context, f"Call {first} back", self.user_by_id(context.owner_id), account_id, None)

    @staticmethod
    def scaled(count: int, scale: float) -> int:
        return max(0, round(count * scale))

    def activity(
        self, batch, context, kind, subject, user, start, end, account_id, opportunity_id, body="", before=False
    ):
        rng = self.rng
        end = min(end, self.now)
        if before:  # the meeting that led to the stage change
            moment = start - dt.timedelta(hours=rng.randint(1, 48))
            moment = max(moment, context.created)
        else:
            window = max(60.0, min((end - start).total_seconds(), 30 * 86400))
            moment = start + dt.timedelta(seconds=window * rng.random())
            if moment >= self.now:
                return
        batch.activities.append(
            {
                "kind": kind,
                "subject": subject,
                "body": body,
                "occurred_at": moment,
                "is_done": True,
                "user_id": user.pk,
                "person_id": context.id,
                "account_id": account_id,
                "opportunity_id": opportunity_id,
                "created_at": moment,
            }
        )
        context.activity_times.append(moment)

    def task(self, batch, context, subject, user, account_id, opportunity_id):
        rng = self.rng
        created = self.now - dt.timedelta(hours=rng.randint(2, 96))
        if created <= context.at:
            return
        batch.activities.append(
            {
                "kind": ActivityKind.TASK,
                "subject": subject,
                "occurred_at": created,
                "due_at": self.now + dt.timedelta(days=rng.randint(0, 7), hours=rng.randint(9, 17)),
                "is_done": False,
                "user_id": user.pk,
                "person_id": context.id,
                "account_id": account_id,
                "opportunity_id": opportunity_id,
                "created_at": created,
            }
        )
        context.activity_times.append(created)

    def engagement_score(self, events) -> int:
        """Points per interaction, halving every 30 days, as the scoring ledger would."""
        total = 0.0
        for touch_type, moment in events:
            age_days = (self.now - moment).total_seconds() / 86400
            total += ENGAGEMENT_POINTS[touch_type] * 0.5 ** (age_days / 30)
        return _clamp(total)

    # ------------------------------------------------------------ writing

    def write(self, batch: _Batch) -> None:
        for model, rows, key in [
            (Person, batch.people, "people"),
            (PersonScore, batch.scores, "person_scores"),
            (AccountMatch, batch.matches, "account_matches"),
            (Opportunity, batch.opportunities, "opportunities"),
            (StageChange, batch.stage_changes, "stage_changes"),
            (OpportunityStageChange, batch.opportunity_stage_changes, "opportunity_stage_changes"),
            (CampaignMember, batch.members, "campaign_members"),
            (Touchpoint, batch.touchpoints, "touchpoints"),
            (Activity, batch.activities, "activities"),
        ]:
            self.writer.write(model, rows)
            self.counts[key] += len(rows)

    def reset_sequences(self) -> None:
        """Explicit ids were written, so move PostgreSQL's id sequences past them."""
        statements = connection.ops.sequence_reset_sql(no_style(), [Account, Campaign, Person, Opportunity])
        if statements:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)


class _PersonContext:
    """The state of one person while their history is generated."""

    # How far along the main path a stage is; side stages do not count.
    STAGE_DEPTH = {
        "subscriber": 0,
        "lead": 1,
        "mql": 2,
        "sal": 3,
        "sql": 4,
        "opportunity": 5,
        "customer": 6,
        "evangelist": 7,
        "recycled": -1,
        "disqualified": -1,
        "churned": -1,
    }

    def __init__(self, *, id, account, utc_offset, region, fit, first_name, created, status_on_entry):
        self.id = id
        self.account = account
        self.utc_offset = utc_offset
        self.region = region
        self.fit = fit
        self.first_name = first_name
        self.created = created
        self.moves: list[tuple] = []
        self.stage: str | None = None
        self.at = created
        self.lead_status: str | None = None
        self.owner_id: int | None = None
        self.source = ""
        self.utm = ("", "", "", "", "")
        self.form = ""
        self.first_campaign: _Campaign | None = None
        self.is_outbound = False
        self.is_hand_raiser = False
        self.hand_raised = False
        self.mql_times: list[dt.datetime] = []
        self.last_opportunity = None
        self.deals: list[tuple] = []
        self.members: dict[int, dict] = {}
        self.engagement_events: list[tuple] = []
        self.activity_times: list[dt.datetime] = []
        self.furthest = "subscriber"
        self.furthest_depth = 0
        self.status_on_entry = status_on_entry

    def move(self, from_stage, to_stage, at, actor, reason, evidence=None, version=None):
        self.moves.append((from_stage, to_stage, at, actor, reason, version, evidence or {}))
        self.stage, self.at = to_stage, at
        status = self.status_on_entry.get(to_stage)
        if status:  # stages without a status on entry keep the current one
            self.lead_status = status
        if self.STAGE_DEPTH[to_stage] > self.furthest_depth:
            self.furthest, self.furthest_depth = to_stage, self.STAGE_DEPTH[to_stage]

    def user_for(self, generator: _Generator, actor: Actor) -> User:
        """The SDR who worked a stage: the one who moved it, else the owner, else a fixed one."""
        if actor.type == ActorType.USER and actor.user is not None:
            return actor.user
        if self.owner_id in generator.sdr_ids:
            return generator.user_by_id(self.owner_id)
        return generator.sdrs[self.id % len(generator.sdrs)]


def demo_generate(
    *,
    seed: int = 42,
    people: int = 5000,
    accounts: int = 500,
    months: int = 18,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    touchpoints_per_person: float = 10.0,
    activities_per_person: float = 2.0,
    batch_size: int = BATCH_SIZE,
) -> dict:
    """Load a synthetic company into an empty database and return counts of what was written.

    Refuses (DemoRefusedError) when the database already holds people.
    """
    existing = Person.objects.count()
    if existing:
        raise DemoRefusedError(
            f"The database already holds {existing:,} people; demo data only loads into a database "
            "without people. Point DATABASE_URL (or TANDEM_DATA_DIR) at a fresh database."
        )
    if people < 0 or accounts < 0 or months < 1:
        raise ValueError("people and accounts must be >= 0 and months >= 1")
    started = time.monotonic()
    now = now or _default_now()
    generator = _Generator(
        seed=seed,
        people=people,
        accounts=accounts,
        months=months,
        now=now,
        touchpoints_per_person=touchpoints_per_person,
        activities_per_person=activities_per_person,
        batch_size=batch_size,
        progress=progress,
    )
    with transaction.atomic():
        generator.load_reference()
        generator.create_users()
        generator.create_accounts()
        generator.create_campaigns()
        generator.create_people()
        generator.reset_sequences()
        summary = {
            **generator.counts,
            "seed": seed,
            "now": now.isoformat(),
            "months": months,
            "stages": dict(sorted(generator.stage_counts.items())),
            "users_list": [(user.email, user.get_role_display()) for user in generator.users.values()],
            "password": DEMO_PASSWORD,
        }
        summary["seconds"] = round(time.monotonic() - started, 1)
        actor = Actor.system("demo data generator")
        AuditEntry.objects.create(
            at=timezone.now(),
            actor=None,
            actor_label=actor.display,
            action="demo_load",
            entity_type="demo.dataset",
            entity_id=seed,
            summary=(
                f"Loaded demo data (seed {seed}): {summary['people']:,} people, "
                f"{summary['accounts']:,} accounts, {summary['opportunities']:,} opportunities"
            ),
            after={key: value for key, value in summary.items() if key not in ("users_list", "password")},
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh planner statistics, or the first queries guess badly
    summary["seconds"] = round(time.monotonic() - started, 1)
    return summary
