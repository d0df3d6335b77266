"""Every step of every route in a real browser, and a chat cleared for being left idle.

The walk is planned with the engine and followed in Chromium. Planning goes breadth first from
the first page over every button a page shows (but the quick exit, which leaves the chat),
keeping apart the same step reached with different answers: a step's buttons can lead
elsewhere once "urgent" or a nation is known. The ways out that are commands, not buttons, are
typed on the first page, for the states that no button reaches. Each state gets its shortest
way from the first page. Then a few walks pass every state with few moves (each goes the
shortest way to the farthest state not yet passed, then on to the nearest one not yet passed,
while there is one close by), and are followed in the browser: each button clicked by its
label, each command typed into "Or type your answer", and every page must be at the planned
state (the forms' hidden `state`). Each state is checked once: axe-core (WCAG 2.2 AA) in a
1280 px window, then reflow at 320 px (400% zoom). A sample of states (each audience's first
step, danger, services with cards, Help, Language) is walked again in Urdu, right to left,
and in English with JavaScript off.

So a new state that the walk cannot reach, or one with an axe violation, fails here.

The browser (one for the module), the site, the checks and the visit's records are
tests/test_web_browser.py's. Nothing sleeps: each answer waits for the next step to be shown.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from bot.app import Parts, build
from bot.channels.interpret import interpret
from bot.channels.web.chat import KEY_PREFIX
from bot.channels.web.pages import EXIT_TRIGGER, TYPE_LABEL
from bot.engine.conditions import ACTIONS, ArgKind
from bot.engine.model import Button, Event, Reply, Session
from bot.i18n import Translator, translator
from bot.store.sqlite import SqliteStore
from bot.sweeper import Sweeper
from tests import test_web_browser as browser_tests
from tests.conftest import DIRECTORY, FLOWS, LOCALES, FakeClock
from tests.test_web_browser import (
    AXE_RUN,
    AXE_SOURCE,
    LEFT_AT,
    NARROW,
    WCAG_22_AA,
    WIDE,
    Chromium,
    Site,
    Visit,
    check_reflow,
    expect,
    open_context,
)

# The same fixtures, in this module's namespace: one browser for this module too.
chromium = browser_tests.chromium
site = browser_tests.site

# States the web chat never shows as a page, and why.
NOT_SHOWN = {
    "core.exited": "the quick exit (the button on top, or typed) leaves for the exit site at "
    "once; the web chat never shows this page",
}
# States no button reaches, only a typed command; walked by typing it on the first page.
BY_TYPING = {
    "core.help": "Help is the /help command (or the word typed), never a button",
    "core.forgotten": "Forget me is the /forget command, never a button",
}
# Walked again in Urdu and without JavaScript: each audience's first step, the danger page, a
# services page with cards, Help and Language.
SAMPLE = (
    "opening.start",
    "opening.who",
    "victim.start",
    "friend.start",
    "professional.start",
    "own_behaviour.start",
    "learn.start",
    "core.emergency",
    "victim.services",
    "core.help",
    "core.language",
)
FIRST_STEP = "First, are you in danger right now?"


# -- the plan, from the engine -----------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """One answer: a button tapped (found by its label in the page's language) or a command
    typed, and the state it leads to."""

    state: str
    button: Button | None = None
    typed: str | None = None

    def words(self, tr: Translator) -> str:
        return tr.label(self.button) if self.button is not None else str(self.typed)


Way = tuple[Move, ...]
Context = tuple[object, ...]
# How far a walk looks ahead for a state still to check before it ends (a new walk starts
# from the first page): far enough for "Something else" and the next need, say.
LOOKAHEAD = 3


def _context(session: Session) -> Context:
    """What decides where a step's buttons lead: its state, the answers, where Back returns."""
    return session.state, tuple(sorted(session.answers.items())), session.return_to


class Planner:
    """The web chat's conversation, played with the engine alone (no I/O), to plan walks."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.commands = [f"/{w.command}" for w in parts.spec.ways_out.values() if not w.as_button]

    def begin(self) -> tuple[Session, Reply]:
        session = self.parts.engine.new_session("plan")
        return session, self.parts.engine.step(session, Event.start())

    def event(self, state: str, button: Button | None, typed: str | None) -> Event:
        """What the web chat makes of an answer (as `WebChat._event` reads its forms): a way
        out from any page, any other button from its step, a command as `interpret` reads
        it."""
        if button is None:
            return interpret(str(typed), self.parts.spec, self.parts.words)
        way_out = button.trigger in self.parts.spec.ways_out
        return Event.button(button.trigger, None if way_out else state)

    def apply(
        self, session: Session, button: Button | None = None, typed: str | None = None
    ) -> tuple[Session, Reply]:
        """The conversation after an answer; `session` itself is left as it was."""
        moved = copy.deepcopy(session)
        return moved, self.parts.engine.step(moved, self.event(session.state, button, typed))

    def moves(
        self, session: Session, reply: Reply, typing: bool
    ) -> Iterable[tuple[Move, Session, Reply]]:
        """Every answer a page takes that stays in the chat, and where each leads."""
        if reply.ends_session:
            return
        for button in reply.buttons:
            if button.trigger != EXIT_TRIGGER and not self.sets_language(reply.state, button):
                moved, shown = self.apply(session, button=button)
                yield Move(moved.state, button=button), moved, shown
        for command in self.commands if typing else ():
            moved, shown = self.apply(session, typed=command)
            yield Move(moved.state, typed=command), moved, shown

    def sets_language(self, state: str, button: Button) -> bool:
        """A language chosen leads back to a step already shown, and every label after it is
        in that language: the walks choose none (the page that offers them is checked)."""
        return any(
            ACTIONS[call.name].arg is ArgKind.LOCALE
            for spec in self.parts.spec.state(state).buttons
            if spec.trigger == button.trigger
            for call in spec.actions
        )

    def search(
        self,
        session: Session,
        reply: Reply,
        wanted: set[str],
        *,
        typing: bool = False,
        nearest: bool = False,
        depth: int | None = None,
    ) -> dict[str, Way]:
        """Breadth first from `session`: the shortest way to each state, until every state in
        `wanted` has one (or, `nearest`, any one of them), or nothing new is left within
        `depth` moves. With `typing`, the commands that are no button are typed at the first
        move as well."""
        found: dict[str, Way] = {}
        seen = {_context(session)}
        queue: deque[tuple[Session, Reply, Way]] = deque([(session, reply, ())])
        while queue:
            session, reply, way = queue.popleft()
            if depth is not None and len(way) >= depth:
                continue
            for move, moved, shown in self.moves(session, reply, typing and not way):
                if _context(moved) in seen:
                    continue
                seen.add(_context(moved))
                found.setdefault(move.state, (*way, move))
                if nearest and move.state in wanted:
                    return {move.state: found[move.state]}
                if not nearest and wanted <= found.keys():
                    return found
                queue.append((moved, shown, (*way, move)))
        return {} if nearest else found

    def play(self, way: Way) -> tuple[Session, Reply]:
        session, reply = self.begin()
        for move in way:
            session, reply = self.apply(session, move.button, move.typed)
        return session, reply


@dataclass(frozen=True)
class Plan:
    start: str
    ways: dict[str, Way]  # each state the web chat shows, and the shortest way to it
    typed_only: frozenset[str]  # states reached only by typing a command
    planner: Planner

    def walks(self, states: Iterable[str]) -> list[Way]:
        """Walks that pass every one of `states`, with few moves: each goes the shortest way
        to the farthest state not yet passed, then on to the nearest one not yet passed
        (within LOOKAHEAD moves) for as long as there is one."""
        left = set(states) - {self.start}
        chosen: list[Way] = []
        while left:
            way = self.ways[max(left, key=lambda s: (len(self.ways[s]), s))]
            session, reply = self.planner.play(way)
            while True:
                left -= {move.state for move in way}
                on = self.planner.search(session, reply, left, nearest=True, depth=LOOKAHEAD)
                if not on:
                    break
                (further,) = on.values()
                for move in further:
                    session, reply = self.planner.apply(session, move.button, move.typed)
                way = (*way, *further)
            chosen.append(way)
        return chosen


def make_plan(parts: Parts) -> Plan:
    expected = set(parts.spec.states) - NOT_SHOWN.keys()
    planner = Planner(parts)
    session, reply = planner.begin()
    by_buttons = planner.search(session, reply, expected - BY_TYPING.keys())
    by_typing = planner.search(session, reply, expected - by_buttons.keys(), typing=True)
    ways = {**by_typing, **by_buttons, session.state: ()}
    typed_only = frozenset(by_typing.keys() - by_buttons.keys())
    return Plan(session.state, ways, typed_only, planner)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return make_plan(build(FLOWS, DIRECTORY, LOCALES, clock=FakeClock()))


def test_the_plan_reaches_every_state_the_web_chat_shows(plan: Plan, parts: Parts) -> None:
    states = set(parts.spec.states)
    assert NOT_SHOWN.keys() <= states and BY_TYPING.keys() <= states
    missing = states - NOT_SHOWN.keys() - plan.ways.keys()
    assert not missing, f"no button or command reaches {sorted(missing)}"
    assert not NOT_SHOWN.keys() & plan.ways.keys()
    # A state reached only by typing is named, with the reason.
    assert plan.typed_only <= BY_TYPING.keys(), "reached only by typing: add to BY_TYPING"
    assert set(SAMPLE) <= plan.ways.keys()


# -- following it in the browser -----------------------------------------------------------------


Check = Callable[[Any, str], None]


def shown_state(page: Any) -> str:
    """The step the page shows (its forms carry it too, for the server to spot an old
    button; a conversation that has ended has no forms)."""
    return str(page.locator("#step").get_attribute("data-state"))


def next_step(page: Any, act: Callable[[], None]) -> None:
    """Taps or types (`act`), then waits for the next step, however it comes: a new page
    (without JavaScript), or the step replaced in place (with it). The old step is marked
    first; the new one is not. Then the page's style sheet has loaded either way."""
    page.locator("#step").evaluate("step => step.setAttribute('data-before', '')")
    act()
    page.locator("#step:not([data-before])").wait_for()
    page.wait_for_load_state()


def follow(
    browser: Any,
    site: Site,
    walks: list[Way],
    check: Check,
    *,
    locale: str = "en",
    javascript: bool = True,
    viewport: dict[str, int] = WIDE,
) -> dict[str, str]:
    """Each walk from the first page of a new conversation (the cookie cleared), each answer
    given as a person would; every state is checked once, when first shown. Returns each
    state checked and the way it was reached (the labels, for a failure's message)."""
    tr = translator(locale, LOCALES)
    checked: dict[str, str] = {}
    visit = Visit()
    context = open_context(
        browser,
        visit,
        locale=locale,
        extra_http_headers={"Accept-Language": locale},
        java_script_enabled=javascript,
        viewport=viewport,
    )
    try:
        page = context.new_page()
        for way in walks:
            context.clear_cookies()
            page.goto(site.chat)
            where = "the first page"
            said: list[str] = []
            for move in (None, *way):
                if move is not None:
                    said.append(move.words(tr))
                    where = " > ".join(said)
                    next_step(page, partial(answer, page, tr, move))
                state = shown_state(page)
                assert move is None or state == move.state, f"{where}: at {state}"
                assert page.url == site.chat, f"{where}: at {page.url}"
                if state not in checked:
                    check(page, f"{state} ({where})")
                    checked[state] = where
    finally:
        context.close()
    visit.check_stayed_local()
    return checked


def answer(page: Any, tr: Translator, move: Move) -> None:
    """The move as a person makes it: the button clicked by its label, or the command typed
    into "Or type your answer" and sent with Enter."""
    words = move.words(tr)
    if move.button is not None:
        page.locator("main form.answers").get_by_role("button", name=words, exact=True).click()
    else:
        field = page.get_by_label(tr.gettext(TYPE_LABEL), exact=True)
        field.fill(words)
        field.press("Enter")


def axe(page: Any, where: str) -> None:
    """As `check_axe`, but axe-core is injected once per document (a walk with JavaScript
    replaces only the page's body), and every page is checked: each state is shown once."""
    if page.evaluate("typeof window.axe === 'undefined'"):
        page.evaluate(AXE_SOURCE)
    violations = page.evaluate(AXE_RUN, WCAG_22_AA)
    assert violations == [], f"{where}: axe found\n" + "\n".join(violations)


def axe_wide_then_reflow(page: Any, where: str) -> None:
    axe(page, where)
    page.set_viewport_size(NARROW)
    check_reflow(page, where)
    page.set_viewport_size(WIDE)


def urdu_page(page: Any, where: str) -> None:
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ur", "rtl"), where
    axe(page, where)
    check_reflow(page, where)


async def test_every_state_in_english_passes_axe_and_reflows(
    plan: Plan, chromium: Chromium, site: Site
) -> None:
    walks = plan.walks(plan.ways)
    checked = await chromium.run(follow, site, walks, axe_wide_then_reflow)
    assert checked.keys() == plan.ways.keys()


async def test_a_sample_in_urdu_is_right_to_left_passes_axe_and_reflows(
    plan: Plan, chromium: Chromium, site: Site
) -> None:
    walks = plan.walks(SAMPLE)
    checked = await chromium.run(
        partial(follow, locale="ur", viewport=NARROW), site, walks, urdu_page
    )
    assert checked.keys() >= set(SAMPLE)


async def test_a_sample_without_javascript_reflows(
    plan: Plan, chromium: Chromium, site: Site
) -> None:
    walks = plan.walks(SAMPLE)
    checked = await chromium.run(
        partial(follow, javascript=False, viewport=NARROW), site, walks, check_reflow
    )
    assert checked.keys() >= set(SAMPLE)


# -- left idle, then reloaded ----------------------------------------------------------------------


@dataclass
class Left:
    context: Any
    visit: Visit


def leave_at_the_second_step(browser: Any, site: Site, javascript: bool) -> Left:
    visit = Visit()
    context = open_context(browser, visit, java_script_enabled=javascript)
    page = context.new_page()
    page.goto(site.chat)
    next_step(page, page.get_by_role("button", name="No, not right now", exact=True).click)
    expect(page.locator("main")).to_contain_text(LEFT_AT)
    visit.remember_key(context)
    return Left(context, visit)


def reload(_browser: Any, left: Left) -> tuple[str, str]:
    """The page reloaded, as someone coming back to the tab would: its state and words."""
    page = left.context.pages[0]
    page.reload()
    return shown_state(page), page.locator("main").inner_text()


def close(_browser: Any, left: Left) -> None:
    left.context.close()


async def come_back_after_idle(
    chromium: Chromium, site: Site, clock: FakeClock, db: SqliteStore, javascript: bool, swept: bool
) -> tuple[str, str]:
    """A conversation left at its second step for longer than the idle time, optionally
    forgotten by the web chat's sweep (as `python -m bot run` runs it), then the page
    reloaded."""
    left = await chromium.run(leave_at_the_second_step, site, javascript)
    try:
        key = left.visit.key
        assert key is not None and await site.conversations.exists(key)
        idle_after = site.conversations.idle_after
        clock.advance(seconds=(idle_after + timedelta(minutes=1)).total_seconds())
        if swept:
            sweeper = Sweeper(db, clock, idle_after, keep_figures_days=730)
            assert await sweeper.forget_idle(KEY_PREFIX) == 1
            assert not await site.conversations.exists(key)
        return await chromium.run(reload, left)
    finally:
        await chromium.run(close, left)
        left.visit.check_stayed_local()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
async def test_an_idle_chat_reloaded_says_it_was_cleared_and_starts_again(
    javascript: bool,
    chromium: Chromium,
    site: Site,
    clock: FakeClock,
    db: SqliteStore,
    parts: Parts,
) -> None:
    """Reloaded before the sweep has run: the reload itself finds the chat idle."""
    state, text = await come_back_after_idle(chromium, site, clock, db, javascript, swept=False)
    assert state == parts.spec.start
    assert parts.spec.message("idle_cleared") in text
    assert FIRST_STEP in text and LEFT_AT not in text


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
async def test_an_idle_chat_the_sweep_forgot_reloads_at_the_first_step(
    javascript: bool,
    chromium: Chromium,
    site: Site,
    clock: FakeClock,
    db: SqliteStore,
    parts: Parts,
) -> None:
    state, text = await come_back_after_idle(chromium, site, clock, db, javascript, swept=True)
    assert state == parts.spec.start
    assert FIRST_STEP in text and LEFT_AT not in text


async def test_an_idle_chat_the_sweep_forgot_says_it_was_cleared(
    chromium: Chromium, site: Site, clock: FakeClock, db: SqliteStore, parts: Parts
) -> None:
    _state, text = await come_back_after_idle(chromium, site, clock, db, False, swept=True)
    assert parts.spec.message("idle_cleared") in text


def test_the_first_step_is_the_one_looked_for(parts: Parts) -> None:
    assert FIRST_STEP in parts.spec.state(parts.spec.start).text
