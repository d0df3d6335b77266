"""Opening hours: the grammar and its errors, open now with bank holidays and DST, words."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_file

import bot.directory.hours as hours_module
from bot.directory.hours import (
    ALWAYS,
    UNKNOWN,
    Hours,
    HoursError,
    describe,
    is_open,
    next_opening,
    parse_hours,
)

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = "Mon-Fri 10:00-16:00"
WEEKDAYS_NOT_BANK_HOLIDAYS = "Mon-Fri 10:00-16:00; closed on bank holidays"


def london(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=LONDON)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def t(text: str) -> time:
    return time.fromisoformat(text)


# -- grammar ------------------------------------------------------------------------------------


def test_weekday_range_with_one_span() -> None:
    hours = parse_hours("Mon-Fri 09:00-17:00")
    assert hours.known and not hours.always and not hours.closed_on_bank_holidays
    assert hours.weekly[:5] == (((t("09:00"), t("17:00")),),) * 5
    assert hours.weekly[5:] == ((), ())


def test_list_of_days_and_several_spans_sorted() -> None:
    hours = parse_hours("Mon-Wed,Fri 13:30-17:00,09:00-12:30")
    spans = ((t("09:00"), t("12:30")), (t("13:30"), t("17:00")))
    assert hours.weekly == (spans, spans, spans, (), spans, (), ())


def test_full_names_daily_case_and_whitespace() -> None:
    assert parse_hours("  MONDAY - friday   9:00 - 17:00 ") == parse_hours("Mon-Fri 09:00-17:00")
    assert parse_hours("Sat , Sun 10:00-12:00") == parse_hours("Saturday,Sunday 10:00-12:00")
    assert parse_hours("Daily 08:00-20:00").weekly == (((t("08:00"), t("20:00")),),) * 7


def test_range_wraps_round_the_weekend() -> None:
    hours = parse_hours("Fri-Mon 10:00-16:00")
    assert [bool(day) for day in hours.weekly] == [True, False, False, False, True, True, True]


def test_24_00_closes_at_midnight() -> None:
    assert parse_hours("Sat 18:00-24:00").weekly[5] == ((t("18:00"), time(0, 0)),)
    assert parse_hours("Sat 18:00-00:00") == parse_hours("Sat 18:00-24:00")


def test_span_past_midnight_stays_on_the_day_it_starts() -> None:
    hours = parse_hours("Fri 20:00-02:00")
    assert hours.weekly[4] == ((t("20:00"), t("02:00")),)
    assert hours.weekly[5] == ()


def test_24_7_and_bank_holidays() -> None:
    assert parse_hours("24/7") == ALWAYS
    assert ALWAYS.always and ALWAYS.known
    closing = parse_hours("24/7; Closed on bank holidays")
    assert closing.always and closing.closed_on_bank_holidays
    assert parse_hours("closed on bank holidays; 24 / 7") == closing


def test_every_day_all_day_is_24_7() -> None:
    assert parse_hours("daily 00:00-24:00") == ALWAYS


@pytest.mark.parametrize("text", ["", "   ", "unknown", "Unknown"])
def test_unknown(text: str) -> None:
    assert parse_hours(text) == UNKNOWN
    assert not UNKNOWN.known and UNKNOWN.text == ""


def test_trailing_semicolon_and_dashes_from_a_word_processor() -> None:
    assert parse_hours("Mon\u2013Fri 09:00\u201317:00;") == parse_hours("Mon-Fri 09:00-17:00")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("24/7", "24/7"),
        ("24/7; closed on bank holidays", "24/7; closed on bank holidays"),
        ("", ""),
        (
            "Mon-Thu 10:00-20:30; Fri 10:00-16:30; closed on bank holidays",
            "Mon-Thu 10:00-20:30; Fri 10:00-16:30; closed on bank holidays",
        ),
        ("Mon,Tue,Wed,Thu 10:00-20:30;Fri 10:00-16:30", "Mon-Thu 10:00-20:30; Fri 10:00-16:30"),
        ("monday-friday 9:00-12:30, 13:30-17:00", "Mon-Fri 09:00-12:30,13:30-17:00"),
        ("Sat,Sun 09:00-12:00", "Sat-Sun 09:00-12:00"),
        ("Mon,Wed,Fri 09:00-17:00", "Mon,Wed,Fri 09:00-17:00"),
        ("daily 09:00-17:00", "daily 09:00-17:00"),
        ("Fri 20:00-02:00", "Fri 20:00-02:00"),
        ("Sat 18:00-00:00", "Sat 18:00-24:00"),
        ("Fri-Mon 10:00-16:00; Tue-Thu 09:00-17:00", "Tue-Thu 09:00-17:00; Fri-Mon 10:00-16:00"),
        ("Sat-Sun 00:00-24:00; Mon-Fri 09:00-17:00", "Mon-Fri 09:00-17:00; Sat-Sun 00:00-24:00"),
        ("Tues,Thurs 10:00-11:00", "Tue,Thu 10:00-11:00"),
    ],
)
def test_canonical_text_round_trips(text: str, canonical: str) -> None:
    hours = parse_hours(text)
    assert hours.text == canonical
    assert parse_hours(hours.text) == hours


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Mnday 10:00-16:00",
            "unknown day 'Mnday' in 'Mnday 10:00-16:00' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)",
        ),
        ("Mon 25:00-26:00", "'25:00' is not a time like 09:30"),
        ("Mon 10am-4pm", "'10am' is not a time like 09:30"),
        ("Mon 12:60-13:00", "'12:60' is not a time like 09:30"),
        ("Mon-Fri 09:00-17:00; Mon 10:00-12:00", "Mon is given twice"),
        ("Sat,Sun,Sat 10:00-12:00", "Sat is given twice"),
        ("Mon 10:00-10:00", "'10:00-10:00' opens and closes at the same time"),
        ("Mon 00:00-00:00", "'00:00-00:00' opens and closes at the same time"),
        ("Mon 24:00-02:00", "'24:00' can only be a closing time"),
        ("Mon 09:00", "'09:00' is not a time span like 09:00-17:00"),
        ("Mon 09:00-", "'09:00-' is not a time span"),
        ("Mon 09:00-10:00,,11:00-12:00", "a time span is missing between commas"),
        ("Mon,,Tue 09:00-10:00", "a day is missing between commas"),
        ("Mon-Wed-Fri 09:00-10:00", "'Mon-Wed-Fri' in 'Mon-Wed-Fri 09:00-10:00' is not a range"),
        ("Mon-Mon 09:00-10:00", "'Mon-Mon' in 'Mon-Mon 09:00-10:00' starts and ends on the same"),
        ("Mon-Fri", "'Mon-Fri' needs opening times"),
        ("09:00-17:00", "'09:00-17:00' needs days before the times"),
        ("Check with the service", "'Check with the service' is not opening hours"),
        ("Sun closed", "leave out the days the service is closed, rather than 'Sun closed'"),
        ("Mon-Thu 10:00-20:30, Fri 10:00-16:30", "'Fri' comes after times"),
        ("Mon-Fri 09:00-17:00 closed on bank holidays", "put 'closed on bank holidays' after"),
        ("closed on bank holidays", "no opening times are given"),
        ("24/7; Mon 09:00-17:00", "'24/7' cannot be combined with days"),
        ("24/7; 24/7", "'24/7' is given twice"),
        (
            "24/7; closed on bank holidays; closed on bank holidays",
            "'closed on bank holidays' is given twice",
        ),
        ("Mon 09:00-13:00,12:00-17:00", "Mon 09:00-13:00 and 12:00-17:00 overlap"),
        ("Fri 20:00-02:00; Sat 01:00-05:00", "Fri 20:00-02:00 runs into Sat 01:00-05:00"),
        ("Sun 22:00-03:00; Mon 02:00-05:00", "Sun 22:00-03:00 runs into Mon 02:00-05:00"),
    ],
)
def test_errors_name_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(HoursError) as raised:
        parse_hours(text)
    assert message in str(raised.value)


def test_errors_are_value_errors() -> None:
    assert issubclass(HoursError, ValueError)


def test_time_errors_quote_the_rule_they_are_in() -> None:
    with pytest.raises(HoursError, match=r"\(in 'Sat 10:00-12:00,13:00-25:00'\)"):
        parse_hours("Mon 09:00-17:00; Sat 10:00-12:00,13:00-25:00")


def test_hours_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="7 days"):
        Hours(always=False, weekly=((),), closed_on_bank_holidays=False, known=True)
    with pytest.raises(ValueError, match="always"):
        Hours(always=True, weekly=UNKNOWN.weekly, closed_on_bank_holidays=False, known=True)


# -- open now -----------------------------------------------------------------------------------


def test_open_on_a_weekday_morning() -> None:
    assert is_open(parse_hours(WEEKDAYS), london(2026, 11, 25, 10, 0)) is True
    assert is_open(parse_hours(WEEKDAYS), london(2026, 11, 25, 9, 59)) is False
    assert is_open(parse_hours(WEEKDAYS), london(2026, 11, 25, 15, 59, 59)) is True
    assert is_open(parse_hours(WEEKDAYS), london(2026, 11, 25, 16, 0)) is False


def test_sunday_night() -> None:
    sunday_2am = london(2026, 11, 29, 2, 0)
    assert is_open(parse_hours(WEEKDAYS), sunday_2am) is False
    assert is_open(ALWAYS, sunday_2am) is True


def test_unknown_hours_are_neither_open_nor_closed() -> None:
    assert is_open(UNKNOWN, london(2026, 11, 25, 10, 0)) is None
    assert next_opening(UNKNOWN, london(2026, 11, 25, 10, 0)) is None


@pytest.mark.parametrize(
    ("moment", "nation"),
    [
        (london(2026, 12, 25, 10, 30), None),  # Christmas Day, a Friday
        (london(2026, 12, 25, 10, 30), "wales"),
        (london(2026, 4, 6, 10, 30), "england"),  # Easter Monday
        (london(2026, 11, 30, 10, 30), "scotland"),  # St Andrew's Day
        (london(2026, 3, 17, 10, 30), "northern-ireland"),  # St Patrick's Day
    ],
)
def test_bank_holidays_close_only_services_that_say_so(
    moment: datetime, nation: str | None
) -> None:
    assert is_open(parse_hours(WEEKDAYS_NOT_BANK_HOLIDAYS), moment, nation) is False
    assert is_open(parse_hours(WEEKDAYS), moment, nation) is True


@pytest.mark.parametrize(
    ("moment", "nation"),
    [
        (london(2026, 11, 30, 10, 30), None),  # St Andrew's Day is Scotland's alone
        (london(2026, 11, 30, 10, 30), "england"),
        (london(2026, 4, 6, 10, 30), "scotland"),  # Scotland has no Easter Monday holiday
        (london(2026, 12, 24, 10, 30), None),
    ],
)
def test_other_nations_holidays_do_not_close(moment: datetime, nation: str | None) -> None:
    assert is_open(parse_hours(WEEKDAYS_NOT_BANK_HOLIDAYS), moment, nation) is True


def test_24_7_closing_on_bank_holidays_closes_all_day() -> None:
    hours = parse_hours("24/7; closed on bank holidays")
    assert is_open(hours, london(2026, 12, 25, 0, 0)) is False
    assert is_open(hours, london(2026, 12, 25, 23, 59)) is False
    assert is_open(hours, london(2026, 12, 24, 23, 59)) is True
    assert is_open(ALWAYS, london(2026, 12, 25, 12, 0)) is True


def test_span_past_midnight() -> None:
    hours = parse_hours("Fri 20:00-02:00")
    assert is_open(hours, london(2026, 11, 27, 19, 59)) is False
    assert is_open(hours, london(2026, 11, 27, 20, 0)) is True
    assert is_open(hours, london(2026, 11, 28, 1, 0)) is True  # Saturday
    assert is_open(hours, london(2026, 11, 28, 2, 0)) is False
    assert is_open(hours, london(2026, 11, 28, 21, 0)) is False  # not Saturday's own evening


def test_span_past_midnight_follows_the_holiday_of_the_day_it_started() -> None:
    fri = parse_hours("Fri 20:00-02:00; closed on bank holidays")
    assert is_open(fri, london(2026, 4, 4, 1, 0)) is False  # after Good Friday
    assert is_open(fri, london(2026, 4, 11, 1, 0)) is True
    sun = parse_hours("Sun 20:00-02:00; closed on bank holidays")
    assert is_open(sun, london(2026, 4, 6, 1, 0)) is True  # Easter Monday, begun on Sunday
    mon = parse_hours("Mon 20:00-02:00; closed on bank holidays")
    assert is_open(mon, london(2026, 4, 7, 1, 0)) is False  # begun on Easter Monday


def test_compares_in_london_time_whatever_the_zone() -> None:
    hours = parse_hours(WEEKDAYS)
    assert is_open(hours, utc(2026, 7, 1, 9, 30)) is True  # 10:30 BST
    assert is_open(hours, utc(2026, 7, 1, 15, 30)) is False  # 16:30 BST
    assert is_open(hours, utc(2026, 12, 2, 9, 30)) is False  # 09:30 GMT
    new_york = datetime(2026, 7, 1, 5, 30, tzinfo=ZoneInfo("America/New_York"))
    assert is_open(hours, new_york) is True  # 10:30 in London


def test_clocks_going_back_repeat_the_hour() -> None:
    hours = parse_hours("Sun 01:00-01:30")  # 2026-10-25: 01:00-02:00 BST, then 01:00 GMT again
    assert is_open(hours, utc(2026, 10, 25, 0, 15)) is True  # 01:15 BST
    assert is_open(hours, utc(2026, 10, 25, 0, 45)) is False  # 01:45 BST
    assert is_open(hours, utc(2026, 10, 25, 1, 15)) is True  # 01:15 GMT
    opening = next_opening(hours, utc(2026, 10, 25, 0, 45))
    assert opening is not None and opening.fold == 1  # the second 01:00
    # Python never finds a time in a repeated hour equal to one in another zone (PEP 495).
    assert opening.astimezone(UTC) == utc(2026, 10, 25, 1, 0)


def test_clocks_going_forward_open_when_they_jump() -> None:
    hours = parse_hours("Sun 01:30-03:00")  # 2026-03-29: 01:00 GMT becomes 02:00 BST
    assert is_open(hours, utc(2026, 3, 29, 0, 59)) is False  # 00:59 GMT
    assert is_open(hours, utc(2026, 3, 29, 1, 0)) is True  # 02:00 BST
    assert next_opening(hours, london(2026, 3, 28, 20, 0)) == utc(2026, 3, 29, 1, 0)


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        is_open(parse_hours(WEEKDAYS), datetime(2026, 11, 25, 10, 0))


def test_unknown_nation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown nation 'cornwall'"):
        is_open(parse_hours(WEEKDAYS), london(2026, 11, 25, 10, 0), "cornwall")


# -- next opening -------------------------------------------------------------------------------


def test_friday_evening_opens_monday() -> None:
    opening = next_opening(parse_hours(WEEKDAYS), london(2026, 11, 27, 18, 0))
    assert opening == london(2026, 11, 30, 10, 0)
    assert opening is not None and opening.tzinfo == LONDON


def test_bank_holiday_monday_opens_tuesday() -> None:
    easter_monday = london(2026, 4, 6, 8, 0)
    assert next_opening(parse_hours(WEEKDAYS_NOT_BANK_HOLIDAYS), easter_monday) == london(
        2026, 4, 7, 10, 0
    )
    assert next_opening(parse_hours(WEEKDAYS), easter_monday) == london(2026, 4, 6, 10, 0)
    in_scotland = next_opening(parse_hours(WEEKDAYS_NOT_BANK_HOLIDAYS), easter_monday, "scotland")
    assert in_scotland == london(2026, 4, 6, 10, 0)


def test_next_opening_is_after_the_current_one() -> None:
    hours = parse_hours(WEEKDAYS)
    assert next_opening(hours, london(2026, 11, 25, 10, 0)) == london(2026, 11, 25, 10, 0)
    assert next_opening(hours, london(2026, 11, 25, 10, 1)) == london(2026, 11, 26, 10, 0)


def test_next_opening_in_utc_during_summer_time() -> None:
    opening = next_opening(parse_hours(WEEKDAYS), utc(2026, 7, 1, 15, 30))  # 16:30 BST
    assert opening == utc(2026, 7, 2, 9, 0)
    assert opening is not None and (opening.hour, opening.minute) == (10, 0)


def test_a_span_carrying_on_past_midnight_is_not_an_opening() -> None:
    hours = parse_hours("Mon 20:00-24:00; Tue 00:00-02:00")
    assert next_opening(hours, london(2026, 11, 30, 21, 0)) == london(2026, 12, 7, 20, 0)


def test_24_7_never_opens_unless_it_closes_for_bank_holidays() -> None:
    assert next_opening(ALWAYS, london(2026, 12, 24, 12, 0)) is None
    closing = parse_hours("24/7; closed on bank holidays")
    # Christmas Day (Fri) and Boxing Day (Sat) close; Sunday opens; the Monday substitute closes.
    assert next_opening(closing, london(2026, 12, 24, 12, 0)) == london(2026, 12, 27, 0, 0)
    assert next_opening(closing, london(2027, 2, 1, 12, 0)) is None


def test_never_within_a_fortnight() -> None:
    never = Hours(always=False, weekly=UNKNOWN.weekly, closed_on_bank_holidays=False, known=True)
    assert next_opening(never, london(2026, 11, 25, 10, 0)) is None
    assert is_open(never, london(2026, 11, 25, 10, 0)) is False


# -- describing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("24/7", "Open 24 hours, every day"),
        ("24/7; closed on bank holidays", "Open 24 hours, every day. Closed on bank holidays."),
        ("Mon-Fri 10:00-16:00", "Monday to Friday, 10:00 to 16:00"),
        (
            "Mon-Thu 10:00-20:30; Fri 10:00-16:30; closed on bank holidays",
            "Monday to Thursday, 10:00 to 20:30. Friday, 10:00 to 16:30. Closed on bank holidays.",
        ),
        ("Sat,Sun 09:00-12:00", "Saturday and Sunday, 09:00 to 12:00"),
        ("Mon,Wed,Fri 09:00-17:00", "Monday, Wednesday and Friday, 09:00 to 17:00"),
        ("Mon-Wed,Fri 09:00-17:00", "Monday to Wednesday and Friday, 09:00 to 17:00"),
        ("Mon-Fri 09:00-12:30,13:30-17:00", "Monday to Friday, 09:00 to 12:30 and 13:30 to 17:00"),
        (
            "Mon 09:00-10:00,11:00-12:00,13:00-14:00",
            "Monday, 09:00 to 10:00, 11:00 to 12:00 and 13:00 to 14:00",
        ),
        ("daily 08:00-20:00", "Every day, 08:00 to 20:00"),
        ("Fri 20:00-02:00", "Friday, 20:00 to 02:00 the next day"),
        ("Sat 18:00-24:00", "Saturday, 18:00 to 24:00"),
        ("Sat-Sun 00:00-24:00", "Saturday and Sunday, 24 hours"),
        ("", "Opening hours not known: check with the service"),
    ],
)
def test_describe_in_english(text: str, words: str) -> None:
    assert describe(parse_hours(text), "en") == words
    assert describe(parse_hours(text), "en_GB") == words


@pytest.mark.parametrize(
    ("locale", "monday", "friday"),
    [("cy", "Dydd Llun", "Dydd Gwener"), ("pl", "poniedziałek", "piątek")],
)
def test_describe_uses_babel_day_names(locale: str, monday: str, friday: str) -> None:
    words = describe(parse_hours("Mon-Fri 10:00-16:00"), locale)
    assert monday in words and friday in words
    assert "10:00" in words and "16:00" in words


def test_describe_every_locale_we_ship() -> None:
    for locale in ("ro", "ur", "pl-PL"):
        assert describe(parse_hours("Mon-Fri 10:00-16:00; closed on bank holidays"), locale)


def test_describe_translates_whole_phrases_so_words_can_move() -> None:
    catalogue = {
        "{first} to {last}": "from {first} until {last}",
        "{start} to {end}": "{start}\u2013{end}",
        "{days}, {times}": "{times} on {days}",
        "Closed on bank holidays.": "Not on bank holidays.",
    }
    asked: list[str] = []

    def gettext(msgid: str) -> str:
        asked.append(msgid)
        return catalogue.get(msgid, msgid)

    hours = parse_hours("Mon-Fri 10:00-16:00; closed on bank holidays")
    words = describe(hours, "en", gettext)
    assert words == "10:00\u201316:00 on from Monday until Friday. Not on bank holidays."
    assert "{previous}. {next}" in asked


def test_every_phrase_describe_uses_is_marked_for_extraction() -> None:
    asked: set[str] = set()

    def gettext(msgid: str) -> str:
        asked.add(msgid)
        return msgid

    for text in [
        "",
        "24/7; closed on bank holidays",
        "Mon-Wed,Fri,Sat 09:00-10:00,11:00-12:00,13:00-14:00; Sun 20:00-02:00",
        "daily 00:00-24:00",
        "daily 09:00-17:00",
        "Sat-Sun 00:00-24:00",
    ]:
        describe(parse_hours(text), "en", gettext)
    source = Path(hours_module.__file__)
    extracted = {message for _line, message, *_rest in extract_from_file("python", source)}
    assert asked <= extracted
    assert len(asked) == 12
