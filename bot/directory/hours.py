"""Opening hours: parsed from one line a service manager writes, checked against UK time.

The grammar, case-insensitive and whitespace-tolerant:

    24/7
    Mon-Fri 09:00-17:00
    Mon-Thu 10:00-20:30; Fri 10:00-16:30; closed on bank holidays
    Sat,Sun 10:00-12:00,13:00-16:00
    Fri 20:00-02:00                      (runs past midnight into Saturday)

Days are Mon..Sun (full names too, or `daily`), ranges (which may wrap, `Fri-Mon`) and comma
lists. Rules are separated by `;` (or new lines). An empty text, or `unknown`, means not known.

Times are wall-clock times in Europe/London. A span that runs past midnight belongs to the day
it started, for bank holidays too: `Fri 20:00-02:00` closed on bank holidays is shut on the
small hours of Saturday only if the Friday was a bank holiday.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays
from babel.dates import format_time, get_day_names

__all__ = [
    "ALWAYS",
    "UNKNOWN",
    "Hours",
    "HoursError",
    "describe",
    "is_open",
    "next_opening",
    "parse_hours",
]

LONDON = ZoneInfo("Europe/London")
DAY = 24 * 60  # minutes

Span = tuple[time, time]
DaySpans = tuple[Span, ...]
Week = tuple[DaySpans, ...]

DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EVERY_DAY_WORDS = frozenset({"daily", "every day", "everyday"})
_BANK_HOLIDAY_CLAUSE = re.compile(r"closed\s+on\s+bank\s+holidays?", re.IGNORECASE)
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-"})  # Word autocorrects '-'
_DAY_LIST_HINT = "(use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"
_EXAMPLE = "'Mon-Fri 09:00-17:00'"

# The `holidays` package's names for the UK nations, keyed by the directory's nation area ids.
NATION_SUBDIVISIONS: Mapping[str | None, str] = {
    None: "ENG",
    "england": "ENG",
    "wales": "WLS",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}


class HoursError(ValueError):
    """Opening hours a service manager wrote that cannot be read; the message says why."""


def _(msgid: str) -> str:
    """Marks a msgid for the gettext extractor; `describe` translates it through its caller."""
    return msgid


@dataclass(frozen=True)
class Hours:
    """A week of opening spans, Monday first.

    Each span is (open, close). close == time(0, 0) means until midnight (24:00), and a close
    earlier than open means the span runs past midnight into the next day. `always` is the
    week that is open 00:00-24:00 every day, however it was written.
    """

    always: bool
    weekly: Week
    closed_on_bank_holidays: bool
    known: bool

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError(f"weekly needs 7 days, Monday first, not {len(self.weekly)}")
        if self.always != (self.known and self.weekly == _FULL_WEEK):
            raise ValueError("always must be set exactly when every day is open 00:00-24:00")

    @property
    def text(self) -> str:
        """The hours in the canonical form of the grammar: parse_hours(h.text) == h."""
        if not self.known:
            return ""
        parts = (
            ["24/7"]
            if self.always
            else [
                f"{_days_text(days)} {_spans_text(spans)}" for days, spans in _groups(self.weekly)
            ]
        )
        if self.closed_on_bank_holidays:
            parts.append("closed on bank holidays")
        return "; ".join(parts)


_FULL_DAY: DaySpans = ((time(0, 0), time(0, 0)),)
_FULL_WEEK: Week = (_FULL_DAY,) * 7
_CLOSED_WEEK: Week = ((),) * 7

UNKNOWN = Hours(always=False, weekly=_CLOSED_WEEK, closed_on_bank_holidays=False, known=False)
ALWAYS = Hours(always=True, weekly=_FULL_WEEK, closed_on_bank_holidays=False, known=True)


# -- parsing ------------------------------------------------------------------------------------


def parse_hours(text: str) -> Hours:
    """Read hours as a service manager writes them; raise HoursError saying what to fix."""
    stripped = text.strip()
    if not stripped or stripped.lower() == "unknown":
        return UNKNOWN
    week: list[list[Span]] = [[] for _day in range(7)]
    given: set[int] = set()
    always = bank_holidays = False
    parts = [p.strip() for p in re.split(r"[;\n]", stripped.translate(_DASHES))]
    for part in filter(None, parts):
        if re.fullmatch(r"24\s*/\s*7", part):
            if always:
                raise HoursError("'24/7' is given twice")
            always = True
        elif _BANK_HOLIDAY_CLAUSE.fullmatch(part):
            if bank_holidays:
                raise HoursError("'closed on bank holidays' is given twice")
            bank_holidays = True
        else:
            days, spans = _parse_rule(part)
            for day in days:
                if day in given:
                    raise HoursError(f"{DAY_ABBREVIATIONS[day]} is given twice")
                given.add(day)
                week[day] = list(spans)
    if always and given:
        raise HoursError("'24/7' cannot be combined with days: give one or the other")
    if not always and not given:
        raise HoursError(
            f"no opening times are given, only 'closed on bank holidays': add them like {_EXAMPLE}"
        )
    weekly = _FULL_WEEK if always else tuple(tuple(sorted(spans)) for spans in week)
    _check_overlaps(weekly)
    return Hours(
        always=weekly == _FULL_WEEK,
        weekly=weekly,
        closed_on_bank_holidays=bank_holidays,
        known=True,
    )


def _parse_rule(part: str) -> tuple[list[int], list[Span]]:
    """`<days> <spans>`: the days run up to the first digit, since day names have none."""
    if _BANK_HOLIDAY_CLAUSE.search(part):
        raise HoursError(
            f"put 'closed on bank holidays' after a ';' in '{part}', "
            "like 'Mon-Fri 09:00-17:00; closed on bank holidays'"
        )
    if re.search(r"\bclosed\b", part, re.IGNORECASE):
        raise HoursError(f"leave out the days the service is closed, rather than '{part}'")
    first_digit = next((i for i, c in enumerate(part) if c.isdigit()), None)
    if first_digit is None:
        try:
            _parse_days(part, part)
        except HoursError:
            raise HoursError(
                f"'{part}' is not opening hours: write them like {_EXAMPLE}, "
                "or leave them empty if they are not known"
            ) from None
        raise HoursError(f"'{part}' needs opening times, like {_EXAMPLE}")
    days_text, spans_text = part[:first_digit].strip(), part[first_digit:].strip()
    if not days_text:
        raise HoursError(f"'{part}' needs days before the times, like {_EXAMPLE}")
    for word in re.findall(r"[^\W\d_]+", spans_text):
        if _day_number(word) is not None or word.lower() in {"daily", "every", "everyday"}:
            raise HoursError(
                f"'{word}' comes after times in '{part}': separate the days with ';', "
                "like 'Mon-Fri 09:00-17:00; Sat 10:00-12:00'"
            )
    return _parse_days(days_text.rstrip(", "), part), _parse_spans(spans_text, part)


def _parse_days(days_text: str, part: str) -> list[int]:
    days: list[int] = []
    for item in (i.strip() for i in days_text.split(",")):
        if not item:
            raise HoursError(f"a day is missing between commas in '{part}'")
        if " ".join(item.lower().split()) in _EVERY_DAY_WORDS:
            days.extend(range(7))
            continue
        ends = [e.strip() for e in item.split("-")]
        if len(ends) > 2 or (len(ends) == 2 and not all(ends)):
            raise HoursError(f"'{item}' in '{part}' is not a range of days like Mon-Fri")
        numbers = [_day_number_or_error(e, part) for e in ends]
        if len(numbers) == 1:
            days.append(numbers[0])
            continue
        first, last = numbers
        if first == last:
            raise HoursError(f"'{item}' in '{part}' starts and ends on the same day")
        days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
    for day in days:
        if days.count(day) > 1:
            raise HoursError(f"{DAY_ABBREVIATIONS[day]} is given twice")
    return days


def _day_number(word: str) -> int | None:
    """Monday=0. Takes 'Mon', 'Monday' and in-between spellings such as 'Tues' or 'Thurs'."""
    lowered = word.lower()
    if lowered == "weds":
        return 2
    if len(lowered) < 3:
        return None
    return next((n for n, name in enumerate(_FULL_DAY_NAMES) if name.startswith(lowered)), None)


def _day_number_or_error(word: str, part: str) -> int:
    number = _day_number(word)
    if number is None:
        raise HoursError(f"unknown day '{word}' in '{part}' {_DAY_LIST_HINT}")
    return number


def _parse_spans(spans_text: str, part: str) -> list[Span]:
    spans: list[Span] = []
    for item in (i.strip() for i in spans_text.split(",")):
        if not item:
            raise HoursError(f"a time span is missing between commas in '{part}'")
        ends = [e.strip() for e in item.split("-")]
        if len(ends) != 2 or not all(ends):
            raise HoursError(f"'{item}' is not a time span like 09:00-17:00{_in(part, item)}")
        opens = _parse_time(ends[0], part, is_end=False)
        closes = _parse_time(ends[1], part, is_end=True)
        if opens == closes and ends[1] != "24:00":
            raise HoursError(f"'{item}' opens and closes at the same time{_in(part, item)}")
        spans.append((opens, closes))
    return spans


def _parse_time(token: str, part: str, *, is_end: bool) -> time:
    match = _TIME.fullmatch(token)
    if match is None or int(match[2]) > 59 or int(match[1]) > 24:
        raise HoursError(f"'{token}' is not a time like 09:30{_in(part, token)}")
    hour, minute = int(match[1]), int(match[2])
    if hour == 24:
        if minute or not is_end:
            raise HoursError(
                f"'{token}' can only be a closing time: open at midnight with 00:00"
                f"{_in(part, token)}"
            )
        return time(0, 0)
    return time(hour, minute)


def _in(part: str, bad: str) -> str:
    return "" if part == bad else f" (in '{part}')"


def _check_overlaps(weekly: Week) -> None:
    for day, spans in enumerate(weekly):
        for earlier, later in pairwise(spans):
            if _minutes(later)[0] < _minutes(earlier)[1]:
                raise HoursError(
                    f"{DAY_ABBREVIATIONS[day]} {_span_text(earlier)} and {_span_text(later)} "
                    "overlap"
                )
        # Sorted and apart, only the last span of a day can run past midnight.
        if spans and (spill := _minutes(spans[-1])[1] - DAY) > 0:
            following = (day + 1) % 7
            for span in weekly[following]:
                if _minutes(span)[0] < spill:
                    raise HoursError(
                        f"{DAY_ABBREVIATIONS[day]} {_span_text(spans[-1])} runs into "
                        f"{DAY_ABBREVIATIONS[following]} {_span_text(span)}"
                    )


def _minutes(span: Span) -> tuple[int, int]:
    """(open, close) in minutes from the start of the span's day; close may pass DAY."""
    opens = span[0].hour * 60 + span[0].minute
    closes = span[1].hour * 60 + span[1].minute
    return opens, closes + DAY if closes <= opens else closes


# -- canonical text -----------------------------------------------------------------------------


def _groups(weekly: Week) -> list[tuple[list[list[int]], DaySpans]]:
    """Days sharing the same spans, as runs of consecutive days (wrapping Sunday to Monday)."""
    groups: list[tuple[list[list[int]], DaySpans]] = []
    for spans in dict.fromkeys(s for s in weekly if s):
        days = [d for d in range(7) if weekly[d] == spans]
        runs: list[list[int]] = []
        for day in days:
            if runs and runs[-1][-1] == day - 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 6:
            runs[0] = runs.pop() + runs[0]
        runs.sort(key=lambda run: run[0])
        groups.append((runs, spans))
    groups.sort(key=lambda group: group[0][0][0])
    return groups


def _days_text(runs: list[list[int]]) -> str:
    if len(runs) == 1 and len(runs[0]) == 7:
        return "daily"
    return ",".join(
        DAY_ABBREVIATIONS[run[0]]
        if len(run) == 1
        else f"{DAY_ABBREVIATIONS[run[0]]}-{DAY_ABBREVIATIONS[run[-1]]}"
        for run in runs
    )


def _spans_text(spans: DaySpans) -> str:
    return ",".join(_span_text(span) for span in spans)


def _span_text(span: Span) -> str:
    opens, closes = span
    end = "24:00" if closes == time(0, 0) else closes.strftime("%H:%M")
    return f"{opens.strftime('%H:%M')}-{end}"


# -- open now -----------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _bank_holidays(subdivision: str, year: int) -> frozenset[date]:
    # The package lists a holiday that falls at a weekend on its own date as well as the
    # weekday it moves to; both count, since few services open on Christmas Day anyway.
    return frozenset(holidays.country_holidays("GB", subdiv=subdivision, years=year))


def _subdivision(nation: str | None) -> str:
    try:
        return NATION_SUBDIVISIONS[nation]
    except KeyError:
        known = ", ".join(repr(n) for n in NATION_SUBDIVISIONS if n)
        raise ValueError(f"unknown nation {nation!r} (use {known} or None)") from None


def _closed_for_holiday(hours: Hours, day: date, subdivision: str) -> bool:
    return hours.closed_on_bank_holidays and day in _bank_holidays(subdivision, day.year)


def _to_london(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at} has no time zone: opening hours need to know where it is")
    return at.astimezone(LONDON)


def is_open(hours: Hours, at: datetime, nation: str | None = None) -> bool | None:
    """Open at the moment `at` (any zone), by London wall-clock time; None if not known.

    `nation` ("england", "wales", "scotland", "northern-ireland"; None for England) picks
    the bank holidays.
    """
    if not hours.known:
        return None
    subdivision = _subdivision(nation)
    local = _to_london(at)
    today = local.date()
    minute = local.hour * 60 + local.minute  # boundaries are whole minutes, so this is exact
    for day, offset in ((today, 0), (today - timedelta(days=1), DAY)):
        for span in hours.weekly[day.weekday()]:
            opens, closes = _minutes(span)
            if opens <= minute + offset < closes and not _closed_for_holiday(
                hours, day, subdivision
            ):
                return True
    return False


def next_opening(hours: Hours, at: datetime, nation: str | None = None) -> datetime | None:
    """When the service next opens (goes from closed to open), at `at` or up to 14 days on.

    A London-time datetime; None if the hours are not known, it never closes, or it does not
    open within 14 days. A span that carries on from the one before is not an opening.
    """
    if not hours.known:
        return None
    _subdivision(nation)
    start = _to_london(at).astimezone(UTC)
    limit = start + timedelta(days=14)
    first_day = start.astimezone(LONDON).date()
    for offset in range(15):
        day = first_day + timedelta(days=offset)
        for opens, _closes in hours.weekly[day.weekday()]:
            for moment in _instants(day, opens):
                just_before = moment - timedelta(microseconds=1)
                if (
                    start <= moment <= limit
                    and is_open(hours, moment, nation)
                    and not is_open(hours, just_before, nation)
                ):
                    return moment.astimezone(LONDON)
    return None


def _instants(day: date, wall: time) -> list[datetime]:
    """The UTC moments a London wall-clock time happens on a day, earliest first.

    Two when the clocks go back. When they go forward over it, the moment they jump: that is
    when a span starting in the skipped hour is first open.
    """
    naive = datetime.combine(day, wall)
    readings = [naive.replace(tzinfo=LONDON, fold=fold).astimezone(UTC) for fold in (0, 1)]
    real = sorted({m for m in readings if m.astimezone(LONDON).replace(tzinfo=None) == naive})
    if real:
        return real
    # In the gap fold=1 reads the time with the new offset, a moment before the jump, and
    # fold=0 with the old, a moment after it. Bisect for the jump: UK ones are on whole seconds.
    before, after = (int(readings[fold].timestamp()) for fold in (1, 0))
    old_offset = _offset_at(before)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset_at(middle) == old_offset:
            before = middle
        else:
            after = middle
    return [datetime.fromtimestamp(after, UTC)]


def _offset_at(timestamp: int) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, LONDON).utcoffset()


# -- describing ---------------------------------------------------------------------------------


def describe(hours: Hours, locale: str, gettext: Callable[[str], str] = lambda s: s) -> str:
    """The hours in plain words, e.g. "Monday to Friday, 10:00 to 16:00".

    Day names and times come from Babel for `locale` ("en" reads as en_GB); every connecting
    phrase is a whole msgid through `gettext`, so a translation can reorder it.
    """
    if not hours.known:
        return gettext(_("Opening hours not known: check with the service"))
    babel_locale = "en_GB" if locale == "en" else locale.replace("-", "_")
    if hours.always:
        sentences = [gettext(_("Open 24 hours, every day"))]
    else:
        names = _day_names(babel_locale)
        sentences = [
            _fill(
                gettext(_("{days}, {times}")),
                days=_describe_days(runs, names, gettext),
                times=_describe_spans(spans, babel_locale, gettext),
            )
            for runs, spans in _groups(hours.weekly)
        ]
    if hours.closed_on_bank_holidays:
        sentences.append(gettext(_("Closed on bank holidays.")))
    described = sentences[0]
    for sentence in sentences[1:]:
        described = _fill(gettext(_("{previous}. {next}")), previous=described, next=sentence)
    return described


@lru_cache(maxsize=16)
def _day_names(locale: str) -> tuple[str, ...]:
    names = get_day_names(width="wide", locale=locale)
    return tuple(str(names[day]) for day in range(7))


def _describe_days(
    runs: list[list[int]], names: tuple[str, ...], gettext: Callable[[str], str]
) -> str:
    if len(runs) == 1 and len(runs[0]) == 7:
        return gettext(_("Every day"))
    items: list[str] = []
    for run in runs:
        if len(run) > 2:
            items.append(
                _fill(gettext(_("{first} to {last}")), first=names[run[0]], last=names[run[-1]])
            )
        else:
            items.extend(names[day] for day in run)
    return _list(items, gettext)


def _describe_spans(spans: DaySpans, locale: str, gettext: Callable[[str], str]) -> str:
    if spans == _FULL_DAY:
        return gettext(_("24 hours"))
    items: list[str] = []
    for span in spans:
        opens, closes = span
        start = format_time(opens, "HH:mm", locale=locale)
        # Babel's 'kk' counts hours 1-24, so midnight as a closing time reads 24:00.
        end = format_time(closes, "kk:mm" if closes == time(0, 0) else "HH:mm", locale=locale)
        overnight = _minutes(span)[1] > DAY
        msgid = _("{start} to {end} the next day") if overnight else _("{start} to {end}")
        items.append(_fill(gettext(msgid), start=start, end=end))
    return _list(items, gettext)


def _list(items: list[str], gettext: Callable[[str], str]) -> str:
    """'a', 'a and b', 'a, b and c', each join a msgid."""
    if len(items) == 1:
        return items[0]
    joined = items[0]
    for item in items[1:-1]:
        joined = _fill(gettext(_("{items}, {item}")), items=joined, item=item)
    return _fill(gettext(_("{items} and {last}")), items=joined, last=items[-1])


def _fill(template: str, **values: str) -> str:
    """Fill {placeholders} in one pass, so braces in a value or a translation cannot break it."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], m[0]), template)
