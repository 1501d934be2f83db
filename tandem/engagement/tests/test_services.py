"""Channels, identity, merges, sessions, UTM quality, storage upkeep: services and selectors on a real database."""

import datetime as dt
import json

import pytest
from django.db import connection

from tandem.audit.actors import Actor
from tandem.audit.models import AuditEntry
from tandem.campaigns.models import Campaign
from tandem.contract.document import default_source, parse_source
from tandem.crm.models import Activity, Person, StageChange
from tandem.crm.tests.factories import make_person
from tandem.engagement import partitions
from tandem.engagement.channels import ChannelClassifier, channel_rules_parse
from tandem.engagement.ingest import Limits, events_check
from tandem.engagement.models import PersonMerge, Touchpoint, TouchpointKey, Visitor
from tandem.engagement.selectors import (
    channel_classifier,
    default_channels_section,
    sessions_split,
    utm_problems,
    utm_report,
)
from tandem.engagement.services import events_store, person_merge, retention_cutoff, touchpoints_retention_apply

NOW = dt.datetime(2026, 5, 14, 12, 0, tzinfo=dt.UTC)
SYSTEM = Actor.system("test")


@pytest.fixture
def classifier():
    return ChannelClassifier(channel_rules_parse(default_channels_section()))


@pytest.mark.parametrize(
    ("kind", "source", "medium", "referrer", "channel"),
    [
        ("page_view", "google", "cpc", "https://www.google.com/", "paid_search"),
        ("page_view", "", "", "https://www.google.co.uk/search?q=x", "organic_search"),
        ("page_view", "", "", "https://duckduckgo.com/", "organic_search"),
        ("page_view", "linkedin", "paid_social", "", "paid_social"),
        ("page_view", "", "", "https://t.co/abc", "organic_social"),
        ("page_view", "newsletter", " Email ", "", "email"),
        ("page_view", "", "", "https://news.ycombinator.com/item?id=1", "referral"),
        ("page_view", "", "", "", "direct"),
        ("page_view", "acme", "affiliate", "", "partner"),
        ("webinar", "", "", "", "events"),
        ("email_open", "", "", "", "email"),
        ("call", "", "", "", "outbound_sales"),
    ],
)
def test_the_default_rules_classify_channels(classifier, kind, source, medium, referrer, channel):
    assert classifier.classify(kind, source, medium, referrer) == channel


def test_own_hosts_are_not_referrals():
    section = {**default_channels_section(), "own_hosts": ["acme.com"]}
    classifier = ChannelClassifier(channel_rules_parse(section))
    assert classifier.classify("page_view", "", "", "https://www.acme.com/pricing") == "direct"
    assert classifier.classify("page_view", "", "", "https://blog.acme.com/") == "direct"
    assert classifier.classify("page_view", "", "", "https://notacme.com/") == "referral"


def test_the_contract_refuses_a_bad_channels_section_at_its_path():
    source = default_source().replace("- {channel: partner, utm_medium: [partner, affiliate, reseller]}",
                                      "- {channel: partners, utm_medium: partner, colour: red}")  # fmt: skip
    source = source.replace("- {channel: organic_search, referrer: search_engines}",
                            "- {channel: organic_search, referrer: engines}")  # fmt: skip
    _document, problems = parse_source(source)
    found = {(problem.path, problem.message) for problem in problems}
    channels = "organic_search, paid_search, organic_social, paid_social, email, referral, direct, events, partner, "
    channels += "outbound_sales, content"
    assert ("channels.rules[8].channel", f"unknown channel 'partners'; the channels are {channels}.") in found
    assert ("channels.rules[8].utm_medium", "expected a list of values.") in found
    assert (
        "channels.rules[8].colour",
        "unknown key; a rule has channel, utm_medium, utm_source, type, referrer.",
    ) in found
    assert (
        "channels.rules[13].referrer",
        "'engines' is neither any, none nor a referrer group of this section.",
    ) in found
    assert len(problems) == 4


def test_the_default_contract_with_channels_is_valid():
    _document, problems = parse_source(default_source())
    assert problems == []


def _store(events, now=NOW):
    checked = events_check(events, now=now, limits=Limits(), classifier=channel_classifier())
    return events_store(checked=checked, by=SYSTEM)


@pytest.mark.django_db
def test_an_identified_visitor_gets_their_earlier_visits_and_a_score_refresh(django_capture_on_commit_callbacks):
    _store([{"type": "page_view", "anonymous_id": "a1", "occurred_at": "2026-05-14T10:00:00Z", "client_event_id": "1"}])
    person = make_person(email="kim@acme.com")
    with django_capture_on_commit_callbacks() as callbacks:
        result = _store(
            [
                {
                    "type": "form_submit",
                    "anonymous_id": "a1",
                    "email": "KIM@acme.com",
                    "occurred_at": "2026-05-14T10:05:00Z",
                }
            ]
        )
    assert result.person_ids == {person.pk}
    assert len(callbacks) == 1  # one score refresh queued for the person
    assert sorted(person.touchpoints.values_list("type", flat=True)) == ["form_submit", "page_view"]
    assert Person.objects.count() == 1


@pytest.mark.django_db
def test_merging_moves_all_history_and_records_it(cast):
    kept = make_person(email="kim@acme.com", title="")
    merged = make_person(email="kim.old@acme.com", title="VP Marketing", phone="+1 555 0100")
    _store([
        {"type": "page_view", "person_id": kept.pk, "client_event_id": "k1"},
        {"type": "page_view", "person_id": merged.pk, "client_event_id": "m1"},
        {"type": "email_open", "person_id": merged.pk, "client_event_id": "m2"},
        {"type": "page_view", "anonymous_id": "cookie-m", "email": "kim.old@acme.com", "client_event_id": "m3"},
    ])  # fmt: skip
    Activity.objects.create(
        person=merged, kind="call", subject="Intro call", occurred_at=NOW, created_at=NOW, user=cast.sdr
    )
    record = person_merge(by=cast.revops, kept=kept, merged=merged)
    assert not Person.objects.filter(pk=merged.pk).exists()
    kept.refresh_from_db()
    assert sorted(kept.touchpoints.values_list("client_event_id", flat=True)) == ["k1", "m1", "m2", "m3"]
    assert Visitor.objects.get(anonymous_id="cookie-m").person == kept
    assert Activity.objects.get(subject="Intro call").person == kept
    assert StageChange.objects.filter(person=kept).count() == 2
    assert (kept.title, kept.phone, kept.email) == ("VP Marketing", "+1 555 0100", "kim@acme.com")
    assert record.moved_counts["touchpoints"] == 3
    assert record.merged_email == "kim.old@acme.com"
    assert PersonMerge.objects.get().kept_person == kept
    entry = AuditEntry.objects.get(action="merge")
    assert (entry.entity_id, entry.before["merged_person_id"]) == (kept.pk, merged.pk)


@pytest.mark.django_db
def test_merging_into_oneself_is_refused_and_changes_nothing(cast):
    from django.core.exceptions import ValidationError

    person = make_person(email="kim@acme.com")
    with pytest.raises(ValidationError):
        person_merge(by=cast.revops, kept=person, merged=person)
    assert Person.objects.filter(pk=person.pk).exists()
    assert PersonMerge.objects.count() == 0


@pytest.mark.django_db
def test_the_merge_api_needs_revops_or_a_manager(client, cast):
    kept, merged = make_person(email="a@acme.com"), make_person(email="b@acme.com")
    client.force_login(cast.marketer)
    url = f"/api/v1/people/{kept.pk}/merge"
    refused = client.post(url, json.dumps({"merged_person": merged.pk}), content_type="application/json")
    assert refused.status_code == 403
    assert Person.objects.count() == 2
    client.force_login(cast.revops)
    response = client.post(url, json.dumps({"merged_person": merged.pk}), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["merged_person"] == merged.pk
    assert list(Person.objects.values_list("pk", flat=True)) == [kept.pk]


def test_sessions_end_after_thirty_minutes_without_a_page_view():
    at = lambda minutes: NOW + dt.timedelta(minutes=minutes)  # noqa: E731
    views = [(at(0), "/a", "email"), (at(29), "/b", "email"), (at(59), "/c", "email"), (at(90), "/d", "direct"),
             (at(5), "/a2", "email")]  # fmt: skip
    sessions = sessions_split(views)
    assert [(s.started_at, s.ended_at, s.page_views, s.first_url) for s in sessions] == [
        (at(0), at(59), 4, "/a"),
        (at(90), at(90), 1, "/d"),
    ]


@pytest.mark.django_db
def test_the_sessions_api_lists_a_persons_visits_newest_first(client, cast):
    person = make_person(email="kim@acme.com")
    _store([{"type": "page_view", "person_id": person.pk, "occurred_at": f"2026-05-14T{hour}:00:00Z", "url": f"https://x.test/{hour}"}
            for hour in ("08", "09", "11")])  # fmt: skip
    client.force_login(cast.marketer)
    body = client.get(f"/api/v1/people/{person.pk}/sessions").json()
    assert [(s["first_url"], s["page_views"]) for s in body] == [
        ("https://x.test/11", 1),
        ("https://x.test/09", 1),
        ("https://x.test/08", 1),
    ]


def test_utm_problems_find_missing_inconsistent_and_unknown_tags():
    rules = channel_rules_parse(default_channels_section())
    rows = [
        ("google", "cpc", "spring", 100),
        ("Google", "cpc", "spring", 7),
        ("newsletter", "", "", 12),
        ("", "email", "spring", 3),
        ("facebook", "social-ads", "spring", 9),
        ("linkedin", "paid_social", "", 5),
    ]
    problems = utm_problems(rows, rules=rules, campaign_keys={"spring"})
    assert [(p.kind, p.field, p.value, p.touchpoints) for p in problems] == [
        ("missing", "utm_medium", "source newsletter", 12),
        ("missing", "utm_campaign", "linkedin / paid_social", 5),
        ("missing", "utm_source", "medium email", 3),
        ("inconsistent", "utm_source", "google", 107),
        ("unknown", "utm_medium", "social-ads", 9),
    ]
    assert problems[3].detail == "written 'google' (100), 'Google' (7)"


@pytest.mark.django_db
def test_the_utm_report_counts_a_period(client, cast):
    now = dt.datetime.now(dt.UTC)
    Campaign.objects.create(name="Spring", channel="email", utm_campaign="spring", created_at=now, updated_at=now)
    stamp = (now - dt.timedelta(days=1)).isoformat()
    _store(
        [
            {
                "type": "page_view",
                "anonymous_id": "a",
                "utm_source": "google",
                "utm_medium": "cpc",
                "utm_campaign": "autumn",
                "occurred_at": stamp,
            }
        ]
        * 3
        + [{"type": "page_view", "anonymous_id": "b", "occurred_at": stamp}],
        now=now,
    )  # fmt: skip
    report = utm_report(start=now - dt.timedelta(days=7), end=now + dt.timedelta(days=1))
    assert (report.touchpoints, report.tagged) == (4, 3)
    assert [(p.kind, p.field, p.value, p.touchpoints) for p in report.problems] == [
        ("unknown", "utm_campaign", "autumn", 3)
    ]
    client.force_login(cast.marketer)
    page = client.get("/reports/utm/")
    assert page.status_code == 200
    assert "no campaign has this utm_campaign" in page.content.decode()


@pytest.mark.django_db
def test_the_tracking_page_shows_the_snippet(client, cast):
    client.force_login(cast.marketer)
    page = client.get("/settings/tracking/").content.decode()
    assert "/static/engagement/tandem.js" in page
    assert "data-endpoint=&quot;http://testserver&quot;" in page


def test_retention_cuts_at_the_start_of_a_month():
    assert retention_cutoff(months=3, now=NOW) == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert retention_cutoff(months=13, now=NOW) == dt.datetime(2025, 4, 1, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_retention_removes_old_touchpoints_and_their_keys_only():
    events = [
        {"type": "page_view", "anonymous_id": "a", "client_event_id": f"e{m}", "occurred_at": f"2026-{m:02d}-10"}
        for m in (1, 2, 3, 4, 5)
    ]
    assert _store(events).stored == 5
    result = touchpoints_retention_apply(by=SYSTEM, months=3, now=NOW)
    assert result.cutoff == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert result.touchpoints_deleted == 1
    assert sorted(Touchpoint.objects.values_list("client_event_id", flat=True)) == ["e2", "e3", "e4", "e5"]
    assert sorted(TouchpointKey.objects.values_list("client_event_id", flat=True)) == ["e2", "e3", "e4", "e5"]
    if partitions.is_partitioned():
        assert result.partitions_dropped == ["engagement_touchpoint_p202601"]
    assert AuditEntry.objects.get(action="retention").after["touchpoints"] == 1
    assert touchpoints_retention_apply(by=SYSTEM, months=0, now=NOW).touchpoints_deleted == 0
    assert Touchpoint.objects.count() == 4


@pytest.mark.django_db
def test_postgresql_stores_touchpoints_in_month_partitions_and_moves_a_month_out_of_the_default():
    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL's; SQLite keeps one table")
    partitions.forget()
    with connection.cursor() as cursor:
        # A row written without going through ingestion lands in the default partition.
        cursor.execute(
            "INSERT INTO engagement_touchpoint (anonymous_id, type, channel, utm_source, utm_medium, utm_campaign, "
            "utm_term, utm_content, url, referrer, occurred_at, properties) "
            "VALUES ('x', 'page_view', '', '', '', '', '', '', '', '', '2025-03-10T00:00:00Z', '{}')"
        )
    assert (
        _store(
            [{"type": "page_view", "anonymous_id": "y", "occurred_at": "2025-03-20T00:00:00Z"}],
            now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        ).stored
        == 1
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text, anonymous_id FROM engagement_touchpoint ORDER BY anonymous_id")
        assert cursor.fetchall() == [("engagement_touchpoint_p202503", "x"), ("engagement_touchpoint_p202503", "y")]
        cursor.execute("SELECT count(*) FROM engagement_touchpoint_default")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_the_person_page_panel_shows_sessions_and_merges(client, cast):
    person = make_person(email="kim@acme.com")
    other = make_person(email="kim.old@acme.com")
    _store(
        [
            {
                "type": "page_view",
                "person_id": person.pk,
                "occurred_at": "2026-05-14T09:00:00Z",
                "url": "https://x.test/a",
            },
            {
                "type": "page_view",
                "person_id": person.pk,
                "occurred_at": "2026-05-14T09:10:00Z",
                "url": "https://x.test/b",
            },
        ]
    )
    person_merge(by=cast.revops, kept=person, merged=other)
    client.force_login(cast.marketer)
    panel = client.get(f"/people/{person.pk}/visits/").content.decode()
    assert "2026-05-14 09:00</strong> · 2 page views · direct" in panel
    assert "kim.old@acme.com" in panel
    assert "by Rita RevOps" in panel
