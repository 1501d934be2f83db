"""The stage-entry rollup: the analysis views read from it agree with the stage history they summarise,
for every filter and period, and it follows new stage changes (backward moves and skips included)."""

import datetime as dt
import random
import threading

import pytest
from huey.contrib.djhuey import HUEY

from tandem.analytics import entry_blocks, selectors, services, tasks
from tandem.analytics.models import RollupState, StageEntry, StageEntryBlock
from tandem.analytics.periods import Period
from tandem.analytics.selectors import ScorecardFilters
from tandem.analytics.tests import reference
from tandem.analytics.tests.fixtures import at, build_company
from tandem.campaigns.models import Campaign, CampaignMember
from tandem.crm.models import LifecycleStage, Person, StageChange
from tandem.crm.tests.factories import make_account, make_person

pytestmark = pytest.mark.django_db
Q1 = Period("quarter", dt.date(2026, 1, 1), dt.date(2026, 4, 1))
PERIODS = [
    Q1,
    Q1.previous(),
    Period("month", dt.date(2026, 2, 1), dt.date(2026, 3, 1)),
    Period("year", dt.date(2026, 1, 1), dt.date(2027, 1, 1)),
    Period("custom", dt.date(2025, 12, 15), dt.date(2026, 2, 11)),
]


def conversion_numbers(conversion):
    return (
        conversion.cohort,
        conversion.reached,
        None if conversion.median_days is None else pytest.approx(conversion.median_days, abs=1e-6),
        None if conversion.p75_days is None else pytest.approx(conversion.p75_days, abs=1e-6),
    )


def assert_views_match_the_history(filters: ScorecardFilters, period: Period):
    for stage in ("lead", "mql", "sql"):
        rows = selectors.funnel(filters, period, stage)
        assert [row.reached for row in rows] == reference.funnel_counts(filters, period, stage), (filters, period)
    expected = reference.conversion_table(filters, period)
    found = selectors.conversion_table(filters, period)
    assert [(row.from_stage, row.to_stage) for row in found] == [(row[0], row[1]) for row in expected]
    for row, (_, _, conversion, within, entered_from, entered_to) in zip(found, expected, strict=True):
        assert conversion_numbers(row.conversion) == conversion_numbers(conversion), (filters, period, row.label)
        assert conversion_numbers(row.within_30) == conversion_numbers(within), (filters, period, row.label)
        assert (row.entered_from, row.entered_to) == (entered_from, entered_to), (filters, period, row.label)
    _, cohorts = selectors.cohort_table(filters, period, "mql", months=4)
    assert [(month.key, counts) for month, counts in cohorts] == reference.cohort_counts(filters, period, "mql", 4)
    trends = selectors.trends(filters, period, months=4)
    assert [(row["month"].key, row["mqls"], row["sqls"]) for row in trends] == reference.trend_counts(
        filters, period, 4
    )


@pytest.fixture
def company(cast):
    built = build_company(cast)
    services.stage_entries_catch_up()
    return built


def test_the_views_agree_with_the_stage_history_for_every_filter_and_period(company, cast):
    campaign = Campaign.objects.get(name="C1")
    CampaignMember.objects.create(
        campaign=campaign, person=company.people.p2, status="responded", created_at=at(2026, 1, 1)
    )
    CampaignMember.objects.create(
        campaign=campaign, person=company.people.p3, status="responded", created_at=at(2026, 1, 1)
    )
    every_filter = [
        ScorecardFilters(),
        ScorecardFilters(owner_id=cast.ae.pk),
        ScorecardFilters(team_id=cast.ae.team_id),
        ScorecardFilters(region="EMEA"),
        ScorecardFilters(industry="Retail"),
        ScorecardFilters(icp_tier=1),
        ScorecardFilters(campaign_id=campaign.pk),
        ScorecardFilters(channel="events"),
        ScorecardFilters(region="Americas", channel="events"),
    ]
    for filters in every_filter:
        for period in PERIODS:
            assert_views_match_the_history(filters, period)


def test_the_fixture_by_hand_through_the_rollup(company):
    # P2 entered MQL twice in Q1 (Jan 10, Feb 10): counted once, from January; P3 skipped SAL.
    rows = {(row.from_stage, row.to_stage): row for row in selectors.conversion_table(ScorecardFilters(), Q1)}
    assert conversion_numbers(rows[("mql", "sal")].conversion) == (5, 3, 3.0, pytest.approx(17.5))
    assert (rows[("mql", "customer")].conversion.cohort, rows[("mql", "customer")].conversion.reached) == (5, 1)
    assert rows[("mql", "customer")].conversion.median_days == pytest.approx(55.0)  # P1 Jan 5 to Mar 1
    assert rows[("sql", "opportunity")].within_30.reached == 1  # P1, 17 days; P2 and P3 never
    entry = StageEntry.objects.get(person=company.people.p2, entered_at=at(2026, 2, 10))
    assert entry.previous_entry_at == at(2026, 1, 10)
    # P5's SQL entry went as far as Customer; the churn afterwards does not undo that.
    entry = StageEntry.objects.get(person=company.people.p5, stage="sql")
    assert entry.furthest_position == LifecycleStage.objects.get(key="customer").position
    assert (entry.next_reached_at, entry.customer_reached_at) == (at(2025, 12, 1), at(2025, 12, 1))


def test_random_histories_with_recycles_skips_and_churn_agree(cast):
    generator = random.Random(7)
    main = ["subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer", "evangelist"]
    side = ["recycled", "disqualified", "churned"]
    accounts = [
        make_account(name=f"A{index}", domain=f"a{index}.example", region=region, industry=industry, icp_tier=tier)
        for index, (region, industry, tier) in enumerate(
            [("EMEA", "Software", 1), ("Americas", "Retail", 2), ("APAC", "Finance", 3)]
        )
    ]
    owners = [cast.ae, cast.sdr, None]
    for index in range(40):
        person = make_person(email=f"r{index}@a{index % 3}.example", owner=owners[index % 3])
        StageChange.objects.filter(person=person).delete()
        moment = at(2025, 11, 1) + dt.timedelta(hours=generator.randint(0, 24 * 150))
        previous = None
        for _ in range(generator.randint(1, 7)):
            # Any main stage (forward, backward or skipping) or a side stage.
            stage = generator.choice(side) if generator.random() < 0.25 else generator.choice(main)
            if stage == previous:
                continue
            StageChange.objects.create(
                person=person,
                from_stage_id=previous,
                to_stage_id=stage,
                at=moment,
                actor_type="system",
                actor_label="t",
            )
            previous = stage
            # Sometimes two moves at the same moment.
            moment += dt.timedelta(hours=generator.choice([0, 5, 30, 24 * 9, 24 * 40]))
    assert {account.pk for account in accounts} >= set(Person.objects.values_list("account_id", flat=True)) - {None}
    services.stage_entries_catch_up()
    for filters in (
        ScorecardFilters(),
        ScorecardFilters(owner_id=cast.ae.pk),
        ScorecardFilters(region="APAC"),
        ScorecardFilters(icp_tier=2),
        ScorecardFilters(industry="Software", owner_id=cast.sdr.pk),
    ):
        for period in PERIODS:
            assert_views_match_the_history(filters, period)


def test_a_new_stage_change_is_counted_at_the_next_catch_up_backward_moves_and_skips_included(company, cast):
    feb = Period("month", dt.date(2026, 2, 1), dt.date(2026, 3, 1))
    assert selectors.funnel(ScorecardFilters(), feb, "mql")[0].reached == 3  # P2 again, P3, P8

    # P4 (disqualified Mar 5) comes back as a lead and skips straight to SQL; P1 churns and comes back.
    for person, before, stage, moment in [
        (company.people.p4, "disqualified", "lead", at(2026, 3, 10)),
        (company.people.p4, "lead", "sql", at(2026, 3, 12)),
        (company.people.p1, "customer", "churned", at(2026, 3, 15)),
        (company.people.p1, "churned", "mql", at(2026, 3, 20)),
    ]:
        StageChange.objects.create(
            person=person, from_stage_id=before, to_stage_id=stage, at=moment, actor_type="system", actor_label="t"
        )
    assert services.stage_entries_catch_up() == 2  # two people refreshed
    assert services.stage_entries_catch_up() == 0  # nothing new
    for period in PERIODS:
        assert_views_match_the_history(ScorecardFilters(), period)
    march = Period("month", dt.date(2026, 3, 1), dt.date(2026, 4, 1))
    rows = {(row.from_stage, row.to_stage): row for row in selectors.conversion_table(ScorecardFilters(), march)}
    assert rows[("lead", "mql")].conversion.reached == 1  # P4 reached MQL by skipping it on Mar 12
    assert rows[("mql", "sal")].conversion.cohort == 2  # P4 (Mar 1) and P1 again (Mar 20)

    # The incremental rows are the rows a full rebuild writes.
    incremental = sorted(StageEntry.objects.values_list())
    blocks = sorted(
        (*row[:4], *(bytes(value) for value in row[4:]))
        for row in StageEntryBlock.objects.values_list(
            "stage", "month", "size", "labels", "entered", "previous", "next_days", "furthest", "owner_ids", "regions"
        )
    )
    services.stage_entries_rebuild()
    assert sorted(StageEntry.objects.values_list()) == incremental
    assert (
        sorted(
            (*row[:4], *(bytes(value) for value in row[4:]))
            for row in StageEntryBlock.objects.values_list(
                "stage",
                "month",
                "size",
                "labels",
                "entered",
                "previous",
                "next_days",
                "furthest",
                "owner_ids",
                "regions",
            )
        )
        == blocks
    )


def test_an_owner_or_segment_change_is_picked_up_by_the_reconcile(company, cast):
    mine = ScorecardFilters(owner_id=cast.ae.pk)
    assert selectors.funnel(mine, Q1, "mql")[0].reached == 2
    Person.objects.filter(pk=company.people.p3.pk).update(owner=cast.ae)
    company.accounts.a2.region = "EMEA"
    company.accounts.a2.save(update_fields=["region"])
    assert services.stage_entries_reconcile() == 6  # P3 (owner); P3-P8 (their account's region)
    assert services.stage_entries_reconcile() == 0
    assert selectors.funnel(mine, Q1, "mql")[0].reached == 3
    assert_views_match_the_history(mine, Q1)
    assert_views_match_the_history(ScorecardFilters(region="EMEA"), Q1)


def test_a_change_of_main_stages_rebuilds_the_rollup(company):
    RollupState.objects.filter(name=services.STAGE_ENTRIES).update(stages="other")
    StageEntry.objects.all().delete()
    assert services.stage_entries_catch_up() == -1
    assert (
        StageEntry.objects.count()
        == StageChange.objects.filter(person__isnull=False, to_stage__is_side_stage=False).count()
    )
    assert_views_match_the_history(ScorecardFilters(), Q1)


def test_the_reconcile_follows_merges_edits_and_deletions(company):
    people = company.people
    # P8's history is moved to P4 (a merge), P6 is erased, and P3's SQL entry is corrected to a day later.
    StageChange.objects.filter(person=people.p8).update(person=people.p4)
    Person.objects.filter(pk=people.p6.pk).delete()
    StageChange.objects.filter(person=people.p3, to_stage_id="sql").update(at=at(2026, 2, 5))
    assert services.stage_entries_reconcile() == 3  # P8's rows (now P4's), P4 and P3
    assert services.stage_entries_reconcile() == 0
    for period in PERIODS:
        assert_views_match_the_history(ScorecardFilters(), period)


def test_a_stage_change_committed_after_a_later_one_was_counted_is_picked_up(company):
    late = StageChange.objects.create(
        person=company.people.p7, from_stage_id="lead", to_stage_id="mql", at=at(2026, 2, 1), actor_type="system"
    )
    services.stage_entries_catch_up()
    StageEntry.objects.filter(stage_change=late).delete()  # as if it had not been visible yet
    assert services.stage_entries_catch_up() == 0
    assert services.stage_entries_catch_up(lookback=services.CATCH_UP_LOOKBACK) == 1
    assert StageEntry.objects.filter(stage_change=late).exists()
    assert_views_match_the_history(ScorecardFilters(), Q1)


def queued_catch_ups() -> list[str]:
    return [task.name for task in HUEY.scheduled() if task.name == "stage_entries_catch_up_queued"]


def test_a_page_never_catches_up_itself_it_queues_one_catch_up_for_the_worker(company, cast, client):
    feb = Period("month", dt.date(2026, 2, 1), dt.date(2026, 3, 1))
    StageChange.objects.create(
        person=company.people.p7, from_stage_id="lead", to_stage_id="mql", at=at(2026, 2, 1), actor_type="system"
    )
    client.force_login(cast.revops)
    for _ in range(3):
        response = client.get("/scorecard/funnel/", {"period": "2026-02", "from": "mql"})
        assert response.status_code == 200
    assert not StageEntry.objects.filter(person=company.people.p7, stage="mql").exists()  # not inline
    assert response.context["data"]["rows"][0][0].reached == 3
    assert queued_catch_ups() == ["stage_entries_catch_up_queued"]  # once, not thrice
    assert services.stage_entries_behind()

    # The worker's run, a few seconds later, counts it; the next page shows it and queues nothing.
    assert tasks.stage_entries_catch_up_queued.call_local() == 1
    assert not services.stage_entries_behind()
    HUEY.flush()
    response = client.get("/scorecard/funnel/", {"period": "2026-02", "from": "mql"})
    assert response.context["data"]["rows"][0][0].reached == 4
    assert selectors.funnel(ScorecardFilters(), feb, "mql")[0].reached == 4
    assert queued_catch_ups() == []
    assert_views_match_the_history(ScorecardFilters(), Q1)


def test_a_recorded_stage_change_queues_one_catch_up_when_it_commits(company, cast, django_capture_on_commit_callbacks):
    from tandem.crm import services as crm_services

    with django_capture_on_commit_callbacks(execute=True):
        crm_services.lifecycle_transition(person=company.people.p7, to_stage="sal", by=cast.revops)
        crm_services.lifecycle_transition(person=company.people.p6, to_stage="sql", by=cast.revops)
    assert queued_catch_ups() == ["stage_entries_catch_up_queued"]
    assert HUEY.scheduled()[0].eta > dt.datetime.now(dt.UTC).replace(tzinfo=None)  # in a few seconds
    assert tasks.stage_entries_catch_up_queued.call_local() == 2
    # The run cleared its mark: the next stage change queues the next run.
    with django_capture_on_commit_callbacks(execute=True):
        crm_services.lifecycle_transition(person=company.people.p7, to_stage="opportunity", by=cast.revops)
    assert len(queued_catch_ups()) == 2
    assert tasks.stage_entries_catch_up_queued.call_local() == 1
    for period in PERIODS:
        assert_views_match_the_history(ScorecardFilters(), period)


def test_a_queued_run_that_finds_another_catch_up_running_queues_itself_again(company, monkeypatch):
    StageChange.objects.create(
        person=company.people.p7, from_stage_id="lead", to_stage_id="mql", at=at(2026, 2, 1), actor_type="system"
    )
    monkeypatch.setattr(services, "stage_entries_catch_up", lambda **kwargs: 0)  # as if the lock were held
    assert tasks.stage_entries_catch_up_queued.call_local() == 0
    assert queued_catch_ups() == ["stage_entries_catch_up_queued"]


def test_a_queued_run_leaves_building_the_rollup_of_a_long_history_to_the_periodic_run(cast, monkeypatch):
    build_company(cast)
    monkeypatch.setattr(services, "QUEUED_REBUILD_LIMIT", 5)
    assert services.stage_entries_behind()
    assert tasks.stage_entries_catch_up_queued.call_local() == 0
    assert not StageEntry.objects.exists()
    assert queued_catch_ups() == []  # nothing to gain from queueing it again
    assert tasks.stage_entries_catch_up.call_local() == -1  # the worker's run every minute
    assert not services.stage_entries_behind()
    assert_views_match_the_history(ScorecardFilters(), Q1)


def test_a_queued_run_builds_a_short_history_s_rollup(cast):
    build_company(cast)
    assert tasks.stage_entries_catch_up_queued.call_local() == -1
    assert_views_match_the_history(ScorecardFilters(), Q1)


def block_contents() -> list[tuple]:
    names = ["stage", "month", "size", "labels", *entry_blocks.COLUMNS]
    return sorted(
        (*row[:4], *(bytes(value) for value in row[4:])) for row in StageEntryBlock.objects.values_list(*names)
    )


@pytest.mark.parametrize("patch_people_limit", [20_000, 1])
def test_blocks_patched_round_after_round_are_the_blocks_built_whole(cast, monkeypatch, patch_people_limit):
    # Patched (a catch-up) or packed again (a large refresh), every column and label list ends up byte for
    # byte as a full rebuild writes it, as stage changes come in, move entries between months and drop
    # an industry or a region from a month.
    monkeypatch.setattr(services, "PATCH_PEOPLE_LIMIT", patch_people_limit)
    generator = random.Random(11)
    main = ["lead", "mql", "sal", "sql", "opportunity", "customer"]
    accounts = [
        make_account(name=f"A{index}", domain=f"a{index}.example", region=region, industry=industry, icp_tier=tier)
        for index, (region, industry, tier) in enumerate(
            [("EMEA", "Software", 1), ("Americas", "Retail", 2), ("APAC", "Finance", 3), ("", "", None)]
        )
    ]
    people = [
        make_person(email=f"b{index}@a{index % 4}.example", owner=[cast.ae, None][index % 2]) for index in range(24)
    ]
    assert {account.pk for account in accounts} >= set(Person.objects.values_list("account_id", flat=True)) - {None}
    services.stage_entries_catch_up()
    for _ in range(6):
        for person in generator.sample(people, 5):
            StageChange.objects.create(
                person=person,
                to_stage_id=generator.choice(main + ["recycled"]),
                # Often at the same moment as another person's: ties in a block keep the built order.
                at=at(2026, 1, 1) + dt.timedelta(days=generator.choice([0, 0, 3, 20, 40, 75])),
                actor_type="system",
            )
        StageChange.objects.filter(person=generator.choice(people)).delete()  # erased, then reconciled
        services.stage_entries_catch_up(lookback=services.CATCH_UP_LOOKBACK)
        services.stage_entries_reconcile()
        patched = block_contents()
        services.stage_entries_rebuild()
        assert block_contents() == patched
    for period in PERIODS:
        assert_views_match_the_history(ScorecardFilters(), period)
        assert_views_match_the_history(ScorecardFilters(region="EMEA", owner_id=cast.ae.pk), period)


@pytest.mark.django_db(transaction=True)
def test_a_catch_up_while_the_reconcile_packs_a_block_again_is_not_lost(cast, monkeypatch):
    # The reconcile packs March's MQL block again (its size is off, as after a deletion). Between its
    # reading of the month's entries and its write, a stage change is recorded and a catch-up runs on
    # another connection: P4, MQL on March 1, reaches SQL, which changes P4's MQL entry but not the size
    # of the block. The catch-up's patch must not be overwritten with what the reconcile read before it.
    from django.db import OperationalError, connection

    company = build_company(cast)
    services.stage_entries_catch_up()
    march = dt.date(2026, 3, 1)
    StageEntryBlock.objects.filter(stage="mql", month=march).update(size=5)
    real_pack, outcome = entry_blocks.pack, {}

    def meanwhile():
        try:
            if connection.vendor == "sqlite":
                with connection.cursor() as cursor:  # a writer waiting on the lock gives up at once
                    cursor.execute("PRAGMA busy_timeout = 100")
            StageChange.objects.create(
                person=company.people.p4,
                from_stage_id="mql",
                to_stage_id="sql",
                at=at(2026, 3, 20),
                actor_type="system",
            )
            outcome["catch_up"] = services.stage_entries_catch_up()
        except OperationalError as error:  # SQLite: the reconcile holds the database's write lock
            outcome["catch_up"] = str(error)
        finally:
            connection.close()

    def pack_meanwhile(rows):
        fields = real_pack(rows)
        if threading.current_thread() is threading.main_thread() and "catch_up" not in outcome:
            other = threading.Thread(target=meanwhile)
            other.start()
            other.join()
        return fields

    monkeypatch.setattr(entry_blocks, "pack", pack_meanwhile)
    services.stage_entries_reconcile()
    monkeypatch.setattr(entry_blocks, "pack", real_pack)
    # PostgreSQL: the catch-up found the lock held and left the change to its next run; SQLite: it could
    # not even begin its transaction.
    assert outcome["catch_up"] == 0 if connection.vendor == "postgresql" else "locked" in outcome["catch_up"]
    if not StageChange.objects.filter(person=company.people.p4, to_stage_id="sql").exists():
        StageChange.objects.create(  # SQLite: the reconcile's lock kept the other connection from writing
            person=company.people.p4, from_stage_id="mql", to_stage_id="sql", at=at(2026, 3, 20), actor_type="system"
        )
    services.stage_entries_catch_up()  # the next run, as the worker's every minute

    blocks = block_contents()
    services.stage_entries_rebuild()
    assert blocks == block_contents()
    p4 = StageEntry.objects.get(person=company.people.p4, stage="mql")
    assert p4.next_reached_at == at(2026, 3, 20)
    assert_views_match_the_history(ScorecardFilters(), Period("month", march, dt.date(2026, 4, 1)))
