"""Business-hours calendars: due times across nights, weekends, holidays, DST and zones."""

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tandem.lib.business_hours import (
    BusinessCalendar,
    CalendarError,
    OpeningInterval,
    add_business_days,
    add_business_minutes,
    business_minutes_between,
    calendar_from_mapping,
    is_open,
    next_opening,
    time_off_for_dates,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
UTC = dt.UTC

WEEKDAYS_9_TO_5 = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-17:00")


def paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def new_york(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


@pytest.fixture
def paris_office() -> BusinessCalendar:
    """Mon–Fri 09:00–17:00 in Paris with French public holidays."""
    return calendar_from_mapping({"time_zone": "Europe/Paris", "hours": WEEKDAYS_9_TO_5, "holiday_country": "FR"})


@pytest.fixture
def always_open_paris() -> BusinessCalendar:
    """Every day, all day, in Paris: business time equals elapsed time."""
    return calendar_from_mapping(
        {
            "time_zone": "Europe/Paris",
            "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00"),
        }
    )


# --- within a day, nights and weekends ------------------------------------------------


def test_adding_within_opening_hours_stays_the_same_day(paris_office):
    due = add_business_minutes(paris_office, paris(2026, 3, 10, 10, 0), 60)
    assert due == paris(2026, 3, 10, 11, 0)
    assert due.tzinfo is UTC


def test_an_amount_that_ends_at_closing_time_is_due_at_closing_not_next_morning(paris_office):
    assert add_business_minutes(paris_office, paris(2026, 3, 10, 16, 0), 60) == paris(2026, 3, 10, 17, 0)


def test_the_remainder_carries_over_the_night(paris_office):
    # 16:30 Tuesday + 60 min: 30 before closing, 30 after Wednesday's opening.
    assert add_business_minutes(paris_office, paris(2026, 3, 10, 16, 30), 60) == paris(2026, 3, 11, 9, 30)


def test_a_start_before_opening_counts_from_opening(paris_office):
    assert add_business_minutes(paris_office, paris(2026, 3, 10, 6, 15), 90) == paris(2026, 3, 10, 10, 30)


def test_friday_evening_is_due_on_monday(paris_office):
    # Friday 16:00 + 4 business hours: 1 h on Friday, 3 h on Monday.
    assert add_business_minutes(paris_office, paris(2026, 3, 13, 16, 0), 240) == paris(2026, 3, 16, 12, 0)


def test_a_saturday_start_is_due_monday(paris_office):
    assert add_business_minutes(paris_office, paris(2026, 3, 14, 11, 0), 60) == paris(2026, 3, 16, 10, 0)


def test_two_business_days(paris_office):
    # 2 business days = 16 business hours from Thursday 14:00 → Monday 14:00.
    assert add_business_minutes(paris_office, paris(2026, 3, 12, 14, 0), 16 * 60) == paris(2026, 3, 16, 14, 0)


def test_zero_minutes_is_the_start_itself(paris_office):
    start = paris(2026, 3, 14, 11, 0)  # a Saturday
    assert add_business_minutes(paris_office, start, 0) == start


def test_a_negative_amount_is_refused(paris_office):
    with pytest.raises(ValueError, match="must not be negative"):
        add_business_minutes(paris_office, paris(2026, 3, 10, 10, 0), -1)


def test_a_naive_start_is_refused(paris_office):
    with pytest.raises(ValueError, match="start must be an aware datetime"):
        add_business_minutes(paris_office, dt.datetime(2026, 3, 10, 10, 0), 60)


def test_seconds_are_kept(paris_office):
    due = add_business_minutes(paris_office, paris(2026, 3, 10, 16, 59, 30), 1)
    assert due == paris(2026, 3, 11, 9, 0, 30)


def test_a_split_day_skips_the_lunch_break():
    calendar = calendar_from_mapping({"time_zone": "Europe/Paris", "hours": {"mon": ["09:00-12:00", "14:00-18:00"]}})
    assert add_business_minutes(calendar, paris(2026, 3, 9, 11, 0), 120) == paris(2026, 3, 9, 15, 0)
    assert business_minutes_between(calendar, paris(2026, 3, 9, 11, 0), paris(2026, 3, 9, 15, 0)) == 120


def test_a_night_shift_split_at_midnight_runs_on_across_it():
    calendar = calendar_from_mapping(
        {"time_zone": "Europe/Paris", "hours": {"mon": "22:00-24:00", "tue": "00:00-06:00"}}
    )
    assert add_business_minutes(calendar, paris(2026, 3, 9, 23, 0), 120) == paris(2026, 3, 10, 1, 0)
    # Tuesday 05:00 + 2 h: one hour left on Tuesday, the next open hour is Monday night.
    assert add_business_minutes(calendar, paris(2026, 3, 10, 5, 0), 120) == paris(2026, 3, 16, 23, 0)


# --- holidays and closed days ----------------------------------------------------------


def test_a_french_public_holiday_is_skipped(paris_office):
    # Easter Monday 2026 is 6 April: Friday 3 April 16:00 + 2 h lands on Tuesday 7 April.
    assert paris_office.holiday_name(dt.date(2026, 4, 6)) == "Easter Monday"
    assert add_business_minutes(paris_office, paris(2026, 4, 3, 16, 0), 120) == paris(2026, 4, 7, 10, 0)


def test_a_run_of_holidays_in_may(paris_office):
    # Thursday 30 April 16:00 + 8 h: 1 h on Thursday; 1 May (Fri) is Labour Day; the
    # weekend; Monday 4 May gives the other 7 h.
    assert add_business_minutes(paris_office, paris(2026, 4, 30, 16, 0), 8 * 60) == paris(2026, 5, 4, 16, 0)
    # Thursday 7 May 17:00 + 1 h: 8 May (Fri) is Victory Day → Monday 11 May 10:00.
    assert add_business_minutes(paris_office, paris(2026, 5, 7, 17, 0), 60) == paris(2026, 5, 11, 10, 0)


def test_a_holiday_of_another_country_is_a_working_day(paris_office):
    new_york_office = calendar_from_mapping(
        {"time_zone": "America/New_York", "hours": WEEKDAYS_9_TO_5, "holiday_country": "US"}
    )
    # 14 July is the French national day, an ordinary Tuesday in New York.
    assert add_business_minutes(paris_office, paris(2026, 7, 14, 10, 0), 60) == paris(2026, 7, 15, 10, 0)
    assert add_business_minutes(new_york_office, new_york(2026, 7, 14, 10, 0), 60) == new_york(2026, 7, 14, 11, 0)
    # Thanksgiving (26 Nov 2026) is closed in New York.
    assert add_business_minutes(new_york_office, new_york(2026, 11, 25, 16, 0), 120) == new_york(2026, 11, 27, 10, 0)


def test_a_subdivision_has_its_own_holidays():
    def bavaria_or_berlin(subdivision: str) -> BusinessCalendar:
        return calendar_from_mapping(
            {
                "time_zone": "Europe/Berlin",
                "hours": WEEKDAYS_9_TO_5,
                "holiday_country": "DE",
                "holiday_subdivision": subdivision,
            }
        )

    berlin = ZoneInfo("Europe/Berlin")
    start = dt.datetime(2026, 1, 5, 16, 0, tzinfo=berlin)  # Monday; 6 Jan is Epiphany in Bavaria
    assert add_business_minutes(bavaria_or_berlin("BY"), start, 120) == dt.datetime(2026, 1, 7, 10, 0, tzinfo=berlin)
    assert add_business_minutes(bavaria_or_berlin("BE"), start, 120) == dt.datetime(2026, 1, 6, 10, 0, tzinfo=berlin)


def test_extra_closed_days_are_skipped():
    calendar = calendar_from_mapping(
        {"time_zone": "Europe/Paris", "hours": WEEKDAYS_9_TO_5, "closed_days": ["2026-12-24", "2026-12-31"]}
    )
    assert add_business_minutes(calendar, paris(2026, 12, 23, 16, 0), 120) == paris(2026, 12, 25, 10, 0)
    assert calendar.is_closed_date(dt.date(2026, 12, 31)) is True
    assert calendar.is_closed_date(dt.date(2026, 12, 30)) is False


def test_the_year_end_crossing_uses_next_years_holidays(paris_office):
    # Thursday 31 Dec 2026 16:00 + 2 h: 1 Jan 2027 (Fri) is New Year → Monday 4 Jan.
    assert add_business_minutes(paris_office, paris(2026, 12, 31, 16, 0), 120) == paris(2027, 1, 4, 10, 0)


# --- daylight-saving changes ------------------------------------------------------------


def test_nine_to_five_is_eight_hours_either_side_of_the_spring_change(paris_office):
    # Paris moves to summer time on Sunday 29 March 2026; Friday 16:00 + 2 h → Monday 10:00
    # local, which is 08:00 UTC (it was 15:00 UTC on Friday).
    due = add_business_minutes(paris_office, paris(2026, 3, 27, 16, 0), 120)
    assert due == paris(2026, 3, 30, 10, 0)
    assert due == dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_the_spring_forward_day_has_23_business_hours(always_open_paris):
    day_start, next_day = paris(2026, 3, 29, 0, 0), paris(2026, 3, 30, 0, 0)
    assert business_minutes_between(always_open_paris, day_start, next_day) == 23 * 60
    # 3 elapsed hours after midnight the wall clock shows 04:00, not 03:00.
    assert add_business_minutes(always_open_paris, day_start, 180) == paris(2026, 3, 29, 4, 0)


def test_the_fall_back_day_has_25_business_hours(always_open_paris):
    day_start, next_day = paris(2026, 10, 25, 0, 0), paris(2026, 10, 26, 0, 0)
    assert business_minutes_between(always_open_paris, day_start, next_day) == 25 * 60
    # 3 elapsed hours after midnight the wall clock shows 02:00 for the second time.
    due = add_business_minutes(always_open_paris, day_start, 180)
    assert due == dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert due.astimezone(PARIS).replace(tzinfo=None) == dt.datetime(2026, 10, 25, 2, 0)


def test_hours_that_straddle_the_change_are_elapsed_hours():
    sunday_night = calendar_from_mapping({"time_zone": "Europe/Paris", "hours": {"sun": "01:00-05:00"}})
    assert business_minutes_between(sunday_night, paris(2026, 3, 29, 0, 0), paris(2026, 3, 30, 0, 0)) == 180
    assert business_minutes_between(sunday_night, paris(2026, 10, 25, 0, 0), paris(2026, 10, 26, 0, 0)) == 300
    assert business_minutes_between(sunday_night, paris(2026, 10, 18, 0, 0), paris(2026, 10, 19, 0, 0)) == 240


def test_an_opening_time_inside_the_spring_gap_opens_an_hour_later_on_the_wall_clock():
    calendar = calendar_from_mapping({"time_zone": "Europe/Paris", "hours": {"sun": "02:30-06:00"}})
    assert next_opening(calendar, paris(2026, 3, 29, 0, 0)) == paris(2026, 3, 29, 3, 30)
    assert next_opening(calendar, paris(2026, 3, 22, 0, 0)) == paris(2026, 3, 22, 2, 30)


def test_new_york_changes_clocks_on_another_weekend_than_paris():
    new_york_office = calendar_from_mapping({"time_zone": "America/New_York", "hours": WEEKDAYS_9_TO_5})
    # New York moved on 8 March 2026; Paris still on winter time until 29 March. A Paris
    # lead arriving Monday 9 March 14:00 Paris (09:00 New York, EDT) is due at 10:00 EDT.
    due = add_business_minutes(new_york_office, paris(2026, 3, 9, 14, 0), 60)
    assert due == new_york(2026, 3, 9, 10, 0)
    assert due == dt.datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    # Fall back on 1 November: Friday 30 Oct 16:00 EDT + 2 h → Monday 2 Nov 10:00 EST = 15:00 UTC.
    due = add_business_minutes(new_york_office, new_york(2026, 10, 30, 16, 0), 120)
    assert due == dt.datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def test_the_southern_hemisphere_falls_back_in_april():
    sydney_all_day = calendar_from_mapping({"time_zone": "Australia/Sydney", "hours": {"sun": "00:00-24:00"}})
    day_start = dt.datetime(2026, 4, 5, 0, 0, tzinfo=SYDNEY)  # daylight time ends this Sunday
    assert business_minutes_between(sydney_all_day, day_start, day_start + dt.timedelta(days=2)) == 25 * 60


# --- time zones -------------------------------------------------------------------------


def test_the_same_instant_gives_different_due_times_by_team_zone(paris_office):
    new_york_office = calendar_from_mapping({"time_zone": "America/New_York", "hours": WEEKDAYS_9_TO_5})
    arrival = dt.datetime(2026, 6, 10, 15, 30, tzinfo=UTC)  # 17:30 Paris, 11:30 New York
    assert add_business_minutes(paris_office, arrival, 60) == paris(2026, 6, 11, 10, 0)
    assert add_business_minutes(new_york_office, arrival, 60) == new_york(2026, 6, 10, 12, 30)


def test_a_start_given_in_another_zone_means_the_same_instant(paris_office):
    in_tokyo = dt.datetime(2026, 3, 10, 18, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 10:00 Paris
    assert add_business_minutes(paris_office, in_tokyo, 60) == paris(2026, 3, 10, 11, 0)


def test_a_zone_ahead_of_utc_opens_on_the_previous_utc_date():
    auckland = calendar_from_mapping({"time_zone": "Pacific/Auckland", "hours": {"mon": "09:00-17:00"}})
    # Monday 9 March 09:00 in Auckland (NZDT, +13) is Sunday 8 March 20:00 UTC.
    assert next_opening(auckland, dt.datetime(2026, 3, 8, 12, 0, tzinfo=UTC)) == dt.datetime(
        2026, 3, 8, 20, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("machine_zone", ["UTC", "Asia/Tokyo", "America/Los_Angeles"])
def test_results_do_not_depend_on_the_machine_clock_or_zone(paris_office, machine_zone):
    with time_machine.travel(dt.datetime(2031, 1, 1, 12, 0, tzinfo=ZoneInfo(machine_zone)), tick=False):
        assert add_business_minutes(paris_office, paris(2026, 3, 13, 16, 0), 240) == paris(2026, 3, 16, 12, 0)
        assert business_minutes_between(paris_office, paris(2026, 3, 13, 16, 0), paris(2026, 3, 16, 12, 0)) == 240


# --- time off ---------------------------------------------------------------------------


def test_time_off_pauses_the_clock(paris_office):
    # Out Wednesday 11 March all day: Tuesday 16:00 + 2 h → Thursday 10:00.
    day_off = time_off_for_dates(paris_office, dt.date(2026, 3, 11), dt.date(2026, 3, 11))
    assert add_business_minutes(paris_office, paris(2026, 3, 10, 16, 0), 120, time_off=[day_off]) == paris(
        2026, 3, 12, 10, 0
    )
    assert (
        business_minutes_between(paris_office, paris(2026, 3, 10, 16, 0), paris(2026, 3, 12, 10, 0), time_off=[day_off])
        == 120
    )


def test_partial_and_overlapping_time_off(paris_office):
    # A dentist 10:00–11:00 and an overlapping 10:30–12:00 meeting on Tuesday.
    time_off = [
        (paris(2026, 3, 10, 10, 0), paris(2026, 3, 10, 11, 0)),
        (paris(2026, 3, 10, 10, 30), paris(2026, 3, 10, 12, 0)),
    ]
    assert add_business_minutes(paris_office, paris(2026, 3, 10, 9, 30), 60, time_off=time_off) == paris(
        2026, 3, 10, 12, 30
    )
    assert (
        business_minutes_between(paris_office, paris(2026, 3, 10, 9, 0), paris(2026, 3, 10, 17, 0), time_off=time_off)
        == 6 * 60
    )


def test_a_start_inside_time_off_waits_for_its_end(paris_office):
    time_off = [(paris(2026, 3, 9, 0, 0), paris(2026, 3, 10, 13, 0))]
    assert add_business_minutes(paris_office, paris(2026, 3, 9, 10, 0), 60, time_off=time_off) == paris(
        2026, 3, 10, 14, 0
    )
    assert is_open(paris_office, paris(2026, 3, 10, 12, 0), time_off=time_off) is False
    assert is_open(paris_office, paris(2026, 3, 10, 13, 0), time_off=time_off) is True


def test_a_week_of_time_off_across_a_holiday(paris_office):
    # Off Monday 4 – Thursday 7 May; Friday 8 May is a holiday: due the next Monday.
    week = time_off_for_dates(paris_office, dt.date(2026, 5, 4), dt.date(2026, 5, 7))
    assert add_business_minutes(paris_office, paris(2026, 4, 30, 16, 30), 60, time_off=[week]) == paris(
        2026, 5, 11, 9, 30
    )


def test_time_off_that_never_ends_is_a_clear_error(paris_office):
    forever = [(paris(2026, 1, 1, 0, 0), paris(2036, 1, 1, 0, 0))]
    with pytest.raises(ValueError, match="closed for more than"):
        add_business_minutes(paris_office, paris(2026, 3, 10, 10, 0), 60, time_off=forever)


# --- between, is_open, next_opening -----------------------------------------------------


def test_business_minutes_between_over_a_weekend(paris_office):
    assert business_minutes_between(paris_office, paris(2026, 3, 13, 16, 0), paris(2026, 3, 16, 10, 0)) == 120
    assert business_minutes_between(paris_office, paris(2026, 3, 14, 10, 0), paris(2026, 3, 15, 10, 0)) == 0


def test_business_minutes_between_is_negative_backwards(paris_office):
    assert business_minutes_between(paris_office, paris(2026, 3, 16, 10, 0), paris(2026, 3, 13, 16, 0)) == -120


def test_business_minutes_between_a_whole_year(paris_office):
    # 2026 has 261 weekdays; 9 French holidays fall on weekdays (Aug 15 and Nov 1 do not).
    minutes = business_minutes_between(paris_office, paris(2026, 1, 1, 0, 0), paris(2027, 1, 1, 0, 0))
    assert minutes == (261 - 9) * 8 * 60


def test_is_open_and_next_opening(paris_office):
    assert is_open(paris_office, paris(2026, 3, 10, 9, 0)) is True
    assert is_open(paris_office, paris(2026, 3, 10, 17, 0)) is False
    assert is_open(paris_office, paris(2026, 4, 6, 10, 0)) is False  # Easter Monday
    assert next_opening(paris_office, paris(2026, 3, 10, 12, 0)) == paris(2026, 3, 10, 12, 0)
    assert next_opening(paris_office, paris(2026, 4, 3, 17, 0)) == paris(2026, 4, 7, 9, 0)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata"])
def test_adding_then_measuring_gives_back_the_amount(zone):
    """Round trip over two years of random starts, including DST weekends and holidays."""
    calendar = calendar_from_mapping(
        {
            "time_zone": zone,
            "hours": {
                "mon": ["08:30-12:00", "13:00-18:00"],
                "tue": "09:00-17:00",
                "wed": "09:00-17:00",
                "thu": "09:00-17:00",
                "fri": "09:00-15:00",
                "sun": "01:00-04:00",
            },
            "holiday_country": {
                "Europe/Paris": "FR",
                "America/New_York": "US",
                "Australia/Sydney": "AU",
                "Asia/Kolkata": "IN",
            }[zone],
        }
    )
    generator = random.Random(zone)
    origin = dt.datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(300):
        start = origin + dt.timedelta(minutes=generator.randrange(0, 2 * 365 * 24 * 60))
        amount = generator.choice([1, 15, 60, 240, 480, 16 * 60, 3000])
        due = add_business_minutes(calendar, start, amount)
        assert business_minutes_between(calendar, start, due) == amount
        # The due instant is inside (or at the end of) open time: a minute earlier is open.
        assert is_open(calendar, due - dt.timedelta(minutes=1)) is True


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (
            {"time_zone": "Europe/Pariss", "hours": WEEKDAYS_9_TO_5},
            "emea.time_zone",
            "unknown time zone 'Europe/Pariss'",
        ),
        ({"hours": WEEKDAYS_9_TO_5}, "emea.time_zone", "a time zone name is required"),
        ({"time_zone": "../etc/passwd", "hours": WEEKDAYS_9_TO_5}, "emea.time_zone", "unknown time zone"),
        (
            {"time_zone": "UTC", "hours": WEEKDAYS_9_TO_5, "holiday_country": "XX"},
            "emea.holiday_country",
            "unknown holiday country 'XX'",
        ),
        (
            {"time_zone": "UTC", "hours": WEEKDAYS_9_TO_5, "holiday_country": "DE", "holiday_subdivision": "ZZ"},
            "emea.holiday_subdivision",
            "unknown subdivision 'ZZ' of DE",
        ),
        (
            {"time_zone": "UTC", "hours": WEEKDAYS_9_TO_5, "holiday_subdivision": "BY"},
            "emea.holiday_subdivision",
            "needs a holiday country",
        ),
        ({"time_zone": "UTC", "hours": {"mon": "17:00-09:00"}}, "emea.hours.mon", "closes before it opens"),
        ({"time_zone": "UTC", "hours": {"mon": "9-17"}}, "emea.hours.mon", "hours must look like 09:00-17:00"),
        ({"time_zone": "UTC", "hours": {"mon": "09:00-25:00"}}, "emea.hours.mon", "not a valid time range"),
        ({"time_zone": "UTC", "hours": {"mon": "24:00-24:00"}}, "emea.hours.mon", "not a valid time range"),
        (
            {"time_zone": "UTC", "hours": {"mon": ["09:00-12:00", "11:00-14:00"]}},
            "emea.hours.mon",
            "opening hours overlap",
        ),
        ({"time_zone": "UTC", "hours": {"mon": ["09:00-12:00", "1pm"]}}, "emea.hours.mon[1]", "hours must look like"),
        ({"time_zone": "UTC", "hours": {"monday": "09:00-17:00"}}, "emea.hours.monday", "unknown weekday"),
        ({"time_zone": "UTC", "hours": {}}, "emea.hours", "give opening hours"),
        ({"time_zone": "UTC", "hours": {"mon": "closed"}}, "emea.hours", "never open"),
        (
            {"time_zone": "UTC", "hours": WEEKDAYS_9_TO_5, "closed_days": ["2026-02-30"]},
            "emea.closed_days[0]",
            "is not a date",
        ),
        ({"time_zone": "UTC", "hours": WEEKDAYS_9_TO_5, "timezone": "UTC"}, "emea.timezone", "unknown calendar field"),
        ("Europe/Paris", "emea", "a calendar must be a mapping"),
    ],
)
def test_an_invalid_calendar_names_the_path(data, path, message):
    with pytest.raises(CalendarError) as raised:
        calendar_from_mapping(data, path="emea")
    assert raised.value.path == path
    assert message in raised.value.message


def test_a_calendar_built_in_code_is_validated_too():
    with pytest.raises(CalendarError, match="time_zone: unknown time zone 'Mars/Olympus'"):
        BusinessCalendar(time_zone="Mars/Olympus", weekly_hours={0: (OpeningInterval(dt.time(9), dt.time(17)),)})


# --- business days (the attempts rule) ---------------------------------------------------


def test_two_business_days_keep_the_time_of_day_and_skip_weekends_and_holidays(paris_office):
    assert add_business_days(paris_office, paris(2026, 3, 12, 14, 0), 2) == paris(2026, 3, 16, 14, 0)
    # Thursday 30 April: Friday 1 May is Labour Day, so Monday and Tuesday are the two days.
    assert add_business_days(paris_office, paris(2026, 4, 30, 10, 0), 2) == paris(2026, 5, 5, 10, 0)


def test_business_days_from_outside_hours_count_from_the_next_opening(paris_office):
    assert add_business_days(paris_office, paris(2026, 3, 13, 19, 0), 1) == paris(2026, 3, 17, 9, 0)
    assert add_business_days(paris_office, paris(2026, 3, 14, 11, 0), 0) == paris(2026, 3, 16, 9, 0)


def test_business_days_skip_whole_days_of_time_off_and_clamp_to_a_short_day():
    calendar = calendar_from_mapping({"time_zone": "Europe/Paris", "hours": {**WEEKDAYS_9_TO_5, "fri": "09:00-13:00"}})
    wednesday = time_off_for_dates(calendar, dt.date(2026, 3, 11), dt.date(2026, 3, 11))
    assert add_business_days(calendar, paris(2026, 3, 10, 15, 0), 2, time_off=[wednesday]) == paris(2026, 3, 13, 13, 0)
    with pytest.raises(ValueError, match="days must not be negative"):
        add_business_days(calendar, paris(2026, 3, 10, 15, 0), -1)
