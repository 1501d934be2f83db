"""Routing on plain data: which rep gets an MQL, by the contract's routing section.

The section (docs/handoff.md) lists routing rules; the first whose territory condition holds for the
person decides the pool of reps. Within a pool the lead goes, in order of preference, to the existing
owner (the person's, then their account's) when `owner_first` and the owner is available, else to the
available rep the pool owes most: each decision credits every available rep with their share by weight
(`expected`) and the rep with the largest `expected - assigned` gets it (ties: larger weight, then lower
id). That is weighted round robin that stays within one lead of the weights, and that a rep away for a
week neither gains nor loses by. A rep is available when active, not on time off and under their daily cap.
Nobody available: the decision is to queue the lead for the rule's team.

Nothing here reads the database: the services load reps, balances and facts, and write the decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem.lib.rules import Facts, Rule, RuleError, evaluate, explain, parse
from tandem.lib.rules.catalogue import Catalogue
from tandem.lib.rules.contract_sections import check_condition, document_catalogue

DEFAULT_DAILY_CAP = 50
MAX_DAILY_CAP = 10_000
MAX_WEIGHT = 100
OWNER_POOL = "Existing owner"
MANUAL_POOL = "Manual"


@dataclass(frozen=True)
class RepSpec:
    """A rep named in a routing rule, with their weight and, optionally, their own daily cap."""

    email: str
    weight: float = 1
    daily_cap: int | None = None


@dataclass(frozen=True)
class RoutingRule:
    """One territory: the condition, the team whose queue holds its leads, and its reps (None: the team's)."""

    name: str
    team: str
    when: Rule | None = None
    reps: tuple[RepSpec, ...] | None = None


@dataclass(frozen=True)
class RoutingSection:
    """The contract's routing section, parsed."""

    rules: tuple[RoutingRule, ...]
    owner_first: bool = True
    daily_cap: int = DEFAULT_DAILY_CAP

    def rule_for(self, facts: Facts) -> RoutingRule | None:
        """The first rule whose condition holds for these facts."""
        for rule in self.rules:
            if rule.when is None or evaluate(rule.when, facts):
                return rule
        return None

    @property
    def conditions(self) -> list[Rule]:
        return [rule.when for rule in self.rules if rule.when is not None]


class RoutingSectionError(ValueError):
    """A routing section that cannot run, with (path, message) for every problem."""

    def __init__(self, errors: list[tuple[tuple, str]]):
        self.errors = errors
        super().__init__("; ".join(message for _, message in errors[:5]))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_routing(section: Any, path: tuple, report, document: dict) -> None:
    """Report every problem of a routing section at its path; registered with the contract's checks."""
    catalogue = document_catalogue(document)
    if not isinstance(section, dict):
        report(path, "expected a mapping with owner_first, daily_cap and rules.")
        return
    for name in section:
        if name not in ("owner_first", "daily_cap", "rules"):
            report((*path, str(name)), "unknown entry; expected one of owner_first, daily_cap, rules.")
    if not isinstance(section.get("owner_first", True), bool):
        report((*path, "owner_first"), "expected true or false.")
    cap = section.get("daily_cap", DEFAULT_DAILY_CAP)
    if not _is_whole(cap) or not 1 <= cap <= MAX_DAILY_CAP:
        report((*path, "daily_cap"), f"expected a whole number from 1 to {MAX_DAILY_CAP}, got {cap!r}.")
    rules = section.get("rules")
    if not isinstance(rules, list) or not rules:
        report((*path, "rules"), "is required: a list of routing rules, each with a name and a team.")
        return
    names: set[str] = set()
    for index, rule in enumerate(rules):
        rule_path = (*path, "rules", index)
        if not isinstance(rule, dict):
            report(rule_path, "expected a mapping with name, when, team and reps.")
            continue
        for name in rule:
            if name not in ("name", "when", "team", "reps"):
                report((*rule_path, str(name)), "unknown entry; expected one of name, when, team, reps.")
        name = rule.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 80:
            report((*rule_path, "name"), "is required: text of at most 80 characters.")
        elif name in names or name in (OWNER_POOL, MANUAL_POOL):
            report((*rule_path, "name"), f"'{name}' is already used; rule names must be unique.")
        else:
            names.add(name)
        team = rule.get("team")
        if not isinstance(team, str) or not team.strip() or len(team) > 100:
            report((*rule_path, "team"), "is required: the name of the team whose queue holds this rule's leads.")
        if "when" in rule:
            _check_when(rule["when"], (*rule_path, "when"), report, catalogue)
        if "reps" in rule:
            _check_reps(rule["reps"], (*rule_path, "reps"), report)


def _check_when(condition: Any, path: tuple, report, catalogue: Catalogue) -> None:
    if isinstance(condition, str) and not condition.strip() or not isinstance(condition, str | dict):
        report(path, "expected a condition: rule text, or a mapping with one of all, any, not.")
        return
    check_condition(condition, path, report, catalogue)


def _check_reps(reps: Any, path: tuple, report) -> None:
    if not isinstance(reps, list) or not reps:
        report(path, "expected a list of reps, each {email, weight, daily_cap}; leave it out to use the team's reps.")
        return
    emails: set[str] = set()
    for index, rep in enumerate(reps):
        rep_path = (*path, index)
        if not isinstance(rep, dict):
            report(rep_path, "expected a mapping with email, weight and daily_cap.")
            continue
        for name in rep:
            if name not in ("email", "weight", "daily_cap"):
                report((*rep_path, str(name)), "unknown entry; expected one of email, weight, daily_cap.")
        email = rep.get("email")
        if not isinstance(email, str) or "@" not in email:
            report((*rep_path, "email"), f"expected the email address of a user, got {email!r}.")
        elif email.lower() in emails:
            report((*rep_path, "email"), f"{email} is listed twice.")
        else:
            emails.add(email.lower())
        weight = rep.get("weight", 1)
        if not _is_number(weight) or not 0 < weight <= MAX_WEIGHT:
            report((*rep_path, "weight"), f"expected a number above 0 and at most {MAX_WEIGHT}, got {weight!r}.")
        cap = rep.get("daily_cap")
        if cap is not None and (not _is_whole(cap) or not 0 <= cap <= MAX_DAILY_CAP):
            report((*rep_path, "daily_cap"), f"expected a whole number from 0 to {MAX_DAILY_CAP}, got {cap!r}.")


def routing_parse(section: Mapping | None, *, document: dict | None = None) -> RoutingSection:
    """The routing section as dataclasses; RoutingSectionError lists every problem.

    A document without a routing section routes every MQL to the team named "Sales".
    """
    document = document or {}
    if not section:
        return RoutingSection(rules=(RoutingRule(name="All MQLs", team="Sales"),))
    errors: list[tuple[tuple, str]] = []
    check_routing(section, ("routing",), lambda path, message: errors.append((path, message)), document)
    if errors:
        raise RoutingSectionError(errors)
    catalogue = document_catalogue(document)
    rules = []
    for rule in section["rules"]:
        try:
            when = parse(rule["when"], catalogue=catalogue) if "when" in rule else None
        except RuleError as error:  # pragma: no cover - check_routing reports these first
            raise RoutingSectionError([(("routing",), str(error))]) from None
        reps = None
        if "reps" in rule:
            reps = tuple(
                RepSpec(email=rep["email"].lower(), weight=float(rep.get("weight", 1)), daily_cap=rep.get("daily_cap"))
                for rep in rule["reps"]
            )
        rules.append(RoutingRule(name=rule["name"], team=rule["team"], when=when, reps=reps))
    return RoutingSection(
        rules=tuple(rules),
        owner_first=section.get("owner_first", True),
        daily_cap=section.get("daily_cap", DEFAULT_DAILY_CAP),
    )


# ---------------------------------------------------------------- deciding


@dataclass
class Rep:
    """A rep as routing sees them at one moment: available or not, and how many leads they got today."""

    user_id: int
    name: str = ""
    daily_cap: int = DEFAULT_DAILY_CAP
    is_away: bool = False
    is_active: bool = True
    assigned_today: int = 0

    @property
    def is_available(self) -> bool:
        return self.is_active and not self.is_away and self.assigned_today < self.daily_cap

    def why_unavailable(self) -> str:
        if not self.is_active:
            return "inactive"
        if self.is_away:
            return "out of office"
        return "at their daily cap"


@dataclass
class Balance:
    """A rep's running totals in one pool: leads expected by weight and leads assigned."""

    expected: float = 0.0
    assigned: int = 0

    @property
    def deficit(self) -> float:
        return self.expected - self.assigned


@dataclass(frozen=True)
class Pool:
    """The reps of one routing rule with their weights, and the team whose queue holds what none can take."""

    name: str
    team_id: int | None
    members: tuple[tuple[int, float], ...]  # (user id, weight)


@dataclass(frozen=True)
class Lead:
    """What routing needs of one MQL: who, their rule's facts, and their existing owners (person's, account's)."""

    person_id: int
    facts: Facts
    owner_ids: tuple[int, ...] = ()


@dataclass
class Decision:
    """Where one lead goes and why; `shares` are the (user id, weight, expected share) written to the ledger."""

    person_id: int
    pool: str
    team_id: int | None
    user_id: int | None
    reason: str
    shares: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def is_queued(self) -> bool:
        return self.user_id is None


class Router:
    """Decides leads one after another, keeping balances and today's counts up to date in memory."""

    def __init__(
        self,
        section: RoutingSection,
        pools: Mapping[str, Pool],
        reps: Mapping[int, Rep],
        balances: dict[tuple[str, int], Balance] | None = None,
    ):
        self.section = section
        self.pools = pools
        self.reps = reps
        self.balances = balances if balances is not None else {}

    def balance(self, pool: str, user_id: int) -> Balance:
        key = (pool, user_id)
        found = self.balances.get(key)
        if found is None:
            found = self.balances[key] = Balance()
        return found

    def route(self, lead: Lead, *, exclude: Iterable[int] = ()) -> Decision:
        """The decision for one lead; `exclude` names reps who may not take it (a reassignment's current rep)."""
        excluded = set(exclude)
        rule = self.section.rule_for(lead.facts)
        if rule is None:
            return Decision(lead.person_id, "", None, None, "No routing rule matches this person.")
        pool = self.pools[rule.name]
        where = f"rule '{rule.name}'"
        if rule.when is not None:
            where += f" ({explain(rule.when, lead.facts)})"
        if self.section.owner_first:
            for owner_id in lead.owner_ids:
                owner = self.reps.get(owner_id)
                if owner is None or owner_id in excluded:
                    continue
                if owner.is_available:
                    owner.assigned_today += 1
                    # Owner leads are neutral: expected and assigned both grow, the deficit does not move.
                    balance = self.balance(OWNER_POOL, owner_id)
                    balance.expected += 1
                    balance.assigned += 1
                    return Decision(
                        lead.person_id,
                        OWNER_POOL,
                        pool.team_id,
                        owner_id,
                        f"Existing owner {owner.name or owner_id} first; {where}.",
                        shares=[(owner_id, 1.0, 1.0)],
                    )
        available = [
            (user_id, weight)
            for user_id, weight in pool.members
            if user_id not in excluded and self.reps[user_id].is_available
        ]
        if not available:
            away = sorted(
                {self.reps[user_id].why_unavailable() for user_id, _ in pool.members if user_id not in excluded}
            )
            detail = f"every rep is {' or '.join(away)}" if away else "the rule has no other reps"
            return Decision(lead.person_id, rule.name, pool.team_id, None, f"Queued: {where} matched but {detail}.")
        total = sum(weight for _, weight in available)
        shares = []
        best_id, best_key = None, None
        for user_id, weight in available:
            share = weight / total
            balance = self.balance(rule.name, user_id)
            balance.expected += share
            shares.append((user_id, weight, share))
            key = (balance.deficit, weight, -user_id)
            if best_key is None or key > best_key:
                best_id, best_key = user_id, key
        self.balance(rule.name, best_id).assigned += 1
        rep = self.reps[best_id]
        rep.assigned_today += 1
        return Decision(
            lead.person_id,
            rule.name,
            pool.team_id,
            best_id,
            f"Weighted round robin among {len(available)} available reps; {where}.",
            shares=shares,
        )
