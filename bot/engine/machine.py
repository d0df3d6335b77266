"""One `transitions` machine, built once from the flow spec and shared by every conversation.

A conversation is not a live object: for each step a throwaway `Turn` model carries the
session's state name through the shared machine, and `step` returns a neutral `Reply`.
`step` does no I/O; the directory and the clock come in through `Deps`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from transitions import EventData, Machine

from bot.directory.model import DirectoryQueries, Service
from bot.directory.start_codes import StartCode
from bot.engine.conditions import ACTIONS, CONDITIONS, PARSERS, Unparsed
from bot.engine.context import Deps, Turn
from bot.engine.model import (
    Button,
    Contact,
    Effect,
    Event,
    EventKind,
    Reply,
    ServiceCard,
    Session,
    Text,
)
from bot.engine.spec import (
    BACK,
    PLACEHOLDER,
    ActionCall,
    Choice,
    FlowSpec,
    ServiceQuery,
    StateSpec,
    label_context,
)
from bot.words.reader import DANGER, Reading

# The trigger fired by typed input that a step's parser understood. `@` keeps it apart from
# button triggers, which are plain words, so no button press can forge it.
TYPED = "@typed"

Callback = Callable[..., bool | None]
Callbacks = list[str | Callback]


def _turn(event: EventData) -> Turn:
    model = event.model
    assert isinstance(model, Turn)
    return model


def _apply(turn: Turn, actions: tuple[ActionCall, ...]) -> None:
    for call in actions:
        ACTIONS[call.name].run(turn, call.arg)


def _run_actions(actions: tuple[ActionCall, ...]) -> Callback:
    return lambda event: _apply(_turn(event), actions)


def _set_answers(answers: tuple[tuple[str, str], ...]) -> Callback:
    def run(event: EventData) -> None:
        _turn(event).session.answers.update(dict(answers))

    return run


def _keep_parsed(event: EventData) -> None:
    """Typed input is kept only as what it was understood to mean (ids), never as words."""
    turn = _turn(event)
    turn.session.answers.update(turn.parsed)


def _condition(name: str) -> Callback:
    check = CONDITIONS[name]
    return lambda event: check(_turn(event))


def _mark_entered(event: EventData) -> None:
    _turn(event).entered = True


def signposted(
    directory: DirectoryQueries,
    query: ServiceQuery,
    area: str | None,
    chosen_need: str | None,
    now: datetime,
) -> list[Service]:
    """The services a step shows, in order: those it names, then the specialist lines of its
    `first` needs, then those for its audience and need (most local first, the nation's
    24-hour line always). `python -m bot directory search` shows the same."""
    chosen = [s for s in map(directory.service, query.ids) if s is not None and s.active]
    if query.audience is None:
        return chosen
    first = set(query.first)
    if first:
        for service in directory.find(query.audience, query.first, area, now):
            specialist = first & set(service.needs) and not service.nation_helpline
            if specialist and service not in chosen:
                chosen.append(service)
    needs = (chosen_need,) if chosen_need else query.needs
    for service in directory.find(query.audience, needs, area, now):
        if service not in chosen:
            chosen.append(service)
    return chosen


class Engine:
    def __init__(self, spec: FlowSpec, deps: Deps) -> None:
        self.spec = spec
        self.deps = deps
        self.machine = Machine(
            model=None,
            states=sorted(spec.states),
            initial=spec.start,
            auto_transitions=False,
            send_event=True,
            after_state_change=[_mark_entered],
        )
        for state in spec.states.values():
            self._add_state_transitions(state)
        for way in spec.ways_out.values():
            self.machine.add_transition(
                way.trigger, source="*", dest=way.goto, before=[_run_actions(way.actions)]
            )
        # What may be pressed in each state: its own buttons and every way out.
        self._pressable: dict[str, frozenset[str]] = {
            name: frozenset(b.trigger for b in state.buttons) | frozenset(spec.ways_out)
            for name, state in spec.states.items()
        }
        # What each step offers never changes, so it is worked out once, not at every step.
        self._offered: dict[str, tuple[Button, ...]] = {
            name: self._offer(name) for name in spec.states
        }

    def _add_state_transitions(self, state: StateSpec) -> None:
        for button in state.buttons:
            if button.way_out:
                continue  # the way out's own wildcard transition handles it
            before: Callbacks = [_set_answers(button.answers), _run_actions(button.actions)]
            self._add_choices(button.trigger, state.name, button.choices, before)
        if state.input:
            self._add_choices(TYPED, state.name, state.input.choices, [_keep_parsed])

    def _add_choices(
        self, trigger: str, source: str, choices: tuple[Choice, ...], before: Callbacks
    ) -> None:
        # transitions tries a trigger's transitions in the order they were added and takes the
        # first whose conditions hold: exactly the flow's "choose" order.
        for choice in choices:
            guard: Callbacks = [_condition(choice.condition)] if choice.condition else []
            back = choice.goto == BACK
            self.machine.add_transition(
                trigger,
                source,
                dest=None if back else choice.goto,
                conditions=[] if choice.negate else guard,
                unless=guard if choice.negate else [],
                before=before,
                after=[self._go_back] if back else [],
            )

    def _go_back(self, event: EventData) -> None:
        turn = _turn(event)
        target = turn.session.return_to
        if target is None or target not in self.spec.states:
            target = self.spec.start
        turn.session.return_to = None
        self.machine.set_state(target, turn)
        turn.entered = True

    # -- the one public operation -------------------------------------------------------------

    def new_session(self, chat_key: str, locale: str = "en") -> Session:
        return Session(chat_key=chat_key, state=self.spec.start, locale=locale)

    def step(self, session: Session, event: Event) -> Reply:
        """Move `session` (updated in place) by `event`, and say what to show next."""
        turn = Turn(state=session.state, session=session, deps=self.deps, spec=self.spec)
        if turn.state not in self.spec.states:
            # The flows changed under a stored conversation: begin again, politely.
            event = Event.start()
            turn.notices.append(self.message("expired"))

        if event.kind is EventKind.START:
            session.answers.clear()
            session.return_to = None
            self._apply_start_code(session, event.trigger)
            turn.state = self.spec.start
            turn.entered = True
        elif event.kind is EventKind.RESUME:
            turn.notices.append(self.message("welcome_back"))
        elif event.kind is EventKind.BUTTON:
            self._press(turn, event)
        elif event.kind is EventKind.TEXT:
            self._typed(turn, event.text)

        if turn.entered:
            _apply(turn, self.spec.states[turn.state].actions)
        session.state = turn.state
        return self._reply(turn)

    def start_code(self, code: str) -> StartCode | None:
        return self.deps.start_codes.get(code) if code else None

    def _apply_start_code(self, session: Session, code: str) -> None:
        """A known code sets the area (and its nation) and the route; anything else is a
        normal start, so a mistyped or made-up code is harmless."""
        found = self.start_code(code)
        if found is None:
            return
        session.answers["area"] = found.area
        nation = self.deps.directory.nation_of(found.area)
        if nation:
            session.answers["nation"] = nation
        if found.route:
            session.answers["route"] = found.route

    def _press(self, turn: Turn, event: Event) -> None:
        stale = event.from_state is not None and event.from_state != turn.state
        if stale or event.trigger not in self._pressable[turn.state]:
            turn.notices.append(self.message("expired"))
            return
        self.machine.events[event.trigger].trigger(turn)

    def _typed(self, turn: Turn, text: str) -> None:
        """Typed words: a way out or a button (by number, label or short answer), then what the
        step's parser reads (a place), then a slip ("dangr" is danger; "yse" is asked about)."""
        state = self.spec.states[turn.state]
        words, locale = self.deps.words, turn.session.locale
        if words is not None:
            reading = words.read(text, state.name, self.buttons(state.name), locale)
            if reading is None and words.slipped_danger(text):
                reading = Reading(DANGER)
            if reading is not None:
                self._press(turn, Event.button(reading.trigger, state.name))
                return
        unparsed: Unparsed | None = None
        if state.input is not None:
            parsed = PARSERS[state.input.parser](text, self.deps)
            if not isinstance(parsed, Unparsed):
                turn.parsed = parsed
                self.machine.events[TYPED].trigger(turn)
                return
            unparsed = parsed
        near = words.near(text, state.name, locale) if words is not None else None
        if near is not None and words is not None:
            button = next(b for b in self.buttons(state.name) if b.trigger == near.trigger)
            turn.notices.append(self.message("did_you_mean", label=words.label(button, locale)))
            turn.suggested = near.trigger
        elif unparsed is not None:
            turn.notices.append(self.message(unparsed.message))
        else:
            turn.notices.append(self.message("use_buttons"))

    # -- building the reply -------------------------------------------------------------------

    def message(self, key: str, **params: str) -> Text:
        """One of the short messages in flows/core.yaml, with its `{name}` values filled."""
        text = self.fill(self.spec.message(key))
        extra = tuple((f"{{{name}}}", value) for name, value in params.items())
        return Text(text.msgid, text.values + extra)

    def fill(self, msgid: str) -> Text:
        """A text with its `{service.kind}` placeholders looked up in the directory."""
        values: list[tuple[str, str]] = []
        for match in PLACEHOLDER.finditer(msgid):
            service = self.deps.directory.service(match.group(1))
            contact = service.contact(match.group(2)) if service else None
            if contact is None:
                raise LookupError(f"the directory has no {match.group(0)} for a flow text")
            values.append((match.group(0), contact.value))
        return Text(msgid, tuple(values))

    def buttons(self, state_name: str) -> tuple[Button, ...]:
        """What a step offers: its own buttons, then the ways out shown on every message."""
        return self._offered[state_name]

    def _offer(self, state_name: str) -> tuple[Button, ...]:
        state = self.spec.states[state_name]
        buttons = [
            Button(
                b.trigger,
                b.label,
                b.way_out is not None,
                context=label_context(state.name, b.label),
            )
            for b in state.buttons
        ]
        shown = {b.trigger for b in buttons}
        for way in self.spec.ways_out.values():
            if way.as_button and way.trigger not in shown and way.goto != state.name:
                buttons.append(Button(way.trigger, way.label, way_out=True, everywhere=True))
        return tuple(buttons)

    def _reply(self, turn: Turn) -> Reply:
        state = self.spec.states[turn.state]
        effects = frozenset(turn.effects)
        buttons = self.buttons(state.name)
        if turn.suggested is not None:  # the button asked about comes first
            buttons = tuple(sorted(buttons, key=lambda b: b.trigger != turn.suggested))
        return Reply(
            state=state.name,
            notices=tuple(turn.notices),
            text=self.fill(state.text),
            buttons=() if Effect.END in effects else buttons,
            cards=tuple(self._services(turn, state)),
            effects=effects,
            accepts_text=state.input is not None,
            locale=turn.session.locale,
        )

    def _services(self, turn: Turn, state: StateSpec) -> list[ServiceCard]:
        query = state.services
        if query is None:
            return []
        now = self.deps.clock()
        answers = turn.session.answers
        chosen = signposted(
            self.deps.directory,
            query,
            answers.get("area") or answers.get("nation"),
            answers.get(query.needs_from) if query.needs_from else None,
            now,
        )
        locale = turn.session.locale
        return [self._card(service, locale, now) for service in chosen]

    def _card(self, service: Service, locale: str, now: datetime) -> ServiceCard:
        return ServiceCard(
            service_id=service.id,
            name=service.name,
            description=service.described(locale),
            contacts=tuple(Contact(c.kind, c.value, c.labelled(locale)) for c in service.contacts),
            hours=service.hours,
            source=service.source,
            verified_on=service.verified_on,
            hours_note=service.noted(locale),
            open_now=self.deps.directory.open_now(service, now),
            verified_how=service.verified_how,
        )
